"""Walk-forward backtest of the forecasts against naive baselines over the shipped history.

At each origin (the first day of a month), every method sees only the days up to and including the
origin (the same rolling window ARIMA is fitted on) and forecasts the value `h` days later. Errors:
- MAPE: the mean of |actual - forecast| / |actual|, in percent;
- MASE: each absolute error divided by the mean absolute day-to-day change over that origin's
  window (the in-sample one-step naive error), then averaged over origins. Below 1, a method beats
  what a one-day-ahead naive guess achieves in-sample; comparable across targets and scales.
Methods: "arima" (AIC-chosen order, refitted at each origin), "naive" (last value) and, for
difficulty, "epoch" (the next retarget projected from the current epoch's pace, see network_estimates).
"""

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from analytics.services.forecasts import (
    DEFAULT_WINDOW_DAYS,
    TARGET_DIFFICULTY,
    TARGET_PRICE,
    Order,
    arima_forecast,
    offline_difficulty_series,
    offline_price_series,
)
from analytics.services.network_estimates import (
    NetworkHistory,
    daily_blocks,
    difficulty_epoch_forecast,
    network_history_offline,
)
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

DEFAULT_HORIZONS = (7, 30)
METHOD_ARIMA = "arima"
METHOD_NAIVE = "naive"
METHOD_EPOCH = "epoch"

# Training window (oldest first, ending at the origin) and horizons -> forecast per horizon, or None
# when the method cannot forecast at that origin (the origin is then left out for every method).
Forecaster = Callable[["pd.Series[float]", Sequence[int]], Mapping[int, float] | None]


@dataclass(frozen=True)
class MethodScore:
    """The error of one method for one target and horizon, over the origins every method answered."""

    target: str
    horizon_days: int
    method: str
    origins: int
    mape_pct: float
    mase: float


@dataclass(frozen=True)
class BacktestReport:
    scores: tuple[MethodScore, ...]
    first_origin: date | None
    last_origin: date | None
    duration_s: float

    def winner(self, *, target: str, horizon_days: int) -> MethodScore:
        """The method with the lowest MASE for a target and horizon."""
        candidates = [s for s in self.scores if s.target == target and s.horizon_days == horizon_days]
        return min(candidates, key=lambda s: s.mase)

    def lines(self) -> list[str]:
        """The report in plain words: a table, then which method wins each target and horizon."""
        out = [f"{'target':<11}{'horizon':>8}  {'method':<7}{'origins':>8}{'MAPE %':>10}{'MASE':>8}"]
        out += [
            f"{s.target:<11}{s.horizon_days:>6} d  {s.method:<7}{s.origins:>8}{s.mape_pct:>10.2f}{s.mase:>8.3f}"
            for s in self.scores
        ]
        for target, horizon in dict.fromkeys((s.target, s.horizon_days) for s in self.scores):
            group = [s for s in self.scores if s.target == target and s.horizon_days == horizon]
            best = min(group, key=lambda s: s.mase)
            tied = [s.method for s in group if math.isclose(s.mase, best.mase, rel_tol=1e-9)]
            others = ", ".join(f"{s.method} {s.mase:.3f}" for s in group if s.method not in tied)
            if len(tied) > 1:
                # Identical forecasts (the epoch estimate is the last value until a retarget is due).
                verdict = f"{target} +{horizon} d: {' and '.join(tied)} tie on MASE ({best.mase:.3f}"
            else:
                verdict = f"{target} +{horizon} d: {best.method} wins on MASE ({best.mase:.3f}"
            verdict += f" against {others})" if others else ")"
            by_mape = min(group, key=lambda s: s.mape_pct)
            if by_mape.method in tied:
                verdict += " and on MAPE"
            else:
                verdict += (
                    f"; on MAPE {by_mape.method} is lower ({by_mape.mape_pct:.2f} % against {best.mape_pct:.2f} %)"
                )
            out.append(verdict + f", over {best.origins} origins.")
        return out


