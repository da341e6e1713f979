"""Market aggregation against local servers with a set latency per source: concurrent versus sequential.

Every source answers with its documented body from one loopback aiohttp server after its own delay.
The full aggregation (collect, store, cache) is timed against the slowest source's latency (target at
most 1.1), and the same collectors run one after another in the same process give the baseline.
Rows written are deleted afterwards and cache keys live under a bench prefix that is removed, so the
database and the cache are left as they were. The last line is one JSON object with the figures.
"""

import asyncio
import json
import multiprocessing
import os
import statistics
import time
from datetime import datetime
from multiprocessing.connection import Connection

import _django

_django.setup()

from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.clients.base import client_build, sources_collect
from analytics.models import MarketAnalytics, NetworkStats
from analytics.services.aggregate import market_aggregate, market_source_calls
from analytics.tests import market_fixtures as fx

LATENCY_S = {
    "coingecko": 0.35,
    "binance": 0.20,
    "okx": 0.25,
    "bybit": 0.15,
    "deribit": 0.30,
    "blockchain_info": 0.40,
    "mempool_space": 0.30,  # each of its four endpoints; they run at once within the source
}
RUNS = 5
SEQUENTIAL_RUNS = 3


async def _sequential(now: datetime) -> tuple[float, list[str]]:
    """The same collectors on the same kind of client, awaited one after another; their errors, if any."""
    price_calls, network_calls = market_source_calls(now=now)
    errors: list[str] = []
    async with client_build(timeout_s=10.0, connect_timeout_s=3.0) as client:
        started = time.perf_counter()
        for call in price_calls:
            errors += [r.error for r in await sources_collect(client=client, calls=[call], timeout_s=10.0) if not r.ok]
        for network_call in network_calls:
            results = await sources_collect(client=client, calls=[network_call], timeout_s=10.0)
            errors += [r.error for r in results if not r.ok]
        return time.perf_counter() - started, errors


def _serve(now: datetime, conn: Connection) -> None:
    """The sources' server, in its own process as real sources would be: it competes for no GIL here."""
    with fx.fixture_server(fx.documented_answers(now), LATENCY_S) as server:
        conn.send(server.port)
        conn.recv()


def main() -> None:
    now = timezone.now()
    prefix = f"mp-bench-{os.getpid()}:"
    analytics_ids: list[int] = []
    stats_ids: set[int] = set()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(now, child), daemon=True)
    server.start()
    port = parent.recv()
    try:
        urls = {setting: f"http://127.0.0.1:{port}/{source}" for source, setting in fx.SETTING_BY_SOURCE.items()}
        with override_settings(
            MARKET_DATA_SOURCE="live", MARKET_SOURCE_TIMEOUT_SECONDS=10.0, REDIS_KEY_PREFIX=prefix, **urls
        ):
            try:
                totals, collects = [], []
                for _ in range(RUNS):
                    started = time.perf_counter()
                    result = market_aggregate(now=now)
                    totals.append(time.perf_counter() - started)
                    collects.append(result.duration_s)
                    analytics_ids.append(result.analytics_id)
                    stats_ids.update(result.network_stats_ids)
                    if result.sources_answered != result.sources_asked or len(result.network_stats_ids) != 2:
                        row = MarketAnalytics.objects.get(pk=result.analytics_id)
                        raise SystemExit(f"a source failed in the bench: {row.per_source}")
                sequential = []
                for _ in range(SEQUENTIAL_RUNS):
                    seconds, errors = asyncio.run(_sequential(now))
                    if errors:
                        raise SystemExit(f"a source failed in the sequential run: {errors}")
                    sequential.append(seconds)
            finally:
                MarketAnalytics.objects.filter(pk__in=analytics_ids).delete()
                NetworkStats.objects.filter(pk__in=stats_ids).delete()
                redis = get_redis_connection("default")
                keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    redis.delete(*keys)
    finally:
        parent.send("stop")
        server.join(10)

    slowest = max(LATENCY_S.values())
    total_s = statistics.median(totals)
    collect_s = statistics.median(collects)
    sequential_s = statistics.median(sequential)
    print(
        json.dumps(
            {
                "bench": "market_aggregate",
                "sources": len(LATENCY_S),
                "runs": RUNS,
                "slowest_latency_s": slowest,
                "sum_latency_s": round(sum(LATENCY_S.values()), 3),
                "seconds": round(total_s, 3),
                "collect_seconds": round(collect_s, 3),
                "ratio_to_slowest": round(total_s / slowest, 3),
                "baseline": "sequential_collectors",
                "baseline_seconds": round(sequential_s, 3),
                "ratio": round(sequential_s / collect_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
