"""CoinGecko: `/api/v3/simple/price` (price, 24 h volume, last update) and `/api/v3/coins/markets`.

CoinGecko aggregates many exchanges; its 24 h volume is in US dollars and already contains the
exchanges this platform reads directly, so it is converted to BTC but never added to their total.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from .base import (
    MAX_VOLUME_USD,
    ErrorKind,
    PriceQuote,
    SourceError,
    as_list,
    as_mapping,
    epoch_to_datetime,
    fresh,
    get_json,
    non_negative,
    price_usd,
    require,
)

NAME = "coingecko"
COIN_ID = "bitcoin"


def error_text(body: object) -> str | None:
    """The message of a documented error body: `{"status": {"error_message": ...}}` or `{"error": ...}`."""
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if isinstance(status, dict) and isinstance(status.get("error_message"), str):
        return str(status["error_message"])
    error = body.get("error")
    return error if isinstance(error, str) else None


def simple_price_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    coins = as_mapping(body, "simple price body")
    if COIN_ID not in coins:
        raise SourceError(ErrorKind.MALFORMED, f"simple price body has no {COIN_ID}")
    coin = as_mapping(coins[COIN_ID], COIN_ID)
    price = price_usd(require(coin, "usd", COIN_ID), "usd")
    observed_at = epoch_to_datetime(require(coin, "last_updated_at", COIN_ID), "last_updated_at", unit_seconds=1)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="last_updated_at")
    volume_usd = coin.get("usd_24h_vol")
    volume = None if volume_usd is None else non_negative(volume_usd, "usd_24h_vol", high=MAX_VOLUME_USD) / price
    return PriceQuote(price_usd=price, volume_24h_btc=volume, observed_at=observed_at, volume_is_aggregate=True)


async def simple_price_fetch(
    client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float
) -> PriceQuote:
    body = await get_json(
        client,
        f"{base_url}/api/v3/simple/price",
        params={
            "ids": COIN_ID,
            "vs_currencies": "usd",
            "include_24hr_vol": "true",
            "include_last_updated_at": "true",
        },
        error_text=error_text,
    )
    return simple_price_parse(body, now=now, max_age_s=max_age_s)


def markets_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    rows = as_list(body, "markets body")
    coin = next((as_mapping(row, "market") for row in rows if isinstance(row, dict) and row.get("id") == COIN_ID), None)
    if coin is None:
        raise SourceError(ErrorKind.MALFORMED, f"markets body has no {COIN_ID}")
    price = price_usd(require(coin, "current_price", "market"), "current_price")
    updated = require(coin, "last_updated", "market")
    if not isinstance(updated, str):
        raise SourceError(ErrorKind.MALFORMED, "last_updated is not a string")
    try:
        observed_at = datetime.fromisoformat(updated)
    except ValueError as exc:
        raise SourceError(ErrorKind.MALFORMED, f"last_updated is not ISO 8601: {updated!r}") from exc
    if observed_at.tzinfo is None:
        raise SourceError(ErrorKind.MALFORMED, f"last_updated has no time zone: {updated!r}")
    fresh(observed_at, now=now, max_age_s=max_age_s, what="last_updated")
    volume = non_negative(require(coin, "total_volume", "market"), "total_volume", high=MAX_VOLUME_USD) / price
    return PriceQuote(price_usd=price, volume_24h_btc=volume, observed_at=observed_at, volume_is_aggregate=True)


async def markets_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> PriceQuote:
    body = await get_json(
        client,
        f"{base_url}/api/v3/coins/markets",
        params={"vs_currency": "usd", "ids": COIN_ID},
        error_text=error_text,
    )
    return markets_parse(body, now=now, max_age_s=max_age_s)
