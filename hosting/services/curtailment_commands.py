"""Commands of a curtailment plan, sent and recorded so that a worker killed at any point is resumed exactly.

Curtailing (stop or a lower power target) and recovering (start, or the normal power target back) go the
same way, one phase each, and every step is written to the plan's miner rows:

1. open: one short transaction writes a 'requested' operation-log row per miner, tagged with the plan,
   the phase and the attempt, and moves the miner's row to `sent`;
2. send: the commands go out concurrently with no transaction open (STYLE.md section 6); answers are
   written in groups as they arrive, each group in one transaction with the plan rows it settles, so an
   acknowledged row is on disk at most half a second after its answer;
3. retry: a failed command goes back to `planned` and is sent again after a short backoff, up to
   CURTAILMENT_COMMAND_ATTEMPTS times; a firmware that cannot take the command at all fails at once.

A worker killed between 1 and 2 leaves rows in `sent` whose log row is still 'requested'. Whether the
command reached the miner is unknown, so the next run reads the miner first: if the change is there, the
row is acknowledged from that reading; if not, the command is sent again on the same log row. So the log
holds one row per miner, phase and attempt, and an acknowledged row is never sent again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import uvloop
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.db.models import Case, IntegerField, Sum, Value, When

from hosting.choices import CurtailmentAction, CurtailmentStep, MinerAction, MinerStatus, PollOutcome
from hosting.clients.control import ControlOutcome, ControlResult, control_send
from hosting.clients.poller import PollResult, PollTarget, run_polls
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, Miner, MinerLatest, MinerOperation, Site
from hosting.services.miner_control import (
    POWER_TARGET_MAX_W,
    REQUESTED,
    ControlJob,
    control_credentials,
    control_job,
    control_timeouts,
)
from hosting.services.telemetry_collect import poll_settings_from_config
from mining_platform.core.locks import HeldLock, job_lock

logger = logging.getLogger(__name__)

# Keys of a curtailment command inside MinerOperation.parameters.
PLAN_KEY = "curtailment_plan"
PHASE_KEY = "phase"
ATTEMPT_KEY = "attempt"
# Answers are written in groups: at most this many rows, at most this long after the group's first answer.
_FLUSH_ROWS = 200
_FLUSH_SECONDS = 0.5
# A sleeping miner reports (almost) no hashrate; a reading at or under this share of its baseline
# counts as stopped even where the firmware has no sleep flag (S19 stock shows only zero rates, Q20).
_STOPPED_SHARE = 0.02
# Power readings wobble by a few tenths of a percent (PSU measurement); a miner held to a power target
# counts as held when it draws at most this much over the target.
_TARGET_SLACK = 1.05


class Phase(enum.StrEnum):
    CURTAIL = "curtail"
    RECOVER = "recover"


@dataclass(frozen=True)
class _PhaseFields:
    step: str
    attempts: str
    error: str


_FIELDS = {
    Phase.CURTAIL: _PhaseFields(step="command_step", attempts="command_attempts", error="command_error"),
    Phase.RECOVER: _PhaseFields(step="recovery_step", attempts="recovery_attempts", error="recovery_error"),
}
# The note on a row whose power target the firmware could not take, so it was slept instead.
_CONVERTED = "took no power target"
# Outcomes that say the firmware cannot do this at all: sending it again changes nothing.
_PERMANENT = frozenset({ControlOutcome.UNSUPPORTED.value})


@dataclass(frozen=True)
class Clock:
    """`start` as the caller's now, moved on by the time measured since; services take `now` from callers."""

    start: datetime
    started: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.at(time.monotonic())

    def at(self, moment: float) -> datetime:
        return self.start + timedelta(seconds=moment - self.started)


