from django.urls import URLPattern, URLResolver, include, path

from . import views
from .api import views as api_views

app_name = "analytics"

# Pages first, then /api/v1/analytics/.
urlpatterns: list[URLPattern | URLResolver] = [
    path("analytics/", views.market_overview, name="market"),
    path("analytics/forecasts", views.forecasts, name="forecasts"),
    path("analytics/network", views.network, name="network"),
    path("analytics/export.xlsx", api_views.MarketSeriesExportApi.as_view(), name="export"),
    path("api/v1/analytics/", include("analytics.api.urls")),
]
