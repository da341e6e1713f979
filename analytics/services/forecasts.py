"""ARIMA forecasts of the BTC price and the network difficulty, with the order chosen by AIC.

Both series are modelled on their logarithm: they are positive and move by percentages, so the
intervals come back asymmetric and never below zero. The point forecast is the exponential of the
forecast log mean, i.e. the median of the implied distribution. The pure functions work on pandas
Series; `forecasts_refresh` reads the stored history, fits, and upserts one row per target.
"""

import itertools
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.arima.model import ARIMA
from threadpoolctl import threadpool_limits

from analytics.models import Forecast
from analytics.offline_data import DATASETS, offline_dataset_rows
from analytics.selectors import REPLAY_SOURCE, difficulty_daily_series, price_daily_close_series
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

TARGET_PRICE = "btc_usd"
TARGET_DIFFICULTY = "difficulty"
TARGETS = (TARGET_PRICE, TARGET_DIFFICULTY)
CRITERION = "aic"
DEFAULT_HORIZON_DAYS = 30
DEFAULT_CONFIDENCE = 0.95
# Two years of daily history: long enough for the order search, short enough to fit the grid in
# seconds and to follow the current regime rather than 2015's.
DEFAULT_WINDOW_DAYS = 730
# The sources the forecasts read: the shipped history, or what the live collectors store.
LIVE_PRICE_SOURCE = "binance"
LIVE_NETWORK_SOURCE = "blockchain_info"
MIN_HISTORY_DAYS = 60

Order = tuple[int, int, int]


@dataclass(frozen=True)
class OrderFit:
    """One candidate order and its information criterion (inf when the fit failed)."""

    order: Order
    aic: float


@dataclass(frozen=True)
class ForecastPoint:
    on: date
    mean: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ArimaForecast:
    """A fitted forecast: the chosen order, every order tried, and one point per day ahead."""

    order: Order
    aic: float
    tried: tuple[OrderFit, ...]
    history_end: date
    confidence: float
    points: tuple[ForecastPoint, ...]


def arima_candidate_orders(*, max_p: int = 2, max_d: int = 1, max_q: int = 2) -> list[Order]:
    """The (p, d, q) grid the order search tries."""
    return [(p, d, q) for d, p, q in itertools.product(range(max_d + 1), range(max_p + 1), range(max_q + 1))]


def arima_fit(*, values: np.ndarray, order: Order) -> object:
    """Fit one ARIMA order to `values` (already logged); a constant only when the series is not differenced.

    statsmodels rejects a constant under differencing, and a drift term on two years of log price
    would extrapolate the last trend for the whole horizon.
    """
    model = ARIMA(values, order=order, trend="c" if order[1] == 0 else "n")
    # Near a unit root the optimiser often stops at its iteration cap; that fit still has a valid
    # likelihood, and the search compares it like any other.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return model.fit()


def arima_order_select(*, values: np.ndarray, orders: Sequence[Order]) -> tuple[object, tuple[OrderFit, ...]]:
    """The fit with the lowest AIC among `orders`, and the AIC of every order tried."""
    best: object | None = None
    best_aic = math.inf
    tried: list[OrderFit] = []
    # The state-space fits do many tiny matrix products; with OpenBLAS spreading each over every core,
    # thread start-up and contention cost more than the work, and the grid ran about 3x slower on
    # two cores. One BLAS thread for the fits; the previous limit comes back afterwards.
    with threadpool_limits(limits=1, user_api="blas"):
        for order in orders:
            try:
                result = arima_fit(values=values, order=order)
            except (ValueError, np.linalg.LinAlgError) as exc:
                logger.warning("ARIMA fit failed: order=%s error=%s", order, exc)
                tried.append(OrderFit(order=order, aic=math.inf))
                continue
            aic = float(getattr(result, "aic", math.nan))
            tried.append(OrderFit(order=order, aic=aic if math.isfinite(aic) else math.inf))
            if math.isfinite(aic) and aic < best_aic:
                best, best_aic = result, aic
    if best is None:
        raise InvalidInputError("No ARIMA order could be fitted to the series.")
    return best, tuple(tried)


def daily_series(*, series: "pd.Series[float]") -> "pd.Series[float]":
    """The series on a gap-free daily index (a missing day carries the previous value), positive values only."""
    clean = series.dropna().sort_index()
    if len(clean) < MIN_HISTORY_DAYS:
        raise InvalidInputError(f"A forecast needs at least {MIN_HISTORY_DAYS} days of history, not {len(clean)}.")
    if bool((clean <= 0).any()):
        raise InvalidInputError("A forecast series must be positive (it is modelled on its logarithm).")
    index = pd.DatetimeIndex(clean.index).normalize()
    daily: pd.Series[float] = pd.Series(clean.to_numpy(dtype=float), index=index).asfreq("D").ffill()
    return daily


