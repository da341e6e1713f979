"""Verifying an executed curtailment from telemetry: confirm each miner, measure the shed, top it up if short.

The shed is measured miner by miner, before and after: for each miner its reading confirms, the draw
at claim time (or at planning, where no fresher reading existed) minus its latest draw; a confirmed
miner whose firmware reports no power (stock Antminer) counts at its planned change. The site's whole
draw before and after goes into the note beside it but is not the figure: it moves with every other
miner of the site (fans, temperature, miners coming and going), which per-miner figures do not.

A round is measured once every acknowledged miner has a reading newer than its command (or the
freshness window has passed since). If the shed falls short of a kW target (failed or stuck miners), the
planner picks more miners among those still eligible as round 1, 2, ... until the target is met, nothing
is left, or MAX_ROUNDS rounds were added; the executor sends them. While a round is out, the plan's
`measured_at` is empty; it is set when the verification concludes, and the operators get an e-mail.

Runs after each collection run for a site (hook in the collection task) and every 60 s.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from hosting.choices import CurtailmentStatus, CurtailmentStep, CurtailmentTargetKind
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, MinerLatest, Site
from hosting.services.curtailment_commands import (
    Phase,
    latest_shows,
    note_append,
    operators_notify,
    plan_lock,
    rows_readings,
    rows_set,
    site_power_kw,
)
from hosting.services.curtailment_planner import PlanResult, Target, TargetKind, curtailment_plan
from hosting.services.curtailment_plans import curtailment_site_fleet, plan_miner_rows
from hosting.services.curtailment_recovery import curtailment_plan_recovery_confirm
from mining_platform.core.locks import JobLockedError

logger = logging.getLogger(__name__)

# A shed within 1 % of the target counts as met: per-miner power readings wobble by a few tenths of a
# percent, and topping up for that would curtail a whole miner for noise.
SHORTFALL_TOLERANCE = Decimal("0.01")
# Top-up rounds at most; each waits a collection run, so this bounds the chase to a few minutes.
MAX_ROUNDS = 5
_LISTED = 50


@dataclass(frozen=True)
class VerifyResult:
    """One verification run over one plan."""

    plan_id: int
    confirmed: int  # miners confirmed in this run
    stuck: int  # acknowledged, but their reading shows no change
    measured_shed_kw: Decimal | None  # set when this run measured a round
    required_kw: Decimal | None
    top_up_round: int | None  # the round this run added
    top_up_miners: int
    concluded: bool  # this run concluded the verification (measured_at set, operators told)


@dataclass(frozen=True)
class _Measure:
    shed_w: int
    hashrate_lost_ths: float
    confirmed: int


def _required_w(plan: CurtailmentPlan) -> int | None:
    """The shed the plan's target asks for, in W; None for count and thermal targets."""
    if plan.target_kind == CurtailmentTargetKind.SHED_KW:
        return int(plan.target_value * 1000)
    if plan.target_kind == CurtailmentTargetKind.SITE_CAP_KW and plan.baseline_power_kw is not None:
        return max(0, int((plan.baseline_power_kw - plan.target_value) * 1000))
    return None


def _measure(rows: list[CurtailmentPlanMiner], readings: dict[int, MinerLatest]) -> _Measure:
    shed_w, lost, confirmed = 0, 0.0, 0
    for row in rows:
        if row.command_step != CurtailmentStep.CONFIRMED:
            continue
        confirmed += 1
        latest = readings.get(row.miner_id)
        good = latest is not None and latest.outcome == "ok"
        if good and latest is not None and latest.power_w is not None and row.baseline_power_w is not None:
            shed_w += row.baseline_power_w - latest.power_w
        else:
            shed_w += abs(row.planned_power_change_w)
        if good and latest is not None and latest.hashrate_ths is not None and row.baseline_hashrate_ths is not None:
            lost += row.baseline_hashrate_ths - latest.hashrate_ths
        else:
            lost += abs(float(row.planned_hashrate_change_ths))
    return _Measure(shed_w=shed_w, hashrate_lost_ths=lost, confirmed=confirmed)


def _top_up(*, plan: CurtailmentPlan, short_w: int, now: datetime) -> tuple[PlanResult, list[CurtailmentPlanMiner]]:
    """The planner's pick among the miners still eligible (this plan's own are held by it) for `short_w`."""
    fleet = curtailment_site_fleet(site=plan.site, now=now)
    target = Target(
        kind=TargetKind.SHED_KW,
        value=Decimal(short_w) / 1000,
        site_power_kw=fleet.site_power_kw,
        allowances_kw=fleet.allowances_kw,
    )
    result = curtailment_plan(
        candidates=fleet.eligibility.candidates,
        target=target,
        strategy=plan.strategy,
        hashprice_usd_per_th_day=fleet.hashprice_usd_per_th_day,
    )
    last_round = max((row.round for row in plan.plan_miners.all()), default=0)
    return result, plan_miner_rows(plan=plan, result=result, fleet=fleet, round_number=last_round + 1)


