"""Technical indicators of the BTC/USD candle series: RSI (14), MACD (12, 26, 9), Bollinger bands (20, 2).

Definitions, so the stored numbers can be checked by hand:
- RSI uses Wilder's smoothing: the first average gain (loss) is the plain mean of the first 14 changes,
  then avg = (avg_prev * 13 + change) / 14. RSI = 100 * avg_gain / (avg_gain + avg_loss), which is
  100 - 100 / (1 + RS) written so a window without losses gives 100 rather than a division by zero.
  The first value is at the 15th close.
- MACD uses exponential averages with adjust=False (each seeded with the first close, then
  ema = ema_prev + alpha * (close - ema_prev), alpha = 2 / (span + 1)). MACD = EMA12 - EMA26, shown
  from the 26th close, when the slow average has seen a full span; the signal line is the EMA9 of MACD
  seeded with its first shown value, shown from the 34th close; histogram = MACD - signal.
- Bollinger bands are the 20-close simple mean plus and minus 2 population standard deviations
  (ddof=0). John Bollinger defines the bands with the population deviation: the 20 closes are the whole
  window being described, not a sample of a larger one, and common charting tools do the same, so our
  bands match what a trader sees elsewhere. The sample deviation would widen them by sqrt(20/19), ~2.6 %.
"""

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from analytics.models import Interval, TechnicalIndicator
from analytics.selectors import REPLAY_SOURCE, price_close_list
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_PERIOD, BB_WIDTH = 20, 2.0
# Candles read before the tail being refreshed. RSI and the EMAs depend on the whole history; after 600
# steps the weight left on anything older is (13/14)^600 < 1e-19, so tail values equal full-history
# values to float precision while a refresh reads a bounded number of rows.
WARMUP_CANDLES = 600
# The candle source indicators read when live collectors are on (the exchange whose klines they store).
LIVE_CANDLE_SOURCE = "binance"

INDICATOR_COLUMNS = ("rsi_14", "macd", "macd_signal", "macd_hist", "bb_mid", "bb_upper", "bb_lower")


@dataclass(frozen=True)
class IndicatorSeries:
    """A named candle series indicators are computed on."""

    name: str
    interval: str


SERIES: tuple[IndicatorSeries, ...] = (
    IndicatorSeries(name="btc_usd_1d", interval=Interval.DAY),
    IndicatorSeries(name="btc_usd_1h", interval=Interval.HOUR),
)


@dataclass(frozen=True)
class IndicatorRefreshResult:
    series: str
    rows: int
    first_at: datetime | None
    last_at: datetime | None


def indicator_series_get(*, name: str) -> IndicatorSeries:
    for spec in SERIES:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in SERIES)
    raise InvalidInputError(fields={"series": [f"unknown series {name!r}; use one of {known}"]})


def indicator_candle_source() -> str:
    """The candle source indicators are computed from: the shipped history, or the live exchange."""
    return REPLAY_SOURCE if settings.MARKET_DATA_SOURCE == "replay" else LIVE_CANDLE_SOURCE


def _wilder_mean(values: "pd.Series[float]", period: int) -> "pd.Series[float]":
    """Wilder's running mean of values[1:], seeded with the plain mean of its first `period` values."""
    seeded = pd.Series(np.nan, index=values.index, dtype=float)
    if len(values) <= period:
        return seeded
    seeded.iloc[period] = values.iloc[1 : period + 1].mean()
    seeded.iloc[period + 1 :] = values.iloc[period + 1 :]
    # With adjust=False and alpha = 1/period, ewm is exactly y = y_prev + (x - y_prev) / period; the
    # leading NaNs are skipped, so the recursion starts from the seed.
    return seeded.ewm(alpha=1 / period, adjust=False).mean()


def indicators_compute(*, close: "pd.Series[float]") -> pd.DataFrame:
    """RSI, MACD and Bollinger columns for a close series (oldest first), NaN where history is too short."""
    change = close.diff()
    avg_gain = _wilder_mean(change.clip(lower=0), RSI_PERIOD)
    avg_loss = _wilder_mean(-change.clip(upper=0), RSI_PERIOD)
    rsi = 100 * avg_gain / (avg_gain + avg_loss)

    ema_fast = close.ewm(span=MACD_FAST, adjust=False).mean()
    ema_slow = close.ewm(span=MACD_SLOW, adjust=False).mean()
    macd = (ema_fast - ema_slow).astype(float)
    macd.iloc[: MACD_SLOW - 1] = np.nan
    macd_signal = macd.ewm(span=MACD_SIGNAL, adjust=False).mean()
    macd_signal.iloc[: MACD_SLOW + MACD_SIGNAL - 2] = np.nan

    window = close.rolling(BB_PERIOD)
    bb_mid = window.mean()
    bb_dev = window.std(ddof=0)
    return pd.DataFrame(
        {
            "close": close,
            "rsi_14": rsi,
            "macd": macd,
            "macd_signal": macd_signal,
            "macd_hist": macd - macd_signal,
            "bb_mid": bb_mid,
            "bb_upper": bb_mid + BB_WIDTH * bb_dev,
            "bb_lower": bb_mid - BB_WIDTH * bb_dev,
        },
        index=close.index,
    )


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else value


def _indicator_rows(*, series: str, times: Sequence[datetime], frame: pd.DataFrame) -> list[TechnicalIndicator]:
    columns = {name: frame[name].to_numpy(dtype=float) for name in ("close", *INDICATOR_COLUMNS)}
    return [
        TechnicalIndicator(
            series=series,
            at=at,
            close=float(columns["close"][i]),
            **{name: _optional(float(columns[name][i])) for name in INDICATOR_COLUMNS},
        )
        for i, at in enumerate(times)
    ]


def indicators_refresh(*, series: str, tail: int | None = None) -> IndicatorRefreshResult:
    """Compute the series' indicators and upsert them: every candle, or only the newest `tail` ones.

    A tail refresh reads WARMUP_CANDLES more candles so its values equal a full recomputation.
    """
    spec = indicator_series_get(name=series)
    if tail is not None and tail < 1:
        raise InvalidInputError(fields={"tail": [f"must be at least 1, not {tail}"]})
    closes = price_close_list(
        source=indicator_candle_source(),
        interval=spec.interval,
        last=None if tail is None else tail + WARMUP_CANDLES,
    )
    if not closes:
        return IndicatorRefreshResult(series=series, rows=0, first_at=None, last_at=None)
    times = [at for at, _ in closes]
    frame = indicators_compute(close=pd.Series([float(price) for _, price in closes], dtype=float))
    if tail is not None:
        times, frame = times[-tail:], frame.iloc[-tail:]
    rows = _indicator_rows(series=series, times=times, frame=frame)
    _indicators_write(rows=rows)
    logger.info("Indicators refreshed: series=%s rows=%d first=%s last=%s", series, len(rows), times[0], times[-1])
    return IndicatorRefreshResult(series=series, rows=len(rows), first_at=times[0], last_at=times[-1])


@transaction.atomic(durable=True)
def _indicators_write(*, rows: Sequence[TechnicalIndicator]) -> None:
    TechnicalIndicator.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["series", "at"],
        update_fields=["close", *INDICATOR_COLUMNS],
    )
