"""One aggregation run over every market and network source: a robust price, volume, completeness.

Live mode asks all sources at once (each within MARKET_SOURCE_TIMEOUT_SECONDS, so the run lasts about
as long as the slowest source, never their sum), takes the median price, leaves out any source more than
MARKET_OUTLIER_PERCENT from it (with the reason), and keeps partial runs, labelled by their completeness.
Replay mode answers through the same function from the shipped history, without the network.
Deribit's options summary (open interest, volume, put/call) is asked in the same run and kept under
Deribit's per-source entry; it never counts as a price source.

Network I/O happens before the transaction; the cache gets the new price and difficulty after commit.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction

from analytics.clients import binance, blockchain_info, bybit, coingecko, deribit, mempool_space, okx
from analytics.clients.base import (
    NetworkReading,
    PriceQuote,
    SourceCall,
    SourceResult,
    client_build,
    sources_collect,
)
from analytics.models import MarketAnalytics, NetworkStats
from analytics.selectors import (
    MARKET_PRICE_CACHE_KEY,
    NETWORK_DIFFICULTY_CACHE_KEY,
    REPLAY_SOURCE,
    LatestDifficulty,
    LatestPrice,
    latest_difficulty_from,
    replay_network_at,
    replay_price_at,
)
from mining_platform.core.cache import cache_invalidate, cached_value

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
SATOSHI = Decimal("0.00000001")
DIFFICULTY_STEP = Decimal("0.0001")
# Below this many answers a median cannot tell the wrong source from the right one.
MIN_SOURCES_FOR_OUTLIERS = 3


@dataclass(frozen=True)
class PriceSourceOutcome:
    """One price source in a run: its quote or error, timing, and whether (and why) it was left out."""

    source: str
    result: SourceResult[PriceQuote]
    excluded_reason: str = ""
    deviation_percent: float | None = None

    @property
    def excluded(self) -> bool:
        return bool(self.excluded_reason)


@dataclass(frozen=True)
class MarketAggregate:
    """What one run produced; `analytics_id` is its market_analytics row."""

    analytics_id: int
    mode: str
    collected_at: datetime
    price_usd: Decimal | None
    price_method: str
    volume_24h_btc: Decimal | None
    sources_asked: int
    sources_answered: int
    prices: tuple[PriceSourceOutcome, ...]
    network: tuple[SourceResult[NetworkReading], ...]
    network_stats_ids: tuple[int, ...]
    duration_s: float
    # Deribit's BTC options summary: context for the operator, not part of the price.
    options: SourceResult[deribit.OptionsSummary] | None = None

    @property
    def completeness(self) -> float:
        return self.sources_answered / self.sources_asked if self.sources_asked else 0.0

    @property
    def partial(self) -> bool:
        return self.sources_answered < self.sources_asked


@dataclass(frozen=True)
class RobustPrice:
    price_usd: Decimal | None
    # Source name to why it was left out, and every answering source's distance from the median.
    excluded: dict[str, str]
    deviation_percent: dict[str, float]


def price_robust(*, prices: dict[str, Decimal], outlier_percent: float) -> RobustPrice:
    """The median of the prices, after leaving out each one more than `outlier_percent` from the median."""
    if not prices:
        return RobustPrice(price_usd=None, excluded={}, deviation_percent={})
    median = statistics.median(prices.values())
    deviation = {name: float(abs(price - median) / median * 100) for name, price in prices.items()}
    excluded: dict[str, str] = {}
    if len(prices) >= MIN_SOURCES_FOR_OUTLIERS:
        for name, percent in deviation.items():
            if percent > outlier_percent:
                excluded[name] = (
                    f"{prices[name]} is {percent:.2f} % from the median {median.quantize(CENT)} "
                    f"(limit {outlier_percent:g} %)"
                )
    kept = [price for name, price in prices.items() if name not in excluded]
    robust = statistics.median(kept) if kept else None
    return RobustPrice(price_usd=robust, excluded=excluded, deviation_percent=deviation)


def market_source_calls(*, now: datetime) -> tuple[list[SourceCall[PriceQuote]], list[SourceCall[NetworkReading]]]:
    """Every price and network collector, pointed at the base URLs in settings."""
    max_age = float(settings.MARKET_SOURCE_MAX_AGE_SECONDS)

    def price(source: str, fetch: Callable[..., Awaitable[PriceQuote]], url: str) -> SourceCall[PriceQuote]:
        return SourceCall(source, partial(fetch, base_url=url.rstrip("/"), now=now, max_age_s=max_age))

    prices = [
        price(coingecko.NAME, coingecko.simple_price_fetch, settings.MARKET_COINGECKO_URL),
        price(binance.NAME, binance.ticker_fetch, settings.MARKET_BINANCE_URL),
        price(okx.NAME, okx.ticker_fetch, settings.MARKET_OKX_URL),
        price(bybit.NAME, bybit.ticker_fetch, settings.MARKET_BYBIT_URL),
        price(deribit.NAME, deribit.index_price_fetch, settings.MARKET_DERIBIT_URL),
    ]
    network = [
        SourceCall(
            blockchain_info.NAME,
            partial(
                blockchain_info.stats_fetch,
                base_url=settings.MARKET_BLOCKCHAIN_INFO_URL.rstrip("/"),
                now=now,
                max_age_s=max_age,
            ),
        ),
        SourceCall(
            mempool_space.NAME,
            partial(mempool_space.reading_fetch, base_url=settings.MARKET_MEMPOOL_URL.rstrip("/"), now=now),
        ),
    ]
    return prices, network


def options_source_call(*, now: datetime) -> SourceCall[deribit.OptionsSummary]:
    """Deribit's options summary, asked beside the prices; it fails alone and never counts as a price source."""
    return SourceCall(
        deribit.OPTIONS_NAME,
        partial(
            deribit.options_summary_fetch,
            base_url=settings.MARKET_DERIBIT_URL.rstrip("/"),
            now=now,
            max_age_s=float(settings.MARKET_SOURCE_MAX_AGE_SECONDS),
        ),
    )


