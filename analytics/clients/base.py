"""What every market and network collector shares: the HTTP call, validation, and a typed outcome.

A collector is one coroutine that takes an `httpx.AsyncClient` and returns a parsed, validated value or
raises `SourceError`. `sources_collect` runs many of them at once, each inside its own time budget, and
turns every outcome (value or error) into a `SourceResult` with its latency: one source failing never
stops the others, and the whole run lasts about as long as the slowest source.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

import httpx

logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "mining-platform-analytics/1"


class ErrorKind:
    """Why a source gave no value; stored with its result so the status panel can tell them apart."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    RATE_LIMITED = "rate_limited"
    HTTP_ERROR = "http_error"
    UPSTREAM_ERROR = "upstream_error"  # HTTP 200 whose body says the call failed (OKX, Bybit)
    MALFORMED = "malformed"
    OUT_OF_RANGE = "out_of_range"
    STALE = "stale"
    UNEXPECTED = "unexpected"


class SourceError(Exception):
    """A source answered badly or not at all; `kind` is an ErrorKind value."""

    def __init__(self, kind: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class PriceQuote:
    """BTC in US dollars from one source; the volume is in BTC over the last 24 hours when known."""

    price_usd: Decimal
    volume_24h_btc: Decimal | None
    observed_at: datetime
    # An aggregator's volume (CoinGecko) already contains the exchanges' own, so it is not summed.
    volume_is_aggregate: bool = False


@dataclass(frozen=True)
class NetworkReading:
    """Bitcoin network figures from one source at one moment."""

    observed_at: datetime
    difficulty: Decimal
    hashrate_ths: float | None = None
    block_height: int | None = None
    fees_btc_per_day: Decimal | None = None
    avg_fee_per_block_btc: Decimal | None = None
    next_retarget_height: int | None = None
    difficulty_change_percent: float | None = None
    estimated_retarget_at: datetime | None = None
    fastest_fee_sat_vb: int | None = None
    half_hour_fee_sat_vb: int | None = None
    hour_fee_sat_vb: int | None = None
    economy_fee_sat_vb: int | None = None


@dataclass(frozen=True)
class Candle:
    """One OHLCV candle; the volume is in the base asset (BTC). `closed` is False while it still trades."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume_btc: Decimal
    closed: bool = True


@dataclass(frozen=True)
class SourceResult(Generic[T]):
    """One source's outcome in a run: its value or its error, with when it started and how long it took."""

    source: str
    value: T | None
    latency_s: float
    started_s: float  # since the run began; every source starting near 0 shows they ran at once
    error: str = ""
    error_kind: str = ""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def finished_s(self) -> float:
        return self.started_s + self.latency_s


@dataclass(frozen=True)
class SourceCall(Generic[T]):
    """A named collector ready to run: `fetch` receives the shared client."""

    source: str
    fetch: Callable[[httpx.AsyncClient], Awaitable[T]]


ErrorText = Callable[[object], str | None]


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    error_text: ErrorText | None = None,
) -> object:
    """GET `url` and return its JSON body, or raise SourceError naming what went wrong.

    `error_text` pulls the source's own error message out of a documented error body.
    """
    response = await _get(client, url, params=params)
    if response.status_code >= 400:
        body = _json_or_none(response)
        detail = (error_text(body) if error_text is not None and body is not None else None) or response.reason_phrase
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After")
            suffix = f" (retry after {retry_after} s)" if retry_after else ""
            raise SourceError(ErrorKind.RATE_LIMITED, f"HTTP 429: {detail}{suffix}", http_status=429)
        raise SourceError(
            ErrorKind.HTTP_ERROR, f"HTTP {response.status_code}: {detail}", http_status=response.status_code
        )
    try:
        return response.json()
    except ValueError as exc:
        raise SourceError(ErrorKind.MALFORMED, f"body is not JSON: {exc}", http_status=response.status_code) from exc


