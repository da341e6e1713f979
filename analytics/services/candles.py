"""Live candles: Binance klines and OKX candles, daily and hourly, upserted as PriceCandle rows.

Each (exchange, interval) is one call; all four run at once and each fails alone, with its error
recorded in the result. Only complete candles are stored: the one still trading would be stored with
a close that is not yet its close, and indicators and signals would fire on it. A candle an exchange
corrects later is updated in place (the rows are keyed on source, interval and open time).
In replay mode nothing is asked: the shipped history is the candle source.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from analytics.clients import binance, okx
from analytics.clients.base import Candle, ErrorKind, SourceCall, SourceResult, client_build, sources_collect
from analytics.models import Interval, PriceCandle

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
SATOSHI = Decimal("0.00000001")
# 300 days or 300 hours per call: far more than the longest indicator window (MACD 26 + 9), so a
# first run or a long outage fills what indicators need, and OKX answers at most 300 anyway.
CANDLE_LIMIT = 300
INTERVALS = (Interval.DAY, Interval.HOUR)


@dataclass(frozen=True)
class CandleSeriesOutcome:
    """One exchange and interval in a run: candles stored (complete ones only) or the error."""

    source: str
    interval: str
    stored: int
    skipped_open: int
    latency_s: float
    error: str = ""
    error_kind: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class CandlesCollectResult:
    """What one run did: per-series outcomes, or nothing in replay mode."""

    mode: str
    series: tuple[CandleSeriesOutcome, ...]

    @property
    def stored(self) -> int:
        return sum(outcome.stored for outcome in self.series)


def candle_source_calls(*, now: datetime) -> list[SourceCall[list[Candle]]]:
    """The four candle series, named "<source>:<interval>", pointed at the base URLs in settings."""
    binance_url = settings.MARKET_BINANCE_URL.rstrip("/")
    okx_url = settings.MARKET_OKX_URL.rstrip("/")
    calls: list[SourceCall[list[Candle]]] = []
    for interval in INTERVALS:
        calls += [
            SourceCall(
                f"{binance.NAME}:{interval}",
                partial(binance.klines_fetch, base_url=binance_url, interval=interval, limit=CANDLE_LIMIT, now=now),
            ),
            SourceCall(
                f"{okx.NAME}:{interval}",
                partial(okx.candles_fetch, base_url=okx_url, interval=interval, limit=CANDLE_LIMIT),
            ),
        ]
    return calls


async def _candles_fetch_all(*, now: datetime) -> list[SourceResult[list[Candle]]]:
    timeout = float(settings.MARKET_SOURCE_TIMEOUT_SECONDS)
    async with client_build(timeout_s=timeout, connect_timeout_s=settings.MARKET_CONNECT_TIMEOUT_SECONDS) as client:
        return await sources_collect(client=client, calls=candle_source_calls(now=now), timeout_s=timeout)


def candles_collect(*, now: datetime) -> CandlesCollectResult:
    """Fetch the recent daily and hourly candles of Binance and OKX and upsert the complete ones."""
    if settings.MARKET_DATA_SOURCE == "replay":
        return CandlesCollectResult(mode="replay", series=())
    started = time.perf_counter()
    results = asyncio.run(_candles_fetch_all(now=now))
    prepared = [_series_prepare(result=result) for result in results]
    _candles_store(rows=[row for _, rows in prepared for row in rows])
    outcomes = tuple(outcome for outcome, _ in prepared)
    logger.info(
        "Candles collected: stored=%d failed=%d duration_ms=%d",
        sum(o.stored for o in outcomes),
        sum(not o.ok for o in outcomes),
        round((time.perf_counter() - started) * 1000),
    )
    return CandlesCollectResult(mode="live", series=outcomes)


def _series_prepare(*, result: SourceResult[list[Candle]]) -> tuple[CandleSeriesOutcome, list[PriceCandle]]:
    """The rows of one series' complete candles, checked like admin and API would; a bad one fails the series."""
    source, _, interval = result.source.partition(":")

    def failed(error: str, kind: str) -> tuple[CandleSeriesOutcome, list[PriceCandle]]:
        outcome = CandleSeriesOutcome(
            source=source,
            interval=interval,
            stored=0,
            skipped_open=0,
            latency_s=result.latency_s,
            error=error,
            error_kind=kind,
        )
        return outcome, []

    if result.value is None:
        return failed(result.error, result.error_kind)
    complete = [c for c in result.value if c.closed]
    rows = []
    for candle in complete:
        row = PriceCandle(
            source=source,
            interval=interval,
            open_time=candle.open_time,
            open=candle.open.quantize(CENT),
            high=candle.high.quantize(CENT),
            low=candle.low.quantize(CENT),
            close=candle.close.quantize(CENT),
            volume_btc=candle.volume_btc.quantize(SATOSHI),
        )
        try:
            # The unique key is the upsert's business: leaving open_time out skips that constraint (a
            # rerun must update the row) while the fields and the low/high check are still checked.
            row.full_clean(exclude={"open_time"}, validate_unique=False)
        except ValidationError as exc:
            return failed(f"candle at {candle.open_time.isoformat()}: {exc.messages}", ErrorKind.OUT_OF_RANGE)
        rows.append(row)
    outcome = CandleSeriesOutcome(
        source=source,
        interval=interval,
        stored=len(rows),
        skipped_open=len(result.value) - len(complete),
        latency_s=result.latency_s,
    )
    return outcome, rows


@transaction.atomic(durable=True)
def _candles_store(*, rows: Sequence[PriceCandle]) -> None:
    """Upsert the rows in one short transaction, after every network call has finished."""
    PriceCandle.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["source", "interval", "open_time"],
        update_fields=["open", "high", "low", "close", "volume_btc"],
    )
