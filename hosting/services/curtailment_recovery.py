"""Bringing a plan's curtailed miners back: after their hold, most efficient first, within the site's ramp.

At the plan's recovery time the monitor (every 60 s) makes the plan `recovering` and decides for each
miner whether it has to come back: it was acknowledged, or its command failed but no reading since shows
it running as before. Then each run, under the plan's lock:

- settles the starts a killed run left `sent` (reads the miner; sends again only if it is not back);
- confirms started miners from their latest reading (hashing again). One still stopped a wake ramp
  after its start, or unconfirmed for the freshness window, is started again, up to
  CURTAILMENT_COMMAND_ATTEMPTS times, then failed;
- starts the miners whose time has come (recover_at, and at least hold_minutes after their own
  command), most efficient (J/TH) first, as many as keep the power those starts add within
  ramp_kw_per_minute over the last minute; one miner at least, so a miner larger than the ramp still
  comes back. A slept miner is woken ("start"); a turned-down one gets its normal power target back;
- once every miner is confirmed, skipped or failed, marks the plan recovered (failed when a miner could
  not be brought back), publishes curtailment.recovered and tells the site's operators.

Every step is in the plan rows, so a run killed at any point is carried on by the next.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q

from chain.services.outbox import outbox_publish
from hosting.choices import CurtailmentStatus, CurtailmentStep
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, MinerOperation
from hosting.services.curtailment_commands import (
    PHASE_KEY,
    PLAN_KEY,
    Clock,
    Phase,
    commands_send,
    latest_shows,
    lost_sends_resolve,
    note_append,
    operators_notify,
    plan_lock,
    rows_readings,
    rows_set,
)
from mining_platform.core.locks import JobLockedError

logger = logging.getLogger(__name__)

# The unit of the ramp: power added per minute.
_RAMP_WINDOW = timedelta(minutes=1)
# Firmware ramps its chips for about 30 s after a wake (quirks.md Q20: "ramps like a reboot"); a reading
# that late which still shows the miner stopped means the start did not take.
WAKE_CONFIRM = timedelta(seconds=30)
_LISTED = 50
_UNSETTLED = (CurtailmentStep.PLANNED, CurtailmentStep.SENT, CurtailmentStep.ACKNOWLEDGED)


@dataclass(frozen=True)
class RecoveryResult:
    """One monitor run over one plan."""

    plan_id: int
    status: str  # the plan's status afterwards
    started: int  # start commands sent (re-sends included)
    acknowledged: int
    confirmed: int  # confirmed by telemetry in this run
    retried: int
    failed: int
    waiting: int  # miners still to be started (hold, ramp)


def _joules_per_th(row: CurtailmentPlanMiner) -> float:
    power = row.baseline_power_w or row.miner.nominal_power_w
    hashrate = row.baseline_hashrate_ths or float(row.miner.nominal_hashrate_ths)
    return power / hashrate if hashrate > 0 else float("inf")


def _earliest(plan: CurtailmentPlan, row: CurtailmentPlanMiner) -> datetime:
    """When the row's miner may come back: the plan's recovery time, and its hold after its own command."""
    commanded = row.commanded_at or plan.executed_at or plan.claimed_at or plan.recover_at
    return max(plan.recover_at, commanded + timedelta(minutes=plan.hold_minutes))


def _start(*, plan_id: int, clock: Clock) -> bool:
    """Turn an executed plan whose time has come into a recovering one; False when it is not due."""
    plan = CurtailmentPlan.objects.filter(pk=plan_id).first()
    if plan is None or plan.status != CurtailmentStatus.EXECUTED or clock.now() < plan.recover_at:
        return False
    # A curtail command a killed run left unanswered: read the miner; it is not sent again this late.
    lost_sends_resolve(plan_id=plan_id, phase=Phase.CURTAIL, clock=clock, resend=False)
    rows = list(plan.plan_miners.select_related("miner").order_by("pk"))
    readings = rows_readings(rows=rows)
    last_tried = dict(
        MinerOperation.objects.filter(
            **{f"parameters__{PLAN_KEY}": plan_id, f"parameters__{PHASE_KEY}": Phase.CURTAIL.value}
        )
        .values("miner_id")
        .annotate(last=Max("finished_at"))
        .values_list("miner_id", "last")
    )
    now = clock.now()
    with transaction.atomic(durable=True):
        locked = CurtailmentPlan.objects.select_for_update().get(pk=plan_id)
        if locked.status != CurtailmentStatus.EXECUTED:
            return False
        skipped, changed = [], []
        for row in rows:
            if row.command_step == CurtailmentStep.PLANNED:
                # Nothing more is curtailed once the recovery time has come.
                sent_before = row.command_attempts > 0
                row.command_step = CurtailmentStep.FAILED if sent_before else CurtailmentStep.SKIPPED
                row.command_error = row.command_error or "not sent: the recovery time came first"
                changed.append(row)
            if row.command_step == CurtailmentStep.SKIPPED:
                row.recovery_step = CurtailmentStep.SKIPPED
            elif row.command_step == CurtailmentStep.FAILED:
                # A failed command may still have taken (a timeout after the miner acted); only a good
                # reading after the last try that shows it running as before spares it the start.
                latest, tried = readings.get(row.miner_id), last_tried.get(row.miner_id)
                after = latest is not None and (tried is None or latest.recorded_at > tried)
                if after and latest_shows(phase=Phase.CURTAIL, row=row, latest=latest) is False:
                    row.recovery_step = CurtailmentStep.SKIPPED
            if row.recovery_step == CurtailmentStep.SKIPPED:
                skipped.append(row)
        rows_set(
            objects=list({row.pk: row for row in [*changed, *skipped]}.values()),
            fields=["command_step", "command_error", "recovery_step"],
        )
        locked.status, locked.recovery_started_at = CurtailmentStatus.RECOVERING, now
        coming = len(rows) - len(skipped)
        note_append(
            plan=locked,
            at=now,
            text=f"Recovery started: {coming} miners to bring back at most {locked.ramp_kw_per_minute:,.0f} kW a "
            f"minute, each after its {locked.hold_minutes}-minute hold; {len(skipped)} never curtailed.",
        )
        locked.save(update_fields=["status", "recovery_started_at", "note"])
    logger.info("Curtailment recovery started: plan_id=%s miners=%d skipped=%d", plan_id, coming, len(skipped))
    return True


@dataclass(frozen=True)
class _Confirmed:
    confirmed: int
    retried: int
    failed: int


def _confirm(*, plan_id: int, now: datetime) -> _Confirmed:
    """Confirm started miners from their latest readings; start again the ones that did not come back."""
    rows = list(
        CurtailmentPlanMiner.objects.filter(plan_id=plan_id, recovery_step=CurtailmentStep.ACKNOWLEDGED)
        .select_related("miner")
        .order_by("pk")
    )
    if not rows:
        return _Confirmed(confirmed=0, retried=0, failed=0)
    readings = rows_readings(rows=rows)
    window = timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS)
    max_attempts = max(1, int(settings.CURTAILMENT_COMMAND_ATTEMPTS))
    changed = []
    confirmed = retried = failed = 0
    for row in rows:
        sent = row.recovery_sent_at or now
        latest = readings.get(row.miner_id)
        newer = latest is not None and latest.recorded_at > sent
        shows = latest_shows(phase=Phase.RECOVER, row=row, latest=latest) if newer else None
        if shows is True and latest is not None:
            row.recovery_step, row.recovered_at, row.recovery_error = CurtailmentStep.CONFIRMED, latest.recorded_at, ""
            confirmed += 1
        elif (
            shows is False and latest is not None and latest.recorded_at >= sent + WAKE_CONFIRM
        ) or now - sent > window:
            row.recovery_error = (
                "acknowledged, but telemetry still shows it stopped"
                if shows is False
                else "acknowledged, but no reading has confirmed it since"
            )
            if row.recovery_attempts >= max_attempts:
                row.recovery_step = CurtailmentStep.FAILED
                failed += 1
            else:
                row.recovery_step = CurtailmentStep.PLANNED
                retried += 1
        else:
            continue
        changed.append(row)
    with transaction.atomic(durable=True):
        rows_set(objects=changed, fields=["recovery_step", "recovered_at", "recovery_error"])
    return _Confirmed(confirmed=confirmed, retried=retried, failed=failed)


def _due(*, plan: CurtailmentPlan, now: datetime) -> tuple[list[int], int]:
    """Rows to start now within the ramp, most efficient first; and how many wait for their turn."""
    rows = list(
        CurtailmentPlanMiner.objects.filter(plan=plan, recovery_step=CurtailmentStep.PLANNED)
        .select_related("miner")
        .order_by("pk")
    )
    ready = sorted((row for row in rows if _earliest(plan, row) <= now), key=lambda r: (_joules_per_th(r), r.pk))
    last = plan.plan_miners.aggregate(last=Max("recovery_sent_at"))["last"]
    # The ramp is a rate: a step may add what it allows for the time since the previous step, at most one
    # minute's worth. A beat that runs a few milliseconds early still gets (nearly) its full minute, and a
    # step brought forward (recover now) only its share.
    share = 1.0 if last is None else min(1.0, max(0.0, (now - last) / _RAMP_WINDOW))
    budget_w = float(plan.ramp_kw_per_minute) * 1000 * share
    used_w = 0
    chosen: list[int] = []
    for row in ready:
        watts = abs(row.planned_power_change_w)
        # One miner larger than a whole minute's ramp still comes back, alone, on a full minute.
        if used_w + watts > budget_w and (chosen or share < 1.0):
            break
        chosen.append(row.pk)
        used_w += watts
    return chosen, len(rows) - len(chosen)


def _finish_if_done(*, plan_id: int, at: datetime) -> str | None:
    """Mark a recovering plan recovered (or failed) once no miner is left to start or confirm."""
    with transaction.atomic(durable=True):
        plan = CurtailmentPlan.objects.select_for_update().select_related("site").get(pk=plan_id)
        if plan.status != CurtailmentStatus.RECOVERING:
            return None
        counts = plan.plan_miners.aggregate(
            open=Count("pk", filter=Q(recovery_step__in=_UNSETTLED)),
            confirmed=Count("pk", filter=Q(recovery_step=CurtailmentStep.CONFIRMED)),
            failed=Count("pk", filter=Q(recovery_step=CurtailmentStep.FAILED)),
            skipped=Count("pk", filter=Q(recovery_step=CurtailmentStep.SKIPPED)),
        )
        if counts["open"]:
            return None
        plan.status = CurtailmentStatus.FAILED if counts["failed"] else CurtailmentStatus.RECOVERED
        plan.finished_at = at
        summary = (
            f"Recovered: {counts['confirmed']} miners back and confirmed by telemetry, {counts['failed']} could not be "
            f"brought back, {counts['skipped']} never curtailed."
        )
        note_append(plan=plan, at=at, text=summary)
        plan.save(update_fields=["status", "finished_at", "note"])
        outbox_publish(
            event_type="curtailment.recovered",
            aggregate_type="curtailment_plan",
            aggregate_id=plan.pk,
            payload={
                "plan_id": plan.pk,
                "site_id": plan.site_id,
                "finished_at": at.isoformat(),
                "status": plan.status,
                "confirmed": counts["confirmed"],
                "failed": counts["failed"],
            },
            now=at,
        )
        failures = list(
            plan.plan_miners.filter(recovery_step=CurtailmentStep.FAILED)
            .select_related("miner")
            .order_by("pk")[:_LISTED]
        )
        lines = [
            f"Curtailment plan {plan.pk} at {plan.site.name} has ended its recovery at {at:%Y-%m-%d %H:%M:%S} UTC.",
            summary,
        ]
        if failures:
            lines.append("Could not be brought back; please look at them:")
            lines += [f"  {row.miner} — {row.recovery_error}" for row in failures]
        subject = (
            f"curtailment plan {plan.pk} recovered"
            if not failures
            else f"curtailment plan {plan.pk}: {counts['failed']} miners did not come back"
        )
        operators_notify(site=plan.site, subject=subject, lines=lines)
    logger.info(
        "Curtailment plan finished: plan_id=%s status=%s confirmed=%d failed=%d",
        plan_id,
        plan.status,
        counts["confirmed"],
        counts["failed"],
    )
    return plan.status


def _recover(*, plan_id: int, clock: Clock) -> RecoveryResult | None:
    _start(plan_id=plan_id, clock=clock)
    plan = CurtailmentPlan.objects.filter(pk=plan_id).first()
    if plan is None or plan.status != CurtailmentStatus.RECOVERING:
        return None
    again, resumed = lost_sends_resolve(plan_id=plan_id, phase=Phase.RECOVER, clock=clock, resend=True)
    checked = _confirm(plan_id=plan_id, now=clock.now())
    chosen, waiting = _due(plan=plan, now=clock.now())
    summary = commands_send(plan_id=plan_id, phase=Phase.RECOVER, row_ids=chosen, clock=clock, resend=again)
    status = _finish_if_done(plan_id=plan_id, at=clock.now()) or CurtailmentStatus.RECOVERING
    if summary.sent or checked.confirmed or checked.retried or checked.failed:
        logger.info(
            "Curtailment recovery step: plan_id=%s started=%d acknowledged=%d confirmed=%d retried=%d failed=%d waiting=%d",
            plan_id,
            summary.sent,
            summary.acknowledged + resumed,
            checked.confirmed,
            checked.retried + summary.retried,
            checked.failed + summary.failed,
            waiting,
        )
    return RecoveryResult(
        plan_id=plan_id,
        status=status,
        started=summary.sent,
        acknowledged=summary.acknowledged + resumed,
        confirmed=checked.confirmed,
        retried=checked.retried + summary.retried,
        failed=checked.failed + summary.failed,
        waiting=waiting,
    )


def curtailment_plan_recover(*, plan_id: int, now: datetime) -> RecoveryResult | None:
    """One monitor step for one plan (module docstring); None when it is not recovering or another run holds it."""
    clock = Clock(start=now)
    try:
        with plan_lock(plan_id):
            return _recover(plan_id=plan_id, clock=clock)
    except JobLockedError:
        logger.info("Curtailment recovery skipped, another run holds the plan: plan_id=%s", plan_id)
        return None


def curtailment_plan_recovery_confirm(*, plan_id: int, now: datetime) -> int | None:
    """Confirm a recovering plan's started miners from telemetry, without sending; None when held.

    Called after a collection run, so a plan ends as soon as its last miner is seen back.
    """
    try:
        with plan_lock(plan_id):
            checked = _confirm(plan_id=plan_id, now=now)
            _finish_if_done(plan_id=plan_id, at=now)
    except JobLockedError:
        return None
    return checked.confirmed


def curtailment_recover_due(*, now: datetime) -> list[RecoveryResult]:
    """The recovery monitor: one step for every plan recovering or whose recovery time has come."""
    clock = Clock(start=now)
    due = (
        CurtailmentPlan.objects.filter(
            Q(status=CurtailmentStatus.RECOVERING) | Q(status=CurtailmentStatus.EXECUTED, recover_at__lte=now)
        )
        .order_by("recover_at", "pk")
        .values_list("pk", flat=True)
    )
    results = []
    for plan_id in list(due):
        result = curtailment_plan_recover(plan_id=plan_id, now=clock.now())
        if result is not None:
            results.append(result)
    return results
