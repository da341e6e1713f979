"""Polls many miners at once on one event loop: bounded concurrency, one outcome per miner, never raises.

A hung or garbled miner costs only its own timeout; the others go on. Firmwares that accept joined
commands (`summary+stats`) are read over one connection; the first time a miner answers a join with
"Invalid command" (quirks.md Q13) it is remembered and read one command at a time from then on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import uvloop

from hosting.choices import PollOutcome

from .cgminer import JsonObject, RpcResult, joined_slot, rpc_command, rpc_status
from .readings import POLL_PLANS, MinerReading, reading_parse

logger = logging.getLogger(__name__)

# Miners that answered a joined request with E/14; read command by command afterwards. Per process.
_NO_JOIN: set[tuple[str, int]] = set()
_INVALID_COMMAND = 14


@dataclass(frozen=True, slots=True)
class PollTarget:
    miner_id: int
    site_id: int
    host: str
    port: int
    firmware: str


@dataclass(frozen=True, slots=True)
class PollResult:
    target: PollTarget
    outcome: str  # a PollOutcome value
    reading: MinerReading | None
    seconds: float
    error: str = ""


@dataclass(frozen=True)
class PollSettings:
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    concurrency: int = 500


def _failure(target: PollTarget, result: RpcResult, started: float) -> PollResult:
    return PollResult(target, result.outcome, None, time.perf_counter() - started, result.error)


def _garbage(target: PollTarget, started: float, error: str) -> PollResult:
    return PollResult(target, PollOutcome.GARBAGE, None, time.perf_counter() - started, error)


async def poll_miner(target: PollTarget, settings: PollSettings) -> PollResult:
    """Read one miner with its firmware's poll plan and parse the replies into one reading."""
    started = time.perf_counter()
    plan = POLL_PLANS[target.firmware]
    replies: dict[str, JsonObject] = {}
    endpoint = (target.host, target.port)
    if plan.joins and len(plan.commands) > 1 and endpoint not in _NO_JOIN:
        result = await rpc_command(
            target.host,
            target.port,
            "+".join(plan.commands),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        )
        if not result.ok or result.data is None:
            return _failure(target, result, started)
        letter, code, _ = rpc_status(result.data)
        if letter == "E" and code == _INVALID_COMMAND:
            _NO_JOIN.add(endpoint)
        else:
            for command in plan.commands:
                slot = joined_slot(result.data, command)
                if slot is not None and rpc_status(slot)[0] in ("S", "I"):
                    replies[command] = slot
            if "summary" not in replies and len(replies) < len(plan.commands):
                return _garbage(target, started, "joined reply without the summary")
    if not replies:
        for command in plan.commands:
            result = await rpc_command(
                target.host,
                target.port,
                command,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
            )
            if not result.ok or result.data is None:
                return _failure(target, result, started)
            if rpc_status(result.data)[0] in ("S", "I"):
                replies[command] = result.data
        if not replies:
            return _garbage(target, started, "every read command was refused")
    try:
        reading = reading_parse(firmware=target.firmware, replies=replies)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # A reply that is JSON but not the shape the firmware documents counts as garbage for this miner.
        return _garbage(target, started, f"unreadable reply: {exc}")
    return PollResult(target, PollOutcome.OK, reading, time.perf_counter() - started)


async def poll_many(targets: Sequence[PollTarget], settings: PollSettings) -> list[PollResult]:
    """Poll every target, at most `settings.concurrency` connections open at a time.

    A fixed pool of workers takes targets in turn: cheaper than one task per miner behind a semaphore
    when a run covers thousands of miners.
    """
    results: list[PollResult | None] = [None] * len(targets)
    queue = iter(enumerate(targets))

    async def worker() -> None:
        for index, target in queue:
            results[index] = await poll_miner(target, settings)

    await asyncio.gather(*(worker() for _ in range(max(1, min(settings.concurrency, len(targets))))))
    return [r for r in results if r is not None]


def run_polls(targets: Sequence[PollTarget], settings: PollSettings) -> list[PollResult]:
    """Poll from synchronous code (a Celery task) on a fresh uvloop event loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(poll_many(targets, settings))
