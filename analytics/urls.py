from django.urls import URLPattern, URLResolver

app_name = "analytics"

# Routes of this module are added here as it grows (pages first, then /api/v1/analytics/).
urlpatterns: list[URLPattern | URLResolver] = []
