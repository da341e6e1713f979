"""Indicators on the shipped history, checked against a hand-worked computation written as plain loops.

The reference functions below follow the textbook definitions step by step (Wilder's RSI with its
100 - 100 / (1 + RS) form, EMAs updated one close at a time, Bollinger over an explicit window of 20
closes with the population deviation); they share no code with the pandas implementation.
"""

import math
from datetime import UTC, datetime

import pytest

from analytics.models import TechnicalIndicator
from analytics.offline_data import DATASETS, offline_dataset_rows
from analytics.services.history_load import history_load
from analytics.services.indicators import indicators_refresh
from analytics.tasks import indicators_refresh_task
from mining_platform.core.errors import InvalidInputError

REL = 1e-6
COLUMNS = ("rsi_14", "macd", "macd_signal", "macd_hist", "bb_mid", "bb_upper", "bb_lower")


def shipped_closes(name: str) -> tuple[list[datetime], list[float]]:
    """Open times (UTC) and closes of a shipped candle file, oldest first, read straight from the CSV."""
    dataset = next(d for d in DATASETS if d.name == name)
    times, closes = [], []
    for row in offline_dataset_rows(dataset=dataset):
        if "date" in row:
            times.append(datetime.fromisoformat(row["date"]).replace(tzinfo=UTC))
        else:
            times.append(datetime.fromisoformat(row["datetime_utc"]))
        closes.append(float(row["close"]))
    return times, closes


def rsi_by_hand(closes: list[float], period: int = 14) -> list[float | None]:
    out: list[float | None] = [None] * len(closes)
    gain_sum = loss_sum = avg_gain = avg_loss = 0.0
    for i in range(1, len(closes)):
        change = closes[i] - closes[i - 1]
        gain = change if change > 0 else 0.0
        loss = -change if change < 0 else 0.0
        if i < period:
            gain_sum += gain
            loss_sum += loss
            continue
        if i == period:
            avg_gain = (gain_sum + gain) / period
            avg_loss = (loss_sum + loss) / period
        else:
            avg_gain = (avg_gain * (period - 1) + gain) / period
            avg_loss = (avg_loss * (period - 1) + loss) / period
        out[i] = 100.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def ema_by_hand(values: list[float | None], span: int) -> list[float | None]:
    """EMA with adjust=False semantics: seeded with the first value present, then one step per value."""
    alpha = 2 / (span + 1)
    out: list[float | None] = [None] * len(values)
    ema: float | None = None
    for i, value in enumerate(values):
        if value is None:
            continue
        ema = value if ema is None else ema + alpha * (value - ema)
        out[i] = ema
    return out


def macd_by_hand(closes: list[float]) -> tuple[list[float | None], list[float | None]]:
    fast = ema_by_hand(list(closes), 12)
    slow = ema_by_hand(list(closes), 26)
    macd: list[float | None] = [None] * len(closes)
    for i in range(25, len(closes)):  # the slow EMA has seen 26 closes from index 25 on
        f, s = fast[i], slow[i]
        assert f is not None
        assert s is not None
        macd[i] = f - s
    signal = ema_by_hand(macd, 9)
    for i in range(min(33, len(closes))):  # the signal EMA has seen 9 MACD values from index 33 on
        signal[i] = None
    return macd, signal


def bollinger_by_hand(closes: list[float], i: int) -> tuple[float, float, float]:
    window = closes[i - 19 : i + 1]
    mean = sum(window) / 20
    deviation = math.sqrt(sum((x - mean) ** 2 for x in window) / 20)
    return mean, mean + 2 * deviation, mean - 2 * deviation


def expected_at(closes: list[float], i: int) -> dict[str, float]:
    rsi = rsi_by_hand(closes)[i]
    macd, signal = macd_by_hand(closes)
    m, s = macd[i], signal[i]
    assert rsi is not None
    assert m is not None
    assert s is not None
    mid, upper, lower = bollinger_by_hand(closes, i)
    return {
        "rsi_14": rsi,
        "macd": m,
        "macd_signal": s,
        "macd_hist": m - s,
        "bb_mid": mid,
        "bb_upper": upper,
        "bb_lower": lower,
    }


DAILY_DATES = [
    datetime(2015, 1, 14, tzinfo=UTC),  # the low of the history, after the flat days of January 2015
    datetime(2017, 12, 17, tzinfo=UTC),
    datetime(2020, 3, 12, tzinfo=UTC),  # the crash: RSI 15.7, close far under the lower band
    datetime(2021, 11, 10, tzinfo=UTC),
    datetime(2025, 9, 23, tzinfo=UTC),  # the last shipped day
]
HOURLY_DATES = [
    datetime(2025, 8, 26, 9, tzinfo=UTC),
    datetime(2025, 10, 10, 21, tzinfo=UTC),
    datetime(2025, 11, 22, 23, tzinfo=UTC),
]


