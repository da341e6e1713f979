"""History series of a set of miners (a site, a customer's miners, one miner), summed per bucket for charts.

Ranges up to six hours read the raw polls; up to three days the 5-minute rollups; longer, the hourly ones.
Rollups are written by a periodic task for whole buckets only, so the buckets after the newest rollup
(the current, partial one at least) are worked out from the raw polls the same way the rollup does it:
the chart always reaches the latest collection.
"""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from mining_platform.core.errors import InvalidInputError

from .models import Miner, TelemetryRollup

SERIES_RAW_MAX = timedelta(hours=6)
SERIES_FIVE_MINUTE_MAX = timedelta(days=3)
# The ranges the pages offer, by their names in the query string.
SERIES_RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RAW = "raw"
_BUCKETS: dict[str, timedelta] = {
    TelemetryRollup.Resolution.FIVE_MINUTES.value: timedelta(minutes=5),
    TelemetryRollup.Resolution.HOUR.value: timedelta(hours=1),
}
_SqlParam = int | float | str | datetime | list[int] | None
# date_bin's origin, the same one the rollup task bins with, so raw-made buckets line up with stored ones.
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeriesPoint:
    """The selected miners at one moment (raw) or over one bucket (rollups), summed."""

    t: datetime
    hashrate_ths: float
    power_kw: float
    temp_max_c: float | None  # hottest board among the miners that answered
    online_share: float | None  # answered polls / polls, 0-1; None when no poll fell in the point
    miners: int  # miners that answered
    polls: int  # polls in the point (per miner and collection run)
    ok_polls: int  # of them answered


@dataclass(frozen=True)
class TelemetrySeries:
    start: datetime
    end: datetime
    resolution: str  # "raw" (per collection run), "1m" (raw per minute), "5m" or "1h" (rollups)
    points: tuple[SeriesPoint, ...]


@dataclass(frozen=True)
class _Selection:
    """Which telemetry rows count: a whole site's, or a list of miners' (a customer's, or given ids)."""

    site_id: int | None
    miner_ids: tuple[int, ...] | None

    @property
    def empty(self) -> bool:
        return self.miner_ids is not None and not self.miner_ids

    def sql(self) -> tuple[str, dict[str, _SqlParam]]:
        if self.miner_ids is not None:
            return "t.miner_id = ANY(%(miner_ids)s)", {"miner_ids": list(self.miner_ids)}
        return "t.site_id = %(site_id)s", {"site_id": self.site_id}

    def miners_sql(self) -> tuple[str, dict[str, _SqlParam]]:
        """The same condition on hosting_miners (as m)."""
        if self.miner_ids is not None:
            return "m.id = ANY(%(miner_ids)s)", {"miner_ids": list(self.miner_ids)}
        return "m.site_id = %(site_id)s", {"site_id": self.site_id}


def _selection(*, miner_ids: Sequence[int] | None, site_id: int | None, customer_id: int | None) -> _Selection:
    if miner_ids is None and site_id is None and customer_id is None:
        raise InvalidInputError(fields={"scope": ["name a site, a customer or miners"]})
    if miner_ids is None and customer_id is None:
        return _Selection(site_id=site_id, miner_ids=None)
    miners = Miner.objects.all()
    if miner_ids is not None:
        miners = miners.filter(pk__in=list(miner_ids))
    if customer_id is not None:
        miners = miners.filter(customer_id=customer_id)
    if site_id is not None:
        miners = miners.filter(site_id=site_id)
    return _Selection(site_id=site_id, miner_ids=tuple(miners.order_by("pk").values_list("pk", flat=True)))


# --- raw polls -----------------------------------------------------------------------------------------

# One row per collection run: a run stamps every miner it polled with one time (telemetry_collect), so a
# run is a snapshot of its shard, known by its smallest miner id (shards are disjoint). A reading without
# power counts at nominal unless the miner sleeps, as the curtailment planner counts a site's draw; a
# miner that did not answer draws nothing. Board temperature, the figure the rollups keep, so a chart's
# temperature means the same at every range.
_PER_RUN = """
SELECT t.recorded_at, min(t.miner_id), count(*), count(*) FILTER (WHERE t.outcome = 'ok'),
       COALESCE(sum(t.hashrate_ths) FILTER (WHERE t.outcome = 'ok'), 0),
       COALESCE(sum(COALESCE(t.power_w, CASE WHEN t.is_sleeping THEN 0 ELSE m.nominal_power_w END))
                FILTER (WHERE t.outcome = 'ok'), 0),
       max(t.board_temp_max_c) FILTER (WHERE t.outcome = 'ok')
FROM miner_telemetry t JOIN hosting_miners m ON m.id = t.miner_id
WHERE {selection} AND t.recorded_at >= %(start)s AND t.recorded_at < %(end)s
GROUP BY t.recorded_at
ORDER BY t.recorded_at
"""


