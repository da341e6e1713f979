"""Signals on the shipped history: known crossings, thresholds from settings, reasons, idempotence."""

import itertools
from datetime import UTC, datetime

import pytest
from pytest_django.fixtures import Settings

from analytics.models import MarketSignal
from analytics.services.history_load import history_load
from analytics.services.indicators import indicators_refresh
from analytics.services.signals import signals_refresh, technical_analysis_refresh
from analytics.tests.test_indicators import rsi_by_hand, shipped_closes


@pytest.fixture
def replay_indicators(db: None) -> None:
    history_load()
    indicators_refresh(series="btc_usd_1d")
    indicators_refresh(series="btc_usd_1h")


def _day(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def _signal(series: str, at: datetime, kind: str) -> MarketSignal:
    return MarketSignal.objects.get(series=series, at=at, kind=kind)


# Crossings found in the shipped history; the values were checked with the hand-worked loops.
KNOWN_SIGNALS = [
    ("btc_usd_1d", _day(2020, 3, 12), "rsi_oversold", "RSI(14) fell below 30 to 15.7: oversold"),
    (
        "btc_usd_1d",
        _day(2020, 3, 12),
        "bb_lower_break",
        "Close 4,841.67 broke below the lower Bollinger band (20, 2) at 6,541.66: "
        "price unusually low against its 20-candle average",
    ),
    ("btc_usd_1d", _day(2020, 12, 16), "rsi_overbought", "RSI(14) rose above 70 to 70.8: overbought"),
    (
        "btc_usd_1d",
        _day(2020, 12, 16),
        "macd_bullish_cross",
        "MACD(12,26,9) crossed above its signal line (MACD 705.41, signal 649.28): bullish momentum",
    ),
    (
        "btc_usd_1d",
        _day(2020, 12, 16),
        "bb_upper_break",
        "Close 21,365.70 broke above the upper Bollinger band (20, 2) at 20,599.71: "
        "price unusually high against its 20-candle average",
    ),
    ("btc_usd_1d", _day(2021, 12, 10), "rsi_oversold", "RSI(14) fell below 30 to 29.9: oversold"),
    (
        "btc_usd_1d",
        _day(2025, 9, 23),
        "macd_bearish_cross",
        "MACD(12,26,9) crossed below its signal line (MACD 289.45, signal 500.89): bearish momentum",
    ),
    ("btc_usd_1h", _day(2025, 9, 8, 14), "rsi_overbought", "RSI(14) rose above 70 to 73.3: overbought"),
]


def test_signals_refresh_raises_the_known_crossings_with_their_reasons(replay_indicators: None) -> None:
    signals_refresh(series="btc_usd_1d")
    signals_refresh(series="btc_usd_1h")

    for series, at, kind, reason in KNOWN_SIGNALS:
        assert _signal(series, at, kind).reason == reason


def test_signals_refresh_stores_the_value_and_the_level_crossed(replay_indicators: None) -> None:
    signals_refresh(series="btc_usd_1d")

    oversold = _signal("btc_usd_1d", _day(2020, 3, 12), "rsi_oversold")
    band = _signal("btc_usd_1d", _day(2020, 3, 12), "bb_lower_break")
    assert oversold.value == pytest.approx(15.6724, abs=1e-4)
    assert oversold.threshold == 30
    assert band.value == 4841.67
    assert band.threshold == pytest.approx(6541.6583, abs=1e-4)


def test_signals_refresh_raises_rsi_signals_exactly_where_the_hand_worked_rsi_crosses(
    replay_indicators: None,
) -> None:
    times, closes = shipped_closes("btc_usd_daily")
    rsi = rsi_by_hand(closes)
    pairs = [(times[i], a, b) for i, (a, b) in enumerate(itertools.pairwise(rsi), start=1) if a is not None]
    overbought = {at for at, a, b in pairs if b is not None and a <= 70 < b}
    oversold = {at for at, a, b in pairs if b is not None and a >= 30 > b}

    signals_refresh(series="btc_usd_1d")

    stored = MarketSignal.objects.filter(series="btc_usd_1d")
    assert set(stored.filter(kind="rsi_overbought").values_list("at", flat=True)) == overbought
    assert set(stored.filter(kind="rsi_oversold").values_list("at", flat=True)) == oversold
    assert len(overbought) == 97
    assert len(oversold) == 40


def test_signals_refresh_reads_the_rsi_thresholds_from_settings(replay_indicators: None, settings: Settings) -> None:
    settings.SIGNAL_RSI_OVERBOUGHT = 72.0

    signals_refresh(series="btc_usd_1d")

    # RSI reached 70.8 on 2020-12-16 (under 72) and 72.4 on 2020-12-22 (over it).
    overbought = MarketSignal.objects.filter(series="btc_usd_1d", kind="rsi_overbought")
    assert not overbought.filter(at=_day(2020, 12, 16)).exists()
    assert overbought.get(at=_day(2020, 12, 22)).reason == "RSI(14) rose above 72 to 72.4: overbought"


def test_signals_refresh_removes_signals_that_no_longer_hold_after_a_threshold_change(
    replay_indicators: None, settings: Settings
) -> None:
    signals_refresh(series="btc_usd_1d")
    settings.SIGNAL_RSI_OVERBOUGHT = 72.0

    result = signals_refresh(series="btc_usd_1d")

    assert result.removed > 0
    assert not MarketSignal.objects.filter(series="btc_usd_1d", kind="rsi_overbought", at=_day(2020, 12, 16)).exists()
    assert MarketSignal.objects.filter(series="btc_usd_1d").count() == result.signals


def test_signals_refresh_run_twice_keeps_the_same_rows(replay_indicators: None) -> None:
    signals_refresh(series="btc_usd_1h")
    before = set(MarketSignal.objects.values_list("pk", "at", "kind", "reason"))

    result = signals_refresh(series="btc_usd_1h")

    assert set(MarketSignal.objects.values_list("pk", "at", "kind", "reason")) == before
    assert result.removed == 0
    assert len(before) == result.signals


def test_signals_refresh_since_a_moment_uses_the_candle_before_it(replay_indicators: None) -> None:
    # 2020-12-16 crossed RSI 70 from the day before: a window starting that day must still see it.
    signals_refresh(series="btc_usd_1d", since=_day(2020, 12, 16))

    kinds = set(MarketSignal.objects.filter(at=_day(2020, 12, 16)).values_list("kind", flat=True))
    assert kinds == {"rsi_overbought", "macd_bullish_cross", "bb_upper_break"}
    assert not MarketSignal.objects.filter(at__lt=_day(2020, 12, 16)).exists()


def test_technical_analysis_refresh_of_the_tail_only_touches_recent_candles(replay_indicators: None) -> None:
    signals_refresh(series="btc_usd_1d")
    total = MarketSignal.objects.filter(series="btc_usd_1d").count()

    results = technical_analysis_refresh(full=False)

    assert [(r.series, r.indicator_rows) for r in results] == [("btc_usd_1d", 7), ("btc_usd_1h", 48)]
    assert MarketSignal.objects.filter(series="btc_usd_1d").count() == total
    assert MarketSignal.objects.filter(series="btc_usd_1h", at__lt=_day(2025, 11, 21)).count() == 0
    assert MarketSignal.objects.filter(series="btc_usd_1h").count() == results[1].signals
