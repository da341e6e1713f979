"""OKX: `/api/v5/market/ticker` for the price and 24 h volume, `/api/v5/market/candles` for candles.

Every answer is `{"code": "0", "msg": "", "data": [...]}`; a non-zero code is an error even with
HTTP 200 (for example 51001, unknown instrument), and 50011 with HTTP 429 is the rate limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from .base import (
    Candle,
    ErrorKind,
    PriceQuote,
    SourceError,
    as_list,
    as_mapping,
    candles_check,
    epoch_to_datetime,
    fresh,
    get_json,
    price_usd,
    require,
    volume_btc,
)

NAME = "okx"
INST_ID = "BTC-USDT"
_RATE_LIMIT_CODES = {"50011", "50061"}


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and "code" in body:
        return f"{body.get('msg') or 'error'} (code {body['code']})"
    return None


def _data(body: object) -> list[object]:
    envelope = as_mapping(body, "body")
    code = str(require(envelope, "code", "body"))
    if code != "0":
        kind = ErrorKind.RATE_LIMITED if code in _RATE_LIMIT_CODES else ErrorKind.UPSTREAM_ERROR
        raise SourceError(kind, f"{envelope.get('msg') or 'error'} (code {code})")
    return as_list(require(envelope, "data", "body"), "data")


def ticker_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    data = _data(body)
    if not data:
        raise SourceError(ErrorKind.MALFORMED, "ticker data is empty")
    ticker = as_mapping(data[0], "ticker")
    if ticker.get("instId") != INST_ID:
        raise SourceError(ErrorKind.MALFORMED, f"ticker is for {ticker.get('instId')!r}, not {INST_ID}")
    price = price_usd(require(ticker, "last", "ticker"), "last")
    # For spot instruments vol24h is in the base currency (BTC); volCcy24h is in USDT.
    volume = volume_btc(require(ticker, "vol24h", "ticker"), "vol24h")
    observed_at = epoch_to_datetime(require(ticker, "ts", "ticker"), "ts", unit_seconds=1e-3)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="ts")
    return PriceQuote(price_usd=price, volume_24h_btc=volume, observed_at=observed_at)


async def ticker_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> PriceQuote:
    body = await get_json(client, f"{base_url}/api/v5/market/ticker", params={"instId": INST_ID}, error_text=error_text)
    return ticker_parse(body, now=now, max_age_s=max_age_s)


def candles_parse(body: object) -> list[Candle]:
    """Rows are [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm], newest first; returned oldest first.

    `confirm` is "0" for the candle still trading and "1" once it is complete.
    """
    candles = []
    for index, raw in enumerate(_data(body)):
        row = as_list(raw, f"candle {index}")
        if len(row) < 9:
            raise SourceError(ErrorKind.MALFORMED, f"candle {index} has {len(row)} fields")
        low, high = price_usd(row[3], f"candle {index} low"), price_usd(row[2], f"candle {index} high")
        if low > high:
            raise SourceError(ErrorKind.OUT_OF_RANGE, f"candle {index} low {low} is above high {high}")
        if row[8] not in ("0", "1"):
            raise SourceError(ErrorKind.MALFORMED, f'candle {index} confirm is {row[8]!r}, not "0" or "1"')
        candles.append(
            Candle(
                open_time=epoch_to_datetime(row[0], f"candle {index} ts", unit_seconds=1e-3),
                open=price_usd(row[1], f"candle {index} open"),
                high=high,
                low=low,
                close=price_usd(row[4], f"candle {index} close"),
                volume_btc=volume_btc(row[5], f"candle {index} vol"),
                closed=row[8] == "1",
            )
        )
    return sorted(candles, key=lambda candle: candle.open_time)


# Our interval names to OKX bars. OKX's plain "1D" opens at Hong Kong midnight (16:00 UTC); "1Dutc"
# is the UTC day that every other daily series here uses. Hourly bars are the same in any zone.
BARS = {"1d": "1Dutc", "1h": "1H"}
_STEPS = {"1d": timedelta(days=1), "1h": timedelta(hours=1)}
# The most /api/v5/market/candles returns per request.
MAX_LIMIT = 300


async def candles_fetch(client: httpx.AsyncClient, *, base_url: str, interval: str, limit: int) -> list[Candle]:
    """The last `limit` (at most 300) candles of BTC-USDT at `interval` ("1d" or "1h"), oldest first."""
    body = await get_json(
        client,
        f"{base_url}/api/v5/market/candles",
        params={"instId": INST_ID, "bar": BARS[interval], "limit": min(limit, MAX_LIMIT)},
        error_text=error_text,
    )
    return candles_check(candles_parse(body), step=_STEPS[interval], what=f"candles {interval}")