@dataclass(frozen=True)
class _Run:
    at: datetime
    shard: int
    polled: int
    answered: int
    hashrate_ths: float
    power_w: float
    temp_max_c: float | None


def _runs(*, selection: _Selection, start: datetime, end: datetime) -> list[_Run]:
    where, params = selection.sql()
    with connection.cursor() as cursor:
        cursor.execute(_PER_RUN.format(selection=where), {**params, "start": start, "end": end})
        rows: list[tuple[datetime, int, int, int, float, int, float | None]] = cursor.fetchall()
    return [
        _Run(
            at=at,
            shard=shard,
            polled=polled,
            answered=ok,
            hashrate_ths=float(ths),
            power_w=float(watts),
            temp_max_c=temp,
        )
        for at, shard, polled, ok, ths, watts, temp in rows
    ]


def _carry() -> timedelta:
    """How long a shard's last run stands for it when a point has no run of that shard (one poll interval)."""
    return timedelta(minutes=max(1, math.ceil(settings.TELEMETRY_POLL_INTERVAL_SECONDS / 60)))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _raw_points(*, selection: _Selection, start: datetime, end: datetime, step: timedelta | None) -> list[SeriesPoint]:
    """Points at every collection run (`step` None) or every `step` from `start` rounded down to it.

    Per shard, a point takes the mean of the shard's runs inside it or, when a run slipped past it (runs
    every 60 s drift across minute boundaries; shards run apart), its latest run within a poll interval
    before; then the shards are summed, so a site polled in shards never shows only part of itself.
    """
    carry = _carry()
    first = start if step is None else _floor(start, step)
    runs = _runs(selection=selection, start=first - carry, end=end)
    if step is not None:
        edges = []
        edge = first
        while edge < end:
            edges.append(edge)
            edge += step
    else:
        edges = sorted({run.at for run in runs if run.at >= start})
    latest: dict[int, _Run] = {}
    points: list[SeriesPoint] = []
    index = 0
    for position, edge in enumerate(edges):
        following = edges[position + 1] if position + 1 < len(edges) else end
        inside: dict[int, list[_Run]] = {}
        while index < len(runs) and runs[index].at < following:
            run = runs[index]
            index += 1
            latest[run.shard] = run
            if run.at >= edge:
                inside.setdefault(run.shard, []).append(run)
        counted = [
            inside.get(shard) or [run] for shard, run in latest.items() if inside.get(shard) or edge - run.at < carry
        ]
        if not counted:
            continue
        polled = sum(_mean([r.polled for r in group]) for group in counted)
        answered = sum(_mean([r.answered for r in group]) for group in counted)
        temps = [r.temp_max_c for group in counted for r in group if r.temp_max_c is not None]
        points.append(
            SeriesPoint(
                t=edge,
                hashrate_ths=sum(_mean([r.hashrate_ths for r in group]) for group in counted),
                power_kw=sum(_mean([r.power_w for r in group]) for group in counted) / 1000,
                temp_max_c=max(temps) if temps else None,
                online_share=answered / polled if polled else None,
                miners=sum(max(r.answered for r in group) for group in counted),
                polls=round(polled),
                ok_polls=round(answered),
            )
        )
    return points


# --- rollups, and the buckets after the newest one from raw polls ---------------------------------------

# The rollup task's aggregates per miner and bucket, then summed over the miners like the stored rollups.
_RAW_BUCKETS = """
WITH per_miner AS (
    SELECT t.miner_id, date_bin(%(bucket)s::interval, t.recorded_at, %(origin)s) AS bucket_start,
           count(*) AS samples, count(*) FILTER (WHERE t.outcome = 'ok') AS ok_samples,
           avg(t.hashrate_ths) AS hashrate_avg_ths, avg(t.power_w)::float8 AS power_avg_w,
           max(t.board_temp_max_c) AS temp_max_c
    FROM miner_telemetry t
    WHERE {selection} AND t.recorded_at >= %(start)s AND t.recorded_at < %(end)s
    GROUP BY 1, 2
)
SELECT p.bucket_start,
       COALESCE(sum(COALESCE(p.hashrate_avg_ths, 0) * p.ok_samples / p.samples), 0),
       COALESCE(sum(COALESCE(p.power_avg_w, m.nominal_power_w) * p.ok_samples / p.samples), 0),
       max(p.temp_max_c), sum(p.ok_samples)::int8, sum(p.samples)::int8, count(*) FILTER (WHERE p.ok_samples > 0)
FROM per_miner p JOIN hosting_miners m ON m.id = p.miner_id
GROUP BY 1
ORDER BY 1
"""


