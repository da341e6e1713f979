"""Periodic jobs of analytics, written to django-celery-beat by `sync_periodic_tasks`."""

from mining_platform.core.periodic import PeriodicJob

SCHEDULES = [
    PeriodicJob(name="analytics.market_aggregate", task="analytics.market_aggregate", every_seconds=900),
    # Every 15 minutes, like the market aggregation: an hourly candle is picked up within a quarter hour.
    PeriodicJob(name="analytics.indicators_refresh", task="analytics.indicators_refresh", every_seconds=900),
    # Daily: the forecasts are daily series, and the fits take seconds of CPU.
    PeriodicJob(name="analytics.forecasts_refresh", task="analytics.forecasts_refresh", every_seconds=86400),
]
