"""Bybit v5: `/v5/market/tickers?category=spot&symbol=BTCUSDT`.

Answers are `{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": ms}`; a non-zero
retCode is an error even with HTTP 200 (10001 bad parameters, 10006 too many visits).
"""

from __future__ import annotations

from datetime import datetime

import httpx

from .base import (
    ErrorKind,
    PriceQuote,
    SourceError,
    as_list,
    as_mapping,
    epoch_to_datetime,
    fresh,
    get_json,
    price_usd,
    require,
    volume_btc,
)

NAME = "bybit"
SYMBOL = "BTCUSDT"
_RATE_LIMIT_CODES = {10006, 10018}


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and "retCode" in body:
        return f"{body.get('retMsg') or 'error'} (retCode {body['retCode']})"
    return None


def ticker_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    envelope = as_mapping(body, "body")
    code = require(envelope, "retCode", "body")
    if code != 0:
        kind = ErrorKind.RATE_LIMITED if code in _RATE_LIMIT_CODES else ErrorKind.UPSTREAM_ERROR
        raise SourceError(kind, f"{envelope.get('retMsg') or 'error'} (retCode {code})")
    result = as_mapping(require(envelope, "result", "body"), "result")
    rows = as_list(require(result, "list", "result"), "list")
    ticker = next(
        (as_mapping(row, "ticker") for row in rows if isinstance(row, dict) and row.get("symbol") == SYMBOL), None
    )
    if ticker is None:
        raise SourceError(ErrorKind.MALFORMED, f"tickers list has no {SYMBOL}")
    price = price_usd(require(ticker, "lastPrice", "ticker"), "lastPrice")
    volume = volume_btc(require(ticker, "volume24h", "ticker"), "volume24h")  # base coin: BTC
    observed_at = epoch_to_datetime(require(envelope, "time", "body"), "time", unit_seconds=1e-3)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="time")
    return PriceQuote(price_usd=price, volume_24h_btc=volume, observed_at=observed_at)


async def ticker_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> PriceQuote:
    body = await get_json(
        client,
        f"{base_url}/v5/market/tickers",
        params={"category": "spot", "symbol": SYMBOL},
        error_text=error_text,
    )
    return ticker_parse(body, now=now, max_age_s=max_age_s)