def _bucket_point(
    *, t: datetime, hashrate_ths: float, power_w: float, temp: float | None, ok: int, samples: int, miners: int
) -> SeriesPoint:
    return SeriesPoint(
        t=t,
        hashrate_ths=float(hashrate_ths),
        power_kw=float(power_w) / 1000,
        temp_max_c=temp,
        online_share=int(ok) / int(samples) if samples else None,
        miners=int(miners),
        polls=int(samples),
        ok_polls=int(ok),
    )


# A rollup's means cover its answered polls only: weighted by the answered share, a miner that was off
# half the bucket counts half. Without a power reading (stock Antminer firmware), nominal stands in. The
# rollups are read miner by miner through their (miner, resolution, bucket) key, the one index the table
# has that bounds the time as well.
_ROLLUP_SUMS = """
SELECT r.bucket_start,
       COALESCE(sum(COALESCE(r.hashrate_avg_ths, 0) * r.ok_samples / r.samples), 0),
       COALESCE(sum(COALESCE(r.power_avg_w, m.nominal_power_w) * r.ok_samples / r.samples), 0),
       max(r.temp_max_c), sum(r.ok_samples)::int8, sum(r.samples)::int8, count(*) FILTER (WHERE r.ok_samples > 0)
FROM hosting_miners m
JOIN miner_telemetry_rollups r
  ON r.miner_id = m.id AND r.resolution = %(resolution)s AND r.bucket_start >= %(start)s AND r.bucket_start < %(end)s
WHERE {miners} AND r.samples > 0
GROUP BY 1
ORDER BY 1
"""
_NEWEST_ROLLUP = """
SELECT max(newest.bucket_start)
FROM hosting_miners m
CROSS JOIN LATERAL (
    SELECT r.bucket_start FROM miner_telemetry_rollups r
    WHERE r.miner_id = m.id AND r.resolution = %(resolution)s AND r.bucket_start >= %(start)s
      AND r.bucket_start < %(end)s
    ORDER BY r.bucket_start DESC
    LIMIT 1
) newest
WHERE {miners}
"""
# The rollup task recomputes the last two closed buckets of each resolution (late rows count too), so a
# cached series takes those again from the database and keeps the older ones.
_RECOMPUTED_BUCKETS = 2
SERIES_CACHE_SECONDS = 3600
_CACHE_KEEPS = timedelta(days=31)


def _rollup_points(*, selection: _Selection, start: datetime, end: datetime, resolution: str) -> list[SeriesPoint]:
    where, params = selection.miners_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            _ROLLUP_SUMS.format(miners=where), {**params, "resolution": resolution, "start": start, "end": end}
        )
        rows: list[tuple[datetime, float, float, float | None, int, int, int]] = cursor.fetchall()
    return [
        _bucket_point(t=at, hashrate_ths=ths, power_w=watts, temp=temp, ok=ok, samples=samples, miners=miners)
        for at, ths, watts, temp, ok, samples, miners in rows
    ]


def _newest_rollup(*, selection: _Selection, start: datetime, end: datetime, resolution: str) -> datetime | None:
    where, params = selection.miners_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            _NEWEST_ROLLUP.format(miners=where), {**params, "resolution": resolution, "start": start, "end": end}
        )
        row: tuple[datetime | None] | None = cursor.fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class _CachedRollups:
    """Summed rollup buckets of one selection and resolution, complete over [since, covered)."""

    since: datetime
    covered: datetime
    points: tuple[SeriesPoint, ...]


def _cache_key(*, selection: _Selection, resolution: str) -> str:
    if selection.miner_ids is None:
        who = f"site:{selection.site_id}"
    else:
        who = "miners:" + hashlib.sha256(",".join(map(str, selection.miner_ids)).encode()).hexdigest()[:32]
    return f"hosting:series:{resolution}:{who}"


def _rollup_points_cached(
    *, selection: _Selection, start: datetime, end: datetime, resolution: str
) -> list[SeriesPoint]:
    """The summed rollups of [start, end), reading from the database only the buckets a cached copy lacks.

    Summing a month of hourly rollups of a large site reads a row per miner and hour; most of them were
    summed already by the previous request, and only the newest buckets change (SERIES_CACHE_SECONDS
    bounds how long a backfill of older buckets takes to show).
    """
    key = _cache_key(selection=selection, resolution=resolution)
    cached = cache.get(key)
    bucket = _BUCKETS[resolution]
    if isinstance(cached, _CachedRollups) and cached.since <= start < cached.covered:
        read_from = max(start, min(end, cached.covered - _RECOMPUTED_BUCKETS * bucket))
        kept = [p for p in cached.points if p.t < read_from]
        since = cached.since
    else:
        read_from, kept, since = start, [], start
    merged = kept + _rollup_points(selection=selection, start=read_from, end=end, resolution=resolution)
    # A range that ends before the cached one (a past event's chart) leaves the cache as it is.
    if not isinstance(cached, _CachedRollups) or end >= cached.covered:
        since = max(since, end - _CACHE_KEEPS)
        points = tuple(p for p in merged if p.t >= since)
        cache.set(key, _CachedRollups(since=since, covered=end, points=points), timeout=SERIES_CACHE_SECONDS)
    return [p for p in merged if start <= p.t < end]


