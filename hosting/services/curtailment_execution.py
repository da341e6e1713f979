"""Executing curtailment plans: claim the due ones, send their commands, and mark them executed.

Every 60 s (and when a plan that starts now is stored) the executor claims pending plans whose start has
come with `SELECT ... FOR UPDATE SKIP LOCKED`: two executors at once never claim the same plan, and a
plan being cancelled (its row locked) is passed over. A claimed plan is `executing`; its commands go out
through curtailment_commands.py under the plan's lock, and the transaction that stores the last answers
also marks it `executed` and writes the `curtailment.executed` outbox event. A worker that dies leaves
the plan `executing` with its progress in the plan rows; the next executor run takes it up from there.

Operators end a plan early (`curtailment_plan_recover_now`) or cancel one that has not started
(`curtailment_plan_cancel`).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Abs

from chain.services.outbox import outbox_publish
from hosting.choices import CurtailmentStatus, CurtailmentStep
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner
from hosting.services.curtailment_commands import (
    Clock,
    Phase,
    commands_send,
    lost_sends_resolve,
    note_append,
    operators_notify,
    plan_lock,
    site_power_kw,
)
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.locks import JobLockedError
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

# Plans claimed per run; the task runs again at once while more are due (a bounded batch, STYLE.md 8).
CLAIM_BATCH = 10
_FAILURES_LISTED = 50

# The plan rows' baselines are refreshed from readings fresh at claim time: a plan made hours ahead
# would otherwise measure its shed against what the miners drew when it was planned.
_BASELINES_REFRESH_SQL = """
UPDATE curtailment_plan_miners pm
SET baseline_power_w = l.power_w, baseline_hashrate_ths = l.hashrate_ths
FROM miner_latest l
WHERE pm.plan_id = %(plan_id)s AND l.miner_id = pm.miner_id AND l.outcome = 'ok'
  AND l.recorded_at >= %(fresh_after)s AND l.power_w IS NOT NULL AND l.hashrate_ths IS NOT NULL
"""


@dataclass(frozen=True)
class ExecutionResult:
    """One executor run over one plan."""

    plan_id: int
    status: str  # the plan's status afterwards
    sent: int  # commands sent (re-sends included)
    acknowledged: int
    failed: int
    resumed: int  # rows a killed run left sent, acknowledged from a reading without sending again


def _by(user: User | None) -> str:
    return user.email if user is not None and user.email else "the platform"


@transaction.atomic(durable=True)
def curtailment_plans_claim(*, now: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Claim up to `limit` due pending plans for this executor and mark them executing; returns their ids.

    A plan whose recovery time passed before anyone claimed it is failed instead: nothing is sent.
    """
    due = list(
        CurtailmentPlan.objects.select_for_update(skip_locked=True)
        .filter(status=CurtailmentStatus.PENDING, scheduled_start__lte=now)
        .order_by("scheduled_start", "pk")[:limit]
    )
    claimed = []
    fresh_after = now - timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS)
    for plan in due:
        if plan.recover_at <= now:
            plan.status, plan.finished_at = CurtailmentStatus.FAILED, now
            note_append(
                plan=plan, at=now, text="Its recovery time passed before an executor took it; nothing was sent."
            )
            plan.save(update_fields=["status", "finished_at", "note"])
            plan.plan_miners.update(command_step=CurtailmentStep.SKIPPED, recovery_step=CurtailmentStep.SKIPPED)
            logger.warning("Curtailment plan expired unclaimed: plan_id=%s", plan.pk)
            continue
        plan.status, plan.claimed_at = CurtailmentStatus.EXECUTING, now
        plan.baseline_power_kw = site_power_kw(site_id=plan.site_id, now=now)
        plan.save(update_fields=["status", "claimed_at", "baseline_power_kw"])
        with connection.cursor() as cursor:
            cursor.execute(_BASELINES_REFRESH_SQL, {"plan_id": plan.pk, "fresh_after": fresh_after})
        claimed.append(plan.pk)
    if claimed:
        logger.info("Curtailment plans claimed: plan_ids=%s", claimed)
    return claimed


def curtailment_plans_due_exist(*, now: datetime) -> bool:
    """Whether a pending plan is due (a read; the task runs again while one is)."""
    return CurtailmentPlan.objects.filter(status=CurtailmentStatus.PENDING, scheduled_start__lte=now).exists()


def _plans_to_run() -> list[int]:
    """Plans with commands outstanding: executing ones, and executed ones with a top-up round or retries."""
    outstanding = Q(plan_miners__command_step__in=[CurtailmentStep.PLANNED, CurtailmentStep.SENT])
    return list(
        CurtailmentPlan.objects.filter(
            Q(status=CurtailmentStatus.EXECUTING) | (Q(status=CurtailmentStatus.EXECUTED) & outstanding)
        )
        .order_by("scheduled_start", "pk")
        .values_list("pk", flat=True)
        .distinct()
    )


