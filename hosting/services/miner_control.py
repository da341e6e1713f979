"""Miner control: start, stop, reboot and power target, each command written to miner_operation_log.

A command is three short steps, never one transaction: write a 'requested' row, talk to the miner with
no transaction or lock open (STYLE.md section 6), then store the outcome and any status change. A miner
that fails is a recorded outcome, never an exception, so a batch goes on for the other miners.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from hosting.choices import MinerAction, MinerStatus
from hosting.clients.control import (
    ControlCredentials,
    ControlResult,
    ControlTarget,
    ControlTimeouts,
    control_send,
)
from hosting.live.publish import live_operations_publish_on_commit
from hosting.models import Miner, MinerOperation
from mining_platform.core.choices import OPERATOR_ROLES
from mining_platform.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UpstreamUnavailableError,
)
from mining_platform.core.models import ApiKey, User

logger = logging.getLogger(__name__)

# `outcome` of a row whose command has not come back yet.
REQUESTED = "requested"
# Identification is logged beside the commands but is not one (services/miner_identify.py).
CONTROL_ACTIONS = tuple(action for action in MinerAction.values if action != MinerAction.IDENTIFY)
# Watts a power target may ask for: below this no ASIC hashes; above it no single unit draws.
POWER_TARGET_MIN_W = 100
POWER_TARGET_MAX_W = 20_000
# Results are written in groups, so a batch of thousands is not thousands of transactions, while a
# page polling the batch still sees progress at least this often.
_FLUSH_ROWS = 200
_FLUSH_SECONDS = 0.5


class MinerCommandFailedError(UpstreamUnavailableError):
    """The command was sent and recorded, but the miner did not carry it out."""

    code = "miner_command_failed"
    default_message = "The miner did not carry out the command."


@dataclass(frozen=True)
class ControlJob:
    """One command of one miner, as the runner needs it: no model instances cross into the event loop."""

    operation_id: int
    miner_id: int
    action: str
    power_w: int | None
    target: ControlTarget


def control_parameters_clean(*, action: str, parameters: Mapping[str, object]) -> dict[str, object]:
    """The parameters to store for `action`, checked; InvalidInputError names the bad field."""
    if action not in CONTROL_ACTIONS:
        raise InvalidInputError(fields={"action": [f"must be one of {', '.join(CONTROL_ACTIONS)}"]})
    if action != MinerAction.POWER_TARGET:
        return {}
    power_w = parameters.get("power_w")
    if isinstance(power_w, str) and power_w.strip().isdigit():
        power_w = int(power_w)
    if not isinstance(power_w, int) or isinstance(power_w, bool):
        raise InvalidInputError(fields={"power_w": ["a power target needs power_w, in whole watts"]})
    if not POWER_TARGET_MIN_W <= power_w <= POWER_TARGET_MAX_W:
        raise InvalidInputError(
            fields={"power_w": [f"must be between {POWER_TARGET_MIN_W} and {POWER_TARGET_MAX_W} W"]}
        )
    return {"power_w": power_w}


def control_caller_check(*, requested_by: User | None) -> None:
    """Clients never control miners, whatever route they come through."""
    if requested_by is not None and requested_by.role not in OPERATOR_ROLES:
        raise PermissionDeniedError("Only hosting staff and site operators control miners.")


def control_target(*, miner: Miner) -> ControlTarget:
    return ControlTarget(host=miner.ip, port=miner.port, firmware=miner.firmware)


def control_job(*, operation: MinerOperation, miner: Miner) -> ControlJob:
    power_w = operation.parameters.get("power_w") if isinstance(operation.parameters, dict) else None
    return ControlJob(
        operation_id=operation.pk,
        miner_id=miner.pk,
        action=operation.action,
        power_w=power_w if isinstance(power_w, int) else None,
        target=control_target(miner=miner),
    )


def control_timeouts() -> ControlTimeouts:
    """The control client's connect, read and whole-command limits, from the settings."""
    return ControlTimeouts(
        connect_s=settings.MINER_CONTROL_CONNECT_TIMEOUT_SECONDS,
        read_s=settings.MINER_CONTROL_READ_TIMEOUT_SECONDS,
        deadline_s=settings.MINER_CONTROL_DEADLINE_SECONDS,
    )


def control_credentials() -> ControlCredentials:
    """The firmware logins control and identification use, from the settings."""
    return ControlCredentials(
        antminer_web_user=settings.MINER_ANTMINER_WEB_USER,
        antminer_web_password=settings.MINER_ANTMINER_WEB_PASSWORD,
        whatsminer_password=settings.MINER_WHATSMINER_PASSWORD,
    )


def control_concurrency() -> int:
    """How many miners one run talks to at once."""
    concurrency: int = settings.MINER_CONTROL_CONCURRENCY
    return max(1, concurrency)


