"""Deribit JSON-RPC over HTTP: `/api/v2/public/get_index_price?index_name=btc_usd`.

The BTC index is Deribit's own average of spot exchanges; it has no volume. Success is
`{"jsonrpc": "2.0", "result": {"index_price": ..., "estimated_delivery_price": ...}, "usIn": ...,
"usOut": ..., "usDiff": ..., "testnet": false}`; failure carries `"error": {"code", "message"}`
(10028 is too_many_requests, sent with HTTP 429).
"""

from __future__ import annotations

from datetime import datetime

import httpx

from .base import (
    ErrorKind,
    PriceQuote,
    SourceError,
    as_mapping,
    epoch_to_datetime,
    fresh,
    get_json,
    price_usd,
    require,
)

NAME = "deribit"
INDEX_NAME = "btc_usd"
_TOO_MANY_REQUESTS = 10028


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('message') or 'error'} (code {error.get('code')})"
    return None


def index_price_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    envelope = as_mapping(body, "body")
    if "error" in envelope:
        error = as_mapping(envelope["error"], "error")
        kind = ErrorKind.RATE_LIMITED if error.get("code") == _TOO_MANY_REQUESTS else ErrorKind.UPSTREAM_ERROR
        raise SourceError(kind, f"{error.get('message') or 'error'} (code {error.get('code')})")
    result = as_mapping(require(envelope, "result", "body"), "result")
    price = price_usd(require(result, "index_price", "result"), "index_price")
    # usOut is the server's clock (microseconds) when it sent the answer.
    observed_at = epoch_to_datetime(require(envelope, "usOut", "body"), "usOut", unit_seconds=1e-6)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="usOut")
    return PriceQuote(price_usd=price, volume_24h_btc=None, observed_at=observed_at)


async def index_price_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> PriceQuote:
    body = await get_json(
        client,
        f"{base_url}/api/v2/public/get_index_price",
        params={"index_name": INDEX_NAME},
        error_text=error_text,
    )
    return index_price_parse(body, now=now, max_age_s=max_age_s)
