"""Reads the analytics API needs beyond analytics/selectors.py: stored forecasts and aggregation runs."""

from django.db.models import QuerySet

from analytics.models import Forecast, MarketAnalytics


def forecast_list(*, target: str | None = None) -> QuerySet[Forecast]:
    """Stored forecasts, newest first, of one target when given."""
    forecasts = Forecast.objects.all()
    if target is not None:
        forecasts = forecasts.filter(target=target)
    return forecasts.order_by("-made_at", "target", "-history_end")


def market_analytics_list() -> QuerySet[MarketAnalytics]:
    """Aggregation runs with their per-source detail, newest first."""
    return MarketAnalytics.objects.order_by("-collected_at", "-pk")


def market_analytics_latest(*, mode: str) -> MarketAnalytics | None:
    """The newest aggregation run of a data mode, if any."""
    return market_analytics_list().filter(mode=mode).first()