def arima_forecast(
    *,
    series: "pd.Series[float]",
    horizon_days: int,
    confidence: float = DEFAULT_CONFIDENCE,
    window_days: int | None = DEFAULT_WINDOW_DAYS,
    orders: Sequence[Order] | None = None,
) -> ArimaForecast:
    """Fit the AIC-best order to the log of the last `window_days` days and forecast `horizon_days` ahead."""
    if horizon_days < 1:
        raise InvalidInputError(fields={"horizon_days": [f"must be at least 1, not {horizon_days}"]})
    if not 0 < confidence < 1:
        raise InvalidInputError(fields={"confidence": [f"must be between 0 and 1, not {confidence}"]})
    daily = daily_series(series=series)
    if window_days is not None:
        daily = daily.iloc[-window_days:]
    values = np.log(daily.to_numpy(dtype=float))
    result, tried = arima_order_select(values=values, orders=orders or arima_candidate_orders())
    prediction = result.get_forecast(steps=horizon_days)  # type: ignore[attr-defined]  # statsmodels is untyped
    mean = np.asarray(prediction.predicted_mean, dtype=float)
    bounds = np.asarray(prediction.conf_int(alpha=1 - confidence), dtype=float)
    history_end: date = daily.index[-1].date()
    points = tuple(
        ForecastPoint(
            on=history_end + timedelta(days=step + 1),
            mean=float(np.exp(mean[step])),
            lower=float(np.exp(bounds[step, 0])),
            upper=float(np.exp(bounds[step, 1])),
        )
        for step in range(horizon_days)
    )
    best = min(tried, key=lambda fit: fit.aic)
    return ArimaForecast(
        order=best.order, aic=best.aic, tried=tried, history_end=history_end, confidence=confidence, points=points
    )


def order_label(order: Order) -> str:
    return f"({order[0]},{order[1]},{order[2]})"


def offline_price_series() -> "pd.Series[float]":
    """Daily BTC/USD closes of the shipped history, read straight from analytics/data."""
    dataset = next(d for d in DATASETS if d.name == "btc_usd_daily")
    rows = list(offline_dataset_rows(dataset=dataset))
    return pd.Series([float(r["close"]) for r in rows], index=pd.DatetimeIndex([r["date"] for r in rows]), dtype=float)


def offline_difficulty_series() -> "pd.Series[float]":
    """Daily network difficulty of the shipped history, read straight from analytics/data."""
    dataset = next(d for d in DATASETS if d.name == "btc_difficulty_daily")
    rows = [r for r in offline_dataset_rows(dataset=dataset) if r["difficulty"]]
    return pd.Series(
        [float(r["difficulty"]) for r in rows], index=pd.DatetimeIndex([r["date"] for r in rows]), dtype=float
    )


@transaction.atomic(durable=True)
def forecast_store(*, target: str, forecast: ArimaForecast, made_at: datetime) -> Forecast:
    """Upsert the forecast of `target` on (target, history_end, horizon): a rerun replaces, never duplicates."""
    if target not in TARGETS:
        raise InvalidInputError(fields={"target": [f"unknown target {target!r}; use one of {', '.join(TARGETS)}"]})
    row, _ = Forecast.objects.update_or_create(
        target=target,
        history_end=forecast.history_end,
        horizon_days=len(forecast.points),
        defaults={
            "made_at": made_at,
            "order": order_label(forecast.order),
            "criterion": CRITERION,
            "criterion_value": forecast.aic,
            "confidence": forecast.confidence,
            "points": [
                {"date": p.on.isoformat(), "mean": p.mean, "lower": p.lower, "upper": p.upper} for p in forecast.points
            ],
        },
    )
    return row


def forecast_sources() -> tuple[str, str]:
    """(price source, network source) of the current data mode."""
    if settings.MARKET_DATA_SOURCE == "replay":
        return REPLAY_SOURCE, REPLAY_SOURCE
    return LIVE_PRICE_SOURCE, LIVE_NETWORK_SOURCE


def forecasts_refresh(
    *,
    now: datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    confidence: float = DEFAULT_CONFIDENCE,
    window_days: int | None = DEFAULT_WINDOW_DAYS,
    orders: Sequence[Order] | None = None,
) -> list[Forecast]:
    """Forecast price and difficulty from the stored history before `now`, and store both.

    The fits run outside any transaction (they take seconds); each store is its own short one.
    A target with too little history is skipped with a warning.
    """
    price_source, network_source = forecast_sources()
    histories = {
        TARGET_PRICE: price_daily_close_series(source=price_source, end=now),
        TARGET_DIFFICULTY: difficulty_daily_series(source=network_source, end=now),
    }
    stored: list[Forecast] = []
    for target, history in histories.items():
        try:
            forecast = arima_forecast(
                series=history, horizon_days=horizon_days, confidence=confidence, window_days=window_days, orders=orders
            )
        except InvalidInputError as exc:
            logger.warning("Forecast skipped: target=%s reason=%s", target, exc.message)
            continue
        stored.append(forecast_store(target=target, forecast=forecast, made_at=now))
        logger.info(
            "Forecast stored: target=%s order=%s aic=%.2f history_end=%s horizon_days=%d",
            target,
            order_label(forecast.order),
            forecast.aic,
            forecast.history_end,
            horizon_days,
        )
    return stored