@dataclass(frozen=True)
class SendSummary:
    """What one send of a phase did: commands out (resends included), and how they ended."""

    sent: int = 0
    acknowledged: int = 0
    failed: int = 0  # failed for good (attempts used up, or the firmware cannot)
    retried: int = 0

    def __add__(self, other: SendSummary) -> SendSummary:
        return SendSummary(
            sent=self.sent + other.sent,
            acknowledged=self.acknowledged + other.acknowledged,
            failed=self.failed + other.failed,
            retried=self.retried + other.retried,
        )


@contextmanager
def plan_lock(plan_id: int) -> Iterator[HeldLock]:
    """The one lock every actor on a plan holds (executor, verification, recovery); JobLockedError if held.

    Its TTL is CURTAILMENT_LOCK_SECONDS: a worker that dies holding it frees the plan after at most that.
    """
    with job_lock(f"hosting.curtailment_plan:{plan_id}", ttl_seconds=settings.CURTAILMENT_LOCK_SECONDS) as held:
        yield held


# ---------------------------------------------------------------- what a command is, and how to see it done


def normal_power_w(*, row: CurtailmentPlanMiner) -> int:
    """The power target a turned-down miner gets back: its rated draw, or what it drew before if more.

    The target it had before is not on record (telemetry keeps the draw, not the limit); the rated draw
    is the firmware's default limit.
    """
    return min(POWER_TARGET_MAX_W, max(row.miner.nominal_power_w, row.baseline_power_w or 0))


def row_command(*, row: CurtailmentPlanMiner, phase: Phase) -> tuple[str, int | None]:
    """The control action and watts for one miner in a phase. Stop is sleep where the firmware has it."""
    if row.action == CurtailmentAction.POWER_TARGET:
        watts = row.target_power_w if phase == Phase.CURTAIL else normal_power_w(row=row)
        return MinerAction.POWER_TARGET, watts
    return (MinerAction.STOP if phase == Phase.CURTAIL else MinerAction.START), None


def change_visible(
    *,
    phase: Phase,
    row: CurtailmentPlanMiner,
    is_sleeping: bool | None,
    hashrate_ths: float | None,
    power_w: int | None,
) -> bool:
    """Whether a good reading shows the phase's change made on the row's miner."""
    if phase == Phase.RECOVER:
        # Back as soon as it hashes at all: chips ramp for about 30 s after a wake (quirks.md Q20).
        return not is_sleeping and hashrate_ths is not None and hashrate_ths > 0
    baseline_ths = row.baseline_hashrate_ths or float(row.miner.nominal_hashrate_ths)
    stopped = bool(is_sleeping) or (hashrate_ths is not None and hashrate_ths <= baseline_ths * _STOPPED_SHARE)
    if row.action == CurtailmentAction.POWER_TARGET and row.target_power_w is not None:
        if power_w is not None:
            return power_w <= row.target_power_w * _TARGET_SLACK
        return stopped
    return stopped


def latest_shows(*, phase: Phase, row: CurtailmentPlanMiner, latest: MinerLatest | None) -> bool | None:
    """True/False when the miner's latest reading is good and shows the change or not; None when unreadable."""
    if latest is None or latest.outcome != PollOutcome.OK:
        return None
    return change_visible(
        phase=phase, row=row, is_sleeping=latest.is_sleeping, hashrate_ths=latest.hashrate_ths, power_w=latest.power_w
    )


# ---------------------------------------------------------------- site power


def site_power_kw(*, site_id: int, now: datetime) -> Decimal | None:
    """The site's draw from its fresh good readings, counted as the planner counts it (None without any).

    A reading without a power figure (stock Antminer firmware reports none) counts at the miner's nominal
    draw, or at nothing while it sleeps.
    """
    window = timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS)
    watts = Case(
        When(power_w__isnull=False, then="power_w"),
        When(is_sleeping=True, then=Value(0)),
        default="miner__nominal_power_w",
        output_field=IntegerField(),
    )
    total = MinerLatest.objects.filter(
        miner__site_id=site_id, outcome=PollOutcome.OK, recorded_at__gte=now - window
    ).aggregate(watts=Sum(watts))["watts"]
    return None if total is None else (Decimal(total) / 1000).quantize(Decimal("0.001"))