def _raw_bucket_points(
    *, selection: _Selection, start: datetime, end: datetime, bucket: timedelta
) -> list[SeriesPoint]:
    where, params = selection.sql()
    sql = _RAW_BUCKETS.format(selection=where)
    with connection.cursor() as cursor:
        interval = f"{int(bucket.total_seconds())} seconds"
        cursor.execute(sql, {**params, "bucket": interval, "origin": _ORIGIN, "start": start, "end": end})
        rows: list[tuple[datetime, float, float, float | None, int, int, int]] = cursor.fetchall()
    return [
        _bucket_point(t=at, hashrate_ths=ths, power_w=watts, temp=temp, ok=ok, samples=samples, miners=miners)
        for at, ths, watts, temp, ok, samples, miners in rows
    ]


def _floor(moment: datetime, bucket: timedelta) -> datetime:
    seconds = bucket.total_seconds()
    return _ORIGIN + timedelta(seconds=(moment - _ORIGIN).total_seconds() // seconds * seconds)


def _bucketed_points(*, selection: _Selection, start: datetime, end: datetime, resolution: str) -> list[SeriesPoint]:
    """Stored rollups, then the buckets after the newest of them (at least the current one) from raw polls.

    The raw part reads at most SERIES_RAW_MAX, what a raw range reads anyway: where the rollup task fell
    further behind, the chart shows the gap rather than scanning days of polls.
    """
    bucket = _BUCKETS[resolution]
    first = _floor(start, bucket)
    newest = _newest_rollup(selection=selection, start=first, end=end, resolution=resolution)
    raw_from = _floor(end, bucket) if newest is None else newest + bucket
    raw_from = max(raw_from, first, _floor(end - SERIES_RAW_MAX, bucket))
    points = _rollup_points_cached(selection=selection, start=first, end=raw_from, resolution=resolution)
    if raw_from < end:
        points += _raw_bucket_points(selection=selection, start=raw_from, end=end, bucket=bucket)
    return points


def telemetry_hourly(
    *,
    miner_ids: Sequence[int] | None = None,
    site_id: int | None = None,
    customer_id: int | None = None,
    start: datetime,
    end: datetime,
) -> list[SeriesPoint]:
    """Hourly points over [start, end) whatever its length (for totals over hours: energy, uptime, BTC).

    Hours after the newest hourly rollup, the open one at least, come from raw polls, as in the series.
    """
    selection = _selection(miner_ids=miner_ids, site_id=site_id, customer_id=customer_id)
    if selection.empty or end <= start:
        return []
    return _bucketed_points(selection=selection, start=start, end=end, resolution=TelemetryRollup.Resolution.HOUR.value)


def _step_label(step: timedelta) -> str:
    seconds = int(step.total_seconds())
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def series_resolution(*, span: timedelta) -> str:
    """Which data a range of `span` reads: "raw" polls, "5m" or "1h" rollups."""
    if span <= SERIES_RAW_MAX:
        return RAW
    if span <= SERIES_FIVE_MINUTE_MAX:
        return str(TelemetryRollup.Resolution.FIVE_MINUTES)
    return str(TelemetryRollup.Resolution.HOUR)


def telemetry_series(
    *,
    miner_ids: Sequence[int] | None = None,
    site_id: int | None = None,
    customer_id: int | None = None,
    start: datetime,
    end: datetime,
    raw_step: timedelta | None = None,
) -> TelemetrySeries:
    """Hashrate, power, hottest board and answered share of the selected miners over [start, end), summed.

    The filters combine (a customer's miners at one site); at least one is needed. Raw ranges give a
    point per collection run, or per `raw_step` when given (the curtailment chart's minutes).
    """
    if end <= start:
        raise InvalidInputError(fields={"end": ["must be after start"]})
    selection = _selection(miner_ids=miner_ids, site_id=site_id, customer_id=customer_id)
    resolution = series_resolution(span=end - start)
    if resolution == RAW and raw_step is not None:
        resolution = _step_label(raw_step)
    if selection.empty:
        points: list[SeriesPoint] = []
    elif resolution in _BUCKETS:
        points = _bucketed_points(selection=selection, start=start, end=end, resolution=resolution)
    else:
        points = _raw_points(selection=selection, start=start, end=end, step=raw_step)
    return TelemetrySeries(start=start, end=end, resolution=resolution, points=tuple(points))
