"""Routes of the analytics API, mounted under /api/v1/analytics/ by analytics/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("candles", views.PriceCandleViewSet, basename="candle-api")
router.register("indicators", views.TechnicalIndicatorViewSet, basename="indicator-api")
router.register("signals", views.MarketSignalViewSet, basename="signal-api")
router.register("forecasts", views.ForecastViewSet, basename="forecast-api")
router.register("network-stats", views.NetworkStatsViewSet, basename="network-stats-api")
router.register("difficulty-adjustments", views.DifficultyAdjustmentViewSet, basename="difficulty-adjustment-api")
router.register("market-snapshots", views.MarketAnalyticsViewSet, basename="market-snapshot-api")

urlpatterns = [
    path("market/status/", views.MarketStatusApi.as_view(), name="market-status-api"),
    path("network/estimates/", views.NetworkEstimatesApi.as_view(), name="network-estimates-api"),
    *router.urls,
]
