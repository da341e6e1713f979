"""blockchain.info (Blockchain.com) `/stats`: difficulty, hash rate, height and the last 24 hours' fees.

Units as documented: `hash_rate` in GH/s, `total_fees_btc` in satoshis (despite its name) over the
last 24 hours, `timestamp` in milliseconds.

The charts API, `/charts/<name>?timespan=...&format=json`, answers `{"status": "ok", "name", "unit",
"period", "description", "values": [{"x": <unix seconds>, "y": <number>}, ...]}`: one point per day
for `hash-rate` (TH/s, unlike /stats), `difficulty`, and `transaction-fees` (BTC per day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

import httpx

from .base import (
    BLOCK_HEIGHT_RANGE,
    DIFFICULTY_RANGE,
    HASHRATE_THS_RANGE,
    MAX_VOLUME_BTC,
    ErrorKind,
    NetworkReading,
    SourceError,
    as_decimal,
    as_int,
    as_list,
    as_mapping,
    epoch_to_datetime,
    float_in_range,
    fresh,
    get_json,
    in_range,
    non_negative,
    require,
)

NAME = "blockchain_info"
SATS_PER_BTC = Decimal(100_000_000)


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def stats_parse(body: object, *, now: datetime, max_age_s: float) -> NetworkReading:
    stats = as_mapping(body, "stats")
    observed_at = epoch_to_datetime(require(stats, "timestamp", "stats"), "timestamp", unit_seconds=1e-3)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="timestamp")
    difficulty = in_range(
        as_decimal(require(stats, "difficulty", "stats"), "difficulty"),
        "difficulty",
        low=DIFFICULTY_RANGE[0],
        high=DIFFICULTY_RANGE[1],
    )
    hashrate_ths = float_in_range(
        as_decimal(require(stats, "hash_rate", "stats"), "hash_rate") / 1000,
        "hash_rate (TH/s)",
        low=HASHRATE_THS_RANGE[0],
        high=HASHRATE_THS_RANGE[1],
    )
    height = as_int(require(stats, "n_blocks_total", "stats"), "n_blocks_total")
    in_range(Decimal(height), "n_blocks_total", low=BLOCK_HEIGHT_RANGE[0], high=BLOCK_HEIGHT_RANGE[1])
    fees_sats = as_int(require(stats, "total_fees_btc", "stats"), "total_fees_btc")
    if fees_sats < 0:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"total_fees_btc {fees_sats} is negative")
    blocks = as_int(require(stats, "n_blocks_mined", "stats"), "n_blocks_mined")
    fees_btc = Decimal(fees_sats) / SATS_PER_BTC
    next_retarget = stats.get("nextretarget")
    return NetworkReading(
        observed_at=observed_at,
        difficulty=difficulty,
        hashrate_ths=hashrate_ths,
        # Taken as the tip height; mempool.space gives the exact tip, and one block either way changes
        # nothing derived from it (epoch progress, halving date).
        block_height=height,
        fees_btc_per_day=fees_btc.quantize(Decimal("0.00000001")),
        avg_fee_per_block_btc=(fees_btc / blocks).quantize(Decimal("0.00000001")) if blocks > 0 else None,
        next_retarget_height=None if next_retarget is None else as_int(next_retarget, "nextretarget"),
    )


async def stats_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> NetworkReading:
    body = await get_json(client, f"{base_url}/stats", error_text=error_text)
    return stats_parse(body, now=now, max_age_s=max_age_s)


CHART_HASH_RATE = "hash-rate"
CHART_DIFFICULTY = "difficulty"
CHART_FEES = "transaction-fees"
# What each chart's `unit` must say for the values to mean what we store; a change of unit upstream
# (say to EH/s) fails the chart instead of storing figures off by a factor of a million.
_EXPECTED_UNIT = {CHART_HASH_RATE: "TH/s", CHART_FEES: "BTC"}


@dataclass(frozen=True)
class ChartSeries:
    """One chart: its name, unit, and one value per UTC day (the day's 00:00 UTC), oldest first."""

    chart: str
    unit: str
    values: tuple[tuple[datetime, Decimal], ...]


def _chart_value(chart: str, value: object, what: str) -> Decimal:
    if chart == CHART_DIFFICULTY:
        return in_range(as_decimal(value, what), what, low=DIFFICULTY_RANGE[0], high=DIFFICULTY_RANGE[1])
    if chart == CHART_HASH_RATE:
        number = as_decimal(value, what)
        float_in_range(number, what, low=HASHRATE_THS_RANGE[0], high=HASHRATE_THS_RANGE[1])
        return number
    return non_negative(value, what, high=MAX_VOLUME_BTC)


def chart_parse(body: object, *, chart: str) -> ChartSeries:
    """A daily chart's values, validated; a point off 00:00 UTC is taken as the day it falls in."""
    data = as_mapping(body, "chart")
    status = require(data, "status", "chart")
    if status != "ok":
        raise SourceError(ErrorKind.UPSTREAM_ERROR, f"chart {chart} status is {status!r}")
    unit = require(data, "unit", "chart")
    if not isinstance(unit, str):
        raise SourceError(ErrorKind.MALFORMED, f"chart {chart} unit is not a string")
    expected = _EXPECTED_UNIT.get(chart)
    if expected is not None and expected not in unit.split():
        raise SourceError(ErrorKind.MALFORMED, f"chart {chart} unit is {unit!r}, expected {expected}")
    period = require(data, "period", "chart")
    if period != "day":
        raise SourceError(ErrorKind.MALFORMED, f"chart {chart} period is {period!r}, not day")
    by_day: dict[datetime, Decimal] = {}
    for index, raw in enumerate(as_list(require(data, "values", "chart"), "values")):
        what = f"{chart} value {index}"
        point = as_mapping(raw, what)
        moment = epoch_to_datetime(require(point, "x", what), f"{what} x", unit_seconds=1.0)
        day = datetime.combine(moment.date(), time(), tzinfo=UTC)
        if day in by_day:
            raise SourceError(ErrorKind.MALFORMED, f"chart {chart} has two values for {day.date()}")
        by_day[day] = _chart_value(chart, require(point, "y", what), f"{what} y")
    return ChartSeries(chart=chart, unit=unit, values=tuple(sorted(by_day.items())))


async def chart_fetch(client: httpx.AsyncClient, *, base_url: str, chart: str, timespan: str) -> ChartSeries:
    """One chart over `timespan` (e.g. "30days", "1year"), unsampled: one point per day."""
    body = await get_json(
        client,
        f"{base_url}/charts/{chart}",
        # sampled=false: long timespans are otherwise thinned to about 1,500 points.
        params={"timespan": timespan, "format": "json", "sampled": "false"},
        error_text=error_text,
    )
    return chart_parse(body, chart=chart)
