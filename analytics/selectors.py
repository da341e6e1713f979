"""Reads of market and network history: candles, network stats, retargets, indicators and signals."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from analytics.models import (
    DifficultyAdjustment,
    Forecast,
    Interval,
    MarketAnalytics,
    MarketSignal,
    NetworkStats,
    PriceCandle,
    TechnicalIndicator,
)
from analytics.services.network_estimates import (
    EpochStart,
    NetworkEstimates,
    NetworkHistory,
    network_estimates_compute,
    network_history_build,
    network_history_offline,
)
from mining_platform.core.cache import CachedValue, cached_value
from mining_platform.core.errors import NotFoundError

logger = logging.getLogger(__name__)


def price_candle_list(
    *, source: str, interval: str, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[PriceCandle]:
    """Candles of one source and interval, oldest first, with open_time in [start, end)."""
    candles = PriceCandle.objects.filter(source=source, interval=interval)
    if start is not None:
        candles = candles.filter(open_time__gte=start)
    if end is not None:
        candles = candles.filter(open_time__lt=end)
    return candles.order_by("open_time")


def price_close_list(*, source: str, interval: str, last: int | None = None) -> list[tuple[datetime, Decimal]]:
    """(open_time, close) of one source and interval, oldest first; only the newest `last` when given."""
    candles = PriceCandle.objects.filter(source=source, interval=interval)
    if last is None:
        return list(candles.order_by("open_time").values_list("open_time", "close"))
    newest = list(candles.order_by("-open_time").values_list("open_time", "close")[:last])
    return newest[::-1]


def network_stats_list(
    *, source: str, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[NetworkStats]:
    """Network figures of one source, oldest first, recorded in [start, end)."""
    stats = NetworkStats.objects.filter(source=source)
    if start is not None:
        stats = stats.filter(recorded_at__gte=start)
    if end is not None:
        stats = stats.filter(recorded_at__lt=end)
    return stats.order_by("recorded_at")


def difficulty_adjustment_list(*, since_height: int | None = None) -> QuerySet[DifficultyAdjustment]:
    """Retargets in height order, from `since_height` on when given."""
    adjustments = DifficultyAdjustment.objects.all()
    if since_height is not None:
        adjustments = adjustments.filter(height__gte=since_height)
    return adjustments.order_by("height")


def technical_indicator_list(
    *, series: str, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[TechnicalIndicator]:
    """Indicator rows of one series, oldest first, at times in [start, end)."""
    rows = TechnicalIndicator.objects.filter(series=series)
    if start is not None:
        rows = rows.filter(at__gte=start)
    if end is not None:
        rows = rows.filter(at__lt=end)
    return rows.order_by("at")


def technical_indicator_before(*, series: str, at: datetime) -> TechnicalIndicator | None:
    """The last indicator row of a series strictly before `at`, if any."""
    return TechnicalIndicator.objects.filter(series=series, at__lt=at).order_by("-at").first()


def market_signal_list(
    *,
    series: str | None = None,
    kind: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[MarketSignal]:
    """Signals, newest first, optionally of one series and kind, raised at times in [start, end)."""
    signals = MarketSignal.objects.all()
    if series is not None:
        signals = signals.filter(series=series)
    if kind is not None:
        signals = signals.filter(kind=kind)
    if start is not None:
        signals = signals.filter(at__gte=start)
    if end is not None:
        signals = signals.filter(at__lt=end)
    return signals.order_by("-at", "kind")


# --- latest market price and difficulty (cached), and the replay history's latest values -------------

REPLAY_SOURCE = "replay"
MARKET_PRICE_CACHE_KEY = "analytics:price:latest"
NETWORK_DIFFICULTY_CACHE_KEY = "analytics:difficulty:latest"


@dataclass(frozen=True)
class LatestPrice:
    """The robust BTC price of the last aggregation run that produced one."""

    price_usd: Decimal
    at: datetime
    mode: str
    sources_answered: int
    sources_asked: int


@dataclass(frozen=True)
class LatestDifficulty:
    """The latest network difficulty with the figures recorded beside it."""

    difficulty: Decimal
    at: datetime
    source: str
    hashrate_ths: float | None
    block_height: int | None


@dataclass(frozen=True)
class ReplayPrice:
    """The newest shipped candle at or before a moment, with the 24 hours of volume up to it."""

    price_usd: Decimal
    open_time: datetime
    interval: str
    volume_24h_btc: Decimal | None


def market_price_latest_stored() -> LatestPrice:
    """The newest stored aggregate price of the current data mode; NotFoundError when there is none."""
    row = (
        MarketAnalytics.objects.filter(mode=settings.MARKET_DATA_SOURCE, price_usd__isnull=False)
        .order_by("-collected_at")
        .first()
    )
    if row is None or row.price_usd is None:
        raise NotFoundError("No market price has been aggregated yet.")
    return LatestPrice(
        price_usd=row.price_usd,
        at=row.collected_at,
        mode=row.mode,
        sources_answered=row.sources_answered,
        sources_asked=row.sources_asked,
    )


def latest_difficulty_from(row: NetworkStats) -> LatestDifficulty:
    return LatestDifficulty(
        difficulty=row.difficulty,
        at=row.recorded_at,
        source=row.source,
        hashrate_ths=row.hashrate_ths,
        block_height=row.block_height,
    )


def network_difficulty_latest_stored() -> LatestDifficulty:
    """The newest stored difficulty of the current data mode (replay rows, or the live sources' rows)."""
    rows = NetworkStats.objects.all()
    if settings.MARKET_DATA_SOURCE == "replay":
        rows = rows.filter(source=REPLAY_SOURCE)
    else:
        rows = rows.exclude(source=REPLAY_SOURCE)
    row = rows.order_by("-recorded_at", "source").first()
    if row is None:
        raise NotFoundError("No network difficulty has been recorded yet.")
    return latest_difficulty_from(row)


def market_price_latest() -> CachedValue[LatestPrice]:
    """The latest price through the cache: fresh, stale while refreshed, or the last good value."""
    seconds = settings.MARKET_PRICE_CACHE_SECONDS
    return cached_value(
        key=MARKET_PRICE_CACHE_KEY, compute=market_price_latest_stored, ttl_seconds=seconds, stale_seconds=seconds
    )


def network_difficulty_latest() -> CachedValue[LatestDifficulty]:
    """The latest difficulty through the cache: fresh, stale while refreshed, or the last good value."""
    seconds = settings.MARKET_DIFFICULTY_CACHE_SECONDS
    return cached_value(
        key=NETWORK_DIFFICULTY_CACHE_KEY,
        compute=network_difficulty_latest_stored,
        ttl_seconds=seconds,
        stale_seconds=seconds,
    )


def replay_price_at(*, at: datetime) -> ReplayPrice | None:
    """The newest shipped candle opened at or before `at` (hourly preferred when it is as new or newer)."""
    candles = PriceCandle.objects.filter(source=REPLAY_SOURCE, open_time__lte=at)
    hourly = candles.filter(interval=Interval.HOUR).order_by("-open_time").first()
    daily = candles.filter(interval=Interval.DAY).order_by("-open_time").first()
    if hourly is not None and (daily is None or hourly.open_time >= daily.open_time):
        # 24 hourly candles ending with the newest make the 24 h volume.
        window = candles.filter(interval=Interval.HOUR, open_time__gt=hourly.open_time - timedelta(hours=24))
        volume = window.aggregate(total=Sum("volume_btc"))["total"]
        return ReplayPrice(
            price_usd=hourly.close, open_time=hourly.open_time, interval=Interval.HOUR, volume_24h_btc=volume
        )
    if daily is not None:
        return ReplayPrice(
            price_usd=daily.close, open_time=daily.open_time, interval=Interval.DAY, volume_24h_btc=daily.volume_btc
        )
    return None


def replay_network_at(*, at: datetime) -> NetworkStats | None:
    """The newest shipped network row recorded at or before `at`."""
    return NetworkStats.objects.filter(source=REPLAY_SOURCE, recorded_at__lte=at).order_by("-recorded_at").first()


# --- daily series for forecasts -----------------------------------------------------------------------


def price_daily_close_series(*, source: str, end: datetime | None = None) -> "pd.Series[float]":
    """Daily closes of one source as a float Series indexed by UTC day, candles opened before `end`."""
    rows = price_candle_list(source=source, interval=Interval.DAY, end=end).values_list("open_time", "close")
    return pd.Series(
        [float(close) for _, close in rows],
        index=pd.DatetimeIndex([at.replace(tzinfo=None) for at, _ in rows]).normalize(),
        dtype=float,
    )


def difficulty_daily_series(*, source: str, end: datetime | None = None) -> "pd.Series[float]":
    """Network difficulty of one source, the last value of each UTC day, recorded before `end`."""
    rows = network_stats_list(source=source, end=end).values_list("recorded_at", "difficulty")
    moments = pd.DatetimeIndex([at.replace(tzinfo=None) for at, _ in rows])
    series = pd.Series([float(difficulty) for _, difficulty in rows], index=moments, dtype=float)
    daily: pd.Series[float] = series.groupby(moments.normalize()).last()
    return daily


# --- next retarget and halving (cached) ---------------------------------------------------------------

NETWORK_ESTIMATES_CACHE_KEY = "analytics:network_estimates"


def _mode_network_stats() -> QuerySet[NetworkStats]:
    """Network rows of the current data mode: the shipped history in replay, the live sources in live."""
    rows = NetworkStats.objects.all()
    if settings.MARKET_DATA_SOURCE == "replay":
        return rows.filter(source=REPLAY_SOURCE)
    return rows.exclude(source=REPLAY_SOURCE)


def network_history_stored() -> NetworkHistory | None:
    """The network history from the database for the current data mode; None when it lacks retargets or days.

    A row at 00:00 UTC is a daily figure (the shipped history, or blockchain.info's charts in live mode):
    where a day has one, it stands for the day, since the block counts derive from exactly that series.
    Other days get the mean difficulty and hash rate of their readings (live collectors, every 15 minutes).
    """
    epochs = [
        EpochStart(
            height=height,
            difficulty=float(difficulty),
            started_on=start.astimezone(UTC).date(),
            # history_load stores a retarget known only by its day at 00:00 UTC of that day; a real block
            # exactly at midnight is a one-in-86400 chance, so midnight means "time unknown".
            started_at=None if start.astimezone(UTC).time() == time() else start.astimezone(UTC),
        )
        for height, start, difficulty in DifficultyAdjustment.objects.order_by("height").values_list(
            "height", "start_time", "difficulty"
        )
    ]
    readings: dict[date, list[tuple[float, float | None]]] = defaultdict(list)
    daily_rows: dict[date, list[tuple[float, float | None]]] = defaultdict(list)
    for recorded_at, difficulty, hashrate in _mode_network_stats().values_list(
        "recorded_at", "difficulty", "hashrate_ths"
    ):
        moment = recorded_at.astimezone(UTC)
        target = daily_rows if moment.time() == time() else readings
        target[moment.date()].append((float(difficulty), hashrate))
    if not epochs or not (readings or daily_rows):
        return None
    daily: dict[date, tuple[float, float | None]] = {}
    for day in readings.keys() | daily_rows.keys():
        values = daily_rows.get(day) or readings[day]
        hashrates = [h for _, h in values if h is not None]
        daily[day] = (
            sum(d for d, _ in values) / len(values),
            sum(hashrates) / len(hashrates) if hashrates else None,
        )
    return network_history_build(epochs=epochs, daily=daily)


def network_estimates_uncached(*, now: datetime) -> NetworkEstimates:
    """Next retarget and halving from the stored history of the current mode, else from the shipped files."""
    history = network_history_stored()
    if history is not None:
        try:
            return network_estimates_compute(history=history, now=now)
        except ValueError:
            # Stored rows that cannot give an estimate (no retarget before `now`, no pace to take) must not
            # leave the pages blank: the shipped history still can.
            logger.warning(
                "Network estimates: stored history unusable, using the shipped files: mode=%s now=%s",
                settings.MARKET_DATA_SOURCE,
                now.isoformat(),
                exc_info=True,
            )
    return network_estimates_compute(history=network_history_offline(), now=now)


def network_estimates_cache_key(*, mode: str, day: date) -> str:
    """The estimates are cached per data mode and UTC day; a new retarget invalidates the days after it."""
    return f"{NETWORK_ESTIMATES_CACHE_KEY}:{mode}:{day.isoformat()}"


def network_estimates_latest(*, now: datetime | None = None) -> NetworkEstimates:
    """Next retarget (date, percentage) and next halving as of `now` (default: the current time), cached.

    The estimate is per UTC day (it uses whole days only), so the cache key holds the mode and the day.
    Served fresh for MARKET_DIFFICULTY_CACHE_SECONDS (15 minutes), then stale while one caller refreshes.
    """
    at = (timezone.now() if now is None else now).astimezone(UTC)
    seconds = settings.MARKET_DIFFICULTY_CACHE_SECONDS
    cached = cached_value(
        key=network_estimates_cache_key(mode=settings.MARKET_DATA_SOURCE, day=at.date()),
        compute=lambda: network_estimates_uncached(now=at),
        ttl_seconds=seconds,
        stale_seconds=seconds,
    )
    return cached.value


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
