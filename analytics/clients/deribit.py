"""Deribit JSON-RPC over HTTP: `/api/v2/public/get_index_price?index_name=btc_usd`.

The BTC index is Deribit's own average of spot exchanges; it has no volume. Success is
`{"jsonrpc": "2.0", "result": {"index_price": ..., "estimated_delivery_price": ...}, "usIn": ...,
"usOut": ..., "usDiff": ..., "testnet": false}`; failure carries `"error": {"code", "message"}`
(10028 is too_many_requests, sent with HTTP 429).

The options summary, `/api/v2/public/get_book_summary_by_currency?currency=BTC&kind=option`, answers
the same envelope with `result` a list of one summary per option (`instrument_name` such as
"BTC-27MAR26-70000-C", `open_interest` and `volume` in contracts of 1 BTC, `volume_usd`, prices...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import httpx

from .base import (
    MAX_VOLUME_BTC,
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

NAME = "deribit"
INDEX_NAME = "btc_usd"
_TOO_MANY_REQUESTS = 10028


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('message') or 'error'} (code {error.get('code')})"
    return None


def _envelope(body: object) -> Mapping[str, object]:
    """The JSON-RPC envelope of a successful answer; its error as a SourceError otherwise."""
    envelope = as_mapping(body, "body")
    if "error" in envelope:
        error = as_mapping(envelope["error"], "error")
        kind = ErrorKind.RATE_LIMITED if error.get("code") == _TOO_MANY_REQUESTS else ErrorKind.UPSTREAM_ERROR
        raise SourceError(kind, f"{error.get('message') or 'error'} (code {error.get('code')})")
    return envelope


def index_price_parse(body: object, *, now: datetime, max_age_s: float) -> PriceQuote:
    envelope = _envelope(body)
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


OPTIONS_NAME = "deribit_options"
CURRENCY = "BTC"


@dataclass(frozen=True)
class OptionsSummary:
    """Deribit's BTC options market in one figure set: open interest and 24 h volume, calls against puts.

    Open interest and volume are in BTC (one contract is one BTC); a ratio is None when it has no calls.
    """

    observed_at: datetime
    instruments: int
    open_interest_btc: Decimal
    call_open_interest_btc: Decimal
    put_open_interest_btc: Decimal
    volume_24h_btc: Decimal
    call_volume_24h_btc: Decimal
    put_volume_24h_btc: Decimal
    volume_24h_usd: Decimal | None

    @property
    def put_call_open_interest_ratio(self) -> float | None:
        if not self.call_open_interest_btc:
            return None
        return float(self.put_open_interest_btc / self.call_open_interest_btc)

    @property
    def put_call_volume_ratio(self) -> float | None:
        if not self.call_volume_24h_btc:
            return None
        return float(self.put_volume_24h_btc / self.call_volume_24h_btc)


def _option_side(name: object, what: str) -> str:
    """ "C" or "P" from an option name "BTC-<expiry>-<strike>-<C|P>"."""
    if not isinstance(name, str):
        raise SourceError(ErrorKind.MALFORMED, f"{what} instrument_name is not a string: {name!r}")
    parts = name.split("-")
    if len(parts) != 4 or parts[0] != CURRENCY or parts[3] not in ("C", "P"):
        raise SourceError(ErrorKind.MALFORMED, f"{what} instrument_name {name!r} is not a BTC option")
    return parts[3]


def options_summary_parse(body: object, *, now: datetime, max_age_s: float) -> OptionsSummary:
    envelope = _envelope(body)
    items = as_list(require(envelope, "result", "body"), "result")
    if not items:
        raise SourceError(ErrorKind.MALFORMED, "result lists no options")
    observed_at = epoch_to_datetime(require(envelope, "usOut", "body"), "usOut", unit_seconds=1e-6)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="usOut")
    open_interest = {"C": Decimal(0), "P": Decimal(0)}
    volume = {"C": Decimal(0), "P": Decimal(0)}
    volume_usd: Decimal | None = None
    for index, raw in enumerate(items):
        what = f"option {index}"
        item = as_mapping(raw, what)
        side = _option_side(require(item, "instrument_name", what), what)
        open_interest[side] += non_negative(
            require(item, "open_interest", what), f"{what} open_interest", high=MAX_VOLUME_BTC
        )
        volume[side] += non_negative(require(item, "volume", what), f"{what} volume", high=MAX_VOLUME_BTC)
        if item.get("volume_usd") is not None:
            usd = non_negative(item["volume_usd"], f"{what} volume_usd", high=MAX_VOLUME_USD)
            volume_usd = usd if volume_usd is None else volume_usd + usd
    return OptionsSummary(
        observed_at=observed_at,
        instruments=len(items),
        open_interest_btc=open_interest["C"] + open_interest["P"],
        call_open_interest_btc=open_interest["C"],
        put_open_interest_btc=open_interest["P"],
        volume_24h_btc=volume["C"] + volume["P"],
        call_volume_24h_btc=volume["C"],
        put_volume_24h_btc=volume["P"],
        volume_24h_usd=volume_usd,
    )


async def options_summary_fetch(
    client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float
) -> OptionsSummary:
    body = await get_json(
        client,
        f"{base_url}/api/v2/public/get_book_summary_by_currency",
        params={"currency": CURRENCY, "kind": "option"},
        error_text=error_text,
    )
    return options_summary_parse(body, now=now, max_age_s=max_age_s)