@pytest.fixture
def replay_history(db: None) -> None:
    history_load()


@pytest.mark.parametrize(
    ("series", "dataset", "dates"),
    [("btc_usd_1d", "btc_usd_daily", DAILY_DATES), ("btc_usd_1h", "btc_usd_hourly", HOURLY_DATES)],
)
def test_indicators_refresh_stores_values_equal_to_the_hand_worked_window(
    replay_history: None, series: str, dataset: str, dates: list[datetime]
) -> None:
    times, closes = shipped_closes(dataset)

    indicators_refresh(series=series)

    for at in dates:
        row = TechnicalIndicator.objects.get(series=series, at=at)
        expected = expected_at(closes, times.index(at))
        assert row.close == closes[times.index(at)]
        for column in COLUMNS:
            assert getattr(row, column) == pytest.approx(expected[column], rel=REL), (at, column)


def test_indicators_refresh_matches_the_hand_worked_rsi_on_every_day(replay_history: None) -> None:
    times, closes = shipped_closes("btc_usd_daily")
    by_hand = rsi_by_hand(closes)

    indicators_refresh(series="btc_usd_1d")

    stored = list(TechnicalIndicator.objects.filter(series="btc_usd_1d").order_by("at").values_list("at", "rsi_14"))
    assert [at for at, _ in stored] == times
    assert [rsi for _, rsi in stored] == [None if v is None else pytest.approx(v, rel=REL) for v in by_hand]


def test_indicators_refresh_leaves_values_empty_until_history_is_long_enough(replay_history: None) -> None:
    indicators_refresh(series="btc_usd_1d")

    rows = list(TechnicalIndicator.objects.filter(series="btc_usd_1d").order_by("at")[:40])
    first_with = {column: next(i for i, r in enumerate(rows) if getattr(r, column) is not None) for column in COLUMNS}

    # 15th close for RSI(14), 20th for the bands, 26th for MACD, 34th for its signal line.
    assert first_with == {
        "rsi_14": 14,
        "bb_mid": 19,
        "bb_upper": 19,
        "bb_lower": 19,
        "macd": 25,
        "macd_signal": 33,
        "macd_hist": 33,
    }


def test_indicators_refresh_of_a_tail_equals_the_full_computation(replay_history: None) -> None:
    indicators_refresh(series="btc_usd_1h")
    full = {r.at: r for r in TechnicalIndicator.objects.filter(series="btc_usd_1h")}
    TechnicalIndicator.objects.all().delete()

    result = indicators_refresh(series="btc_usd_1h", tail=10)

    tail = list(TechnicalIndicator.objects.filter(series="btc_usd_1h").order_by("at"))
    assert result.rows == len(tail) == 10
    assert result.last_at == datetime(2025, 11, 22, 23, tzinfo=UTC)
    for row in tail:
        for column in COLUMNS:
            assert getattr(row, column) == pytest.approx(getattr(full[row.at], column), rel=1e-12), (row.at, column)


def test_indicators_refresh_run_twice_keeps_one_row_per_candle(replay_history: None) -> None:
    indicators_refresh(series="btc_usd_1d")
    before = dict(TechnicalIndicator.objects.values_list("at", "macd"))

    indicators_refresh(series="btc_usd_1d")

    assert TechnicalIndicator.objects.count() == 3953
    assert dict(TechnicalIndicator.objects.values_list("at", "macd")) == before


def test_indicators_refresh_rejects_an_unknown_series(db: None) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        indicators_refresh(series="eth_usd_1d")

    assert "unknown series 'eth_usd_1d'" in excinfo.value.fields["series"][0]


def test_indicators_refresh_task_recomputes_the_recent_tail_of_each_series(replay_history: None) -> None:
    result = indicators_refresh_task()

    assert result is not None
    assert result["btc_usd_1d"]["indicator_rows"] == 7
    assert result["btc_usd_1h"]["indicator_rows"] == 48
    assert TechnicalIndicator.objects.filter(series="btc_usd_1d").count() == 7
    newest = TechnicalIndicator.objects.get(series="btc_usd_1d", at=datetime(2025, 9, 23, tzinfo=UTC))
    _, closes = shipped_closes("btc_usd_daily")
    assert newest.rsi_14 == pytest.approx(expected_at(closes, len(closes) - 1)["rsi_14"], rel=REL)
