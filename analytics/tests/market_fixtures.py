"""Answers shaped exactly like each market and network API documents them, and a local server for them.

Bodies are built around a given `now` so their own timestamps are fresh (or deliberately stale). The
`FixtureServer` serves every source from one loopback port under a per-source path prefix, each source
with its own latency, so tests and benchmarks can time real concurrent HTTP.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

COINGECKO_PRICE = 67187.33
BINANCE_PRICE = "67201.55000000"
OKX_PRICE = "67195.4"
BYBIT_PRICE = "67199.10"
DERIBIT_INDEX = 67190.12
DIFFICULTY = 110568428300952.7
MEMPOOL_HASHRATE_HS = 8.123456789e20  # H/s
BLOCKCHAIN_HASHRATE_GHS = 812345678901.2  # GH/s
TIP_HEIGHT = 890123


def _ms(now: datetime, ago_s: float = 0.0) -> int:
    return int((now.timestamp() - ago_s) * 1000)


def coingecko_simple_price(now: datetime, *, ago_s: float = 30, usd: object = COINGECKO_PRICE) -> object:
    return {"bitcoin": {"usd": usd, "usd_24h_vol": 31260929299.52, "last_updated_at": int(now.timestamp() - ago_s)}}


def coingecko_markets(now: datetime) -> object:
    updated = datetime.fromtimestamp(now.timestamp() - 40, tz=now.tzinfo).isoformat(timespec="milliseconds")
    return [
        {
            "id": "bitcoin",
            "symbol": "btc",
            "name": "Bitcoin",
            "image": "https://coin-images.coingecko.com/coins/images/1/large/bitcoin.png?1696501400",
            "current_price": 67187.33,
            "market_cap": 1323456789012,
            "market_cap_rank": 1,
            "fully_diluted_valuation": 1411234567890,
            "total_volume": 31260929299.52,
            "high_24h": 68012.11,
            "low_24h": 66410.02,
            "price_change_24h": 512.4,
            "price_change_percentage_24h": 0.76851,
            "market_cap_change_24h": 10123456789.0,
            "market_cap_change_percentage_24h": 0.77,
            "circulating_supply": 19812345.0,
            "total_supply": 21000000.0,
            "max_supply": 21000000.0,
            "ath": 108786,
            "ath_change_percentage": -38.2,
            "ath_date": "2025-01-20T09:11:54.494Z",
            "atl": 67.81,
            "atl_change_percentage": 99000.1,
            "atl_date": "2013-07-06T00:00:00.000Z",
            "roi": None,
            "last_updated": updated.replace("+00:00", "Z"),
        }
    ]


COINGECKO_RATE_LIMIT = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing "
        "to subscribe to our API plans for higher rate limits.",
    }
}


def binance_ticker(now: datetime, *, ago_s: float = 1, last_price: str = BINANCE_PRICE) -> object:
    close_ms = _ms(now, ago_s)
    return {
        "symbol": "BTCUSDT",
        "priceChange": "512.44000000",
        "priceChangePercent": "0.769",
        "weightedAvgPrice": "67050.12345678",
        "prevClosePrice": "66689.11000000",
        "lastPrice": last_price,
        "lastQty": "0.00150000",
        "bidPrice": "67201.54000000",
        "bidQty": "3.21000000",
        "askPrice": "67201.55000000",
        "askQty": "0.41000000",
        "openPrice": "66689.11000000",
        "highPrice": "68020.00000000",
        "lowPrice": "66400.00000000",
        "volume": "18234.56789000",
        "quoteVolume": "1222654321.12345678",
        "openTime": close_ms - 86_400_000,
        "closeTime": close_ms,
        "firstId": 4512345678,
        "lastId": 4514345678,
        "count": 2000001,
    }


def binance_klines(now: datetime) -> object:
    start = _ms(now, 3 * 3600) // 3_600_000 * 3_600_000
    rows = []
    for i, (o, h, low, c) in enumerate(
        [("67000.00", "67350.00", "66900.10", "67300.50"), ("67300.50", "67400.00", "67100.00", "67150.00")]
    ):
        open_ms = start + i * 3_600_000
        rows.append(
            [open_ms, o, h, low, c, "812.34500000", open_ms + 3_599_999, "54567890.1", 51234, "400.1", "2.7e7", "0"]
        )
    return rows


def _series_opens(now: datetime, interval_s: int, count: int) -> list[int]:
    """Open times (ms) of `count` consecutive candles, oldest first, the last one containing `now`."""
    current = int(now.timestamp()) // interval_s * interval_s
    return [(current - (count - 1 - i) * interval_s) * 1000 for i in range(count)]


def _ohlc(i: int) -> tuple[str, str, str, str]:
    base = 67000 + 100 * i
    return f"{base}.10", f"{base + 250}.00", f"{base - 150}.50", f"{base + 60}.25"


def binance_klines_series(now: datetime, *, interval_s: int, count: int) -> object:
    """`count` klines oldest first; the last is the one still trading (its close time is ahead of `now`)."""
    rows = []
    for i, open_ms in enumerate(_series_opens(now, interval_s, count)):
        o, h, low, c = _ohlc(i)
        close_ms = open_ms + interval_s * 1000 - 1
        rows.append([open_ms, o, h, low, c, f"{800 + i}.12345678", close_ms, "5.4e7", 51234, "400.1", "2.7e7", "0"])
    return rows


BINANCE_INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
BINANCE_RATE_LIMIT = {
    "code": -1003,
    "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use the "
    "websocket for live updates to avoid polling the API.",
}


def okx_ticker(now: datetime, *, last: str = OKX_PRICE) -> object:
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instType": "SPOT",
                "instId": "BTC-USDT",
                "last": last,
                "lastSz": "0.00012",
                "askPx": "67195.5",
                "askSz": "0.62",
                "bidPx": "67195.4",
                "bidSz": "1.03",
                "open24h": "66701.2",
                "high24h": "68011.9",
                "low24h": "66405.1",
                "volCcy24h": "412345678.91",
                "vol24h": "6123.4567",
                "ts": str(_ms(now, 0.5)),
                "sodUtc0": "66912.3",
                "sodUtc8": "67010.8",
            }
        ],
    }


def okx_candles(now: datetime) -> object:
    start = _ms(now, 3 * 3600) // 3_600_000 * 3_600_000
    # Newest first, as OKX sends them.
    return {
        "code": "0",
        "msg": "",
        "data": [
            [str(start + 3_600_000), "67300.1", "67401.0", "67100.2", "67149.9", "301.5", "301.5", "20245678.1", "1"],
            [str(start), "67000.2", "67349.8", "66900.0", "67300.1", "288.25", "288.25", "19345678.9", "1"],
        ],
    }


def okx_candles_series(now: datetime, *, interval_s: int, count: int, offset_s: int = 0) -> object:
    """`count` candles newest first, as OKX sends them; the newest is still trading (confirm "0").

    `offset_s` shifts every open time, e.g. -8 h for the Hong Kong day OKX's plain "1D" bar uses.
    """
    rows = []
    opens = _series_opens(now, interval_s, count)
    for i, open_ms in enumerate(opens):
        o, h, low, c = _ohlc(i)
        confirm = "0" if i == count - 1 else "1"
        rows.append([str(open_ms + offset_s * 1000), o, h, low, c, f"{300 + i}.5", f"{300 + i}.5", "2.0e7", confirm])
    return {"code": "0", "msg": "", "data": rows[::-1]}


OKX_UNKNOWN_INSTRUMENT = {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
OKX_RATE_LIMIT = {"code": "50011", "msg": "Too Many Requests", "data": []}


def bybit_tickers(now: datetime, *, last: str = BYBIT_PRICE) -> object:
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "category": "spot",
            "list": [
                {
                    "symbol": "BTCUSDT",
                    "bid1Price": "67199.0",
                    "bid1Size": "0.812",
                    "ask1Price": "67199.1",
                    "ask1Size": "0.204",
                    "lastPrice": last,
                    "prevPrice24h": "66700.5",
                    "price24hPcnt": "0.0075",
                    "highPrice24h": "68015.0",
                    "lowPrice24h": "66402.3",
                    "turnover24h": "301234567.89",
                    "volume24h": "4512.345678",
                    "usdIndexPrice": "67190.03",
                }
            ],
        },
        "retExtInfo": {},
        "time": _ms(now, 0.2),
    }


def bybit_error(now: datetime, *, code: int = 10001, message: str = "Not supported symbols") -> object:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": _ms(now)}


def deribit_index(now: datetime, *, index_price: float = DERIBIT_INDEX) -> object:
    us_out = int(now.timestamp() * 1_000_000) - 100_000
    return {
        "jsonrpc": "2.0",
        "result": {"index_price": index_price, "estimated_delivery_price": index_price},
        "usIn": us_out - 312,
        "usOut": us_out,
        "usDiff": 312,
        "testnet": False,
    }


def deribit_error(now: datetime, *, code: int = -32602, message: str = "Invalid params") -> object:
    us_out = int(now.timestamp() * 1_000_000)
    return {
        "jsonrpc": "2.0",
        "error": {"message": message, "data": {"reason": "wrong format", "param": "index_name"}, "code": code},
        "testnet": False,
        "usIn": us_out - 200,
        "usOut": us_out,
        "usDiff": 200,
    }


# Deribit's BTC options, one summary per instrument: (name, open interest, 24 h volume, 24 h volume USD).
DERIBIT_OPTIONS = [
    ("BTC-27MAR26-70000-C", 512.3, 120.4, 331250.12),
    ("BTC-27MAR26-60000-P", 830.5, 95.1, 210004.5),
    ("BTC-26JUN26-90000-C", 1204.7, 10.5, 14020.0),
    ("BTC-3MAR26-65000-P", 0.0, 0.0, 0.0),
]


def deribit_options_summary(now: datetime) -> object:
    us_out = int(now.timestamp() * 1_000_000) - 150_000
    result = []
    for name, open_interest, volume, volume_usd in DERIBIT_OPTIONS:
        quiet = volume == 0
        result.append(
            {
                "volume": volume,
                "underlying_price": 67250.5,
                "underlying_index": "BTC-" + name.split("-")[1],
                "quote_currency": "BTC",
                "price_change": None if quiet else -3.1746,
                "open_interest": open_interest,
                "mid_price": 0.0415,
                "mark_price": 0.0412,
                "mark_iv": 48.52,
                "low": None if quiet else 0.04,
                "last": None if quiet else 0.041,
                "interest_rate": 0.0,
                "instrument_name": name,
                "high": None if quiet else 0.043,
                "estimated_delivery_price": DERIBIT_INDEX,
                "creation_timestamp": us_out // 1000,
                "bid_price": 0.041,
                "base_currency": "BTC",
                "ask_price": 0.042,
                "volume_usd": volume_usd,
            }
        )
    return {
        "jsonrpc": "2.0",
        "result": result,
        "usIn": us_out - 2812,
        "usOut": us_out,
        "usDiff": 2812,
        "testnet": False,
    }


def blockchain_stats(now: datetime, *, ago_s: float = 60) -> object:
    return {
        "timestamp": float(_ms(now, ago_s)),
        "market_price_usd": 67180.0,
        "hash_rate": BLOCKCHAIN_HASHRATE_GHS,
        "total_fees_btc": 612345678,
        "n_btc_mined": 45000000000,
        "n_tx": 412345,
        "n_blocks_mined": 144,
        "minutes_between_blocks": 9.87,
        "totalbc": 1981234375000000,
        "n_blocks_total": TIP_HEIGHT,
        "estimated_transaction_volume_usd": 4123456789.12,
        "blocks_size": 245678901,
        "miners_revenue_usd": 33123456.78,
        "nextretarget": 891071,
        "difficulty": DIFFICULTY,
        "estimated_btc_sent": 6123456789012,
        "miners_revenue_btc": 493,
        "total_btc_sent": 61234567890123,
        "trade_volume_btc": 21345.67,
        "trade_volume_usd": 1434012345.67,
    }


def mempool_hashrate(now: datetime) -> object:
    day = int(now.timestamp()) // 86400 * 86400
    return {
        "hashrates": [
            {"timestamp": day - 2 * 86400, "avgHashrate": 8.01e20},
            {"timestamp": day - 86400, "avgHashrate": 8.09e20},
            {"timestamp": day, "avgHashrate": 8.11e20},
        ],
        "difficulty": [{"time": day - 5 * 86400, "height": 889056, "difficulty": DIFFICULTY, "adjustment": 1.0142}],
        "currentHashrate": MEMPOOL_HASHRATE_HS,
        "currentDifficulty": DIFFICULTY,
    }


def mempool_difficulty_adjustment(now: datetime) -> object:
    return {
        "progressPercent": 52.926587301587304,
        "difficultyChange": 1.8312345,
        "estimatedRetargetDate": _ms(now, -6.5 * 86400),
        "remainingBlocks": 949,
        "remainingTime": 561234000,
        "previousRetarget": 1.0142,
        "previousTime": int(now.timestamp() - 7 * 86400),
        "nextRetargetHeight": 891072,
        "timeAvg": 589234,
        "adjustedTimeAvg": 591402,
        "timeOffset": 0,
        "expectedBlocks": 1078.3,
    }


# Fifteen recent blocks, newest first; their total fees run from 24,000,000 down to 10,000,000 sat.
MEMPOOL_BLOCK_COUNT = 15


def mempool_blocks(now: datetime, *, tip: int = TIP_HEIGHT) -> list[dict[str, object]]:
    blocks: list[dict[str, object]] = []
    for i in range(MEMPOOL_BLOCK_COUNT):
        at = int(now.timestamp()) - 120 - i * 600
        total_fees = 10_000_000 + (MEMPOOL_BLOCK_COUNT - 1 - i) * 1_000_000
        blocks.append(
            {
                "id": f"{0xABC000 + i:064x}",
                "height": tip - i,
                "version": 536870912,
                "timestamp": at,
                "bits": 386089497,
                "nonce": 1234567 + i,
                "difficulty": DIFFICULTY,
                "merkle_root": f"{0xDEF000 + i:064x}",
                "tx_count": 3500 + i,
                "size": 1612345,
                "weight": 3993012,
                "previousblockhash": f"{0xABC000 + i + 1:064x}",
                "mediantime": at - 3000,
                "stale": False,
                "extras": {
                    "reward": 312_500_000 + total_fees,
                    "coinbaseRaw": "03cb950d04a1b2c3d4",
                    "orphans": [],
                    "medianFee": 3.02,
                    "feeRange": [1.0, 2.0, 2.5, 3.0, 4.1, 6.0, 150.2],
                    "totalFees": total_fees,
                    "avgFee": total_fees // (3500 + i),
                    "avgFeeRate": 5,
                    "utxoSetChange": 1204,
                    "avgTxSize": 450.21,
                    "totalInputs": 7012,
                    "totalOutputs": 9030,
                    "totalOutputAmt": 512345678901,
                    "segwitTotalTxs": 3100,
                    "segwitTotalSize": 1400000,
                    "segwitTotalWeight": 3500000,
                    "header": "00000020" + "ab" * 76,
                    "utxoSetSize": None,
                    "totalInputAmt": None,
                    "virtualSize": 998253,
                    "firstSeen": at - 2,
                    "pool": {"id": 111, "name": "Foundry USA", "slug": "foundryusa"},
                    "matchRate": 100,
                    "expectedFees": total_fees + 10_000,
                    "expectedWeight": 3991000,
                    "similarity": 0.9951,
                },
            }
        )
    return blocks


# Names, units and descriptions as the charts API gives them for each chart.
BLOCKCHAIN_CHARTS = {
    "hash-rate": (
        "Total Hash Rate (TH/s)",
        "Hash Rate TH/s",
        "The estimated number of terahashes per second the bitcoin network is performing in the last 24 hours.",
    ),
    "difficulty": (
        "Difficulty",
        "Difficulty",
        "A relative measure of how difficult it is to mine a new block for the blockchain.",
    ),
    "transaction-fees": (
        "Total Transaction Fees (BTC)",
        "BTC",
        "The total BTC value of all transaction fees paid to miners. This does not include coinbase block rewards.",
    ),
}


def blockchain_chart(chart: str, points: list[tuple[int, float]], *, unit: str | None = None) -> dict[str, object]:
    """A charts API answer with the given (unix seconds, value) points."""
    name, default_unit, description = BLOCKCHAIN_CHARTS[chart]
    return {
        "status": "ok",
        "name": name,
        "unit": default_unit if unit is None else unit,
        "period": "day",
        "description": description,
        "values": [{"x": x, "y": y} for x, y in points],
    }


MEMPOOL_FEES = {"fastestFee": 12, "halfHourFee": 8, "hourFee": 6, "economyFee": 3, "minimumFee": 1}


@dataclass(frozen=True)
class Answer:
    status: int
    body: object  # JSON-encoded unless it is already text
    headers: Mapping[str, str] | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return json.dumps(self.body).encode(), "application/json"


# Every endpoint the aggregation asks, by source: path (under the source's base URL) to its answer.
def documented_answers(now: datetime) -> dict[str, dict[str, Answer]]:
    return {
        "coingecko": {"/api/v3/simple/price": Answer(200, coingecko_simple_price(now))},
        "binance": {"/api/v3/ticker/24hr": Answer(200, binance_ticker(now))},
        "okx": {"/api/v5/market/ticker": Answer(200, okx_ticker(now))},
        "bybit": {"/v5/market/tickers": Answer(200, bybit_tickers(now))},
        "deribit": {
            "/api/v2/public/get_index_price": Answer(200, deribit_index(now)),
            "/api/v2/public/get_book_summary_by_currency": Answer(200, deribit_options_summary(now)),
        },
        "blockchain_info": {"/stats": Answer(200, blockchain_stats(now))},
        "mempool_space": {
            "/api/v1/mining/hashrate/3d": Answer(200, mempool_hashrate(now)),
            "/api/v1/difficulty-adjustment": Answer(200, mempool_difficulty_adjustment(now)),
            "/api/blocks/tip/height": Answer(200, str(TIP_HEIGHT)),
            "/api/v1/fees/recommended": Answer(200, MEMPOOL_FEES),
            "/api/v1/blocks": Answer(200, mempool_blocks(now)),
        },
    }


SETTING_BY_SOURCE = {
    "coingecko": "MARKET_COINGECKO_URL",
    "binance": "MARKET_BINANCE_URL",
    "okx": "MARKET_OKX_URL",
    "bybit": "MARKET_BYBIT_URL",
    "deribit": "MARKET_DERIBIT_URL",
    "blockchain_info": "MARKET_BLOCKCHAIN_INFO_URL",
    "mempool_space": "MARKET_MEMPOOL_URL",
}


class FixtureServer:
    """One aiohttp server on 127.0.0.1 answering `/<source><path>` after that source's latency."""

    def __init__(self, answers: Mapping[str, Mapping[str, Answer]], latency_s: Mapping[str, float]) -> None:
        self.answers = answers
        self.latency_s = latency_s
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="market-fixture-server", daemon=True)

    def base_url(self, source: str) -> str:
        return f"http://127.0.0.1:{self.port}/{source}"

    async def _handle(self, request: web.Request) -> web.Response:
        source, _, rest = request.path.lstrip("/").partition("/")
        answer = self.answers.get(source, {}).get(f"/{rest}")
        await asyncio.sleep(self.latency_s.get(source, 0.0))
        if answer is None:
            return web.Response(status=404, text="not found")
        body, content_type = answer.encoded()
        return web.Response(status=answer.status, body=body, content_type=content_type, headers=answer.headers)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=512)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping out a latency longer than the client waited: end them here.
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def fixture_server(
    answers: Mapping[str, Mapping[str, Answer]], latency_s: Mapping[str, float]
) -> Iterator[FixtureServer]:
    server = FixtureServer(answers, latency_s)
    server.start()
    try:
        yield server
    finally:
        server.stop()
