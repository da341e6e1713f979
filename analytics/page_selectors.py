"""Datasets of the analytics pages (market overview, forecasts, network), shaped for templates and json_script.

Reads only. Chart series go out as columns of plain numbers (times as epoch milliseconds, NaN as null)
so the page scripts hand them to Chart.js without parsing. Every figure comes from the database rows of
the current data mode (settings.MARKET_DATA_SOURCE), except the network estimates, which the
estimates selector takes from the shipped history when the stored rows cannot give one.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd
from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import TruncDate

from analytics.models import DifficultyAdjustment, Forecast, Interval, NetworkStats, PriceCandle
from analytics.selectors import (
    REPLAY_SOURCE,
    market_analytics_latest,
    market_signal_list,
    network_estimates_latest,
    technical_indicator_list,
)
from analytics.services.forecasts import TARGET_DIFFICULTY, TARGET_PRICE, forecast_sources
from analytics.services.indicators import WARMUP_CANDLES, indicator_candle_source, indicators_compute
from analytics.services.network_estimates import BASIS_DAILY_BLOCKS, BASIS_PREVIOUS_EPOCH, NetworkEstimates

# Range choices (days) of each chart, and the default one.
PRICE_RANGES: Mapping[str, tuple[int, ...]] = {Interval.DAY: (90, 180, 365, 730), Interval.HOUR: (7, 30, 90)}
PRICE_DEFAULT_DAYS: Mapping[str, int] = {Interval.DAY: 180, Interval.HOUR: 90}
NETWORK_RANGES: tuple[int, ...] = (365, 730, 1825, 0)  # 0: the whole history
NETWORK_DEFAULT_DAYS = 730
SIGNALS_SHOWN = 12
RETARGETS_SHOWN = 12
FORECAST_HISTORY_DAYS = 120
# Days ahead listed under a forecast chart (the last day of the horizon is always added).
FORECAST_TABLE_STEPS = (1, 7, 14)

_STEP: Mapping[str, timedelta] = {Interval.DAY: timedelta(days=1), Interval.HOUR: timedelta(hours=1)}
_SERIES: Mapping[str, str] = {Interval.DAY: "btc_usd_1d", Interval.HOUR: "btc_usd_1h"}
_CHART_COLUMNS = ("close", "bb_upper", "bb_mid", "bb_lower", "rsi_14", "macd", "macd_signal", "macd_hist")
# Signal kinds that point up (green markers) and down (red); see analytics/services/signals.py.
_BULLISH_KINDS = frozenset({"rsi_oversold", "macd_bullish_cross", "bb_lower_break"})
SIGNAL_LABELS: Mapping[str, str] = {
    "rsi_overbought": "RSI overbought",
    "rsi_oversold": "RSI oversold",
    "macd_bullish_cross": "MACD bullish cross",
    "macd_bearish_cross": "MACD bearish cross",
    "bb_upper_break": "Upper band break",
    "bb_lower_break": "Lower band break",
}
TARGET_LABELS: Mapping[str, str] = {TARGET_PRICE: "BTC price (USD)", TARGET_DIFFICULTY: "Network difficulty"}


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _day_ms(day: date) -> int:
    return _ms(datetime.combine(day, time(), tzinfo=UTC))


def _number(value: float | Decimal | None, *, places: int | None = None) -> float | None:
    """A JSON-safe float: None for missing or NaN (json_script would write NaN, which JSON.parse rejects).

    `places` rounds chart values to what a pixel can show, which halves the page's embedded JSON.
    """
    if value is None:
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return None
    return number if places is None else round(number, places)


# --- market overview ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalRow:
    at: datetime
    series: str
    kind: str
    label: str
    bullish: bool
    value: float
    threshold: float | None
    reason: str


@dataclass(frozen=True)
class PriceChart:
    """The price chart of one interval over the last `days` of its candles, with its indicator panels."""

    interval: str
    days: int
    ranges: tuple[int, ...]
    series: str
    candle_source: str
    indicators_stored: bool
    first_at: datetime | None
    last_at: datetime | None
    last_close: float | None
    chart: dict[str, object]

    @property
    def empty(self) -> bool:
        return self.last_at is None


@dataclass(frozen=True)
class SourceStatus:
    """One source of an aggregation run: what it said, how old and how fast, and whether it was used."""

    name: str
    kind: str
    health: str  # ok, excluded or error
    value: Decimal | None
    value_unit: str
    observed_at: datetime | None
    latency_ms: int | None
    detail: str
    deviation_percent: float | None

    @property
    def display_value(self) -> str:
        if self.value is None:
            return "—"
        if self.value_unit == "difficulty":
            return f"{self.value / Decimal(10**12):,.2f} T"
        return f"${self.value:,.2f}"


@dataclass(frozen=True)
class MarketStatus:
    """The newest aggregation run of the current data mode."""

    collected_at: datetime
    mode: str
    price_usd: Decimal | None
    price_method: str
    volume_24h_btc: Decimal | None
    sources_answered: int
    sources_asked: int
    completeness_percent: float
    partial: bool
    duration_ms: int
    sources: tuple[SourceStatus, ...]


@dataclass(frozen=True)
class MarketOverview:
    mode: str
    price: PriceChart
    signals: tuple[SignalRow, ...]
    status: MarketStatus | None
    overbought: float
    oversold: float


def _signal_row(
    *, at: datetime, series: str, kind: str, value: float, threshold: float | None, reason: str
) -> SignalRow:
    return SignalRow(
        at=at,
        series=series,
        kind=kind,
        label=SIGNAL_LABELS.get(kind, kind.replace("_", " ")),
        bullish=kind in _BULLISH_KINDS,
        value=value,
        threshold=threshold,
        reason=reason,
    )


def _indicator_frame(
    *, candles: Sequence[tuple[datetime, Decimal]], series: str, start: datetime, last_at: datetime
) -> tuple[pd.DataFrame, bool]:
    """Indicator columns of the candles from `start` on: the stored rows when they cover every candle, else computed.

    Stored rows are what the signals were raised on; they are missing until the indicator task (or
    load_market_history) has run, and then the page computes the same columns from the candles it read.
    """
    in_range = [at for at, _ in candles if at >= start]
    stored = list(
        technical_indicator_list(series=series, start=start, end=last_at + timedelta(seconds=1)).values_list(
            "at", *_CHART_COLUMNS
        )
    )
    if stored and len(stored) == len(in_range) and stored[-1][0] == last_at:
        frame = pd.DataFrame(
            [row[1:] for row in stored], index=pd.DatetimeIndex([row[0] for row in stored]), columns=_CHART_COLUMNS
        )
        return frame, True
    close = pd.Series([float(c) for _, c in candles], index=pd.DatetimeIndex([at for at, _ in candles]), dtype=float)
    computed = indicators_compute(close=close)
    return computed.loc[computed.index >= pd.Timestamp(start)], False


def price_chart_get(*, interval: str, days: int) -> PriceChart:
    """Candles, Bollinger bands, RSI and MACD of the last `days` days of the mode's candle series."""
    source = indicator_candle_source()
    series = _SERIES[interval]
    step = _STEP[interval]
    ranges = PRICE_RANGES[interval]
    candles_qs = PriceCandle.objects.filter(source=source, interval=interval)
    last_at = candles_qs.order_by("-open_time").values_list("open_time", flat=True).first()
    if last_at is None:
        return PriceChart(
            interval=interval,
            days=days,
            ranges=ranges,
            series=series,
            candle_source=source,
            indicators_stored=False,
            first_at=None,
            last_at=None,
            last_close=None,
            chart={},
        )
    start = last_at - timedelta(days=days) + step
    # Enough candles before the range for RSI and the EMAs to settle (see indicators.WARMUP_CANDLES).
    candles = list(
        candles_qs.filter(open_time__gte=start - WARMUP_CANDLES * step, open_time__lte=last_at)
        .order_by("open_time")
        .values_list("open_time", "close")
    )
    frame, stored = _indicator_frame(candles=candles, series=series, start=start, last_at=last_at)
    signals = market_signal_list(series=series, start=start, end=last_at + timedelta(seconds=1))
    times = [_ms(at.to_pydatetime()) for at in frame.index]
    closes = dict(zip(times, (_number(v) for v in frame["close"]), strict=True))
    markers = [
        {
            "t": _ms(s.at),
            "y": closes.get(_ms(s.at)),
            "kind": s.kind,
            "label": SIGNAL_LABELS.get(s.kind, s.kind),
            "bullish": s.kind in _BULLISH_KINDS,
            "reason": s.reason,
        }
        for s in signals
    ]
    chart: dict[str, object] = {
        "interval": interval,
        "t": times,
        **{column: [_number(v, places=2) for v in frame[column]] for column in _CHART_COLUMNS},
        "signals": markers,
        "overbought": settings.SIGNAL_RSI_OVERBOUGHT,
        "oversold": settings.SIGNAL_RSI_OVERSOLD,
    }
    first = frame.index[0].to_pydatetime() if len(frame) else None
    return PriceChart(
        interval=interval,
        days=days,
        ranges=ranges,
        series=series,
        candle_source=source,
        indicators_stored=stored,
        first_at=first,
        last_at=last_at,
        last_close=_number(frame["close"].iloc[-1]) if len(frame) else None,
        chart=chart,
    )


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _observed(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _source_status(name: str, entry: Mapping[str, object]) -> SourceStatus:
    kind = str(entry.get("kind") or "price")
    excluded = bool(entry.get("excluded"))
    ok = bool(entry.get("ok"))
    if not ok:
        parts = [str(entry.get("error_kind") or "error")]
        if entry.get("http_status"):
            parts.append(f"HTTP {entry['http_status']}")
        if entry.get("error"):
            parts.append(str(entry["error"]))
        health, detail = "error", " · ".join(parts)
    elif excluded:
        health, detail = "excluded", str(entry.get("excluded_reason") or "left out of the robust price")
    else:
        health, detail = "ok", ""
    if kind == "network":
        value, unit = _decimal(entry.get("difficulty")), "difficulty"
    else:
        value, unit = _decimal(entry.get("price_usd")), "USD"
    latency = entry.get("latency_ms")
    deviation = entry.get("deviation_percent")
    return SourceStatus(
        name=name,
        kind=kind,
        health=health,
        value=value,
        value_unit=unit,
        observed_at=_observed(entry.get("observed_at")),
        latency_ms=int(latency) if isinstance(latency, int | float) else None,
        detail=detail,
        deviation_percent=float(deviation) if isinstance(deviation, int | float) else None,
    )


def market_status_latest() -> MarketStatus | None:
    """The newest aggregation run of the current data mode, with each source's health; None before the first."""
    row = market_analytics_latest(mode=settings.MARKET_DATA_SOURCE)
    if row is None:
        return None
    per_source = row.per_source if isinstance(row.per_source, dict) else {}
    sources = sorted(
        (_source_status(str(name), entry) for name, entry in per_source.items() if isinstance(entry, dict)),
        key=lambda s: (s.kind != "price", s.name),
    )
    return MarketStatus(
        collected_at=row.collected_at,
        mode=row.mode,
        price_usd=row.price_usd,
        price_method=row.price_method,
        volume_24h_btc=row.volume_24h_btc,
        sources_answered=row.sources_answered,
        sources_asked=row.sources_asked,
        completeness_percent=round(row.completeness * 100, 1),
        partial=row.partial,
        duration_ms=row.duration_ms,
        sources=tuple(sources),
    )


def market_overview_get(*, interval: str, days: int) -> MarketOverview:
    """Everything the market overview shows: price chart with indicators, recent signals, market status."""
    price = price_chart_get(interval=interval, days=days)
    signals = tuple(
        _signal_row(at=s.at, series=s.series, kind=s.kind, value=s.value, threshold=s.threshold, reason=s.reason)
        for s in market_signal_list(series=price.series)[:SIGNALS_SHOWN]
    )
    return MarketOverview(
        mode=settings.MARKET_DATA_SOURCE,
        price=price,
        signals=signals,
        status=market_status_latest(),
        overbought=settings.SIGNAL_RSI_OVERBOUGHT,
        oversold=settings.SIGNAL_RSI_OVERSOLD,
    )


# --- network ------------------------------------------------------------------------------------------


def _mode_network_rows() -> QuerySet[NetworkStats]:
    rows = NetworkStats.objects.all()
    if settings.MARKET_DATA_SOURCE == "replay":
        return rows.filter(source=REPLAY_SOURCE)
    return rows.exclude(source=REPLAY_SOURCE)


def _network_daily(
    *, start: date | None, end: date | None = None
) -> dict[str, list[tuple[date, Decimal, float | None]]]:
    """Per source, the last reading of each UTC day in [start, end]: (day, difficulty, hash rate TH/s).

    Live collectors store a row every 15 minutes; one a day is what a multi-year chart can show, and
    DISTINCT ON lets PostgreSQL pick it instead of shipping every row here.
    """
    rows = _mode_network_rows().annotate(day=TruncDate("recorded_at", tzinfo=UTC))
    if start is not None:
        rows = rows.filter(day__gte=start)
    if end is not None:
        rows = rows.filter(day__lte=end)
    picked = (
        rows.order_by("source", "day", "-recorded_at")
        .distinct("source", "day")
        .values_list("source", "day", "difficulty", "hashrate_ths")
    )
    by_source: dict[str, list[tuple[date, Decimal, float | None]]] = {}
    for source, day, difficulty, hashrate in picked:
        by_source.setdefault(source, []).append((day, difficulty, hashrate))
    return by_source


SATS_PER_BTC = Decimal(100_000_000)
BASIS_LABELS: Mapping[str, str] = {
    BASIS_DAILY_BLOCKS: "the pace of the current epoch, from its daily block counts",
    BASIS_PREVIOUS_EPOCH: "the previous epoch's pace (this epoch's daily block counts are not published yet)",
}


@dataclass(frozen=True)
class RetargetRow:
    height: int
    start_time: datetime
    difficulty: Decimal
    change_percent: float | None
    epoch_days: float | None

    @property
    def difficulty_t(self) -> float:
        """Difficulty in units of 10^12 (T), as mining pools and explorers quote it."""
        return float(self.difficulty) / 1e12


@dataclass(frozen=True)
class NetworkPage:
    mode: str
    days: int
    ranges: tuple[int, ...]
    latest_day: date | None
    latest_difficulty: Decimal | None
    latest_hashrate_ths: float | None
    chart: dict[str, object]
    retargets: tuple[RetargetRow, ...]
    estimates: NetworkEstimates | None

    @property
    def empty(self) -> bool:
        return self.latest_day is None

    @property
    def latest_difficulty_t(self) -> float | None:
        return None if self.latest_difficulty is None else float(self.latest_difficulty) / 1e12

    @property
    def latest_hashrate_ehs(self) -> float | None:
        return None if self.latest_hashrate_ths is None else self.latest_hashrate_ths / 1e6

    @property
    def next_difficulty_t(self) -> float | None:
        return None if self.estimates is None else self.estimates.retarget.next_difficulty / 1e12

    @property
    def subsidy_now_btc(self) -> Decimal | None:
        return None if self.estimates is None else Decimal(self.estimates.halving.subsidy_now_sats) / SATS_PER_BTC

    @property
    def subsidy_after_btc(self) -> Decimal | None:
        return None if self.estimates is None else Decimal(self.estimates.halving.subsidy_after_sats) / SATS_PER_BTC

    @property
    def basis_label(self) -> str:
        if self.estimates is None:
            return ""
        return BASIS_LABELS.get(self.estimates.progress.basis, self.estimates.progress.basis)


def retarget_rows(*, last: int) -> tuple[RetargetRow, ...]:
    """The newest `last` retargets, newest first, with the change from the one before and the epoch length."""
    newest = list(
        DifficultyAdjustment.objects.order_by("-height").values_list("height", "start_time", "difficulty")[: last + 1]
    )
    rows: list[RetargetRow] = []
    for index, (height, start_time, difficulty) in enumerate(newest[:last]):
        before = newest[index + 1] if index + 1 < len(newest) else None
        after = newest[index - 1] if index > 0 else None
        change = None if before is None else float((difficulty / before[2] - 1) * 100)
        length = None if after is None else (after[1] - start_time).total_seconds() / 86400
        rows.append(RetargetRow(height, start_time, difficulty, change, length))
    return tuple(rows)


def network_page_get(*, days: int, now: datetime) -> NetworkPage:
    """Difficulty and hash rate per day over the last `days` (0: all), the retargets, and the next retarget and halving."""
    last_day = _mode_network_rows().order_by("-recorded_at").values_list("recorded_at", flat=True).first()
    retargets = retarget_rows(last=RETARGETS_SHOWN)
    if last_day is None:
        return NetworkPage(
            settings.MARKET_DATA_SOURCE, days, NETWORK_RANGES, None, None, None, {}, retargets, _estimates(now=now)
        )
    newest = last_day.astimezone(UTC).date()
    start = newest - timedelta(days=days - 1) if days else None
    by_source = _network_daily(start=start)
    datasets = [
        {
            "source": source,
            "t": [_day_ms(day) for day, _, _ in rows],
            "difficulty": [_number(d) for _, d, _ in rows],
            "hashrate_ehs": [None if h is None else h / 1e6 for _, _, h in rows],  # TH/s to EH/s
        }
        for source, rows in sorted(by_source.items())
    ]
    latest = max((rows[-1] for rows in by_source.values()), key=lambda r: r[0])
    estimates = _estimates(now=now)
    chart: dict[str, object] = {"sources": datasets}
    if estimates is not None:
        chart["next_retarget"] = {
            "t": _ms(estimates.retarget.expected_at),
            "difficulty": estimates.retarget.next_difficulty,
            "change_percent": estimates.retarget.change_pct,
        }
    hashrate = next((h for _, _, h in reversed(_flatten(by_source.values())) if h is not None), None)
    return NetworkPage(
        mode=settings.MARKET_DATA_SOURCE,
        days=days,
        ranges=NETWORK_RANGES,
        latest_day=latest[0],
        latest_difficulty=latest[1],
        latest_hashrate_ths=hashrate,
        chart=chart,
        retargets=retargets,
        estimates=estimates,
    )


def _flatten(
    groups: Iterable[list[tuple[date, Decimal, float | None]]],
) -> list[tuple[date, Decimal, float | None]]:
    return sorted((row for rows in groups for row in rows), key=lambda r: r[0])


def _estimates(*, now: datetime) -> NetworkEstimates | None:
    """The next retarget and halving; None only when neither the database nor the shipped files can give them."""
    try:
        return network_estimates_latest(now=now)
    except (ValueError, OSError, KeyError):
        return None


# --- forecasts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastStep:
    """One day ahead, in the panel's display unit (USD, or T = 10^12 for difficulty)."""

    days_ahead: int
    on: date
    mean: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ForecastPanel:
    """The newest stored forecast of one target with the recent history it extends."""

    target: str
    label: str
    forecast: Forecast | None
    last_actual: float | None
    steps: tuple[ForecastStep, ...]
    chart: dict[str, object]

    @property
    def json_id(self) -> str:
        return f"forecast-data-{self.target}"

    @property
    def unit_prefix(self) -> str:
        return "$" if self.target == TARGET_PRICE else ""

    @property
    def unit_suffix(self) -> str:
        return "" if self.target == TARGET_PRICE else " T"

    @property
    def number_format(self) -> str:
        """floatformat argument: whole dollars with separators, or difficulty T with two decimals."""
        return "0g" if self.target == TARGET_PRICE else "2g"

    @property
    def confidence_percent(self) -> float | None:
        return None if self.forecast is None else self.forecast.confidence * 100


# Difficulty is shown in T (10^12) in tables, as pools and explorers quote it.
_DISPLAY_DIVISOR: Mapping[str, float] = {TARGET_PRICE: 1.0, TARGET_DIFFICULTY: 1e12}


def _history_points(*, target: str, start: date, end: date) -> list[tuple[date, float]]:
    price_source, network_source = forecast_sources()
    start_at = datetime.combine(start, time(), tzinfo=UTC)
    end_at = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    if target == TARGET_PRICE:
        rows = PriceCandle.objects.filter(
            source=price_source, interval=Interval.DAY, open_time__gte=start_at, open_time__lt=end_at
        ).order_by("open_time")
        return [(at.astimezone(UTC).date(), float(close)) for at, close in rows.values_list("open_time", "close")]
    daily = (
        NetworkStats.objects.filter(source=network_source, recorded_at__gte=start_at, recorded_at__lt=end_at)
        .annotate(day=TruncDate("recorded_at", tzinfo=UTC))
        .order_by("day", "-recorded_at")
        .distinct("day")
        .values_list("day", "difficulty")
    )
    return [(day, float(difficulty)) for day, difficulty in daily]


def _forecast_panel(*, target: str, forecast: Forecast | None) -> ForecastPanel:
    label = TARGET_LABELS[target]
    if forecast is None:
        return ForecastPanel(target, label, None, None, (), {})
    points = [p for p in forecast.points if isinstance(p, dict)] if isinstance(forecast.points, list) else []
    history = _history_points(
        target=target,
        start=forecast.history_end - timedelta(days=FORECAST_HISTORY_DAYS - 1),
        end=forecast.history_end,
    )
    wanted = {*FORECAST_TABLE_STEPS, len(points)}
    divisor = _DISPLAY_DIVISOR[target]
    steps = tuple(
        ForecastStep(
            days_ahead=i + 1,
            on=date.fromisoformat(str(p["date"])),
            mean=float(p["mean"]) / divisor,
            lower=float(p["lower"]) / divisor,
            upper=float(p["upper"]) / divisor,
        )
        for i, p in enumerate(points)
        if i + 1 in wanted
    )
    # The band starts at the last observation so it joins the history line instead of floating beside it.
    anchor = history[-1] if history else None
    forecast_t = [_day_ms(date.fromisoformat(str(p["date"]))) for p in points]
    chart: dict[str, object] = {
        "target": target,
        "history": {"t": [_day_ms(d) for d, _ in history], "v": [v for _, v in history]},
        "forecast": {
            "t": ([_day_ms(anchor[0])] if anchor else []) + forecast_t,
            "mean": ([anchor[1]] if anchor else []) + [_number(float(p["mean"])) for p in points],
            "lower": ([anchor[1]] if anchor else []) + [_number(float(p["lower"])) for p in points],
            "upper": ([anchor[1]] if anchor else []) + [_number(float(p["upper"])) for p in points],
        },
        "confidence": forecast.confidence,
    }
    return ForecastPanel(
        target=target,
        label=label,
        forecast=forecast,
        last_actual=anchor[1] / divisor if anchor else None,
        steps=steps,
        chart=chart,
    )


def forecast_panels() -> tuple[ForecastPanel, ...]:
    """The newest stored forecast of the price and of the difficulty, each with its recent history."""
    newest = {
        row.target: row
        for row in Forecast.objects.filter(target__in=(TARGET_PRICE, TARGET_DIFFICULTY))
        .order_by("target", "-made_at", "-history_end")
        .distinct("target")
    }
    return tuple(_forecast_panel(target=t, forecast=newest.get(t)) for t in (TARGET_PRICE, TARGET_DIFFICULTY))
