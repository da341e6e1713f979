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


async def _klines() -> list[Candle]:
    async with client_build(timeout_s=5.0, connect_timeout_s=2.0) as client:
        return await binance.klines_fetch(client, base_url="https://api.binance.com", interval="1h", limit=2)


def test_okx_candles_parse_newest_first_rows_into_oldest_first_candles() -> None:
    candles = okx.candles_parse(fx.okx_candles(NOW))

    assert [c.open_time for c in candles] == [
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    ]
    assert candles[0].low == Decimal("66900.0")
    assert candles[1].volume_btc == Decimal("301.5")


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
