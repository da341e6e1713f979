"""Walk-forward backtest: metrics worked by hand on a tiny series, and a short run on the shipped history."""

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics.services.backtest import (
    BacktestReport,
    MethodScore,
    backtest_run,
    mape_pct,
    mase,
    naive_forecaster,
    walk_forward,
)
from analytics.services.forecasts import offline_price_series

DAY0 = date(2025, 1, 1)
# Eight days, D0 .. D7.
VALUES = [100.0, 102.0, 101.0, 105.0, 104.0, 108.0, 110.0, 107.0]


def _tiny() -> "pd.Series[float]":
    return pd.Series(VALUES, index=pd.date_range(DAY0, periods=len(VALUES), freq="D"), dtype=float)


def _drift(window: "pd.Series[float]", horizons: Sequence[int]) -> Mapping[int, float]:
    """Last value plus 2 per day ahead: a second method whose errors are easy to work by hand."""
    return {h: float(window.iloc[-1]) + 2 * h for h in horizons}


def _score(scores: Sequence[MethodScore], method: str, horizon: int) -> MethodScore:
    return next(s for s in scores if s.method == method and s.horizon_days == horizon)


@pytest.fixture
def tiny_scores() -> list[MethodScore]:
    return walk_forward(
        target="tiny",
        series=_tiny(),
        origins=[DAY0 + timedelta(days=3), DAY0 + timedelta(days=4)],
        horizons=[1, 2],
        window_days=4,
        forecasters={"naive": naive_forecaster, "drift": _drift},
    )


def test_walk_forward_metrics_match_a_hand_computation(tiny_scores: list[MethodScore]) -> None:
    # Origin D3 (105): window 100 102 101 105, in-sample naive error (2 + 1 + 4) / 3 = 7/3.
    # Origin D4 (104): window 102 101 105 104, in-sample naive error (1 + 4 + 1) / 3 = 2.
    # naive +1: 105 vs 104, 104 vs 108 -> errors 1, 4.   naive +2: 105 vs 108, 104 vs 110 -> 3, 6.
    # drift +1: 107 vs 104, 106 vs 108 -> errors 3, 2.   drift +2: 109 vs 108, 108 vs 110 -> 1, 2.
    expected = {
        ("naive", 1): ((1 / 104 + 4 / 108) / 2 * 100, (1 / (7 / 3) + 4 / 2) / 2),
        ("naive", 2): ((3 / 108 + 6 / 110) / 2 * 100, (3 / (7 / 3) + 6 / 2) / 2),
        ("drift", 1): ((3 / 104 + 2 / 108) / 2 * 100, (3 / (7 / 3) + 2 / 2) / 2),
        ("drift", 2): ((1 / 108 + 2 / 110) / 2 * 100, (1 / (7 / 3) + 2 / 2) / 2),
    }

    for (method, horizon), (mape_value, mase_value) in expected.items():
        score = _score(tiny_scores, method, horizon)
        assert score.origins == 2
        assert score.mape_pct == pytest.approx(mape_value, rel=1e-12)
        assert score.mase == pytest.approx(mase_value, rel=1e-12)
    assert _score(tiny_scores, "naive", 1).mape_pct == pytest.approx(2.332621082621, rel=1e-10)
    assert _score(tiny_scores, "naive", 1).mase == pytest.approx(1.214285714286, rel=1e-10)


def test_backtest_report_says_which_method_wins_and_where_the_measures_disagree(
    tiny_scores: list[MethodScore],
) -> None:
    report = BacktestReport(scores=tuple(tiny_scores), first_origin=None, last_origin=None, duration_s=0.0)

    lines = report.lines()

    # +1: drift has the lower MASE (8/7 < 17/14) but naive the lower MAPE.
    assert "tiny +1 d: drift wins on MASE (1.143 against naive 1.214); on MAPE naive is lower" in "\n".join(lines)
    assert "tiny +2 d: drift wins on MASE (0.714 against naive 2.143) and on MAPE, over 2 origins." in lines
    assert report.winner(target="tiny", horizon_days=2).method == "drift"


def test_walk_forward_leaves_out_an_origin_where_a_method_has_no_forecast() -> None:
    def only_after_d3(window: "pd.Series[float]", horizons: Sequence[int]) -> Mapping[int, float] | None:
        return None if window.index[-1].date() <= DAY0 + timedelta(days=3) else naive_forecaster(window, horizons)

    scores = walk_forward(
        target="tiny",
        series=_tiny(),
        origins=[DAY0 + timedelta(days=3), DAY0 + timedelta(days=4)],
        horizons=[1],
        window_days=4,
        forecasters={"naive": naive_forecaster, "late": only_after_d3},
    )

    # Only origin D4 is scored: naive +1 is 104 vs 108, scale 2.
    assert {s.origins for s in scores} == {1}
    assert _score(scores, "naive", 1).mase == pytest.approx(2.0)


def test_mape_and_mase_of_a_perfect_forecast_are_zero() -> None:
    assert mape_pct(actual=[1.0, 2.0], forecast=[1.0, 2.0]) == 0.0
    assert mase(actual=[1.0, 2.0], forecast=[1.0, 2.0], scales=[0.5, 0.5]) == 0.0


def test_backtest_run_on_the_shipped_history_scores_every_method_on_both_targets() -> None:
    report = backtest_run(horizons=(7, 30), last_origins=1, orders=[(0, 1, 0), (0, 1, 1)])

    methods: dict[tuple[str, int], set[str]] = {(s.target, s.horizon_days): set() for s in report.scores}
    for s in report.scores:
        methods[(s.target, s.horizon_days)].add(s.method)
    assert methods == {
        ("btc_usd", 7): {"arima", "naive"},
        ("btc_usd", 30): {"arima", "naive"},
        ("difficulty", 7): {"arima", "naive", "epoch"},
        ("difficulty", 30): {"arima", "naive", "epoch"},
    }
    # The last price origin is 2025-08-01 (30 days must fit before 2025-09-23): check naive by hand.
    prices = offline_price_series()
    origin = pd.Timestamp("2025-08-01")
    last, later = prices[origin], prices[origin + pd.Timedelta(days=30)]
    naive_30 = next(s for s in report.scores if (s.target, s.horizon_days, s.method) == ("btc_usd", 30, "naive"))
    assert naive_30.origins == 1
    assert naive_30.mape_pct == pytest.approx(abs(later - last) / later * 100)
    window = prices.loc[:origin].to_numpy()[-730:]
    assert naive_30.mase == pytest.approx(abs(later - last) / np.mean(np.abs(np.diff(window))))
    assert sum(("wins on MASE" in line or "tie on MASE" in line) for line in report.lines()) == 4


def test_forecast_backtest_command_prints_the_verdicts() -> None:
    out = StringIO()

    call_command("forecast_backtest", "--last-origins=1", "--horizons", "7", "--orders", "0,1,0", "0,1,1", stdout=out)

    text = out.getvalue()
    assert "Walk-forward backtest" in text
    assert "btc_usd +7 d:" in text
    assert "difficulty +7 d:" in text


def test_forecast_backtest_command_rejects_a_malformed_order() -> None:
    with pytest.raises(CommandError, match="not p,d,q"):
        call_command("forecast_backtest", "--orders", "1,1", stdout=StringIO())