async def get_text(client: httpx.AsyncClient, url: str) -> str:
    """GET `url` and return its text body (mempool.space answers some calls in plain text)."""
    response = await _get(client, url, params=None)
    if response.status_code == 429:
        raise SourceError(ErrorKind.RATE_LIMITED, "HTTP 429: rate limited", http_status=429)
    if response.status_code >= 400:
        raise SourceError(
            ErrorKind.HTTP_ERROR,
            f"HTTP {response.status_code}: {response.text[:120] or response.reason_phrase}",
            http_status=response.status_code,
        )
    return response.text


async def _get(client: httpx.AsyncClient, url: str, *, params: Mapping[str, str | int] | None) -> httpx.Response:
    try:
        return await client.get(url, params=params)
    except httpx.TimeoutException as exc:
        raise SourceError(ErrorKind.TIMEOUT, f"timed out: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise SourceError(ErrorKind.CONNECT, f"transport error: {type(exc).__name__}: {exc}") from exc


# --- validation: every collector turns raw JSON into typed values through these -----------------------


def as_mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise SourceError(ErrorKind.MALFORMED, f"{what} is not an object")
    return value


def as_list(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise SourceError(ErrorKind.MALFORMED, f"{what} is not a list")
    return value


def require(data: Mapping[str, object], name: str, what: str) -> object:
    if name not in data:
        raise SourceError(ErrorKind.MALFORMED, f"{what} has no {name}")
    return data[name]


def as_decimal(value: object, what: str) -> Decimal:
    """A finite number given as JSON number or numeric string (exchanges send prices as strings)."""
    # bool is an int in Python; a JSON true is never a valid amount.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SourceError(ErrorKind.MALFORMED, f"{what} is not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise SourceError(ErrorKind.MALFORMED, f"{what} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise SourceError(ErrorKind.MALFORMED, f"{what} is not finite: {value!r}")
    return number


def as_int(value: object, what: str) -> int:
    number = as_decimal(value, what)
    if number != number.to_integral_value():
        raise SourceError(ErrorKind.MALFORMED, f"{what} is not an integer: {value!r}")
    return int(number)


def in_range(number: Decimal, what: str, *, low: Decimal, high: Decimal) -> Decimal:
    """The number itself when low < number <= high; anything else is out of range."""
    if not low < number <= high:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"{what} {number} is outside ({low}, {high}]")
    return number


def float_in_range(number: Decimal, what: str, *, low: float, high: float) -> float:
    value = float(number)
    if not (math.isfinite(value) and low < value <= high):
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"{what} {number} is outside ({low}, {high}]")
    return value


def epoch_to_datetime(value: object, what: str, *, unit_seconds: float) -> datetime:
    """A UTC datetime from an epoch count in units of `unit_seconds` (1e-3 for milliseconds)."""
    number = as_decimal(value, what)
    seconds = float(number) * unit_seconds
    if not 0 < seconds < 10**11:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"{what} {value!r} is not a plausible time")
    return datetime.fromtimestamp(seconds, tz=UTC)


def fresh(observed_at: datetime, *, now: datetime, max_age_s: float, what: str) -> datetime:
    """`observed_at` when it is no older than `max_age_s` (and not from the future beyond clock skew)."""
    age = (now - observed_at).total_seconds()
    if age > max_age_s:
        raise SourceError(ErrorKind.STALE, f"{what} is {age:.0f} s old (limit {max_age_s:.0f} s)")
    # Clocks differ a little; an answer minutes ahead of ours is broken, not fresh.
    if observed_at - now > timedelta(minutes=5):
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"{what} {observed_at.isoformat()} is in the future")
    return observed_at


# Plausibility bounds: far wider than any real value, narrow enough to catch a unit or field mix-up.
PRICE_USD_RANGE = (Decimal(100), Decimal(10_000_000))
MAX_VOLUME_BTC = Decimal(100_000_000)
MAX_VOLUME_USD = Decimal(10) ** 13
DIFFICULTY_RANGE = (Decimal(1), Decimal(10) ** 20)
HASHRATE_THS_RANGE = (0.0, 1e15)
BLOCK_HEIGHT_RANGE = (Decimal(0), Decimal(10_000_000))