def _mark_executed(*, plan_id: int, at: datetime) -> None:
    """Mark the plan executed, publish curtailment.executed and tell its operators; in the caller's transaction."""
    plan = CurtailmentPlan.objects.select_for_update().select_related("site").get(pk=plan_id)
    if plan.status != CurtailmentStatus.EXECUTING:
        return
    done = Q(command_step__in=[CurtailmentStep.ACKNOWLEDGED, CurtailmentStep.CONFIRMED])
    counts = plan.plan_miners.aggregate(
        total=Count("pk"),
        acknowledged=Count("pk", filter=done),
        failed=Count("pk", filter=Q(command_step=CurtailmentStep.FAILED)),
        skipped=Count("pk", filter=Q(command_step=CurtailmentStep.SKIPPED)),
        shed_w=Sum(Abs("planned_power_change_w"), filter=done),
    )
    shed_kw = (counts["shed_w"] or 0) / 1000
    plan.status, plan.executed_at = CurtailmentStatus.EXECUTED, at
    summary = (
        f"Executed: {counts['acknowledged']} of {counts['total']} miners acknowledged ({shed_kw:,.1f} kW of "
        f"{plan.planned_shed_kw:,.1f} kW planned), {counts['failed']} failed, {counts['skipped']} skipped."
    )
    note_append(plan=plan, at=at, text=summary)
    plan.save(update_fields=["status", "executed_at", "note"])
    outbox_publish(
        event_type="curtailment.executed",
        aggregate_type="curtailment_plan",
        aggregate_id=plan.pk,
        payload={
            "plan_id": plan.pk,
            "site_id": plan.site_id,
            "executed_at": at.isoformat(),
            "miners": counts["total"],
            "acknowledged": counts["acknowledged"],
            "failed": counts["failed"],
            "planned_shed_kw": str(plan.planned_shed_kw),
            "acknowledged_shed_kw": f"{shed_kw:.3f}",
        },
        now=at,
    )
    failures = list(
        plan.plan_miners.filter(command_step=CurtailmentStep.FAILED)
        .select_related("miner")
        .order_by("pk")[:_FAILURES_LISTED]
    )
    lines = [
        f"Curtailment plan {plan.pk} at {plan.site.name} was executed at {at:%Y-%m-%d %H:%M:%S} UTC.",
        f"Target: {plan.get_target_kind_display()} {plan.target_value}; strategy {plan.get_strategy_display()}.",
        f"Miners commanded: {counts['total']}; acknowledged: {counts['acknowledged']}; failed: {counts['failed']}; "
        f"skipped: {counts['skipped']}.",
        f"Shed planned: {plan.planned_shed_kw:,.1f} kW; acknowledged so far: {shed_kw:,.1f} kW. The next telemetry "
        "confirms the shed; a shortfall is covered by more miners where any are left.",
        f"Miners come back from {plan.recover_at:%Y-%m-%d %H:%M} UTC.",
    ]
    if failures:
        lines.append("Failed:")
        lines += [f"  {row.miner} — {row.command_error}" for row in failures]
    operators_notify(
        site=plan.site,
        subject=f"curtailment plan {plan.pk} executed, {counts['acknowledged']} of {counts['total']} miners, "
        f"{counts['failed']} failed",
        lines=lines,
    )


@transaction.atomic(durable=True)
def _unsent_skip(*, plan_id: int) -> int:
    """After the recovery time nothing more is curtailed: planned rows are skipped.

    A row waiting for another attempt is failed instead: its earlier try may have taken, so the
    recovery monitor judges it from its reading.
    """
    planned = CurtailmentPlanMiner.objects.filter(plan_id=plan_id, command_step=CurtailmentStep.PLANNED)
    planned.filter(command_attempts__gt=0).update(command_step=CurtailmentStep.FAILED)
    return planned.update(command_step=CurtailmentStep.SKIPPED, recovery_step=CurtailmentStep.SKIPPED)