# ---------------------------------------------------------------- e-mail


def operators_notify(*, site: Site, subject: str, lines: Sequence[str]) -> None:
    """E-mail the site's operators after commit (runs inside the caller's transaction)."""
    recipients = [e for e in site.operators.filter(is_active=True).values_list("email", flat=True) if e]
    if not recipients:
        return
    full_subject = f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{site.name}: {subject}"
    body = "\n".join(lines)
    transaction.on_commit(lambda: send_mail(full_subject, body, None, recipients))


def note_append(*, plan: CurtailmentPlan, at: datetime, text: str) -> None:
    """Add a dated line to the plan's note (the caller saves the plan)."""
    line = f"{at:%Y-%m-%d %H:%M:%S} UTC: {text}"
    plan.note = f"{plan.note}\n{line}" if plan.note else line


# ---------------------------------------------------------------- writing many rows


def _column(model: type[models.Model], name: str) -> tuple[str, str, str]:
    """(attribute, column, database type) of a concrete field."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a concrete column")
    return field.attname, field.column, str(field.db_type(connection))


def rows_set(*, objects: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` of many rows of one model in one UPDATE from arrays; in the caller's transaction.

    Django's bulk_update builds a CASE per row and field, which took seconds for the few thousand rows
    of a large plan; arrays unnested in one statement take milliseconds.
    """
    if not objects:
        return
    model = type(objects[0])
    key = _column(model, "id")
    columns = [_column(model, name) for name in fields]
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%s::{db_type}[]" for _attname, _column_name, db_type in [key, *columns])
    names = ", ".join(["k", *(f"v{index}" for index in range(len(columns)))])
    assignments = ", ".join(f"{quote(column)} = v.v{index}" for index, (_a, column, _t) in enumerate(columns))
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "  # noqa: S608  # names from the model's metadata
        f"FROM unnest({arrays}) AS v ({names}) WHERE t.{quote(key[1])} = v.k"
    )
    values = [[getattr(obj, attname) for obj in objects] for attname, _column_name, _db_type in [key, *columns]]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


# ---------------------------------------------------------------- sending


Arrival = tuple[ControlJob, ControlResult, float]  # the job, its result, time.monotonic() when it came


def _answers_in_groups(jobs: Sequence[ControlJob]) -> Iterator[tuple[list[Arrival], bool]]:
    """Send every job's command concurrently and yield the answers in groups as they arrive.

    A group is yielded at most half a second after its first answer even while other miners keep the
    run waiting (a hung one for its whole timeout), so what was acknowledged is stored before a crash
    could lose it; the flag says whether it is the last group. The event loop runs in a thread of its
    own; the caller's thread keeps its database connection for writing.
    """
    if not jobs:
        return
    timeouts, credentials = control_timeouts(), control_credentials()
    concurrency = max(1, int(settings.CURTAILMENT_COMMAND_CONCURRENCY))
    arrived: queue.Queue[Arrival | BaseException] = queue.Queue()

    async def one(job: ControlJob, gate: asyncio.Semaphore) -> None:
        async with gate:
            result = await control_send(
                target=job.target, action=job.action, power_w=job.power_w, timeouts=timeouts, credentials=credentials
            )
        arrived.put((job, result, time.monotonic()))

    async def every() -> None:
        gate = asyncio.Semaphore(concurrency)
        await asyncio.gather(*(one(job, gate) for job in jobs))

    def loop() -> None:
        try:
            # uvloop, as the poller: the loop's own overhead matters with thousands of commands at once.
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(every())
        except BaseException as exc:  # noqa: BLE001  # not swallowed: handed to the caller's thread, which raises it
            arrived.put(exc)

    runner = threading.Thread(target=loop, name="curtailment-commands", daemon=True)
    runner.start()
    try:
        group: list[Arrival] = []
        left = len(jobs)
        write_by: float | None = None
        while left:
            timeout = None if write_by is None else max(0.0, write_by - time.monotonic())
            try:
                item = arrived.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, BaseException):
                raise item
            if item is not None:
                group.append(item)
                left -= 1
                if write_by is None:
                    write_by = item[2] + _FLUSH_SECONDS
            if group and (len(group) >= _FLUSH_ROWS or not left or time.monotonic() >= (write_by or 0.0)):
                yield group, not left
                group, write_by = [], None
    finally:
        runner.join()


