from django.urls import URLPattern, URLResolver

app_name = "billing"

# Routes of this module are added here as it grows (pages first, then /api/v1/billing/).
urlpatterns: list[URLPattern | URLResolver] = []