@dataclass(frozen=True)
class CollectedSources:
    prices: list[SourceResult[PriceQuote]]
    network: list[SourceResult[NetworkReading]]
    options: SourceResult[deribit.OptionsSummary]


async def market_sources_collect(*, now: datetime) -> CollectedSources:
    """Ask every source at once on one client; each has the same time budget, so the slowest bounds the run."""
    price_calls, network_calls = market_source_calls(now=now)
    timeout = float(settings.MARKET_SOURCE_TIMEOUT_SECONDS)
    async with client_build(timeout_s=timeout, connect_timeout_s=settings.MARKET_CONNECT_TIMEOUT_SECONDS) as client:
        t0 = time.perf_counter()
        prices, network, options = await asyncio.gather(
            sources_collect(client=client, calls=price_calls, timeout_s=timeout, t0=t0),
            sources_collect(client=client, calls=network_calls, timeout_s=timeout, t0=t0),
            sources_collect(client=client, calls=[options_source_call(now=now)], timeout_s=timeout, t0=t0),
        )
    return CollectedSources(prices=prices, network=network, options=options[0])


def market_aggregate(*, now: datetime) -> MarketAggregate:
    """Run one aggregation, store it (market_analytics, network_stats) and refresh the cached latest values."""
    if settings.MARKET_DATA_SOURCE == "replay":
        return _replay_aggregate(now=now)
    started = time.perf_counter()
    collected = asyncio.run(market_sources_collect(now=now))
    duration = time.perf_counter() - started
    return _live_store(
        now=now, prices=collected.prices, network=collected.network, options=collected.options, duration_s=duration
    )


