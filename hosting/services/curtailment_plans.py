"""Curtailment plans from the fleet as it is now: read the site's miners, plan, and store the plan whole.

The planner (hosting/services/curtailment_planner) is pure; this module reads what it needs (each miner's
latest reading, its customer's priority and allowance, the miners already in a plan, the hashprice) and
writes the plan and its miners in one transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from calculator.services.market_inputs import market_snapshot_current
from calculator.services.profitability import hashprice_usd_per_th_day
from hosting.choices import (
    CurtailmentAction,
    CurtailmentSource,
    CurtailmentStatus,
    CurtailmentStep,
    CurtailmentStrategy,
    CurtailmentTargetKind,
)
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, Miner, Site
from hosting.services.curtailment_planner import (
    Eligibility,
    MinerState,
    PlanPreview,
    PlanResult,
    StalePolicy,
    Target,
    TargetKind,
    curtailment_candidates_build,
    curtailment_plan,
    curtailment_plan_preview,
)
from mining_platform.core.errors import InvalidInputError, UpstreamUnavailableError
from mining_platform.core.models import ApiKey, User

# A plan holds its miners from when it is created until they are confirmed back.
ACTIVE_STATUSES = (
    CurtailmentStatus.PENDING,
    CurtailmentStatus.EXECUTING,
    CurtailmentStatus.EXECUTED,
    CurtailmentStatus.RECOVERING,
)
_MAX_DURATION = timedelta(days=7)


@dataclass(frozen=True)
class CurtailmentRequest:
    """What someone asks for: a target at a site from a start until a recovery time."""

    site: Site
    target_kind: str
    target_value: Decimal
    strategy: str
    starts_at: datetime
    recover_at: datetime
    source: str
    deadline: datetime | None = None
    external_ref: str = ""
    hold_minutes: int | None = None
    ramp_kw_per_minute: Decimal | None = None


@dataclass(frozen=True)
class SiteFleet:
    """A site's miners as the planner sees them now."""

    eligibility: Eligibility
    site_power_kw: Decimal  # measured draw of the miners with a fresh reading (nominal where none)
    allowances_kw: dict[int, Decimal]
    hashprice_usd_per_th_day: Decimal | None


def _miners_in_plans(*, site: Site) -> set[int]:
    return set(
        CurtailmentPlanMiner.objects.filter(plan__site=site, plan__status__in=ACTIVE_STATUSES)
        .exclude(recovery_step=CurtailmentStep.CONFIRMED)
        .values_list("miner_id", flat=True)
    )


def curtailment_site_states(*, site: Site) -> list[MinerState]:
    """Every miner of the site with its latest reading, customer priority and whether a plan holds it."""
    held = _miners_in_plans(site=site)
    miners = Miner.objects.filter(site=site).select_related("latest", "customer").order_by("id")
    states = []
    for miner in miners:
        latest = getattr(miner, "latest", None)
        ok = latest is not None and latest.outcome == "ok"
        states.append(
            MinerState(
                miner_id=miner.pk,
                status=miner.status,
                firmware=miner.firmware,
                nominal_power_w=miner.nominal_power_w,
                nominal_hashrate_ths=float(miner.nominal_hashrate_ths),
                reading_at=latest.recorded_at if ok and latest is not None else None,
                power_w=latest.power_w if ok and latest is not None else None,
                hashrate_ths=latest.hashrate_ths if ok and latest is not None else None,
                chip_temp_c=latest.chip_temp_max_c if ok and latest is not None else None,
                is_sleeping=latest.is_sleeping if latest is not None else None,
                in_curtailment=miner.pk in held,
                customer_id=miner.customer_id,
                priority=miner.customer.curtailment_priority if miner.customer is not None else 0,
            )
        )
    return states


def curtailment_hashprice(*, now: datetime) -> Decimal | None:
    """USD one TH/s earns in a day at the current market figures; None when none are stored."""
    try:
        return hashprice_usd_per_th_day(market=market_snapshot_current(now=now).snapshot)
    except UpstreamUnavailableError:
        # Without market data the plan is still made; only the revenue figures are missing.
        return None


