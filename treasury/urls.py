from django.urls import URLPattern, URLResolver

app_name = "treasury"

# Routes of this module are added here as it grows (pages first, then /api/v1/treasury/).
urlpatterns: list[URLPattern | URLResolver] = []