def _operation_parameters(*, plan_id: int, phase: Phase, attempt: int, power_w: int | None) -> dict[str, object]:
    parameters: dict[str, object] = {PLAN_KEY: plan_id, PHASE_KEY: phase.value, ATTEMPT_KEY: attempt}
    if power_w is not None:
        parameters["power_w"] = power_w
    return parameters


@transaction.atomic(durable=True)
def _open(*, plan_id: int, phase: Phase, row_ids: Sequence[int], at: datetime) -> list[ControlJob]:
    """Log one 'requested' command per planned row and mark the rows sent, in one transaction."""
    fields = _FIELDS[phase]
    rows = list(
        CurtailmentPlanMiner.objects.select_for_update(of=("self",))
        .filter(plan_id=plan_id, pk__in=row_ids, **{fields.step: CurtailmentStep.PLANNED})
        .select_related("miner")
        .order_by("pk")
    )
    # In the caller's order (recovery: most efficient first), which the log keeps.
    position = {row_id: index for index, row_id in enumerate(row_ids)}
    rows.sort(key=lambda row: position[row.pk])
    operations = []
    for row in rows:
        action, power_w = row_command(row=row, phase=phase)
        attempt = getattr(row, fields.attempts) + 1
        setattr(row, fields.attempts, attempt)
        setattr(row, fields.step, CurtailmentStep.SENT)
        if phase == Phase.RECOVER:
            row.recovery_sent_at = at
        operations.append(
            MinerOperation(
                miner_id=row.miner_id,
                action=action,
                parameters=_operation_parameters(plan_id=plan_id, phase=phase, attempt=attempt, power_w=power_w),
                requested_at=at,
                outcome=REQUESTED,
            )
        )
    MinerOperation.objects.bulk_create(operations, batch_size=1000)
    rows_set(
        objects=rows, fields=[fields.step, fields.attempts] + (["recovery_sent_at"] if phase == Phase.RECOVER else [])
    )
    return [control_job(operation=operation, miner=row.miner) for operation, row in zip(operations, rows, strict=True)]


@dataclass(frozen=True)
class _Stored:
    acknowledged: int
    failed: int
    retry: int


def _error_text(result: ControlResult) -> str:
    answer = " ".join(result.answer.split())
    return f"{result.outcome}: {answer}"[:300]