def mape_pct(*, actual: Sequence[float], forecast: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    return float(np.mean(np.abs(a - f) / np.abs(a)) * 100.0)


def naive_scale(*, window: Sequence[float]) -> float:
    """Mean absolute one-step change over a training window: the MASE denominator."""
    values = np.asarray(window, dtype=float)
    return float(np.mean(np.abs(np.diff(values))))


def mase(*, actual: Sequence[float], forecast: Sequence[float], scales: Sequence[float]) -> float:
    """Mean of |actual - forecast| / scale, one scale per forecast (its origin's in-sample naive error)."""
    a, f, s = (np.asarray(x, dtype=float) for x in (actual, forecast, scales))
    return float(np.mean(np.abs(a - f) / s))


def naive_forecaster(window: "pd.Series[float]", horizons: Sequence[int]) -> Mapping[int, float]:
    """Last value, whatever the horizon."""
    return dict.fromkeys(horizons, float(window.iloc[-1]))


def arima_forecaster(*, window_days: int | None, orders: Sequence[Order] | None = None) -> Forecaster:
    def forecast(window: "pd.Series[float]", horizons: Sequence[int]) -> Mapping[int, float]:
        result = arima_forecast(series=window, horizon_days=max(horizons), window_days=window_days, orders=orders)
        return {h: result.points[h - 1].mean for h in horizons}

    return forecast


def epoch_forecaster(*, history: NetworkHistory) -> Forecaster:
    blocks = daily_blocks(daily=history.daily)

    def forecast(window: "pd.Series[float]", horizons: Sequence[int]) -> Mapping[int, float] | None:
        origin: date = window.index[-1].date()
        as_of = datetime.combine(origin + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        days = {h: origin + timedelta(days=h) for h in horizons}
        values = difficulty_epoch_forecast(history=history, as_of=as_of, days=days.values(), blocks=blocks)
        return None if values is None else {h: values[day] for h, day in days.items()}

    return forecast


def monthly_origins(*, series: "pd.Series[float]", window_days: int, max_horizon: int) -> list[date]:
    """First days of months with a full window before them and the longest horizon inside the series."""
    index = pd.DatetimeIndex(series.index)
    first = index[0] + pd.Timedelta(days=window_days - 1)
    last = index[-1] - pd.Timedelta(days=max_horizon)
    return [d.date() for d in pd.date_range(first, last, freq="MS") if d in index]


def walk_forward(
    *,
    target: str,
    series: "pd.Series[float]",
    origins: Sequence[date],
    horizons: Sequence[int],
    window_days: int,
    forecasters: Mapping[str, Forecaster],
) -> list[MethodScore]:
    """Score each method on each horizon over the origins where every method gave a forecast."""
    if not origins:
        raise InvalidInputError(fields={"origins": ["at least one origin is needed"]})
    daily = series.sort_index()
    actual: dict[int, list[float]] = {h: [] for h in horizons}
    predicted: dict[tuple[str, int], list[float]] = {(m, h): [] for m in forecasters for h in horizons}
    scales: list[float] = []
    for origin in origins:
        window = daily.loc[: pd.Timestamp(origin)].iloc[-window_days:]
        if window.index[-1].date() != origin:
            raise InvalidInputError(fields={"origins": [f"{origin} is not a day of the series"]})
        answers: dict[str, Mapping[int, float]] = {}
        for name, forecaster in forecasters.items():
            answer = forecaster(window, horizons)
            if answer is None:
                logger.info("Backtest origin left out: target=%s origin=%s method=%s", target, origin, name)
                break
            answers[name] = answer
        else:
            scales.append(naive_scale(window=window.tolist()))
            for h in horizons:
                actual[h].append(float(daily.loc[pd.Timestamp(origin + timedelta(days=h))]))
                for name, answer in answers.items():
                    predicted[(name, h)].append(answer[h])
    if not scales:
        raise InvalidInputError(fields={"origins": ["no origin where every method could forecast"]})
    return [
        MethodScore(
            target=target,
            horizon_days=h,
            method=name,
            origins=len(scales),
            mape_pct=mape_pct(actual=actual[h], forecast=predicted[(name, h)]),
            mase=mase(actual=actual[h], forecast=predicted[(name, h)], scales=scales),
        )
        for h in horizons
        for name in forecasters
    ]


def backtest_run(
    *,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    last_origins: int | None = None,
    orders: Sequence[Order] | None = None,
) -> BacktestReport:
    """Backtest price and difficulty forecasts over the shipped history; only the newest `last_origins` when given."""
    started = time.perf_counter()
    network = network_history_offline()
    # Block counts need the daily hash rate, so difficulty origins stop where it does.
    counted = daily_blocks(daily=network.daily).dropna()
    plans: list[tuple[str, pd.Series[float], dict[str, Forecaster], pd.Timestamp | None]] = [
        (
            TARGET_PRICE,
            offline_price_series(),
            {METHOD_ARIMA: arima_forecaster(window_days=window_days, orders=orders), METHOD_NAIVE: naive_forecaster},
            None,
        ),
        (
            TARGET_DIFFICULTY,
            offline_difficulty_series(),
            {
                METHOD_ARIMA: arima_forecaster(window_days=window_days, orders=orders),
                METHOD_NAIVE: naive_forecaster,
                METHOD_EPOCH: epoch_forecaster(history=network),
            },
            counted.index.max(),
        ),
    ]
    scores: list[MethodScore] = []
    all_origins: list[date] = []
    for target, series, forecasters, last_usable in plans:
        origins = monthly_origins(series=series, window_days=window_days, max_horizon=max(horizons))
        if last_usable is not None:
            origins = [o for o in origins if pd.Timestamp(o) <= last_usable]
        if last_origins is not None:
            origins = origins[-last_origins:]
        all_origins += origins
        scores += walk_forward(
            target=target,
            series=series,
            origins=origins,
            horizons=horizons,
            window_days=window_days,
            forecasters=forecasters,
        )
    duration = time.perf_counter() - started
    logger.info("Backtest done: origins=%d duration_s=%.1f", len(all_origins), duration)
    return BacktestReport(
        scores=tuple(scores),
        first_origin=min(all_origins, default=None),
        last_origin=max(all_origins, default=None),
        duration_s=duration,
    )
