"""ARIMA forecasts on the shipped history: order chosen by AIC, sane intervals, idempotent storage."""

import itertools
import warnings
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.arima.model import ARIMA

from analytics.models import Forecast
from analytics.services.forecasts import (
    TARGET_DIFFICULTY,
    TARGET_PRICE,
    arima_candidate_orders,
    arima_forecast,
    forecasts_refresh,
    offline_difficulty_series,
    offline_price_series,
)
from analytics.services.history_load import history_load
from analytics.tasks import forecasts_refresh_task
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.periodic import declared_periodic_jobs

WINDOW_DAYS = 365
# Two quick orders keep the storage tests short; the order search itself is tested on the full grid.
QUICK_ORDERS = [(0, 1, 1), (1, 1, 0)]


@pytest.fixture(scope="module")
def prices() -> "pd.Series[float]":
    return offline_price_series()


def _aic_of(values: np.ndarray, order: tuple[int, int, int]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ARIMA(values, order=order, trend="c" if order[1] == 0 else "n").fit()
    return float(fitted.aic)


def test_arima_forecast_picks_the_lowest_aic_order_it_tried(prices: "pd.Series[float]") -> None:
    forecast = arima_forecast(series=prices, horizon_days=7, window_days=WINDOW_DAYS)

    tried = {fit.order: fit.aic for fit in forecast.tried}
    assert set(tried) == set(arima_candidate_orders())
    assert forecast.aic == min(tried.values())
    assert tried[forecast.order] == forecast.aic
    # Two candidates fitted here independently, on the same log window.
    values = np.log(prices.to_numpy()[-WINDOW_DAYS:])
    for order in [(0, 1, 0), (1, 0, 0)]:
        aic = _aic_of(values, order)
        assert aic == pytest.approx(tried[order], rel=1e-9)
        assert aic >= forecast.aic


def test_arima_forecast_intervals_contain_the_mean_and_widen_with_the_horizon(prices: "pd.Series[float]") -> None:
    forecast = arima_forecast(series=prices, horizon_days=30, window_days=WINDOW_DAYS, orders=QUICK_ORDERS)

    assert forecast.history_end == date(2025, 9, 23)
    assert [p.on for p in forecast.points] == [date(2025, 9, 24) + timedelta(days=i) for i in range(30)]
    assert all(p.lower < p.mean < p.upper for p in forecast.points)
    widths = [p.upper - p.lower for p in forecast.points]
    assert all(a < b for a, b in itertools.pairwise(widths))


def test_arima_forecast_narrower_confidence_gives_narrower_intervals(prices: "pd.Series[float]") -> None:
    wide = arima_forecast(series=prices, horizon_days=7, window_days=WINDOW_DAYS, orders=QUICK_ORDERS)
    narrow = arima_forecast(series=prices, horizon_days=7, window_days=WINDOW_DAYS, orders=QUICK_ORDERS, confidence=0.5)

    assert narrow.points[-1].mean == pytest.approx(wide.points[-1].mean)
    assert wide.points[-1].lower < narrow.points[-1].lower < narrow.points[-1].upper < wide.points[-1].upper


def test_arima_forecast_of_difficulty_stays_positive_and_near_the_last_value() -> None:
    difficulty = offline_difficulty_series()

    forecast = arima_forecast(series=difficulty, horizon_days=30, window_days=WINDOW_DAYS, orders=QUICK_ORDERS)

    last = float(difficulty.iloc[-1])
    assert forecast.history_end == date(2026, 4, 21)
    assert all(p.lower > 0 for p in forecast.points)
    # Difficulty moves a few percent per fortnight: a month ahead stays within a third of today.
    assert all(abs(p.mean / last - 1) < 0.33 for p in forecast.points)


def test_arima_forecast_rejects_a_too_short_history(prices: "pd.Series[float]") -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        arima_forecast(series=prices.iloc[:10], horizon_days=7)

    assert "60 days" in excinfo.value.message


@pytest.mark.django_db
def test_forecasts_refresh_stores_both_targets_once_however_often_it_runs() -> None:
    history_load()
    now = datetime(2026, 4, 22, 6, tzinfo=UTC)

    first = forecasts_refresh(now=now, horizon_days=14, window_days=WINDOW_DAYS, orders=QUICK_ORDERS)
    second = forecasts_refresh(now=now, horizon_days=14, window_days=WINDOW_DAYS, orders=QUICK_ORDERS)

    assert Forecast.objects.count() == 2
    assert [f.pk for f in first] == [f.pk for f in second]
    price = Forecast.objects.get(target=TARGET_PRICE)
    difficulty = Forecast.objects.get(target=TARGET_DIFFICULTY)
    assert price.history_end == date(2025, 9, 23)
    assert difficulty.history_end == date(2026, 4, 21)
    assert price.horizon_days == len(price.points) == 14
    assert price.points == first[0].points
    assert price.points[0]["date"] == "2025-09-24"
    assert price.points[0]["lower"] < price.points[0]["mean"] < price.points[0]["upper"]
    assert price.order in {"(0,1,1)", "(1,1,0)"}
    assert price.confidence == 0.95


@pytest.mark.django_db
def test_forecasts_refresh_sees_only_the_history_before_now() -> None:
    history_load()

    stored = forecasts_refresh(
        now=datetime(2024, 1, 1, tzinfo=UTC), horizon_days=7, window_days=WINDOW_DAYS, orders=QUICK_ORDERS
    )

    assert {f.target: f.history_end for f in stored} == {
        TARGET_PRICE: date(2023, 12, 31),
        TARGET_DIFFICULTY: date(2023, 12, 31),
    }


def test_forecasts_refresh_is_a_registered_daily_periodic_task() -> None:
    job = next(j for j in declared_periodic_jobs() if j.name == "analytics.forecasts_refresh")

    assert job.every_seconds == 86400
    assert job.task == forecasts_refresh_task.name