def results_store(
    *, plan_id: int, phase: Phase, finished: Sequence[tuple[ControlJob, ControlResult, datetime]]
) -> _Stored:
    """Write answers to the log rows and settle the plan rows they belong to; runs in the caller's transaction.

    An acknowledged stop leaves the miner shown as stopped and an acknowledged start as online (the
    poller takes over from there); a miner in maintenance keeps that status, an operator set it.
    """
    if not finished:
        return _Stored(acknowledged=0, failed=0, retry=0)
    fields = _FIELDS[phase]
    max_attempts = max(1, int(settings.CURTAILMENT_COMMAND_ATTEMPTS))
    operations = MinerOperation.objects.in_bulk([job.operation_id for job, _result, _at in finished])
    rows = {
        row.miner_id: row
        for row in CurtailmentPlanMiner.objects.filter(
            plan_id=plan_id, miner_id__in=[job.miner_id for job, _result, _at in finished]
        )
    }
    changed_operations, changed_rows = [], []
    acknowledged = failed = retry = 0
    stopped, started = [], []
    for job, result, at in finished:
        operation = operations.get(job.operation_id)
        if operation is not None:
            operation.outcome, operation.response, operation.finished_at = result.outcome, result.answer, at
            changed_operations.append(operation)
        row = rows.get(job.miner_id)
        if row is None or getattr(row, fields.step) != CurtailmentStep.SENT:
            continue  # settled already (a late answer to a command another run resolved)
        changed_rows.append(row)
        if result.ok:
            acknowledged += 1
            setattr(row, fields.step, CurtailmentStep.ACKNOWLEDGED)
            if not getattr(row, fields.error).startswith(_CONVERTED):  # that one stays: the plan changed
                setattr(row, fields.error, "")
            if phase == Phase.CURTAIL:
                row.commanded_at = at
            if job.action == MinerAction.STOP:
                stopped.append(job.miner_id)
            elif job.action == MinerAction.START:
                started.append(job.miner_id)
            continue
        setattr(row, fields.error, _error_text(result))
        if phase == Phase.CURTAIL and job.action == MinerAction.POWER_TARGET and result.outcome in _PERMANENT:
            # The planner offers power targets by firmware, but this transport cannot set one (Braiins OS
            # takes it only over gRPC, see clients/control.py): sleep the miner instead, so the shed is met.
            row.action, row.target_power_w = CurtailmentAction.OFF, None
            row.command_attempts = 0
            row.command_error = f"{_CONVERTED} ({result.outcome}); sent to sleep instead"
            setattr(row, fields.step, CurtailmentStep.PLANNED)
            retry += 1
        elif result.outcome in _PERMANENT or getattr(row, fields.attempts) >= max_attempts:
            setattr(row, fields.step, CurtailmentStep.FAILED)
            failed += 1
        else:
            setattr(row, fields.step, CurtailmentStep.PLANNED)
            retry += 1
    rows_set(objects=changed_operations, fields=["outcome", "response", "finished_at"])
    row_fields = [fields.step, fields.error] + (
        ["commanded_at", "action", "target_power_w", "command_attempts"] if phase == Phase.CURTAIL else []
    )
    rows_set(objects=changed_rows, fields=row_fields)
    for ids, status in ((stopped, MinerStatus.STOPPED), (started, MinerStatus.ONLINE)):
        if ids:
            Miner.objects.filter(pk__in=ids).exclude(status=MinerStatus.MAINTENANCE).update(status=status)
    return _Stored(acknowledged=acknowledged, failed=failed, retry=retry)


def _probe(rows: Sequence[CurtailmentPlanMiner]) -> dict[int, PollResult]:
    targets = [
        PollTarget(
            miner_id=r.miner_id, site_id=r.miner.site_id, host=r.miner.ip, port=r.miner.port, firmware=r.miner.firmware
        )
        for r in rows
    ]
    return {result.target.miner_id: result for result in run_polls(targets, poll_settings_from_config())}


