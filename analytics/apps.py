from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Market and network data: collectors, indicators, signals and forecasts."""

    name = "analytics"
    verbose_name = "Market analytics"