def _execute(*, plan_id: int, clock: Clock) -> ExecutionResult | None:
    plan = CurtailmentPlan.objects.filter(pk=plan_id).first()
    if plan is None or plan.status not in (CurtailmentStatus.EXECUTING, CurtailmentStatus.EXECUTED):
        return None
    in_time = clock.now() < plan.recover_at
    again, resumed = lost_sends_resolve(plan_id=plan_id, phase=Phase.CURTAIL, clock=clock, resend=in_time)
    if not in_time:
        _unsent_skip(plan_id=plan_id)
    row_ids = list(
        CurtailmentPlanMiner.objects.filter(plan_id=plan_id, command_step=CurtailmentStep.PLANNED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    finish = None
    if plan.status == CurtailmentStatus.EXECUTING:

        def finish() -> None:
            _mark_executed(plan_id=plan_id, at=clock.now())

    summary = commands_send(
        plan_id=plan_id, phase=Phase.CURTAIL, row_ids=row_ids, clock=clock, resend=again, finish=finish
    )
    plan.refresh_from_db(fields=["status"])
    logger.info(
        "Curtailment plan ran: plan_id=%s status=%s sent=%d acknowledged=%d failed=%d retried=%d resumed=%d",
        plan_id,
        plan.status,
        summary.sent,
        summary.acknowledged,
        summary.failed,
        summary.retried,
        resumed,
    )
    return ExecutionResult(
        plan_id=plan_id,
        status=plan.status,
        sent=summary.sent,
        acknowledged=summary.acknowledged + resumed,
        failed=summary.failed,
        resumed=resumed,
    )


def curtailment_plan_execute(*, plan_id: int, now: datetime) -> ExecutionResult | None:
    """Send a claimed plan's outstanding commands; None when another run holds the plan or it is not running.

    Safe to run again at any time: it carries on from the plan rows (module docstring of
    curtailment_commands.py) and marks the plan executed only once.
    """
    clock = Clock(start=now)
    try:
        with plan_lock(plan_id):
            return _execute(plan_id=plan_id, clock=clock)
    except JobLockedError:
        logger.info("Curtailment plan skipped, another run holds it: plan_id=%s", plan_id)
        return None


def curtailment_execute_due(*, now: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Claim the due plans and run every plan with commands outstanding; returns the ids of the plans run.

    Besides the plans just claimed, that takes up plans a killed worker left executing and top-up rounds
    the verification added; a plan another run holds is left to it.
    """
    clock = Clock(start=now)
    curtailment_plans_claim(now=now, limit=limit)
    return [
        plan_id for plan_id in _plans_to_run() if curtailment_plan_execute(plan_id=plan_id, now=clock.now()) is not None
    ]


@transaction.atomic
def curtailment_plan_cancel(*, plan: CurtailmentPlan, by: User | None, now: datetime) -> CurtailmentPlan:
    """Cancel a draft or pending plan before anything is sent; InvalidInputError naming `status` otherwise.

    Not durable: the price rules end plans inside their own transaction. The plan row is locked, so an
    executor claiming at the same moment either passes over it or has claimed it first (then: executing).
    """
    locked = CurtailmentPlan.objects.select_for_update().get(pk=plan.pk)
    if locked.status not in (CurtailmentStatus.DRAFT, CurtailmentStatus.PENDING):
        message = (
            f"Plan {locked.pk} is {locked.get_status_display().lower()}; only a draft or pending plan can be cancelled."
        )
        raise InvalidInputError(message, fields={"status": [message]})
    locked.status, locked.finished_at = CurtailmentStatus.CANCELLED, now
    note_append(plan=locked, at=now, text=f"Cancelled by {_by(by)}; nothing was sent.")
    locked.save(update_fields=["status", "finished_at", "note"])
    locked.plan_miners.update(command_step=CurtailmentStep.SKIPPED, recovery_step=CurtailmentStep.SKIPPED)
    logger.info("Curtailment plan cancelled: plan_id=%s by=%s", locked.pk, by.pk if by is not None else None)
    return locked


@transaction.atomic
def curtailment_plan_recover_now(*, plan: CurtailmentPlan, by: User | None, now: datetime) -> CurtailmentPlan:
    """End an executing or executed plan early: its recovery time becomes now and the monitor is woken.

    Each miner still stays off for the plan's hold time (hardware protection); a plan already
    recovering is left as it is. InvalidInputError naming `status` for any other plan. Not durable, for
    the price rules (see curtailment_plan_cancel).
    """
    locked = CurtailmentPlan.objects.select_for_update().get(pk=plan.pk)
    if locked.status == CurtailmentStatus.RECOVERING:
        return locked
    if locked.status not in (CurtailmentStatus.EXECUTING, CurtailmentStatus.EXECUTED):
        message = f"Plan {locked.pk} is {locked.get_status_display().lower()}; only a running plan can be ended early."
        raise InvalidInputError(message, fields={"status": [message]})
    if locked.recover_at > now:
        # recover_at must stay after the start (a table constraint), even on a clock that stepped back.
        locked.recover_at = max(now, locked.scheduled_start + timedelta(seconds=1))
        note_append(plan=locked, at=now, text=f"Recovery asked for now by {_by(by)}.")
        locked.save(update_fields=["recover_at", "note"])
    # Imported here: hosting.tasks imports this module to wrap curtailment_execute_due.
    from hosting.tasks import curtailment_recover_due_task

    # delay_on_commit in effect; celery-types does not know that method yet.
    transaction.on_commit(lambda: curtailment_recover_due_task.delay())
    logger.info("Curtailment plan recovery brought forward: plan_id=%s by=%s", locked.pk, by.pk if by else None)
    return locked
