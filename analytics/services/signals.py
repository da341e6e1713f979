"""Market signals: an indicator crossing its threshold between two consecutive candles.

A signal marks the candle where a condition starts, not every candle it holds on, so a long overbought
run raises one signal. Kinds:
- rsi_overbought / rsi_oversold: RSI(14) rises above SIGNAL_RSI_OVERBOUGHT / falls below SIGNAL_RSI_OVERSOLD;
- macd_bullish_cross / macd_bearish_cross: MACD crosses above / below its signal line;
- bb_upper_break / bb_lower_break: the close moves above the upper / below the lower Bollinger band.
"""

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.db import transaction

from analytics.models import MarketSignal, TechnicalIndicator
from analytics.selectors import technical_indicator_before, technical_indicator_list
from analytics.services.indicators import SERIES, indicators_refresh

logger = logging.getLogger(__name__)


class SignalKind(StrEnum):
    RSI_OVERBOUGHT = "rsi_overbought"
    RSI_OVERSOLD = "rsi_oversold"
    MACD_BULLISH_CROSS = "macd_bullish_cross"
    MACD_BEARISH_CROSS = "macd_bearish_cross"
    BB_UPPER_BREAK = "bb_upper_break"
    BB_LOWER_BREAK = "bb_lower_break"


@dataclass(frozen=True)
class SignalEvent:
    """One signal before it is stored: when, which, the indicator's value, the level it crossed, why."""

    at: datetime
    kind: SignalKind
    value: float
    threshold: float
    reason: str


@dataclass(frozen=True)
class SignalRefreshResult:
    series: str
    signals: int
    removed: int


@dataclass(frozen=True)
class AnalysisRefreshResult:
    series: str
    indicator_rows: int
    signals: int


# Candles refreshed per series by a periodic run: late or corrected candles within this tail are recomputed.
RECENT_TAIL = {"btc_usd_1d": 7, "btc_usd_1h": 48}


def _rsi_events(
    prev: TechnicalIndicator, cur: TechnicalIndicator, *, overbought: float, oversold: float
) -> list[SignalEvent]:
    before, now = prev.rsi_14, cur.rsi_14
    if before is None or now is None:
        return []
    if before <= overbought < now:
        reason = f"RSI(14) rose above {overbought:g} to {now:.1f}: overbought"
        return [SignalEvent(cur.at, SignalKind.RSI_OVERBOUGHT, now, overbought, reason)]
    if before >= oversold > now:
        reason = f"RSI(14) fell below {oversold:g} to {now:.1f}: oversold"
        return [SignalEvent(cur.at, SignalKind.RSI_OVERSOLD, now, oversold, reason)]
    return []


def _macd_events(prev: TechnicalIndicator, cur: TechnicalIndicator) -> list[SignalEvent]:
    before, now, macd, line = prev.macd_hist, cur.macd_hist, cur.macd, cur.macd_signal
    if before is None or now is None or macd is None or line is None:
        return []
    levels = f"MACD {macd:,.2f}, signal {line:,.2f}"
    if before <= 0 < now:
        reason = f"MACD(12,26,9) crossed above its signal line ({levels}): bullish momentum"
        return [SignalEvent(cur.at, SignalKind.MACD_BULLISH_CROSS, macd, line, reason)]
    if before >= 0 > now:
        reason = f"MACD(12,26,9) crossed below its signal line ({levels}): bearish momentum"
        return [SignalEvent(cur.at, SignalKind.MACD_BEARISH_CROSS, macd, line, reason)]
    return []


def _band_events(prev: TechnicalIndicator, cur: TechnicalIndicator) -> list[SignalEvent]:
    upper_before, lower_before, upper, lower = prev.bb_upper, prev.bb_lower, cur.bb_upper, cur.bb_lower
    if upper_before is None or lower_before is None or upper is None or lower is None:
        return []
    if prev.close <= upper_before and cur.close > upper:
        reason = (
            f"Close {cur.close:,.2f} broke above the upper Bollinger band (20, 2) at {upper:,.2f}: "
            "price unusually high against its 20-candle average"
        )
        return [SignalEvent(cur.at, SignalKind.BB_UPPER_BREAK, cur.close, upper, reason)]
    if prev.close >= lower_before and cur.close < lower:
        reason = (
            f"Close {cur.close:,.2f} broke below the lower Bollinger band (20, 2) at {lower:,.2f}: "
            "price unusually low against its 20-candle average"
        )
        return [SignalEvent(cur.at, SignalKind.BB_LOWER_BREAK, cur.close, lower, reason)]
    return []


def signals_detect(*, rows: Sequence[TechnicalIndicator], overbought: float, oversold: float) -> list[SignalEvent]:
    """Signals raised on rows[1:] of consecutive indicator rows (oldest first); rows[0] only sets the scene."""
    events: list[SignalEvent] = []
    for prev, cur in itertools.pairwise(rows):
        events += _rsi_events(prev, cur, overbought=overbought, oversold=oversold)
        events += _macd_events(prev, cur)
        events += _band_events(prev, cur)
    return events


def signals_refresh(*, series: str, since: datetime | None = None) -> SignalRefreshResult:
    """Detect the series' signals on candles from `since` (all when None) and store exactly those.

    Thresholds are read from settings now; signals in the window that no longer hold (for instance
    after a threshold change) are removed, so a rerun leaves the same rows.
    """
    rows = list(technical_indicator_list(series=series, start=since))
    if since is not None:
        before = technical_indicator_before(series=series, at=since)
        rows = ([before] if before is not None else []) + rows
    events = signals_detect(rows=rows, overbought=settings.SIGNAL_RSI_OVERBOUGHT, oversold=settings.SIGNAL_RSI_OVERSOLD)
    removed = _signals_write(series=series, since=since, events=events)
    logger.info("Signals refreshed: series=%s since=%s signals=%d removed=%d", series, since, len(events), removed)
    return SignalRefreshResult(series=series, signals=len(events), removed=removed)


@transaction.atomic(durable=True)
def _signals_write(*, series: str, since: datetime | None, events: Sequence[SignalEvent]) -> int:
    stored = MarketSignal.objects.filter(series=series)
    if since is not None:
        stored = stored.filter(at__gte=since)
    wanted = {(e.at, str(e.kind)) for e in events}
    stale = [pk for pk, at, kind in stored.values_list("pk", "at", "kind") if (at, kind) not in wanted]
    removed, _ = MarketSignal.objects.filter(pk__in=stale).delete()
    MarketSignal.objects.bulk_create(
        [
            MarketSignal(series=series, at=e.at, kind=e.kind, value=e.value, threshold=e.threshold, reason=e.reason)
            for e in events
        ],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["series", "at", "kind"],
        update_fields=["value", "threshold", "reason"],
    )
    return removed


def technical_analysis_refresh(*, full: bool = False) -> list[AnalysisRefreshResult]:
    """Indicators, then signals, of every series: over the whole history, or its recent tail."""
    results = []
    for spec in SERIES:
        computed = indicators_refresh(series=spec.name, tail=None if full else RECENT_TAIL[spec.name])
        if computed.first_at is None:
            results.append(AnalysisRefreshResult(series=spec.name, indicator_rows=0, signals=0))
            continue
        raised = signals_refresh(series=spec.name, since=None if full else computed.first_at)
        results.append(AnalysisRefreshResult(series=spec.name, indicator_rows=computed.rows, signals=raised.signals))
    return results
