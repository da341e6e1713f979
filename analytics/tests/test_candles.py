"""Live candles: Binance and OKX, daily and hourly, upserted; open candles left out; each series fails alone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import respx
import time_machine
from pytest_django.fixtures import Settings

from analytics.clients.base import ErrorKind
from analytics.models import PriceCandle, TechnicalIndicator
from analytics.schedules import SCHEDULES
from analytics.services.candles import candles_collect
from analytics.services.indicators import indicators_refresh
from analytics.tasks import candles_collect_task
from analytics.tests import market_fixtures as fx
from mining_platform.core.locks import job_lock

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BINANCE_KLINES = "https://api.binance.com/api/v3/klines"
OKX_CANDLES = "https://www.okx.com/api/v5/market/candles"
DAYS, HOURS = 3, 4

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(settings: Settings) -> Settings:
    settings.MARKET_DATA_SOURCE = "live"
    settings.MARKET_BINANCE_URL = "https://api.binance.com"
    settings.MARKET_OKX_URL = "https://www.okx.com"
    return settings


def _routes(router: respx.MockRouter, *, now: datetime = NOW, days: int = DAYS) -> dict[str, respx.Route]:
    return {
        "binance:1d": router.get(BINANCE_KLINES, params={"interval": "1d"}).mock(
            return_value=httpx.Response(200, json=fx.binance_klines_series(now, interval_s=86400, count=days))
        ),
        "binance:1h": router.get(BINANCE_KLINES, params={"interval": "1h"}).mock(
            return_value=httpx.Response(200, json=fx.binance_klines_series(now, interval_s=3600, count=HOURS))
        ),
        "okx:1d": router.get(OKX_CANDLES, params={"bar": "1Dutc"}).mock(
            return_value=httpx.Response(200, json=fx.okx_candles_series(now, interval_s=86400, count=days))
        ),
        "okx:1h": router.get(OKX_CANDLES, params={"bar": "1H"}).mock(
            return_value=httpx.Response(200, json=fx.okx_candles_series(now, interval_s=3600, count=HOURS))
        ),
    }


def _counts() -> dict[tuple[str, str], int]:
    return {
        (source, interval): PriceCandle.objects.filter(source=source, interval=interval).count()
        for source in ("binance", "okx")
        for interval in ("1d", "1h")
    }


@pytest.mark.usefixtures("live")
def test_candles_collect_stores_the_complete_candles_of_both_exchanges_and_intervals() -> None:
    with respx.mock(assert_all_called=True) as router:
        _routes(router)

        result = candles_collect(now=NOW)

    # The last candle of each series is still trading and is left out.
    assert _counts() == {("binance", "1d"): 2, ("binance", "1h"): 3, ("okx", "1d"): 2, ("okx", "1h"): 3}
    assert result.stored == 10
    assert all(o.ok and o.skipped_open == 1 for o in result.series)
    day = PriceCandle.objects.get(source="binance", interval="1d", open_time=datetime(2026, 3, 1, tzinfo=UTC))
    # fx._ohlc(1): 67100.10 / 67350.00 / 66950.50 / 67160.25, volume 801.12345678 BTC.
    assert (day.open, day.high, day.low, day.close) == (
        Decimal("67100.10"),
        Decimal("67350.00"),
        Decimal("66950.50"),
        Decimal("67160.25"),
    )
    assert day.volume_btc == Decimal("801.12345678")
    assert not PriceCandle.objects.filter(open_time=datetime(2026, 3, 2, tzinfo=UTC), interval="1d").exists()
    newest_hour = PriceCandle.objects.filter(source="okx", interval="1h").order_by("-open_time").first()
    assert newest_hour is not None
    assert newest_hour.open_time == datetime(2026, 3, 2, 11, tzinfo=UTC)


@pytest.mark.usefixtures("live")
def test_candles_collect_again_updates_the_same_rows_and_adds_the_newly_closed_one() -> None:
    with respx.mock() as router:
        _routes(router)
        candles_collect(now=NOW)
    later = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)

    with respx.mock() as router:
        _routes(router, now=later, days=DAYS + 1)
        candles_collect(now=later)

    # Days Feb 28 .. Mar 2 are complete by Mar 3; Mar 3 is still trading.
    assert _counts()[("binance", "1d")] == 3
    first = PriceCandle.objects.get(source="binance", interval="1d", open_time=datetime(2026, 2, 28, tzinfo=UTC))
    assert first.close == Decimal("67060.25")  # the second run sent it as its first kline, _ohlc(0)
    assert PriceCandle.objects.filter(
        source="binance", interval="1d", open_time=datetime(2026, 3, 2, tzinfo=UTC)
    ).exists()


@pytest.mark.usefixtures("live")
def test_candles_collect_keeps_the_answering_series_when_one_fails() -> None:
    with respx.mock() as router:
        routes = _routes(router)
        routes["okx:1h"].mock(return_value=httpx.Response(429, json=fx.OKX_RATE_LIMIT, headers={"Retry-After": "2"}))
        routes["binance:1d"].mock(return_value=httpx.Response(200, content=b"[[1772409600000, "))

        result = candles_collect(now=NOW)

    outcomes = {(o.source, o.interval): o for o in result.series}
    assert outcomes["okx", "1h"].error_kind == ErrorKind.RATE_LIMITED
    assert outcomes["binance", "1d"].error_kind == ErrorKind.MALFORMED
    assert _counts() == {("binance", "1d"): 0, ("binance", "1h"): 3, ("okx", "1d"): 2, ("okx", "1h"): 0}


def test_candles_collect_asks_nothing_in_replay_mode(settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "replay"

    with respx.mock(assert_all_mocked=True) as router:
        result = candles_collect(now=NOW)

    assert not router.calls
    assert result.mode == "replay"
    assert result.series == ()
    assert not PriceCandle.objects.exists()


@pytest.mark.usefixtures("live")
def test_live_indicators_read_the_stored_binance_candles() -> None:
    with respx.mock() as router:
        _routes(router, days=40)
        candles_collect(now=NOW)

    result = indicators_refresh(series="btc_usd_1d")

    assert result.rows == 39
    last = TechnicalIndicator.objects.get(series="btc_usd_1d", at=datetime(2026, 3, 1, tzinfo=UTC))
    assert last.close == float(PriceCandle.objects.get(source="binance", interval="1d", open_time=last.at).close)
    assert last.rsi_14 is not None
    assert last.macd_signal is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live")
def test_candles_collect_task_runs_under_its_job_lock() -> None:
    # The task takes the time from the clock: stop it at NOW, when each series' last candle still trades.
    with respx.mock() as router, time_machine.travel(NOW, tick=False):
        _routes(router)
        with job_lock("analytics.candles_collect", ttl_seconds=5):
            skipped = candles_collect_task.delay().get()
        ran = candles_collect_task.delay().get()

    assert skipped is None
    assert ran == {"mode": "live", "stored": 10, "binance:1d": "ok", "okx:1d": "ok", "binance:1h": "ok", "okx:1h": "ok"}


def test_candles_collect_is_scheduled_hourly() -> None:
    jobs = {job.name: job for job in SCHEDULES}

    assert jobs["analytics.candles_collect"].task == "analytics.candles_collect"
    assert jobs["analytics.candles_collect"].every_seconds == 3600
