from django.urls import URLPattern, URLResolver

app_name = "calculator"

# Routes of this module are added here as it grows (pages first, then /api/v1/calculator/).
urlpatterns: list[URLPattern | URLResolver] = []
