"""Celery tasks of analytics: thin wrappers over services, periodic ones under the job lock."""

from celery import shared_task
from django.utils import timezone

from analytics.services.aggregate import market_aggregate
from analytics.services.candles import candles_collect
from analytics.services.forecasts import forecasts_refresh
from analytics.services.network_backfill import network_stats_backfill
from analytics.services.retargets import retargets_record
from analytics.services.signals import technical_analysis_refresh
from mining_platform.core.locks import periodic_job


@shared_task(name="analytics.indicators_refresh", soft_time_limit=120, time_limit=180)
@periodic_job("analytics.indicators_refresh", ttl_seconds=60)
def indicators_refresh_task() -> dict[str, dict[str, int]]:
    """Recompute indicators and signals of the recent tail of every series (new and corrected candles)."""
    return {
        result.series: {"indicator_rows": result.indicator_rows, "signals": result.signals}
        for result in technical_analysis_refresh(full=False)
    }


@shared_task(name="analytics.market_aggregate", soft_time_limit=60, time_limit=90)
@periodic_job("analytics.market_aggregate", ttl_seconds=60)
def market_aggregate_task() -> dict[str, int | str | None]:
    """Aggregate every market and network source (or the replay history) into one stored run."""
    result = market_aggregate(now=timezone.now())
    return {
        "analytics_id": result.analytics_id,
        "mode": result.mode,
        "price_usd": None if result.price_usd is None else str(result.price_usd),
        "sources_answered": result.sources_answered,
        "sources_asked": result.sources_asked,
    }


@shared_task(name="analytics.forecasts_refresh", soft_time_limit=300, time_limit=360)
@periodic_job("analytics.forecasts_refresh", ttl_seconds=120)
def forecasts_refresh_task() -> dict[str, str]:
    """Refit the ARIMA forecasts of price and difficulty on the stored history and store them."""
    return {row.target: f"ARIMA{row.order} from {row.history_end}" for row in forecasts_refresh(now=timezone.now())}


@shared_task(name="analytics.candles_collect", soft_time_limit=60, time_limit=90)
@periodic_job("analytics.candles_collect", ttl_seconds=60)
def candles_collect_task() -> dict[str, int | str]:
    """Store the complete daily and hourly candles of Binance and OKX (live mode; nothing in replay)."""
    result = candles_collect(now=timezone.now())
    summary: dict[str, int | str] = {"mode": result.mode, "stored": result.stored}
    summary.update({f"{o.source}:{o.interval}": o.error_kind or "ok" for o in result.series})
    return summary


@shared_task(name="analytics.network_stats_backfill", soft_time_limit=60, time_limit=90)
@periodic_job("analytics.network_stats_backfill", ttl_seconds=60)
def network_stats_backfill_task(*, timespan: str = "30days") -> dict[str, int | str]:
    """Upsert blockchain.info's daily difficulty, hash rate and fees (live mode; nothing in replay)."""
    result = network_stats_backfill(timespan=timespan, now=timezone.now())
    summary: dict[str, int | str] = {"mode": result.mode, "rows": result.rows}
    summary.update({o.chart: o.error_kind or "ok" for o in result.charts})
    return summary


@shared_task(name="analytics.retargets_record", soft_time_limit=60, time_limit=90)
@periodic_job("analytics.retargets_record", ttl_seconds=60)
def retargets_record_task() -> dict[str, int | str | None]:
    """Record new difficulty retargets from mempool.space (live mode; nothing in replay)."""
    result = retargets_record(now=timezone.now())
    return {
        "mode": result.mode,
        "tip_height": result.tip_height,
        "recorded": len(result.recorded),
        "failed": sum(not epoch.recorded for epoch in result.epochs),
        "remaining": result.remaining,
        "error_kind": result.error_kind or None,
    }
