"""One collection run: poll a site's miners (or one shard of them), store the readings, update statuses.

The network part runs first and holds no transaction (STYLE 6); the readings, the latest snapshot and
the status changes with their outbox events are then written in one short transaction, so a worker
killed at any point leaves either the whole batch or nothing.
"""

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from hosting.choices import PollOutcome
from hosting.clients.poller import PollResult, PollSettings, run_polls
from hosting.live.publish import live_collection_publish_on_commit
from hosting.models import Site
from hosting.selectors import poll_targets_list, pollable_miner_counts
from hosting.services.miner_status import miner_statuses_apply
from hosting.services.telemetry_ingest import telemetry_store
from hosting.telemetry_rows import TelemetryRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectResult:
    site_id: int
    shard: int
    miners: int
    outcomes: dict[str, int]
    went_offline: list[int]
    came_online: list[int]
    poll_seconds: float
    store_seconds: float


@dataclass(frozen=True)
class CollectShard:
    site_id: int
    shard: int
    shards: int


def poll_settings_from_config() -> PollSettings:
    """Timeouts and concurrency from the settings (read at call time)."""
    return PollSettings(
        connect_timeout=settings.TELEMETRY_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.TELEMETRY_READ_TIMEOUT_SECONDS,
        concurrency=settings.TELEMETRY_POLL_CONCURRENCY,
    )


def telemetry_row(*, result: PollResult, recorded_at: datetime) -> TelemetryRow:
    """The stored row for one poll: the figures when it succeeded, only the outcome otherwise."""
    target, reading = result.target, result.reading
    if reading is None:
        return TelemetryRow(
            miner_id=target.miner_id, recorded_at=recorded_at, site_id=target.site_id, outcome=result.outcome
        )
    return TelemetryRow(
        miner_id=target.miner_id,
        recorded_at=recorded_at,
        site_id=target.site_id,
        outcome=result.outcome,
        hashrate_ths=reading.hashrate_ths,
        hashrate_avg_ths=reading.hashrate_avg_ths,
        power_w=reading.power_w,
        board_temp_max_c=reading.board_temp_max_c,
        chip_temp_max_c=reading.chip_temp_max_c,
        fan_rpm_min=reading.fan_rpm_min,
        fan_rpm_max=reading.fan_rpm_max,
        boards_alive=reading.boards_alive,
        accepted_shares=reading.accepted_shares,
        rejected_shares=reading.rejected_shares,
        hardware_errors=reading.hardware_errors,
        elapsed_s=reading.elapsed_s,
        is_sleeping=reading.is_sleeping,
    )


@transaction.atomic(durable=True)
def telemetry_results_store(*, site: Site, results: list[PollResult], now: datetime) -> tuple[list[int], list[int]]:
    """Readings, latest snapshot and statuses of one run, all in one transaction."""
    telemetry_store(rows=[telemetry_row(result=r, recorded_at=now) for r in results])
    changes = miner_statuses_apply(
        outcomes={r.target.miner_id: r.outcome for r in results},
        now=now,
        offline_after_failures=site.offline_after_failures,
        sleeping={r.target.miner_id for r in results if r.reading is not None and r.reading.is_sleeping},
    )
    # One coalesced delta per site and per customer for the whole run, once it is committed.
    live_collection_publish_on_commit(site_id=site.pk, miner_ids=[r.target.miner_id for r in results])
    return changes.went_offline, changes.came_online


def telemetry_collect(
    *, site_id: int, now: datetime, shard: int = 0, shards: int = 1, poll: PollSettings | None = None
) -> CollectResult:
    """Poll one shard of a site's miners and store what came back; `now` stamps every reading.

    Timeouts and concurrency come from the settings unless `poll` overrides them.
    """
    site = Site.objects.get(pk=site_id)
    targets = poll_targets_list(site_id=site_id, shard=shard, shards=shards)
    started = time.perf_counter()
    results = run_polls(targets, poll or poll_settings_from_config())
    polled = time.perf_counter()
    went_offline, came_online = telemetry_results_store(site=site, results=results, now=now)
    stored = time.perf_counter()
    outcomes = dict(Counter(r.outcome for r in results))
    logger.info(
        "Telemetry collected: site_id=%s shard=%s/%s miners=%d ok=%d poll_s=%.2f store_s=%.2f",
        site_id,
        shard,
        shards,
        len(results),
        outcomes.get(PollOutcome.OK, 0),
        polled - started,
        stored - polled,
    )
    return CollectResult(
        site_id=site_id,
        shard=shard,
        miners=len(results),
        outcomes=outcomes,
        went_offline=went_offline,
        came_online=came_online,
        poll_seconds=polled - started,
        store_seconds=stored - polled,
    )


def telemetry_collect_shards(*, shard_size: int) -> list[CollectShard]:
    """How the next run splits the work: one task per site, or per shard of a site above `shard_size`."""
    return [
        CollectShard(site_id=site_id, shard=shard, shards=shards)
        for site_id, count in pollable_miner_counts().items()
        for shards in [max(1, math.ceil(count / shard_size))]
        for shard in range(shards)
    ]
