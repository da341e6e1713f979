"""New difficulty retargets from mempool.space into difficulty_adjustments (live mode only).

The shipped history ends at its last retarget; in live mode this keeps the table going, so the
next-retarget estimate (which takes the epoch containing "now" from these rows) stays right. One run
asks the tip height, works out which epoch starts (multiples of 2016) between the stored retargets and
the tip are missing, and fetches the first block of at most `max_epochs` of them, newest first (the
current epoch is what the estimates need), all at once. Each epoch fails alone and is asked again by
the next run: the missing ones are found by height, so a gap never hides behind a later epoch. An
epoch's first block is taken only once RETARGET_DEPTH blocks sit on it: a block at the tip can still
be replaced.

Network I/O happens before the transaction; the estimates' cache entries are dropped after commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction

from analytics.clients import mempool_space
from analytics.clients.base import SourceCall, SourceResult, client_build, sources_collect
from analytics.clients.mempool_space import BlockHeader
from analytics.models import DifficultyAdjustment
from analytics.selectors import network_estimates_cache_key
from analytics.services.network_estimates import BLOCKS_PER_EPOCH
from mining_platform.core.cache import cache_invalidate

logger = logging.getLogger(__name__)

SOURCE = mempool_space.NAME
DIFFICULTY_STEP = Decimal("0.0001")
# Blocks on top of an epoch's first block before it is recorded: a one- or two-block reorg near the
# tip happens; six deep it does not, and the wait (about an hour) is nothing against a two-week epoch.
RETARGET_DEPTH = 6
# How far back a run looks for missing epochs: about a year, which covers any outage and the gap
# between the shipped history and a fresh deployment, without walking back to the genesis block.
LOOKBACK_EPOCHS = 26
MAX_EPOCHS_PER_RUN = 8
_MODES = ("replay", "live")


@dataclass(frozen=True)
class EpochOutcome:
    """One epoch asked in a run: recorded, or why not."""

    height: int
    recorded: bool
    latency_s: float
    error: str = ""
    error_kind: str = ""
    http_status: int | None = None


@dataclass(frozen=True)
class RetargetsRecordResult:
    """What a run did: the tip it saw, the heights it recorded, each epoch asked, and how many wait for later runs.

    `error` is the tip height's failure, when the run could not even tell which epochs exist.
    """

    mode: str
    tip_height: int | None
    recorded: tuple[int, ...]
    epochs: tuple[EpochOutcome, ...]
    remaining: int
    error: str = ""
    error_kind: str = ""
    http_status: int | None = None


def retarget_heights_missing(*, tip_height: int, stored: Collection[int]) -> list[int]:
    """Epoch starts not stored yet, newest first: after the first stored one (within LOOKBACK_EPOCHS of
    the tip) and at least RETARGET_DEPTH blocks below the tip.

    With nothing stored, the current epoch and the one before it: the estimate's fallback pace is the
    previous epoch's duration.
    """
    newest = (tip_height - RETARGET_DEPTH) // BLOCKS_PER_EPOCH * BLOCKS_PER_EPOCH
    oldest = newest - (LOOKBACK_EPOCHS - 1) * BLOCKS_PER_EPOCH
    oldest = max(oldest, min(stored) + BLOCKS_PER_EPOCH) if stored else newest - BLOCKS_PER_EPOCH
    heights = range(newest, max(oldest, BLOCKS_PER_EPOCH) - 1, -BLOCKS_PER_EPOCH)
    return [height for height in heights if height not in stored]


@dataclass(frozen=True)
class _Fetched:
    tip: SourceResult[int]
    asked: tuple[int, ...]
    blocks: tuple[SourceResult[BlockHeader], ...]
    remaining: int


async def _retargets_fetch(*, stored: Collection[int], max_epochs: int) -> _Fetched:
    base_url = settings.MARKET_MEMPOOL_URL.rstrip("/")
    timeout = float(settings.MARKET_SOURCE_TIMEOUT_SECONDS)
    async with client_build(timeout_s=timeout, connect_timeout_s=settings.MARKET_CONNECT_TIMEOUT_SECONDS) as client:
        tip_call = SourceCall(f"{SOURCE}:tip", partial(mempool_space.tip_height_fetch, base_url=base_url))
        (tip,) = await sources_collect(client=client, calls=[tip_call], timeout_s=timeout)
        if tip.value is None:
            return _Fetched(tip=tip, asked=(), blocks=(), remaining=0)
        missing = retarget_heights_missing(tip_height=tip.value, stored=stored)
        asked = tuple(missing[:max_epochs])
        calls = [
            SourceCall(
                f"{SOURCE}:block {height}",
                partial(mempool_space.block_at_height_fetch, base_url=base_url, height=height),
            )
            for height in asked
        ]
        # Two calls one after the other per epoch (hash, then block): twice the per-call budget.
        blocks = await sources_collect(client=client, calls=calls, timeout_s=2 * timeout)
    return _Fetched(tip=tip, asked=asked, blocks=tuple(blocks), remaining=len(missing) - len(asked))


def retargets_record(*, now: datetime, max_epochs: int = MAX_EPOCHS_PER_RUN) -> RetargetsRecordResult:
    """Record the retargets mempool.space knows and the table lacks (bounded per run); nothing in replay mode."""
    if settings.MARKET_DATA_SOURCE == "replay":
        return RetargetsRecordResult(mode="replay", tip_height=None, recorded=(), epochs=(), remaining=0)
    stored = frozenset(DifficultyAdjustment.objects.values_list("height", flat=True))
    fetched = asyncio.run(_retargets_fetch(stored=stored, max_epochs=max_epochs))
    tip = fetched.tip
    if tip.value is None:
        logger.warning("Retargets not recorded, no tip height: kind=%s error=%s", tip.error_kind, tip.error)
        return RetargetsRecordResult(
            mode="live",
            tip_height=None,
            recorded=(),
            epochs=(),
            remaining=0,
            error=tip.error,
            error_kind=tip.error_kind,
            http_status=tip.http_status,
        )
    headers = [result.value for result in fetched.blocks if result.value is not None]
    if headers:
        _retargets_store(headers=headers, now=now)
    recorded = {header.height for header in headers}
    epochs = tuple(
        EpochOutcome(
            height=height,
            recorded=height in recorded,
            latency_s=result.latency_s,
            error=result.error,
            error_kind=result.error_kind,
            http_status=result.http_status,
        )
        for height, result in zip(fetched.asked, fetched.blocks, strict=True)
    )
    logger.info(
        "Retargets recorded: source=%s tip_height=%d recorded=%d failed=%d remaining=%d",
        SOURCE,
        tip.value,
        len(recorded),
        len(epochs) - len(recorded),
        fetched.remaining,
    )
    return RetargetsRecordResult(
        mode="live",
        tip_height=tip.value,
        recorded=tuple(sorted(recorded)),
        epochs=epochs,
        remaining=fetched.remaining,
    )


@transaction.atomic(durable=True)
def _retargets_store(*, headers: Sequence[BlockHeader], now: datetime) -> None:
    """Upsert one row per epoch's first block; the estimates cached since its day are dropped after commit."""
    rows = []
    for header in headers:
        row = DifficultyAdjustment(
            height=header.height,
            start_time=header.mined_at,
            bits=header.bits,
            difficulty=header.difficulty.quantize(DIFFICULTY_STEP),
        )
        # The unique height is the upsert's business (a rerun updates the row); the fields are still checked.
        row.full_clean(validate_unique=False)
        rows.append(row)
    DifficultyAdjustment.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["height"], update_fields=["start_time", "bits", "difficulty"]
    )
    first_day = min(header.mined_at for header in headers).astimezone(UTC).date()
    transaction.on_commit(partial(_estimates_cache_invalidate, first_day=first_day, now=now))


def _estimates_cache_invalidate(*, first_day: date, now: datetime) -> None:
    """Drop the cached estimates of every day from `first_day` to today, in both modes.

    An estimate is cached per mode and UTC day (analytics.selectors.network_estimates_latest); a new
    retarget changes the answer of each day after it began, and the retargets table serves both modes.
    """
    today = now.astimezone(UTC).date()
    day = first_day
    while day <= today:
        for mode in _MODES:
            cache_invalidate(key=network_estimates_cache_key(mode=mode, day=day))
        day += timedelta(days=1)