def _kw(watts: int | float) -> Decimal:
    return (Decimal(watts) / 1000).quantize(Decimal("0.001"))


def _verify(*, plan_id: int, now: datetime) -> VerifyResult | None:
    plan = CurtailmentPlan.objects.select_related("site").filter(pk=plan_id).first()
    if plan is None or plan.status != CurtailmentStatus.EXECUTED:
        return None
    rows = list(plan.plan_miners.select_related("miner").order_by("pk"))
    readings = dict(rows_readings(rows=rows))
    window = timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS)
    changed: list[CurtailmentPlanMiner] = []
    confirmed = stuck = 0
    waiting = False
    for row in rows:
        if row.command_step in (CurtailmentStep.PLANNED, CurtailmentStep.SENT):
            waiting = True
        if row.command_step != CurtailmentStep.ACKNOWLEDGED or row.commanded_at is None:
            continue
        latest = readings.get(row.miner_id)
        if latest is None or latest.recorded_at <= row.commanded_at:
            waiting = waiting or now - row.commanded_at < window
            continue
        shows = latest_shows(phase=Phase.CURTAIL, row=row, latest=latest)
        if shows is True:
            row.command_step, row.confirmed_at = CurtailmentStep.CONFIRMED, latest.recorded_at
            confirmed += 1
        elif shows is False:
            row.command_step = CurtailmentStep.FAILED
            row.command_error = f"acknowledged, but its reading at {latest.recorded_at:%H:%M:%S} UTC shows no change"
            stuck += 1
        else:
            continue  # unreadable since the command: it stays acknowledged and counts as no shed
        changed.append(row)
    measuring = plan.measured_at is None and not waiting and now < plan.recover_at
    required_w = _required_w(plan)
    measure = _measure(rows, readings) if measuring else None
    short_w = 0 if measure is None or required_w is None else required_w - measure.shed_w
    rounds = max((row.round for row in rows), default=0)
    top_up: tuple[PlanResult, list[CurtailmentPlanMiner]] | None = None
    added = 0
    if measure is not None and required_w and short_w > required_w * SHORTFALL_TOLERANCE and rounds < MAX_ROUNDS:
        # Planned before the transaction opens: the planner reads the market snapshot, which may go out.
        top_up = _top_up(plan=plan, short_w=short_w, now=now)
    with transaction.atomic(durable=True):
        rows_set(objects=changed, fields=["command_step", "confirmed_at", "command_error"])
        locked = CurtailmentPlan.objects.select_for_update().select_related("site").get(pk=plan_id)
        if measure is None or locked.status != CurtailmentStatus.EXECUTED or locked.measured_at is not None:
            measure = None
        else:
            added = _record(
                plan=locked,
                measure=measure,
                required_w=required_w,
                top_up=top_up,
                rounds=rounds,
                rows=rows,
                now=now,
            )
    if confirmed or stuck or measure is not None:
        logger.info(
            "Curtailment verified: plan_id=%s confirmed=%d stuck=%d measured_kw=%s",
            plan_id,
            confirmed,
            stuck,
            None if measure is None else _kw(measure.shed_w),
        )
    return VerifyResult(
        plan_id=plan_id,
        confirmed=confirmed,
        stuck=stuck,
        measured_shed_kw=None if measure is None else _kw(measure.shed_w),
        required_kw=None if required_w is None else _kw(required_w),
        top_up_round=rounds + 1 if measure is not None and added else None,
        top_up_miners=added if measure is not None else 0,
        concluded=measure is not None and not added,
    )