def curtailment_site_fleet(*, site: Site, now: datetime) -> SiteFleet:
    states = curtailment_site_states(site=site)
    eligibility = curtailment_candidates_build(
        states=states,
        now=now,
        fresh_within=timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS),
        stale_policy=StalePolicy(settings.CURTAILMENT_STALE_POLICY),
    )
    window = timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS)
    # The site's draw: every fresh reading, curtailable or not; a reading without power counts at nominal
    # (stock Antminer firmware reports none), a sleeping miner without one at nothing.
    site_power_w = sum(
        state.power_w if state.power_w is not None else (0 if state.is_sleeping else state.nominal_power_w)
        for state in states
        if state.reading_at is not None and now - state.reading_at <= window
    )
    allowances = {
        customer_id: allowance
        for customer_id, allowance in Miner.objects.filter(site=site, customer__curtailment_allowance_kw__isnull=False)
        .values_list("customer_id", "customer__curtailment_allowance_kw")
        .distinct()
        if allowance is not None
    }
    return SiteFleet(
        eligibility=eligibility,
        site_power_kw=Decimal(site_power_w) / 1000,
        allowances_kw=allowances,
        hashprice_usd_per_th_day=curtailment_hashprice(now=now),
    )


def _target(*, kind: str, value: Decimal, fleet: SiteFleet) -> Target:
    if kind not in CurtailmentTargetKind.values:
        raise InvalidInputError(fields={"target_kind": [f"must be one of {', '.join(CurtailmentTargetKind.values)}"]})
    if kind != CurtailmentTargetKind.THERMAL_C and value <= 0:
        raise InvalidInputError(fields={"target_value": ["must be greater than 0"]})
    try:
        return Target(
            kind=TargetKind(kind), value=value, site_power_kw=fleet.site_power_kw, allowances_kw=fleet.allowances_kw
        )
    except InvalidInputError as error:
        # The planner names its own fields; the request calls the value target_value.
        raise InvalidInputError(fields={"target_value": [m for ms in error.fields.values() for m in ms]}) from error


def curtailment_preview(*, site: Site, target_kind: str, target_value: Decimal, now: datetime) -> PlanPreview:
    """Every strategy's plan for the target at the site now, side by side; nothing is stored or sent."""
    fleet = curtailment_site_fleet(site=site, now=now)
    target = _target(kind=target_kind, value=target_value, fleet=fleet)
    return curtailment_plan_preview(
        candidates=fleet.eligibility.candidates, target=target, hashprice_usd_per_th_day=fleet.hashprice_usd_per_th_day
    )


