"""Binance spot: `/api/v3/ticker/24hr` for the price and 24 h volume, `/api/v3/klines` for candles.

BTCUSDT stands for BTC/USD here: the tether's deviation from the dollar is far below the outlier limit.
Errors come as `{"code": -1121, "msg": "Invalid symbol."}`; too many requests as HTTP 429 (code -1003).
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

NAME = "binance"
SYMBOL = "BTCUSDT"


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("msg"), str):
        return f"{body['msg']} (code {body.get('code')})"
    return None


def ticker_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    ticker = as_mapping(body, "ticker")
    if ticker.get("symbol") != SYMBOL:
        raise SourceError(ErrorKind.MALFORMED, f"ticker is for {ticker.get('symbol')!r}, not {SYMBOL}")
    price = price_usd(require(ticker, "lastPrice", "ticker"), "lastPrice")
    volume = volume_btc(require(ticker, "volume", "ticker"), "volume")  # base asset: BTC
    # closeTime is the end of the rolling 24 h window, i.e. when the figures were computed.
    observed_at = epoch_to_datetime(require(ticker, "closeTime", "ticker"), "closeTime", unit_seconds=1e-3)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="closeTime")
    return PriceQuote(price_usd=price, volume_24h_btc=volume, observed_at=observed_at)


async def ticker_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> PriceQuote:
    body = await get_json(client, f"{base_url}/api/v3/ticker/24hr", params={"symbol": SYMBOL}, error_text=error_text)
    return ticker_parse(body, now=now, max_age_s=max_age_s)


def klines_parse(body: object, *, now: datetime) -> list[Candle]:
    """Klines are arrays: [open time ms, open, high, low, close, volume, close time ms, ...], oldest first.

    The last kline is the one still trading; it is marked open until its close time has passed.
    """
    candles = []
    for index, raw in enumerate(as_list(body, "klines")):
        row = as_list(raw, f"kline {index}")
        if len(row) < 7:
            raise SourceError(ErrorKind.MALFORMED, f"kline {index} has {len(row)} fields")
        low, high = price_usd(row[3], f"kline {index} low"), price_usd(row[2], f"kline {index} high")
        if low > high:
            raise SourceError(ErrorKind.OUT_OF_RANGE, f"kline {index} low {low} is above high {high}")
        open_time = epoch_to_datetime(row[0], f"kline {index} open time", unit_seconds=1e-3)
        close_time = epoch_to_datetime(row[6], f"kline {index} close time", unit_seconds=1e-3)
        if close_time <= open_time:
            raise SourceError(ErrorKind.MALFORMED, f"kline {index} closes before it opens")
        candles.append(
            Candle(
                open_time=open_time,
                open=price_usd(row[1], f"kline {index} open"),
                high=high,
                low=low,
                close=price_usd(row[4], f"kline {index} close"),
                volume_btc=volume_btc(row[5], f"kline {index} volume"),
                closed=close_time < now,
            )
        )
    return candles


# Our interval names to Binance's; both are UTC-aligned (Binance's default time zone is UTC).
INTERVALS = {"1d": "1d", "1h": "1h"}
_STEPS = {"1d": timedelta(days=1), "1h": timedelta(hours=1)}


async def klines_fetch(
    client: httpx.AsyncClient, *, base_url: str, interval: str, limit: int, now: datetime
) -> list[Candle]:
    """The last `limit` klines of BTCUSDT at `interval` ("1d" or "1h"), oldest first."""
    body = await get_json(
        client,
        f"{base_url}/api/v3/klines",
        params={"symbol": SYMBOL, "interval": INTERVALS[interval], "limit": limit},
        error_text=error_text,
    )
    return candles_check(klines_parse(body, now=now), step=_STEPS[interval], what=f"klines {interval}")