def lost_sends_resolve(*, plan_id: int, phase: Phase, clock: Clock, resend: bool) -> tuple[list[ControlJob], int]:
    """Settle the rows a killed run left `sent`: read each miner, then acknowledge, re-send or fail it.

    Returns the commands to send again (each on its own original log row) and how many were acknowledged
    from a reading. With `resend` false, a row whose miner shows no change is failed instead.
    """
    fields = _FIELDS[phase]
    rows = list(
        CurtailmentPlanMiner.objects.filter(plan_id=plan_id, **{fields.step: CurtailmentStep.SENT})
        .select_related("miner")
        .order_by("pk")
    )
    if not rows:
        return [], 0
    open_operations = {
        operation.miner_id: operation
        for operation in MinerOperation.objects.filter(
            miner_id__in=[row.miner_id for row in rows],
            outcome=REQUESTED,
            **{f"parameters__{PLAN_KEY}": plan_id, f"parameters__{PHASE_KEY}": phase.value},
        ).order_by("pk")
    }
    readings = _probe(rows)
    settled: list[tuple[ControlJob, ControlResult, datetime]] = []
    again: list[ControlJob] = []
    orphans: list[CurtailmentPlanMiner] = []
    for row in rows:
        operation = open_operations.get(row.miner_id)
        if operation is None:
            orphans.append(row)  # no open log row: nothing can be pending for it, so it is planned again
            continue
        job = control_job(operation=operation, miner=row.miner)
        polled = readings.get(row.miner_id)
        reading = polled.reading if polled is not None and polled.outcome == PollOutcome.OK else None
        at = clock.now()
        seen = reading is not None and change_visible(
            phase=phase,
            row=row,
            is_sleeping=reading.is_sleeping,
            hashrate_ths=reading.hashrate_ths,
            power_w=reading.power_w,
        )
        if seen:
            answer = f"No answer was recorded before the worker stopped; a reading at {at:%H:%M:%S} UTC shows it done."
            settled.append((job, ControlResult(outcome=ControlOutcome.OK, answer=answer, seconds=0.0), at))
        elif resend:
            again.append(job)
        else:
            answer = "No answer was recorded before the worker stopped, and a reading shows nothing changed."
            settled.append((job, ControlResult(outcome="lost", answer=answer, seconds=0.0), at))
    with transaction.atomic(durable=True):
        stored = results_store(plan_id=plan_id, phase=phase, finished=settled)
        for row in orphans:
            setattr(row, fields.step, CurtailmentStep.PLANNED)
        rows_set(objects=orphans, fields=[fields.step])
    logger.info(
        "Curtailment sends resumed: plan_id=%s phase=%s acknowledged=%d resend=%d replanned=%d",
        plan_id,
        phase,
        stored.acknowledged,
        len(again),
        len(orphans),
    )
    return again, stored.acknowledged


def commands_send(
    *,
    plan_id: int,
    phase: Phase,
    row_ids: Sequence[int],
    clock: Clock,
    resend: Sequence[ControlJob] = (),
    finish: Callable[[], None] | None = None,
) -> SendSummary:
    """Send the phase's command to the planned rows among `row_ids` (and `resend`), retrying failures.

    `finish` runs in the transaction that stores the last answers, once no row is left for another
    attempt, so a status change made there commits together with the log rows that justify it.
    """
    summary = SendSummary()
    again: list[ControlJob] = list(resend)
    backoff = float(settings.CURTAILMENT_RETRY_BACKOFF_SECONDS)
    attempt = 0
    max_attempts = max(1, int(settings.CURTAILMENT_COMMAND_ATTEMPTS))
    # One pass per attempt; a power target turned into a sleep may take one pass more.
    while attempt <= max_attempts + 1:
        if attempt:
            time.sleep(backoff * attempt)
        jobs = again + _open(plan_id=plan_id, phase=phase, row_ids=row_ids, at=clock.now())
        again = []
        attempt += 1
        if not jobs:
            break
        retry = 0
        for group, last in _answers_in_groups(jobs):
            with transaction.atomic(durable=True):
                stored = results_store(plan_id=plan_id, phase=phase, finished=_timed(group, clock))
                retry += stored.retry
                if last and not retry and finish is not None:
                    finish()
                    finish = None
            summary = summary + _summary(stored, len(group))
        if not retry:
            break
    if finish is not None:
        with transaction.atomic(durable=True):
            finish()
    return summary


def _timed(group: Sequence[Arrival], clock: Clock) -> list[tuple[ControlJob, ControlResult, datetime]]:
    return [(job, result, clock.at(moment)) for job, result, moment in group]


def _summary(stored: _Stored, sent: int) -> SendSummary:
    return SendSummary(sent=sent, acknowledged=stored.acknowledged, failed=stored.failed, retried=stored.retry)


def rows_readings(*, rows: Sequence[CurtailmentPlanMiner]) -> Mapping[int, MinerLatest]:
    """Each row's miner's latest reading, by miner id."""
    return {latest.miner_id: latest for latest in MinerLatest.objects.filter(miner_id__in=[r.miner_id for r in rows])}