def _check_request(*, request: CurtailmentRequest, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    if request.strategy not in CurtailmentStrategy.values:
        errors["strategy"] = [f"must be one of {', '.join(CurtailmentStrategy.values)}"]
    if request.source not in CurtailmentSource.values:
        errors["source"] = [f"must be one of {', '.join(CurtailmentSource.values)}"]
    if request.recover_at <= request.starts_at:
        errors["recover_at"] = ["must be after the start"]
    elif request.recover_at - request.starts_at > _MAX_DURATION:
        errors["recover_at"] = ["must be within 7 days of the start"]
    if request.starts_at < now - timedelta(minutes=5):
        errors["starts_at"] = ["must not be in the past"]
    if request.deadline is not None and request.deadline < request.starts_at:
        errors["deadline"] = ["must not be before the start"]
    if request.hold_minutes is not None and not 0 <= request.hold_minutes <= 24 * 60:
        errors["hold_minutes"] = ["must be between 0 and 1440"]
    if request.ramp_kw_per_minute is not None and request.ramp_kw_per_minute <= 0:
        errors["ramp_kw_per_minute"] = ["must be greater than 0"]
    if errors:
        raise InvalidInputError(fields=errors)


def plan_miner_rows(
    *, plan: CurtailmentPlan, result: PlanResult, fleet: SiteFleet, round_number: int
) -> list[CurtailmentPlanMiner]:
    """The plan's miner rows for one planner result (round 0 as planned, later rounds for a shortfall)."""
    by_id = {candidate.miner_id: candidate for candidate in fleet.eligibility.candidates}
    rows = []
    for choice in result.choices:
        candidate = by_id[choice.miner_id]
        rows.append(
            CurtailmentPlanMiner(
                plan=plan,
                miner_id=choice.miner_id,
                round=round_number,
                action=CurtailmentAction(choice.action.value),
                target_power_w=choice.target_power_w,
                planned_power_change_w=choice.power_change_w,
                planned_hashrate_change_ths=_ths(choice.hashrate_change_ths),
                nominal=candidate.nominal,
                baseline_power_w=candidate.power_w,
                baseline_hashrate_ths=candidate.hashrate_ths,
            )
        )
    return rows


def _ths(value: float) -> Decimal:
    """TH/s as stored: three decimals."""
    return Decimal(str(round(value, 3)))


def curtailment_plan_create(
    *,
    request: CurtailmentRequest,
    now: datetime,
    created_by: User | None = None,
    api_key: ApiKey | None = None,
    status: str = CurtailmentStatus.PENDING,
) -> CurtailmentPlan:
    """Plan the request on the site's miners as they are now and store the plan and its miners at once.

    A target the fleet cannot meet still makes a plan (the most that can be shed), with the shortfall said
    in its note. Bad values raise InvalidInputError naming each field.
    """
    _check_request(request=request, now=now)
    fleet = curtailment_site_fleet(site=request.site, now=now)
    target = _target(kind=request.target_kind, value=request.target_value, fleet=fleet)
    result = curtailment_plan(
        candidates=fleet.eligibility.candidates,
        target=target,
        strategy=request.strategy,
        hashprice_usd_per_th_day=fleet.hashprice_usd_per_th_day,
    )
    plan = CurtailmentPlan(
        site=request.site,
        target_kind=request.target_kind,
        target_value=request.target_value,
        strategy=request.strategy,
        status=status,
        source=request.source,
        scheduled_start=request.starts_at,
        recover_at=request.recover_at,
        deadline=request.deadline,
        hold_minutes=request.hold_minutes if request.hold_minutes is not None else settings.CURTAILMENT_HOLD_MINUTES,
        ramp_kw_per_minute=request.ramp_kw_per_minute or Decimal(settings.CURTAILMENT_RAMP_KW_PER_MINUTE),
        external_ref=request.external_ref,
        created_by=created_by,
        api_key=api_key,
        created_at=now,
        planned_shed_kw=Decimal(result.shed_w) / 1000,
        planned_hashrate_lost_ths=_ths(result.hashrate_lost_ths),
        bound_hashrate_lost_ths=None if result.lower_bound_ths is None else _ths(result.lower_bound_ths),
        note=_plan_note(result=result, fleet=fleet),
    )
    with transaction.atomic():
        plan.full_clean()
        plan.save()
        CurtailmentPlanMiner.objects.bulk_create(plan_miner_rows(plan=plan, result=result, fleet=fleet, round_number=0))
    return plan


def _plan_note(*, result: PlanResult, fleet: SiteFleet) -> str:
    lines: list[str] = []
    if not result.target_met:
        lines.append(f"Planned short of the target by {result.short_by:g} ({result.short_reason}).")
    excluded: dict[str, int] = {}
    for exclusion in fleet.eligibility.excluded:
        excluded[exclusion.reason] = excluded.get(exclusion.reason, 0) + 1
    if excluded:
        lines.append("Left out: " + ", ".join(f"{count} {reason}" for reason, count in sorted(excluded.items())) + ".")
    nominal = sum(1 for candidate in fleet.eligibility.candidates if candidate.nominal)
    if nominal:
        lines.append(f"{nominal} miners planned on nominal figures (no measured power or hashrate).")
    lines.extend(result.notes)
    return "\n".join(lines)


def curtailment_plans_active(*, site: Site) -> Sequence[CurtailmentPlan]:
    return list(CurtailmentPlan.objects.filter(site=site, status__in=ACTIVE_STATUSES).order_by("scheduled_start"))