def _record(
    *,
    plan: CurtailmentPlan,
    measure: _Measure,
    required_w: int | None,
    top_up: tuple[PlanResult, list[CurtailmentPlanMiner]] | None,
    rounds: int,
    rows: list[CurtailmentPlanMiner],
    now: datetime,
) -> int:
    """Store a round's measurement, and either its top-up round or the conclusion; returns miners added."""
    shed_kw = _kw(measure.shed_w)
    plan.measured_shed_kw = shed_kw
    plan.measured_hashrate_lost_ths = Decimal(str(round(measure.hashrate_lost_ths, 3)))
    unconfirmed = sum(1 for row in rows if row.command_step in (CurtailmentStep.ACKNOWLEDGED, CurtailmentStep.FAILED))
    of_target = "" if required_w is None else f" of {_kw(required_w):,.1f} kW asked"
    measured = (
        f"Round {rounds} measured: {shed_kw:,.1f} kW shed{of_target} by {measure.confirmed} miners telemetry "
        f"confirmed (per-miner draw before and after); {unconfirmed} not confirmed."
    )
    site_now = site_power_kw(site_id=plan.site_id, now=now)
    if plan.baseline_power_kw is not None and site_now is not None:
        measured += f" Site draw {plan.baseline_power_kw:,.1f} kW before, {site_now:,.1f} kW now."
    fields = ["measured_shed_kw", "measured_hashrate_lost_ths", "measured_at", "note"]
    if top_up is not None and top_up[1]:
        result, new_rows = top_up
        CurtailmentPlanMiner.objects.bulk_create(new_rows)
        plan.planned_shed_kw += _kw(result.shed_w)
        plan.planned_hashrate_lost_ths += Decimal(str(round(result.hashrate_lost_ths, 3)))
        note_append(
            plan=plan,
            at=now,
            text=f"{measured} Short by {_kw((required_w or 0) - measure.shed_w):,.1f} kW: round {rounds + 1} adds {len(new_rows)} miners planned to shed {_kw(result.shed_w):,.1f} kW.",
        )
        plan.save(update_fields=[*fields, "planned_shed_kw", "planned_hashrate_lost_ths"])
        return len(new_rows)
    conclusion = "Target met."
    if required_w is not None and required_w - measure.shed_w > required_w * SHORTFALL_TOLERANCE:
        why = "nothing eligible is left to add" if rounds < MAX_ROUNDS else f"{MAX_ROUNDS} top-up rounds were tried"
        conclusion = f"Short by {_kw(required_w - measure.shed_w):,.1f} kW: {why}."
    elif required_w is None:
        conclusion = "No kW target to top up."
    plan.measured_at = now
    note_append(plan=plan, at=now, text=f"{measured} {conclusion}")
    plan.save(update_fields=fields)
    _notify(plan=plan, rows=rows, text=f"{measured} {conclusion}")
    return 0


def _notify(*, plan: CurtailmentPlan, rows: list[CurtailmentPlanMiner], text: str) -> None:
    problems = [row for row in rows if row.command_step in (CurtailmentStep.FAILED, CurtailmentStep.ACKNOWLEDGED)]
    lines = [f"Curtailment plan {plan.pk} at {plan.site.name}: the shed was measured from telemetry.", text]
    if problems:
        lines.append("Not confirmed:")
        lines += [
            f"  {row.miner} — {row.command_error or 'no reading since the command'}" for row in problems[:_LISTED]
        ]
    operators_notify(
        site=plan.site, subject=f"curtailment plan {plan.pk}: {plan.measured_shed_kw:,.1f} kW shed", lines=lines
    )


def curtailment_plan_verify(*, plan_id: int, now: datetime) -> VerifyResult | None:
    """Verify one executed plan from its miners' latest readings; None when it is not executed or held.

    A top-up round wakes the executor once the plan's lock is released.
    """
    try:
        with plan_lock(plan_id):
            result = _verify(plan_id=plan_id, now=now)
    except JobLockedError:
        return None
    if result is not None and result.top_up_round is not None:
        # Imported here: hosting.tasks imports this module for the verification task.
        from hosting.tasks import curtailment_execute_due_task

        curtailment_execute_due_task.delay()
    return result


def curtailment_verify_site(*, site_id: int, now: datetime) -> list[VerifyResult]:
    """After a collection run at the site: verify its executed plans and confirm its recovering miners."""
    results = []
    plans = CurtailmentPlan.objects.filter(
        site_id=site_id, status__in=[CurtailmentStatus.EXECUTED, CurtailmentStatus.RECOVERING]
    ).order_by("pk")
    for plan_id, status in plans.values_list("pk", "status"):
        if status == CurtailmentStatus.RECOVERING:
            curtailment_plan_recovery_confirm(plan_id=plan_id, now=now)
            continue
        result = curtailment_plan_verify(plan_id=plan_id, now=now)
        if result is not None:
            results.append(result)
    return results


def curtailment_verify_due(*, now: datetime) -> list[VerifyResult]:
    """Every site with an executed or recovering plan, as after a collection run (the 60 s task).

    Each plan compares its miners' latest readings with their command times, so a site without newer
    telemetry changes nothing.
    """
    results = []
    for site_id in (
        Site.objects.filter(curtailment_plans__status__in=[CurtailmentStatus.EXECUTED, CurtailmentStatus.RECOVERING])
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    ):
        results += curtailment_verify_site(site_id=site_id, now=now)
    return results