def control_jobs_run(*, jobs: Sequence[ControlJob], concurrency: int) -> Iterator[tuple[ControlJob, ControlResult]]:
    """Send every job's command, at most `concurrency` at once, yielding each result as it arrives.

    The event loop runs in a thread of its own, so the caller keeps its thread (and its database
    connection) for writing results while the loop waits on miners.
    """
    if not jobs:
        return
    timeouts, credentials = control_timeouts(), control_credentials()
    results: queue.Queue[tuple[ControlJob, ControlResult] | BaseException] = queue.Queue()

    async def one(job: ControlJob, gate: asyncio.Semaphore) -> None:
        async with gate:
            result = await control_send(
                target=job.target, action=job.action, power_w=job.power_w, timeouts=timeouts, credentials=credentials
            )
        results.put((job, result))

    async def every() -> None:
        gate = asyncio.Semaphore(concurrency)
        await asyncio.gather(*(one(job, gate) for job in jobs))

    def loop() -> None:
        try:
            asyncio.run(every())
        except BaseException as exc:  # noqa: BLE001  # not swallowed: handed to the caller's thread, which raises it
            results.put(exc)

    runner = threading.Thread(target=loop, name="miner-control", daemon=True)
    runner.start()
    try:
        for _ in jobs:
            item = results.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        runner.join()


@transaction.atomic(durable=True)
def control_results_store(*, finished: Sequence[tuple[ControlJob, ControlResult, datetime]]) -> None:
    """Write outcomes and answers, and the status each successful start or stop implies.

    Stopped miners show as stopped; a started one shows online, and polling takes over from there.
    A miner in maintenance keeps that status: an operator set it on purpose.
    """
    if not finished:
        return
    operations = MinerOperation.objects.in_bulk([job.operation_id for job, _result, _at in finished])
    changed = []
    for job, result, at in finished:
        operation = operations.get(job.operation_id)
        if operation is None:
            continue  # the miner was deleted while its command was out; nothing left to record
        operation.outcome, operation.response, operation.finished_at = result.outcome, result.answer, at
        changed.append(operation)
    MinerOperation.objects.bulk_update(changed, ["outcome", "response", "finished_at"])
    live_operations_publish_on_commit(operation_ids=[operation.pk for operation in changed])
    new_status = {MinerAction.STOP: MinerStatus.STOPPED, MinerAction.START: MinerStatus.ONLINE}
    for action, status in new_status.items():
        ids = [job.miner_id for job, result, _at in finished if result.ok and job.action == action]
        if ids:
            Miner.objects.filter(pk__in=ids).exclude(status=MinerStatus.MAINTENANCE).update(status=status)


def control_jobs_execute(*, jobs: Sequence[ControlJob], now: datetime, concurrency: int) -> list[ControlResult]:
    """Run the jobs and record every result; rows are written in groups as results come in.

    `now` is when the run began; each row's finished_at is `now` plus the time measured since.
    """
    started = time.monotonic()
    pending: list[tuple[ControlJob, ControlResult, datetime]] = []
    results: list[ControlResult] = []
    last_flush = started
    for job, result in control_jobs_run(jobs=jobs, concurrency=concurrency):
        moment = time.monotonic()
        pending.append((job, result, now + timedelta(seconds=moment - started)))
        results.append(result)
        if len(pending) >= _FLUSH_ROWS or moment - last_flush >= _FLUSH_SECONDS:
            control_results_store(finished=pending)
            pending, last_flush = [], moment
    control_results_store(finished=pending)
    return results


@transaction.atomic(durable=True)
def _operation_open(
    *,
    miner: Miner,
    action: str,
    parameters: dict[str, object],
    requested_by: User | None,
    api_key: ApiKey | None,
    now: datetime,
) -> MinerOperation:
    operation = MinerOperation.objects.create(
        miner=miner,
        action=action,
        parameters=parameters,
        requested_by=requested_by,
        api_key=api_key,
        requested_at=now,
        outcome=REQUESTED,
    )
    live_operations_publish_on_commit(operation_ids=[operation.pk])
    return operation


def miner_command(
    *,
    miner_id: int,
    action: str,
    parameters: Mapping[str, object],
    requested_by: User | None = None,
    api_key: ApiKey | None = None,
    now: datetime,
) -> MinerOperation:
    """Send one control command to one miner and return its log row, whatever the miner did.

    The caller checks that `requested_by` may see the miner; failures at the miner are recorded in the
    row's outcome and response, never raised.
    """
    control_caller_check(requested_by=requested_by)
    clean = control_parameters_clean(action=action, parameters=parameters)
    miner = Miner.objects.filter(pk=miner_id).first()
    if miner is None:
        raise NotFoundError(f"Miner {miner_id} not found.")
    operation = _operation_open(
        miner=miner, action=action, parameters=clean, requested_by=requested_by, api_key=api_key, now=now
    )
    [result] = control_jobs_execute(jobs=[control_job(operation=operation, miner=miner)], now=now, concurrency=1)
    log = logger.info if result.ok else logger.warning
    log(
        "Miner command: miner_id=%s action=%s outcome=%s seconds=%.2f",
        miner.pk,
        action,
        result.outcome,
        result.seconds,
    )
    operation.refresh_from_db()
    return operation


def miner_command_failure(*, operation: MinerOperation) -> MinerCommandFailedError:
    """The error an API answers with when `operation` ran but the miner did not carry it out."""
    answer = operation.response.strip().replace("\n", " ")
    excerpt = answer if len(answer) <= 200 else answer[:200] + "…"
    return MinerCommandFailedError(
        f"Miner {operation.miner_id} did not {operation.get_action_display().lower()}: {operation.outcome}"
        f" ({excerpt or 'no answer'}). Logged as operation {operation.pk}."
    )