def _live_store(
    *,
    now: datetime,
    prices: Sequence[SourceResult[PriceQuote]],
    network: Sequence[SourceResult[NetworkReading]],
    duration_s: float,
    options: SourceResult[deribit.OptionsSummary] | None = None,
) -> MarketAggregate:
    answered = {r.source: r.value.price_usd for r in prices if r.value is not None}
    robust = price_robust(prices=answered, outlier_percent=settings.MARKET_OUTLIER_PERCENT)
    outcomes = tuple(
        PriceSourceOutcome(
            source=r.source,
            result=r,
            excluded_reason=robust.excluded.get(r.source, ""),
            deviation_percent=robust.deviation_percent.get(r.source),
        )
        for r in prices
    )
    volumes = [
        o.result.value.volume_24h_btc
        for o in outcomes
        if o.result.value is not None
        and not o.excluded  # a price that far off casts doubt on the volume beside it
        and not o.result.value.volume_is_aggregate
        and o.result.value.volume_24h_btc is not None
    ]
    price = None if robust.price_usd is None else robust.price_usd.quantize(CENT)
    per_source = {o.source: _price_entry(o) for o in outcomes} | {r.source: _network_entry(r) for r in network}
    if options is not None and deribit.NAME in per_source:
        # Kept under Deribit's own entry, so every top-level entry stays a price or network source.
        per_source[deribit.NAME]["options"] = _options_entry(options)
    readings = [r for r in network if r.value is not None]
    with transaction.atomic(durable=True):
        row = MarketAnalytics(
            collected_at=now,
            mode="live",
            price_usd=price,
            price_method="median" if price is not None else "",
            volume_24h_btc=sum(volumes, Decimal(0)).quantize(SATOSHI) if volumes else None,
            sources_asked=len(prices),
            sources_answered=len(answered),
            per_source=per_source,
            duration_ms=round(duration_s * 1000),
        )
        row.full_clean()
        row.save()
        stats = [_network_stats_store(source=r.source, reading=r.value) for r in readings if r.value is not None]
        latest_price = None if price is None else LatestPrice(price, now, "live", len(answered), len(prices))
        newest = max(stats, key=lambda s: (s.block_height or 0, s.recorded_at), default=None)
        latest_difficulty = None if newest is None else latest_difficulty_from(newest)
        transaction.on_commit(partial(_cache_latest, price=latest_price, difficulty=latest_difficulty))
    logger.info(
        "Market aggregated: mode=live price_usd=%s answered=%d asked=%d excluded=%d network_ok=%d duration_ms=%d",
        price,
        len(answered),
        len(prices),
        len(robust.excluded),
        len(stats),
        row.duration_ms,
    )
    return MarketAggregate(
        analytics_id=row.pk,
        mode="live",
        collected_at=now,
        price_usd=price,
        price_method=row.price_method,
        volume_24h_btc=row.volume_24h_btc,
        sources_asked=row.sources_asked,
        sources_answered=row.sources_answered,
        prices=outcomes,
        network=tuple(network),
        network_stats_ids=tuple(s.pk for s in stats),
        duration_s=duration_s,
        options=options,
    )


def _network_stats_store(*, source: str, reading: NetworkReading) -> NetworkStats:
    """Upsert one network row; runs inside the caller's transaction. A repeated upstream timestamp updates it."""
    row, _ = NetworkStats.objects.update_or_create(
        source=source,
        recorded_at=reading.observed_at,
        defaults={
            "difficulty": reading.difficulty.quantize(DIFFICULTY_STEP),
            "hashrate_ths": reading.hashrate_ths,
            "block_height": reading.block_height,
            "fees_btc_per_day": reading.fees_btc_per_day,
            "avg_fee_per_block_btc": reading.avg_fee_per_block_btc,
        },
    )
    return row


def _replay_aggregate(*, now: datetime) -> MarketAggregate:
    """The same run answered from the shipped history: its newest candle and network row at `now`."""
    started = time.perf_counter()
    candle = replay_price_at(at=now)
    network_row = replay_network_at(at=now)
    price = None if candle is None else candle.price_usd.quantize(CENT)
    entry: dict[str, object] = {"kind": "price", "ok": candle is not None, "latency_ms": 0, "started_ms": 0}
    if candle is None:
        entry |= {"error": "no replay candle at or before this time", "error_kind": "missing"}
    else:
        entry |= {
            "price_usd": str(price),
            "volume_24h_btc": None if candle.volume_24h_btc is None else str(candle.volume_24h_btc),
            "observed_at": candle.open_time.isoformat(),
            "interval": candle.interval,
        }
    duration = time.perf_counter() - started
    with transaction.atomic(durable=True):
        row = MarketAnalytics(
            collected_at=now,
            mode="replay",
            price_usd=price,
            price_method="replay" if price is not None else "",
            volume_24h_btc=None if candle is None or candle.volume_24h_btc is None else candle.volume_24h_btc,
            sources_asked=1,
            sources_answered=int(candle is not None),
            per_source={REPLAY_SOURCE: entry},
            duration_ms=round(duration * 1000),
        )
        row.full_clean()
        row.save()
        latest_price = None if price is None else LatestPrice(price, now, "replay", row.sources_answered, 1)
        latest_difficulty = None if network_row is None else latest_difficulty_from(network_row)
        transaction.on_commit(partial(_cache_latest, price=latest_price, difficulty=latest_difficulty))
    logger.info("Market aggregated: mode=replay price_usd=%s candle=%s", price, candle and candle.open_time)
    return MarketAggregate(
        analytics_id=row.pk,
        mode="replay",
        collected_at=now,
        price_usd=price,
        price_method=row.price_method,
        volume_24h_btc=row.volume_24h_btc,
        sources_asked=1,
        sources_answered=row.sources_answered,
        prices=(),
        network=(),
        network_stats_ids=() if network_row is None else (network_row.pk,),
        duration_s=duration,
    )


