"""Daily network history from blockchain.info's charts API into network_stats (source "blockchain_info").

Three charts (difficulty, hash rate, transaction fees) are asked at once and each fails alone. A day
becomes one row at 00:00 UTC, like the shipped history; difficulty is required (the row cannot exist
without it), hash rate and fees fill in where their chart answered. A rerun updates the same rows and
never blanks a figure a failing chart did not bring. The current UTC day is left out: its figures
are still accumulating. In replay mode nothing is asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction

from analytics.clients import blockchain_info
from analytics.clients.base import SourceCall, SourceResult, client_build, sources_collect
from analytics.clients.blockchain_info import CHART_DIFFICULTY, CHART_FEES, CHART_HASH_RATE, ChartSeries
from analytics.models import NetworkStats

logger = logging.getLogger(__name__)

SOURCE = blockchain_info.NAME
DIFFICULTY_STEP = Decimal("0.0001")
SATOSHI = Decimal("0.00000001")
CHARTS = (CHART_DIFFICULTY, CHART_HASH_RATE, CHART_FEES)
# Chart name to the network_stats field its values fill.
_FIELD = {CHART_DIFFICULTY: "difficulty", CHART_HASH_RATE: "hashrate_ths", CHART_FEES: "fees_btc_per_day"}


@dataclass(frozen=True)
class ChartOutcome:
    """One chart in a backfill: how many days it brought, or its error."""

    chart: str
    days: int
    latency_s: float
    error: str = ""
    error_kind: str = ""


@dataclass(frozen=True)
class NetworkBackfillResult:
    """Rows written (created or updated) and each chart's outcome; nothing in replay mode."""

    mode: str
    rows: int
    first_day: datetime | None
    last_day: datetime | None
    charts: tuple[ChartOutcome, ...]


async def _charts_fetch(*, timespan: str) -> list[SourceResult[ChartSeries]]:
    base_url = settings.MARKET_BLOCKCHAIN_INFO_URL.rstrip("/")
    calls = [
        SourceCall(chart, partial(blockchain_info.chart_fetch, base_url=base_url, chart=chart, timespan=timespan))
        for chart in CHARTS
    ]
    # A year of daily points is a few tens of kilobytes; the usual per-source budget holds.
    timeout = float(settings.MARKET_SOURCE_TIMEOUT_SECONDS)
    async with client_build(timeout_s=timeout, connect_timeout_s=settings.MARKET_CONNECT_TIMEOUT_SECONDS) as client:
        return await sources_collect(client=client, calls=calls, timeout_s=timeout)


def _value(chart: str, value: Decimal) -> Decimal | float:
    if chart == CHART_DIFFICULTY:
        return value.quantize(DIFFICULTY_STEP)
    if chart == CHART_HASH_RATE:
        return float(value)  # a statistic, stored as a float like the model says
    return value.quantize(SATOSHI)


def network_stats_backfill(*, timespan: str, now: datetime) -> NetworkBackfillResult:
    """Upsert one blockchain_info row per complete UTC day in `timespan` (e.g. "30days", "1year")."""
    if settings.MARKET_DATA_SOURCE == "replay":
        return NetworkBackfillResult(mode="replay", rows=0, first_day=None, last_day=None, charts=())
    results = asyncio.run(_charts_fetch(timespan=timespan))
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    by_day: dict[datetime, dict[str, Decimal | float]] = defaultdict(dict)
    for result in results:
        if result.value is not None:
            for day, value in result.value.values:
                if day < today:
                    by_day[day][_FIELD[result.source]] = _value(result.source, value)
    days = {day: fields for day, fields in by_day.items() if "difficulty" in fields}
    written = _network_days_store(days=days)
    outcomes = tuple(
        ChartOutcome(
            chart=r.source,
            days=0 if r.value is None else len(r.value.values),
            latency_s=r.latency_s,
            error=r.error,
            error_kind=r.error_kind,
        )
        for r in results
    )
    logger.info(
        "Network history backfilled: source=%s timespan=%s rows=%d failed_charts=%d",
        SOURCE,
        timespan,
        written,
        sum(bool(o.error) for o in outcomes),
    )
    return NetworkBackfillResult(
        mode="live",
        rows=written,
        first_day=min(days, default=None),
        last_day=max(days, default=None),
        charts=outcomes,
    )


@transaction.atomic(durable=True)
def _network_days_store(*, days: dict[datetime, dict[str, Decimal | float]]) -> int:
    """Upsert the days; rows are grouped by the figures they carry so an update touches only those."""
    groups: dict[tuple[str, ...], list[NetworkStats]] = defaultdict(list)
    for day, fields in days.items():
        row = NetworkStats(source=SOURCE, recorded_at=day, **fields)
        # The unique key is the upsert's business: leaving recorded_at out skips that constraint (a rerun
        # must update the row) while the fields and the difficulty check are still checked.
        row.full_clean(exclude={"recorded_at"}, validate_unique=False)
        groups[tuple(sorted(fields))].append(row)
    for names, rows in groups.items():
        NetworkStats.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["source", "recorded_at"], update_fields=list(names)
        )
    return len(days)
