"""Each collector against respx answering with the documented bodies, errors, rate limits and garbage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import httpx
import pytest
import respx

from analytics.clients import binance, blockchain_info, bybit, coingecko, deribit, mempool_space, okx
from analytics.clients.base import (
    Candle,
    ErrorKind,
    NetworkReading,
    PriceQuote,
    SourceCall,
    SourceResult,
    client_build,
    sources_collect,
)
from analytics.tests import market_fixtures as fx

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MAX_AGE = 900.0
Fetch = Callable[[httpx.AsyncClient], Awaitable[PriceQuote]]


@dataclass(frozen=True)
class PriceSourceCase:
    name: str
    url: str  # the one endpoint it asks, on its real host (respx answers; nothing leaves the machine)
    fetch: Fetch
    ok_body: object
    price_usd: Decimal
    volume_24h_btc: Decimal | None
    rate_limit_body: object


def _case(
    name: str,
    base: str,
    path: str,
    fetch: Callable[..., Awaitable[PriceQuote]],
    *,
    ok_body: object,
    price_usd: Decimal,
    volume_24h_btc: Decimal | None,
    rate_limit_body: object,
) -> PriceSourceCase:
    return PriceSourceCase(
        name=name,
        url=f"{base}{path}",
        fetch=partial(fetch, base_url=base, now=NOW, max_age_s=MAX_AGE),
        ok_body=ok_body,
        price_usd=price_usd,
        volume_24h_btc=volume_24h_btc,
        rate_limit_body=rate_limit_body,
    )


PRICE_SOURCES = [
    _case(
        "coingecko",
        "https://api.coingecko.com",
        "/api/v3/simple/price",
        coingecko.simple_price_fetch,
        ok_body=fx.coingecko_simple_price(NOW),
        price_usd=Decimal("67187.33"),
        volume_24h_btc=Decimal("31260929299.52") / Decimal("67187.33"),
        rate_limit_body=fx.COINGECKO_RATE_LIMIT,
    ),
    _case(
        "binance",
        "https://api.binance.com",
        "/api/v3/ticker/24hr",
        binance.ticker_fetch,
        ok_body=fx.binance_ticker(NOW),
        price_usd=Decimal("67201.55000000"),
        volume_24h_btc=Decimal("18234.56789000"),
        rate_limit_body=fx.BINANCE_RATE_LIMIT,
    ),
    _case(
        "okx",
        "https://www.okx.com",
        "/api/v5/market/ticker",
        okx.ticker_fetch,
        ok_body=fx.okx_ticker(NOW),
        price_usd=Decimal("67195.4"),
        volume_24h_btc=Decimal("6123.4567"),
        rate_limit_body=fx.OKX_RATE_LIMIT,
    ),
    _case(
        "bybit",
        "https://api.bybit.com",
        "/v5/market/tickers",
        bybit.ticker_fetch,
        ok_body=fx.bybit_tickers(NOW),
        price_usd=Decimal("67199.10"),
        volume_24h_btc=Decimal("4512.345678"),
        rate_limit_body=fx.bybit_error(NOW, code=10006, message="Too many visits!"),
    ),
    _case(
        "deribit",
        "https://www.deribit.com",
        "/api/v2/public/get_index_price",
        deribit.index_price_fetch,
        ok_body=fx.deribit_index(NOW),
        price_usd=Decimal("67190.12"),
        volume_24h_btc=None,
        rate_limit_body=fx.deribit_error(NOW, code=10028, message="too_many_requests"),
    ),
]
BY_NAME = {case.name: case for case in PRICE_SOURCES}


def _collect(name: str, fetch: Callable[[httpx.AsyncClient], Awaitable[object]]) -> SourceResult[object]:
    async def run() -> SourceResult[object]:
        async with client_build(timeout_s=5.0, connect_timeout_s=2.0) as client:
            (result,) = await sources_collect(client=client, calls=[SourceCall(name, fetch)], timeout_s=5.0)
        return result

    return asyncio.run(run())


@pytest.mark.parametrize("case", PRICE_SOURCES, ids=lambda c: c.name)
def test_price_collector_parses_the_documented_body(case: PriceSourceCase) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.get(case.url).mock(return_value=httpx.Response(200, json=case.ok_body))

        result = _collect(case.name, case.fetch)

    assert result.error == ""
    assert isinstance(result.value, PriceQuote)
    assert result.value.price_usd == case.price_usd
    assert result.value.volume_24h_btc == case.volume_24h_btc
    assert result.value.volume_is_aggregate is (case.name == "coingecko")
    assert NOW - timedelta(minutes=1) < result.value.observed_at <= NOW
    assert result.latency_s > 0
    assert route.calls.last.request.headers["User-Agent"].startswith("mining-platform-analytics")


def test_price_collectors_ask_for_btc_in_dollars() -> None:
    with respx.mock() as router:
        routes = {
            c.name: router.get(c.url).mock(return_value=httpx.Response(200, json=c.ok_body)) for c in PRICE_SOURCES
        }

        for case in PRICE_SOURCES:
            _collect(case.name, case.fetch)

    params = {name: dict(route.calls.last.request.url.params) for name, route in routes.items()}
    assert params["coingecko"]["ids"] == "bitcoin"
    assert params["coingecko"]["vs_currencies"] == "usd"
    assert params["binance"] == {"symbol": "BTCUSDT"}
    assert params["okx"] == {"instId": "BTC-USDT"}
    assert params["bybit"] == {"category": "spot", "symbol": "BTCUSDT"}
    assert params["deribit"] == {"index_name": "btc_usd"}


@pytest.mark.parametrize("case", PRICE_SOURCES, ids=lambda c: c.name)
def test_price_collector_records_a_server_error(case: PriceSourceCase) -> None:
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(500, text="<html>Internal Server Error</html>"))

        result = _collect(case.name, case.fetch)

    assert result.value is None
    assert result.error_kind == ErrorKind.HTTP_ERROR
    assert result.http_status == 500
    assert result.error.startswith("HTTP 500")


@pytest.mark.parametrize("case", PRICE_SOURCES, ids=lambda c: c.name)
def test_price_collector_records_a_rate_limit_with_the_upstream_message(case: PriceSourceCase) -> None:
    with respx.mock() as router:
        router.get(case.url).mock(
            return_value=httpx.Response(429, json=case.rate_limit_body, headers={"Retry-After": "30"})
        )

        result = _collect(case.name, case.fetch)

    assert result.value is None
    assert result.error_kind == ErrorKind.RATE_LIMITED
    assert result.http_status == 429
    assert "retry after 30 s" in result.error
    assert any(word in result.error.lower() for word in ("rate limit", "too many", "too_many"))


@pytest.mark.parametrize("case", PRICE_SOURCES, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "body",
    [b'{"symbol": "BTCUSDT", "lastPrice": ', b"<html>502 Bad Gateway</html>", b"[]", b'{"unexpected": true}'],
    ids=["truncated", "html", "empty-list", "wrong-object"],
)
def test_price_collector_records_a_malformed_body(case: PriceSourceCase, body: bytes) -> None:
    with respx.mock() as router:
        router.get(case.url).mock(
            return_value=httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        )

        result = _collect(case.name, case.fetch)

    assert result.value is None
    assert result.error_kind == ErrorKind.MALFORMED
    assert result.error


def test_binance_records_its_documented_error_body() -> None:
    case = BY_NAME["binance"]
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(400, json=fx.BINANCE_INVALID_SYMBOL))

        result = _collect(case.name, case.fetch)

    assert result.error_kind == ErrorKind.HTTP_ERROR
    assert result.error == "HTTP 400: Invalid symbol. (code -1121)"


def test_okx_error_code_in_an_http_200_answer_fails_the_source() -> None:
    case = BY_NAME["okx"]
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(200, json=fx.OKX_UNKNOWN_INSTRUMENT))

        result = _collect(case.name, case.fetch)

    assert result.error_kind == ErrorKind.UPSTREAM_ERROR
    assert result.error == "Instrument ID does not exist (code 51001)"


def test_bybit_ret_code_in_an_http_200_answer_fails_the_source() -> None:
    case = BY_NAME["bybit"]
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(200, json=fx.bybit_error(NOW)))

        result = _collect(case.name, case.fetch)

    assert result.error_kind == ErrorKind.UPSTREAM_ERROR
    assert result.error == "Not supported symbols (retCode 10001)"


def test_bybit_too_many_visits_in_an_http_200_answer_is_a_rate_limit() -> None:
    case = BY_NAME["bybit"]
    with respx.mock() as router:
        router.get(case.url).mock(
            return_value=httpx.Response(200, json=fx.bybit_error(NOW, code=10006, message="Too many visits!"))
        )

        result = _collect(case.name, case.fetch)

    assert result.error_kind == ErrorKind.RATE_LIMITED


def test_deribit_records_its_json_rpc_error() -> None:
    case = BY_NAME["deribit"]
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(400, json=fx.deribit_error(NOW)))

        result = _collect(case.name, case.fetch)

    assert result.error_kind == ErrorKind.HTTP_ERROR
    assert result.error == "HTTP 400: Invalid params (code -32602)"


def test_collector_rejects_a_stale_quote() -> None:
    case = BY_NAME["binance"]
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(200, json=fx.binance_ticker(NOW, ago_s=3600)))

        result = _collect(case.name, case.fetch)

    assert result.value is None
    assert result.error_kind == ErrorKind.STALE
    assert result.error == "closeTime is 3600 s old (limit 900 s)"


@pytest.mark.parametrize(
    ("usd", "kind"), [(0.5, ErrorKind.OUT_OF_RANGE), (True, ErrorKind.MALFORMED), ("NaN", ErrorKind.MALFORMED)]
)
def test_collector_rejects_an_implausible_price(usd: object, kind: str) -> None:
    case = BY_NAME["coingecko"]
    with respx.mock() as router:
        router.get(case.url).mock(return_value=httpx.Response(200, json=fx.coingecko_simple_price(NOW, usd=usd)))

        result = _collect(case.name, case.fetch)

    assert result.value is None
    assert result.error_kind == kind


def test_collector_records_a_timeout() -> None:
    case = BY_NAME["okx"]
    with respx.mock() as router:
        router.get(case.url).mock(side_effect=httpx.ReadTimeout("read timed out"))

        result = _collect(case.name, case.fetch)

    assert result.value is None
    assert result.error_kind == ErrorKind.TIMEOUT


def test_collector_records_a_refused_connection() -> None:
    case = BY_NAME["bybit"]
    with respx.mock() as router:
        router.get(case.url).mock(side_effect=httpx.ConnectError("connection refused"))

        result = _collect(case.name, case.fetch)

    assert result.error_kind == ErrorKind.CONNECT


def test_coingecko_markets_parses_the_documented_body() -> None:
    with respx.mock() as router:
        router.get("https://api.coingecko.com/api/v3/coins/markets").mock(
            return_value=httpx.Response(200, json=fx.coingecko_markets(NOW))
        )

        result = _collect(
            "coingecko",
            partial(coingecko.markets_fetch, base_url="https://api.coingecko.com", now=NOW, max_age_s=MAX_AGE),
        )

    assert isinstance(result.value, PriceQuote)
    assert result.value.price_usd == Decimal("67187.33")
    assert result.value.observed_at == NOW - timedelta(seconds=40)


def test_binance_klines_parse_into_candles_oldest_first() -> None:
    with respx.mock() as router:
        route = router.get("https://api.binance.com/api/v3/klines").mock(
            return_value=httpx.Response(200, json=fx.binance_klines(NOW))
        )

        candles = asyncio.run(_klines())

    assert route.calls.last.request.url.params["interval"] == "1h"
    assert [c.close for c in candles] == [Decimal("67300.50"), Decimal("67150.00")]
    assert candles[0].open_time == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert candles[1].open_time - candles[0].open_time == timedelta(hours=1)
    assert candles[0].volume_btc == Decimal("812.34500000")
    assert all(c.closed for c in candles)


async def _klines(interval: str = "1h") -> list[Candle]:
    async with client_build(timeout_s=5.0, connect_timeout_s=2.0) as client:
        return await binance.klines_fetch(
            client, base_url="https://api.binance.com", interval=interval, limit=2, now=NOW
        )


def test_okx_candles_parse_newest_first_rows_into_oldest_first_candles() -> None:
    candles = okx.candles_parse(fx.okx_candles(NOW))

    assert [c.open_time for c in candles] == [
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    ]
    assert candles[0].low == Decimal("66900.0")
    assert candles[1].volume_btc == Decimal("301.5")
    assert all(c.closed for c in candles)


def _network(name: str, fetch: Callable[[httpx.AsyncClient], Awaitable[NetworkReading]]) -> SourceResult[object]:
    return _collect(name, fetch)


BLOCKCHAIN_STATS = partial(
    blockchain_info.stats_fetch, base_url="https://api.blockchain.info", now=NOW, max_age_s=MAX_AGE
)
MEMPOOL = partial(mempool_space.reading_fetch, base_url="https://mempool.space", now=NOW)


def _mempool_routes(router: respx.MockRouter) -> dict[str, respx.Route]:
    answers = fx.documented_answers(NOW)["mempool_space"]
    routes = {}
    for path, answer in answers.items():
        body, content_type = answer.encoded()
        routes[path] = router.get(f"https://mempool.space{path}").mock(
            return_value=httpx.Response(answer.status, content=body, headers={"Content-Type": content_type})
        )
    return routes


def test_blockchain_info_stats_convert_to_platform_units() -> None:
    with respx.mock() as router:
        router.get("https://api.blockchain.info/stats").mock(
            return_value=httpx.Response(200, json=fx.blockchain_stats(NOW))
        )

        result = _network("blockchain_info", BLOCKCHAIN_STATS)

    reading = result.value
    assert isinstance(reading, NetworkReading)
    assert reading.difficulty == Decimal(str(fx.DIFFICULTY))
    assert reading.hashrate_ths == pytest.approx(fx.BLOCKCHAIN_HASHRATE_GHS / 1000)  # GH/s to TH/s
    assert reading.fees_btc_per_day == Decimal("6.12345678")  # documented in satoshis
    assert reading.avg_fee_per_block_btc == Decimal("0.04252401")  # 6.12345678 / 144 blocks
    assert reading.block_height == fx.TIP_HEIGHT
    assert reading.next_retarget_height == 891071
    assert reading.observed_at == NOW - timedelta(seconds=60)


def test_blockchain_info_records_a_server_error() -> None:
    with respx.mock() as router:
        router.get("https://api.blockchain.info/stats").mock(
            return_value=httpx.Response(503, text="Service Unavailable")
        )

        result = _network("blockchain_info", BLOCKCHAIN_STATS)

    assert result.value is None
    assert result.http_status == 503
    assert result.error_kind == ErrorKind.HTTP_ERROR


def test_mempool_space_combines_its_four_endpoints_into_one_reading() -> None:
    with respx.mock() as router:
        routes = _mempool_routes(router)

        result = _network("mempool_space", MEMPOOL)

    reading = result.value
    assert isinstance(reading, NetworkReading)
    assert all(route.called for route in routes.values())
    assert reading.difficulty == Decimal(str(fx.DIFFICULTY))
    assert reading.hashrate_ths == pytest.approx(fx.MEMPOOL_HASHRATE_HS / 1e12)  # H/s to TH/s
    assert reading.block_height == fx.TIP_HEIGHT
    assert reading.difficulty_change_percent == pytest.approx(1.8312345)
    assert reading.next_retarget_height == 891072
    assert reading.estimated_retarget_at == NOW + timedelta(days=6.5)
    assert (reading.fastest_fee_sat_vb, reading.economy_fee_sat_vb) == (12, 3)
    assert reading.observed_at == NOW


def test_mempool_space_fails_whole_when_one_endpoint_is_rate_limited() -> None:
    with respx.mock() as router:
        _mempool_routes(router)
        router.get("https://mempool.space/api/v1/fees/recommended").mock(
            return_value=httpx.Response(429, text="Too Many Requests")
        )

        result = _network("mempool_space", MEMPOOL)

    assert result.value is None
    assert result.error_kind == ErrorKind.RATE_LIMITED


def test_mempool_space_records_a_tip_height_that_is_not_a_number() -> None:
    with respx.mock() as router:
        _mempool_routes(router)
        router.get("https://mempool.space/api/blocks/tip/height").mock(
            return_value=httpx.Response(200, text="<html>maintenance</html>")
        )

        result = _network("mempool_space", MEMPOOL)

    assert result.error_kind == ErrorKind.MALFORMED
    assert "tip height" in result.error


# --- candles: the one still trading, interval alignment, errors ---------------------------------------

BINANCE_KLINES = "https://api.binance.com/api/v3/klines"
OKX_CANDLES = "https://www.okx.com/api/v5/market/candles"


def _okx_candles(interval: str) -> list[Candle]:
    async def run() -> list[Candle]:
        async with client_build(timeout_s=5.0, connect_timeout_s=2.0) as client:
            return await okx.candles_fetch(client, base_url="https://www.okx.com", interval=interval, limit=500)

    return asyncio.run(run())


def test_binance_klines_mark_the_kline_still_trading_as_open() -> None:
    with respx.mock() as router:
        route = router.get(BINANCE_KLINES).mock(
            return_value=httpx.Response(200, json=fx.binance_klines_series(NOW, interval_s=86400, count=3))
        )

        candles = asyncio.run(_klines("1d"))

    assert route.calls.last.request.url.params["interval"] == "1d"
    assert [c.open_time for c in candles] == [
        datetime(2026, 2, 28, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    ]
    assert [c.closed for c in candles] == [True, True, False]


def test_binance_klines_off_the_interval_boundary_are_malformed() -> None:
    rows = fx.binance_klines_series(NOW, interval_s=3600, count=2)
    assert isinstance(rows, list)
    rows[0][0] += 30 * 60 * 1000  # opens at half past

    with respx.mock() as router:
        router.get(BINANCE_KLINES).mock(return_value=httpx.Response(200, json=rows))
        result = _collect(
            "binance",
            lambda client: binance.klines_fetch(
                client, base_url="https://api.binance.com", interval="1h", limit=2, now=NOW
            ),
        )

    assert result.error_kind == ErrorKind.MALFORMED
    assert "not on a 1:00:00 boundary" in result.error


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            400,
            {"code": -1120, "msg": "Invalid interval."},
            ErrorKind.HTTP_ERROR,
            "HTTP 400: Invalid interval. (code -1120)",
        ),
        (429, fx.BINANCE_RATE_LIMIT, ErrorKind.RATE_LIMITED, "HTTP 429: Too many requests"),
        (200, [[1772445600000, "67000.00", "67350.00"]], ErrorKind.MALFORMED, "kline 0 has 3 fields"),
        (200, {"symbol": "BTCUSDT"}, ErrorKind.MALFORMED, "klines is not a list"),
    ],
    ids=["invalid-interval", "rate-limit", "short-row", "object"],
)
def test_binance_klines_record_errors_and_malformed_bodies(status: int, body: object, kind: str, message: str) -> None:
    with respx.mock() as router:
        router.get(BINANCE_KLINES).mock(return_value=httpx.Response(status, json=body))
        result = _collect(
            "binance",
            lambda client: binance.klines_fetch(
                client, base_url="https://api.binance.com", interval="1h", limit=2, now=NOW
            ),
        )

    assert result.value is None
    assert result.error_kind == kind
    assert result.error.startswith(message)


def test_okx_daily_candles_ask_for_the_utc_day_and_mark_the_unconfirmed_one_open() -> None:
    with respx.mock() as router:
        route = router.get(OKX_CANDLES).mock(
            return_value=httpx.Response(200, json=fx.okx_candles_series(NOW, interval_s=86400, count=3))
        )

        candles = _okx_candles("1d")

    assert dict(route.calls.last.request.url.params) == {"instId": "BTC-USDT", "bar": "1Dutc", "limit": "300"}
    assert [c.open_time for c in candles] == [
        datetime(2026, 2, 28, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    ]
    assert [c.closed for c in candles] == [True, True, False]


def test_okx_daily_candles_opening_at_hong_kong_midnight_are_refused() -> None:
    # OKX's plain "1D" bar opens at 16:00 UTC; stored as a UTC day it would shift every daily indicator.
    hong_kong_days = fx.okx_candles_series(NOW, interval_s=86400, count=2, offset_s=-8 * 3600)
    with respx.mock() as router:
        router.get(OKX_CANDLES).mock(return_value=httpx.Response(200, json=hong_kong_days))
        result = _collect(
            "okx", lambda client: okx.candles_fetch(client, base_url="https://www.okx.com", interval="1d", limit=2)
        )

    assert result.error_kind == ErrorKind.MALFORMED
    assert "2026-02-28T16:00:00+00:00" in result.error


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            200,
            {"code": "51000", "msg": "Parameter bar error", "data": []},
            ErrorKind.UPSTREAM_ERROR,
            "Parameter bar error (code 51000)",
        ),
        (429, fx.OKX_RATE_LIMIT, ErrorKind.RATE_LIMITED, "HTTP 429: Too Many Requests (code 50011)"),
        (
            200,
            {"code": "0", "msg": "", "data": [["1772445600000", "67000.2", "67349.8", "66900.0", "67300.1", "288.25"]]},
            ErrorKind.MALFORMED,
            "candle 0 has 6 fields",
        ),
        (
            200,
            {
                "code": "0",
                "msg": "",
                "data": [
                    ["1772445600000", "67000.2", "67349.8", "66900.0", "67300.1", "288.25", "288.25", "1.9e7", "yes"]
                ],
            },
            ErrorKind.MALFORMED,
            "candle 0 confirm is 'yes'",
        ),
        (
            200,
            {
                "code": "0",
                "msg": "",
                "data": [
                    ["1772445600000", "67000.2", "66000.0", "66900.0", "67300.1", "288.25", "288.25", "1.9e7", "1"]
                ],
            },
            ErrorKind.OUT_OF_RANGE,
            "candle 0 low 66900.0 is above high 66000.0",
        ),
    ],
    ids=["bar-error", "rate-limit", "short-row", "bad-confirm", "low-above-high"],
)
def test_okx_candles_record_errors_and_malformed_bodies(status: int, body: object, kind: str, message: str) -> None:
    with respx.mock() as router:
        router.get(OKX_CANDLES).mock(return_value=httpx.Response(status, json=body))
        result = _collect(
            "okx", lambda client: okx.candles_fetch(client, base_url="https://www.okx.com", interval="1h", limit=2)
        )

    assert result.value is None
    assert result.error_kind == kind
    assert result.error.startswith(message)


# --- Deribit options summary --------------------------------------------------------------------------

DERIBIT_OPTIONS_URL = "https://www.deribit.com/api/v2/public/get_book_summary_by_currency"
DERIBIT_OPTIONS = partial(deribit.options_summary_fetch, base_url="https://www.deribit.com", now=NOW, max_age_s=MAX_AGE)


def test_deribit_options_summary_totals_open_interest_volume_and_put_call_ratios() -> None:
    with respx.mock() as router:
        route = router.get(DERIBIT_OPTIONS_URL).mock(
            return_value=httpx.Response(200, json=fx.deribit_options_summary(NOW))
        )

        result = _collect("deribit_options", DERIBIT_OPTIONS)

    summary = result.value
    assert isinstance(summary, deribit.OptionsSummary)
    assert dict(route.calls.last.request.url.params) == {"currency": "BTC", "kind": "option"}
    assert summary.instruments == 4
    # Calls 512.3 + 1204.7, puts 830.5 + 0; volume calls 120.4 + 10.5, puts 95.1 + 0 (BTC).
    assert summary.open_interest_btc == Decimal("2547.5")
    assert (summary.call_open_interest_btc, summary.put_open_interest_btc) == (Decimal("1717.0"), Decimal("830.5"))
    assert summary.volume_24h_btc == Decimal("226.0")
    assert summary.volume_24h_usd == Decimal("555274.62")
    assert summary.put_call_open_interest_ratio == pytest.approx(830.5 / 1717.0)
    assert summary.put_call_volume_ratio == pytest.approx(95.1 / 130.9)
    assert summary.observed_at == NOW - timedelta(seconds=0.15)


def test_deribit_options_summary_ratios_are_none_without_calls() -> None:
    body = fx.deribit_options_summary(NOW)
    assert isinstance(body, dict)
    body["result"] = [item for item in body["result"] if item["instrument_name"].endswith("-P")]

    summary = deribit.options_summary_parse(body, now=NOW, max_age_s=MAX_AGE)

    assert summary.put_call_open_interest_ratio is None
    assert summary.put_call_volume_ratio is None
    assert summary.put_open_interest_btc == Decimal("830.5")


def _options_body(**changes: object) -> object:
    body = fx.deribit_options_summary(NOW)
    assert isinstance(body, dict)
    first = dict(body["result"][0])
    first.update(changes)
    body["result"] = [first, *body["result"][1:]]
    return body


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (
            400,
            fx.deribit_error(NOW, code=-32602, message="Invalid params"),
            ErrorKind.HTTP_ERROR,
            "HTTP 400: Invalid params (code -32602)",
        ),
        (
            429,
            fx.deribit_error(NOW, code=10028, message="too_many_requests"),
            ErrorKind.RATE_LIMITED,
            "HTTP 429: too_many_requests",
        ),
        (
            200,
            fx.deribit_error(NOW, code=10028, message="too_many_requests"),
            ErrorKind.RATE_LIMITED,
            "too_many_requests (code 10028)",
        ),
        (
            200,
            {"jsonrpc": "2.0", "result": [], "usIn": 1, "usOut": 2, "usDiff": 1, "testnet": False},
            ErrorKind.MALFORMED,
            "result lists no options",
        ),
        (
            200,
            {"jsonrpc": "2.0", "result": {"index_price": 1}, "usOut": 2},
            ErrorKind.MALFORMED,
            "result is not a list",
        ),
        (
            200,
            _options_body(instrument_name="BTC-PERPETUAL"),
            ErrorKind.MALFORMED,
            "option 0 instrument_name 'BTC-PERPETUAL' is not a BTC option",
        ),
        (200, _options_body(open_interest=-5), ErrorKind.OUT_OF_RANGE, "option 0 open_interest -5 is outside"),
        (200, _options_body(volume="lots"), ErrorKind.MALFORMED, "option 0 volume is not a number"),
    ],
    ids=[
        "invalid-params",
        "rate-limit-429",
        "rate-limit-200",
        "empty",
        "not-a-list",
        "a-future",
        "negative-oi",
        "text-volume",
    ],
)
def test_deribit_options_summary_records_errors_and_malformed_bodies(
    status: int, body: object, kind: str, message: str
) -> None:
    with respx.mock() as router:
        router.get(DERIBIT_OPTIONS_URL).mock(return_value=httpx.Response(status, json=body))
        result = _collect("deribit_options", DERIBIT_OPTIONS)

    assert result.value is None
    assert result.error_kind == kind
    assert result.error.startswith(message)


def test_deribit_options_summary_rejects_a_stale_answer() -> None:
    body = fx.deribit_options_summary(NOW - timedelta(hours=1))

    with respx.mock() as router:
        router.get(DERIBIT_OPTIONS_URL).mock(return_value=httpx.Response(200, json=body))
        result = _collect("deribit_options", DERIBIT_OPTIONS)

    assert result.error_kind == ErrorKind.STALE


# --- blockchain.info charts ---------------------------------------------------------------------------

DAY_S = 86400
TODAY_S = int(NOW.timestamp()) // DAY_S * DAY_S


def _chart(chart: str) -> SourceResult[object]:
    return _collect(
        chart,
        partial(blockchain_info.chart_fetch, base_url="https://api.blockchain.info", chart=chart, timespan="30days"),
    )


def test_blockchain_info_chart_parses_one_value_per_utc_day() -> None:
    points = [(TODAY_S - 2 * DAY_S, 812345678.12), (TODAY_S - DAY_S, 823456789.5)]
    with respx.mock() as router:
        route = router.get("https://api.blockchain.info/charts/hash-rate").mock(
            return_value=httpx.Response(200, json=fx.blockchain_chart("hash-rate", points))
        )

        result = _chart("hash-rate")

    series = result.value
    assert isinstance(series, blockchain_info.ChartSeries)
    assert dict(route.calls.last.request.url.params) == {"timespan": "30days", "format": "json", "sampled": "false"}
    assert series.unit == "Hash Rate TH/s"
    assert series.values == (
        (datetime(2026, 2, 28, tzinfo=UTC), Decimal("812345678.12")),
        (datetime(2026, 3, 1, tzinfo=UTC), Decimal("823456789.5")),
    )


@pytest.mark.parametrize(
    ("chart", "body", "kind", "message"),
    [
        (
            "hash-rate",
            fx.blockchain_chart("hash-rate", [(TODAY_S, 8.1e8)], unit="Hash Rate EH/s"),
            ErrorKind.MALFORMED,
            "chart hash-rate unit is 'Hash Rate EH/s', expected TH/s",
        ),
        (
            "transaction-fees",
            fx.blockchain_chart("transaction-fees", [(TODAY_S, -1.5)]),
            ErrorKind.OUT_OF_RANGE,
            "transaction-fees value 0 y -1.5 is outside",
        ),
        (
            "difficulty",
            fx.blockchain_chart("difficulty", [(TODAY_S, 0.5)]),
            ErrorKind.OUT_OF_RANGE,
            "difficulty value 0 y 0.5 is outside",
        ),
        (
            "difficulty",
            fx.blockchain_chart("difficulty", [(TODAY_S, 1.1e14), (TODAY_S + 3600, 1.1e14)]),
            ErrorKind.MALFORMED,
            "chart difficulty has two values for 2026-03-02",
        ),
        (
            "difficulty",
            {**fx.blockchain_chart("difficulty", []), "period": "minute"},
            ErrorKind.MALFORMED,
            "chart difficulty period is 'minute', not day",
        ),
        (
            "difficulty",
            {**fx.blockchain_chart("difficulty", []), "status": "error"},
            ErrorKind.UPSTREAM_ERROR,
            "chart difficulty status is 'error'",
        ),
        (
            "difficulty",
            {"status": "ok", "name": "Difficulty", "unit": "Difficulty", "period": "day", "values": [{"x": TODAY_S}]},
            ErrorKind.MALFORMED,
            "difficulty value 0 has no y",
        ),
        (
            "difficulty",
            {"status": "ok", "unit": "Difficulty", "period": "day", "values": {"x": 1}},
            ErrorKind.MALFORMED,
            "values is not a list",
        ),
    ],
    ids=[
        "unit-changed",
        "negative-fees",
        "tiny-difficulty",
        "two-per-day",
        "period",
        "status",
        "no-y",
        "values-object",
    ],
)
def test_blockchain_info_chart_rejects_malformed_bodies(chart: str, body: object, kind: str, message: str) -> None:
    with respx.mock() as router:
        router.get(f"https://api.blockchain.info/charts/{chart}").mock(return_value=httpx.Response(200, json=body))
        result = _chart(chart)

    assert result.value is None
    assert result.error_kind == kind
    assert result.error.startswith(message)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, {"error": "Chart not found"}, ErrorKind.HTTP_ERROR),
        (429, "Too Many Requests", ErrorKind.RATE_LIMITED),
        (200, "<html>Blockchain.com</html>", ErrorKind.MALFORMED),
    ],
    ids=["not-found", "rate-limit", "html"],
)
def test_blockchain_info_chart_records_http_errors(status: int, body: object, kind: str) -> None:
    response = httpx.Response(status, text=body) if isinstance(body, str) else httpx.Response(status, json=body)
    with respx.mock() as router:
        router.get("https://api.blockchain.info/charts/difficulty").mock(return_value=response)
        result = _chart("difficulty")

    assert result.error_kind == kind
    if status == 404:
        assert result.error == "HTTP 404: Chart not found"


# --- mempool.space recent blocks ----------------------------------------------------------------------


def test_mempool_space_reading_carries_the_average_fee_of_the_recent_blocks() -> None:
    with respx.mock() as router:
        routes = _mempool_routes(router)

        result = _network("mempool_space", MEMPOOL)

    reading = result.value
    assert isinstance(reading, NetworkReading)
    assert routes["/api/v1/blocks"].called
    # Fifteen blocks with 10,000,000 .. 24,000,000 sat of fees: 17,000,000 sat on average.
    assert reading.avg_fee_per_block_btc == Decimal("0.17000000")
    assert reading.block_height == fx.TIP_HEIGHT


def test_mempool_space_takes_the_newest_block_when_it_is_past_the_tip_answer() -> None:
    with respx.mock() as router:
        _mempool_routes(router)
        router.get("https://mempool.space/api/v1/blocks").mock(
            return_value=httpx.Response(200, json=fx.mempool_blocks(NOW, tip=fx.TIP_HEIGHT + 1))
        )

        result = _network("mempool_space", MEMPOOL)

    assert isinstance(result.value, NetworkReading)
    assert result.value.block_height == fx.TIP_HEIGHT + 1


def _blocks_with(change: Callable[[list[dict[str, object]]], object]) -> object:
    blocks = fx.mempool_blocks(NOW)
    change(blocks)
    return blocks


def _fees(blocks: list[dict[str, object]], index: int, total_fees: int) -> None:
    extras = blocks[index]["extras"]
    assert isinstance(extras, dict)
    extras["totalFees"] = total_fees


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        ([], ErrorKind.MALFORMED, "blocks list is empty"),
        ({"height": 1}, ErrorKind.MALFORMED, "blocks is not a list"),
        (_blocks_with(lambda b: b[3].pop("extras")), ErrorKind.MALFORMED, "block 3 has no extras"),
        (
            _blocks_with(lambda b: _fees(b, 0, -1)),
            ErrorKind.OUT_OF_RANGE,
            "block 0 totalFees -1 is outside",
        ),
        (
            _blocks_with(lambda b: _fees(b, 0, 200_000_000_000)),
            ErrorKind.OUT_OF_RANGE,
            "block 0 totalFees 200000000000 is outside",
        ),
        (_blocks_with(lambda b: b[1].update(height=b[0]["height"])), ErrorKind.MALFORMED, "blocks list a height twice"),
        (_blocks_with(lambda b: b[2].update(height="tip")), ErrorKind.MALFORMED, "block 2 height is not a number"),
    ],
    ids=["empty", "object", "no-extras", "negative-fees", "absurd-fees", "height-twice", "text-height"],
)
def test_mempool_space_fails_whole_on_a_malformed_blocks_list(body: object, kind: str, message: str) -> None:
    with respx.mock() as router:
        _mempool_routes(router)
        router.get("https://mempool.space/api/v1/blocks").mock(return_value=httpx.Response(200, json=body))

        result = _network("mempool_space", MEMPOOL)

    assert result.value is None
    assert result.error_kind == kind
    assert result.error.startswith(message)
