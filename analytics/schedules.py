"""Periodic jobs of analytics, written to django-celery-beat by `sync_periodic_tasks`."""

from mining_platform.core.periodic import PeriodicJob

SCHEDULES = [
    PeriodicJob(name="analytics.market_aggregate", task="analytics.market_aggregate", every_seconds=900),
    # Every 15 minutes, like the market aggregation: an hourly candle is picked up within a quarter hour.
    PeriodicJob(name="analytics.indicators_refresh", task="analytics.indicators_refresh", every_seconds=900),
    # Daily: the forecasts are daily series, and the fits take seconds of CPU.
    PeriodicJob(name="analytics.forecasts_refresh", task="analytics.forecasts_refresh", every_seconds=86400),
    # Hourly: a new hourly candle closes each hour; the day's candle is picked up within the hour after 00:00 UTC.
    PeriodicJob(name="analytics.candles_collect", task="analytics.candles_collect", every_seconds=3600),
    # Daily: the charts have one point per day; 30 days back covers any gap from a missed run.
    PeriodicJob(name="analytics.network_stats_backfill", task="analytics.network_stats_backfill", every_seconds=86400),
    # Hourly: a retarget comes every two weeks or so, so it lands within the hour after it is six blocks deep.
    PeriodicJob(name="analytics.retargets_record", task="analytics.retargets_record", every_seconds=3600),
]