def _cache_latest(*, price: LatestPrice | None, difficulty: LatestDifficulty | None) -> None:
    """Put the run's values in the cache. A run without a value leaves the previous one (last good) there."""
    if price is not None:
        _cache_put(MARKET_PRICE_CACHE_KEY, price, settings.MARKET_PRICE_CACHE_SECONDS)
    if difficulty is not None:
        _cache_put(NETWORK_DIFFICULTY_CACHE_KEY, difficulty, settings.MARKET_DIFFICULTY_CACHE_SECONDS)


def _cache_put(key: str, value: LatestPrice | LatestDifficulty, seconds: float) -> None:
    # The cache manager stores what `compute` returns; forgetting the entry first makes it compute now.
    cache_invalidate(key=key)
    cached_value(key=key, compute=lambda: value, ttl_seconds=seconds, stale_seconds=seconds)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _result_entry(
    result: SourceResult[PriceQuote] | SourceResult[NetworkReading] | SourceResult[deribit.OptionsSummary], kind: str
) -> dict[str, object]:
    return {
        "kind": kind,
        "ok": result.ok,
        "latency_ms": _ms(result.latency_s),
        "started_ms": _ms(result.started_s),
        "error": result.error,
        "error_kind": result.error_kind,
        "http_status": result.http_status,
    }


def _price_entry(outcome: PriceSourceOutcome) -> dict[str, object]:
    entry = _result_entry(outcome.result, "price")
    quote = outcome.result.value
    if quote is not None:
        entry |= {
            "price_usd": str(quote.price_usd),
            "volume_24h_btc": None if quote.volume_24h_btc is None else str(quote.volume_24h_btc.quantize(SATOSHI)),
            "volume_is_aggregate": quote.volume_is_aggregate,
            "observed_at": quote.observed_at.isoformat(),
            "deviation_percent": None if outcome.deviation_percent is None else round(outcome.deviation_percent, 4),
            "excluded": outcome.excluded,
            "excluded_reason": outcome.excluded_reason,
        }
    return entry


def _options_entry(result: SourceResult[deribit.OptionsSummary]) -> dict[str, object]:
    entry = _result_entry(result, "options")
    summary = result.value
    if summary is not None:
        pc_oi, pc_volume = summary.put_call_open_interest_ratio, summary.put_call_volume_ratio
        entry |= {
            "observed_at": summary.observed_at.isoformat(),
            "instruments": summary.instruments,
            "open_interest_btc": str(summary.open_interest_btc),
            "call_open_interest_btc": str(summary.call_open_interest_btc),
            "put_open_interest_btc": str(summary.put_open_interest_btc),
            "volume_24h_btc": str(summary.volume_24h_btc),
            "volume_24h_usd": None if summary.volume_24h_usd is None else str(summary.volume_24h_usd.quantize(CENT)),
            "put_call_open_interest_ratio": None if pc_oi is None else round(pc_oi, 4),
            "put_call_volume_ratio": None if pc_volume is None else round(pc_volume, 4),
        }
    return entry


def _network_entry(result: SourceResult[NetworkReading]) -> dict[str, object]:
    entry = _result_entry(result, "network")
    reading = result.value
    if reading is not None:
        entry |= {
            "difficulty": str(reading.difficulty),
            "hashrate_ths": reading.hashrate_ths,
            "block_height": reading.block_height,
            "avg_fee_per_block_btc": (
                None if reading.avg_fee_per_block_btc is None else str(reading.avg_fee_per_block_btc)
            ),
            "observed_at": reading.observed_at.isoformat(),
            "difficulty_change_percent": reading.difficulty_change_percent,
            "next_retarget_height": reading.next_retarget_height,
            "fastest_fee_sat_vb": reading.fastest_fee_sat_vb,
        }
    return entry