def price_usd(value: object, what: str) -> Decimal:
    return in_range(as_decimal(value, what), what, low=PRICE_USD_RANGE[0], high=PRICE_USD_RANGE[1])


def non_negative(value: object, what: str, *, high: Decimal) -> Decimal:
    """A volume: zero is valid (a quiet market), negative or absurdly large is not."""
    number = as_decimal(value, what)
    if not Decimal(0) <= number <= high:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"{what} {number} is outside [0, {high}]")
    return number


def volume_btc(value: object, what: str) -> Decimal:
    return non_negative(value, what, high=MAX_VOLUME_BTC)


def candles_check(candles: Sequence[Candle], *, step: timedelta, what: str) -> list[Candle]:
    """Candles oldest first, each opening on a multiple of `step` since the epoch (UTC), no time twice.

    A daily candle opening at any hour but 00:00 UTC would be another day's bar (OKX's plain "1D" opens
    at 16:00 UTC, Hong Kong midnight): stored under "1d" it would shift every daily indicator.
    """
    ordered = sorted(candles, key=lambda candle: candle.open_time)
    seen: set[datetime] = set()
    for candle in ordered:
        if candle.open_time.timestamp() % step.total_seconds():
            raise SourceError(
                ErrorKind.MALFORMED, f"{what} candle at {candle.open_time.isoformat()} is not on a {step} boundary"
            )
        if candle.open_time in seen:
            raise SourceError(ErrorKind.MALFORMED, f"{what} has two candles at {candle.open_time.isoformat()}")
        seen.add(candle.open_time)
    return ordered


# --- running many sources at once ---------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building a context loads the CA bundle, tens of milliseconds: once per process, not once per run.
    return httpx.create_ssl_context()


def client_build(*, timeout_s: float, connect_timeout_s: float, max_connections: int = 20) -> httpx.AsyncClient:
    """The shared client of one run: explicit timeouts, pooled connections, a named user agent."""
    return httpx.AsyncClient(
        verify=_tls_context(),
        timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
        limits=httpx.Limits(max_connections=max_connections),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


async def _run_one(call: SourceCall[T], client: httpx.AsyncClient, timeout_s: float, t0: float) -> SourceResult[T]:
    started = time.perf_counter()
    error, kind, status = "", "", None
    value: T | None = None
    try:
        async with asyncio.timeout(timeout_s):
            value = await call.fetch(client)
    except SourceError as exc:
        error, kind, status = exc.message, exc.kind, exc.http_status
    except TimeoutError:
        error, kind = f"no answer within {timeout_s:.1f} s", ErrorKind.TIMEOUT
    except (KeyError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
        # A parser met a shape it did not expect; the body is malformed as far as we can tell.
        error, kind = f"unexpected body: {type(exc).__name__}: {exc}", ErrorKind.MALFORMED
    except Exception as exc:  # one broken source must not stop the others
        logger.exception("Market source failed unexpectedly: source=%s", call.source)
        error, kind = f"{type(exc).__name__}: {exc}", ErrorKind.UNEXPECTED
    finished = time.perf_counter()
    if error:
        logger.warning("Market source failed: source=%s kind=%s error=%s", call.source, kind, error)
    return SourceResult(
        source=call.source,
        value=value,
        latency_s=finished - started,
        started_s=started - t0,
        error=error,
        error_kind=kind,
        http_status=status,
    )


async def sources_collect(
    *, client: httpx.AsyncClient, calls: Sequence[SourceCall[T]], timeout_s: float, t0: float | None = None
) -> list[SourceResult[T]]:
    """Run every call at once, each within `timeout_s`; one result per call, in the calls' order."""
    start = time.perf_counter() if t0 is None else t0
    return list(await asyncio.gather(*(_run_one(call, client, timeout_s, start) for call in calls)))
