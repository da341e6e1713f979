"""Reads behind the curtailment page and API: plans with their miner counts, each site's state now, the
strategies' preview shaped for a table, and the site's power around an event for its chart."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from mining_platform.core.errors import NotFoundError

from .choices import CurtailmentStatus, CurtailmentStep, CurtailmentTargetKind, MinerStatus
from .models import CurtailmentPlan, CurtailmentPlanMiner, Miner, MinerLatest, Site
from .selectors_series import telemetry_series
from .services.curtailment_planner import PlanPreview, PlanResult
from .services.curtailment_plans import ACTIVE_STATUSES

# Minutes of site power shown before the start and after the recovery of an event.
CHART_MARGIN = timedelta(minutes=30)
PREVIEW_MINERS_SHOWN = 200
CANCELLABLE = (CurtailmentStatus.DRAFT, CurtailmentStatus.PENDING)
RECOVERABLE = (CurtailmentStatus.EXECUTING, CurtailmentStatus.EXECUTED)
FINISHED = (CurtailmentStatus.RECOVERED, CurtailmentStatus.CANCELLED, CurtailmentStatus.FAILED)


def curtailment_plan_list(*, site_id: int | None = None) -> QuerySet[CurtailmentPlan]:
    """Plans, newest start first, with their site and creator and counts of their miners' outcomes."""
    plans = CurtailmentPlan.objects.select_related("site", "created_by", "api_key").annotate(
        miner_count=Count("plan_miners"),
        commands_failed=Count("plan_miners", filter=Q(plan_miners__command_step=CurtailmentStep.FAILED)),
        miners_confirmed=Count("plan_miners", filter=Q(plan_miners__confirmed_at__isnull=False)),
        miners_recovered=Count("plan_miners", filter=Q(plan_miners__recovery_step=CurtailmentStep.CONFIRMED)),
        recoveries_failed=Count("plan_miners", filter=Q(plan_miners__recovery_step=CurtailmentStep.FAILED)),
    )
    if site_id is not None:
        plans = plans.filter(site_id=site_id)
    return plans.order_by("-scheduled_start", "-id")


def curtailment_plan_get(*, plan_id: int, with_miners: bool = False) -> CurtailmentPlan:
    """One plan (with its miners and their addresses when asked); NotFoundError when there is none."""
    plans = curtailment_plan_list()
    if with_miners:
        plans = plans.prefetch_related(
            Prefetch(
                "plan_miners",
                queryset=CurtailmentPlanMiner.objects.select_related("miner", "miner__miner_model").order_by(
                    "round", "id"
                ),
            )
        )
    plan = plans.filter(pk=plan_id).first()
    if plan is None:
        raise NotFoundError(f"Curtailment plan {plan_id} not found.")
    return plan


@dataclass(frozen=True)
class PlanRow:
    """A plan as the page lists it, with what the operator may do to it."""

    plan: CurtailmentPlan
    miner_count: int
    commands_failed: int
    miners_confirmed: int
    miners_recovered: int
    recoveries_failed: int
    # Measured shed as a share of the target, for shed targets once measured (percent).
    achieved_pct: float | None

    @property
    def can_cancel(self) -> bool:
        return self.plan.status in CANCELLABLE

    @property
    def can_recover_now(self) -> bool:
        return self.plan.status in RECOVERABLE

    @property
    def has_chart(self) -> bool:
        return self.plan.executed_at is not None or self.plan.claimed_at is not None


def plan_row(plan: CurtailmentPlan) -> PlanRow:
    """Shape one plan from `curtailment_plan_list` (its counts are annotated there)."""
    achieved = None
    if plan.measured_shed_kw is not None and plan.target_kind == CurtailmentTargetKind.SHED_KW and plan.target_value:
        achieved = float(plan.measured_shed_kw / plan.target_value * 100)
    return PlanRow(
        plan=plan,
        miner_count=getattr(plan, "miner_count", 0),
        commands_failed=getattr(plan, "commands_failed", 0),
        miners_confirmed=getattr(plan, "miners_confirmed", 0),
        miners_recovered=getattr(plan, "miners_recovered", 0),
        recoveries_failed=getattr(plan, "recoveries_failed", 0),
        achieved_pct=achieved,
    )


@dataclass(frozen=True)
class PlanMinerRow:
    """One miner of a plan as its page lists it; the planner stores changes signed (negative: shed)."""

    row: CurtailmentPlanMiner
    shed_w: int
    lost_ths: Decimal


def plan_miner_rows_shaped(rows: Iterable[CurtailmentPlanMiner]) -> list[PlanMinerRow]:
    return [
        PlanMinerRow(row=row, shed_w=abs(row.planned_power_change_w), lost_ths=abs(row.planned_hashrate_change_ths))
        for row in rows
    ]


@dataclass(frozen=True)
class SiteState:
    """One site now: its miners, their measured draw, and its current and planned curtailment."""

    site: Site
    miners: int
    online: int
    stopped: int
    reporting: int  # miners with a fresh reading
    power_kw: Decimal  # the fresh readings' draw (nominal where a running miner reports none)
    active: tuple[PlanRow, ...]

    @property
    def load_pct(self) -> float | None:
        if not self.site.power_capacity_kw:
            return None
        return float(self.power_kw / self.site.power_capacity_kw * 100)


def _site_power(*, site_ids: Sequence[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Site id -> (miners with a fresh reading, their draw in W), counted as the planner counts it."""
    fresh_since = now - timedelta(seconds=settings.CURTAILMENT_FRESH_SECONDS)
    draw = Coalesce(
        "power_w",
        Case(When(is_sleeping=True, then=Value(0)), default=F("miner__nominal_power_w"), output_field=IntegerField()),
    )
    rows = (
        MinerLatest.objects.filter(miner__site_id__in=site_ids, outcome="ok", recorded_at__gte=fresh_since)
        .values("miner__site_id")
        .annotate(reporting=Count("pk"), power_w=Sum(draw))
        .order_by()
    )
    return {row["miner__site_id"]: (row["reporting"], row["power_w"] or 0) for row in rows}


def curtailment_site_states(*, now: datetime, site_id: int | None = None) -> list[SiteState]:
    """Every site (or one) with its draw now and its active plans, by site name."""
    sites = Site.objects.order_by("name").annotate(
        miner_total=Count("miners", distinct=True),
        miner_online=Count("miners", filter=Q(miners__status=MinerStatus.ONLINE), distinct=True),
        miner_stopped=Count("miners", filter=Q(miners__status=MinerStatus.STOPPED), distinct=True),
    )
    if site_id is not None:
        sites = sites.filter(pk=site_id)
    site_list = list(sites)
    power = _site_power(site_ids=[site.pk for site in site_list], now=now)
    active: dict[int, list[PlanRow]] = {}
    for plan in (
        curtailment_plan_list()
        .filter(site_id__in=[site.pk for site in site_list], status__in=[*ACTIVE_STATUSES, CurtailmentStatus.DRAFT])
        .order_by("scheduled_start", "id")
    ):
        active.setdefault(plan.site_id, []).append(plan_row(plan))
    return [
        SiteState(
            site=site,
            miners=getattr(site, "miner_total", 0),
            online=getattr(site, "miner_online", 0),
            stopped=getattr(site, "miner_stopped", 0),
            reporting=power.get(site.pk, (0, 0))[0],
            power_kw=Decimal(power.get(site.pk, (0, 0))[1]) / 1000,
            active=tuple(active.get(site.pk, [])),
        )
        for site in site_list
    ]


def curtailment_history(*, site_id: int | None = None) -> QuerySet[CurtailmentPlan]:
    """Plans that are over (recovered, cancelled or failed), most recent first, for paging."""
    return curtailment_plan_list(site_id=site_id).filter(status__in=FINISHED)


# --- The preview, shaped for a side-by-side table ---------------------------------------------------


@dataclass(frozen=True)
class PreviewMiner:
    miner_id: int
    address: str
    place: str  # rack/position
    model: str
    action: str
    target_power_w: int | None
    power_change_kw: float
    hashrate_change_ths: float


@dataclass(frozen=True)
class PreviewColumn:
    """One strategy's plan: its figures, and the first miners it chose."""

    result: PlanResult
    label: str
    miners: tuple[PreviewMiner, ...]
    miners_hidden: int  # chosen but not listed (the list is cut at PREVIEW_MINERS_SHOWN)
    gap_to_bound_ths: float | None

    @property
    def strategy(self) -> str:
        return self.result.strategy.value


@dataclass(frozen=True)
class PreviewTable:
    columns: tuple[PreviewColumn, ...]
    hashprice_usd_per_th_day: Decimal | None
    best_strategy: str | None  # the least hashrate lost among the plans that meet the target


def _miner_lookup(miner_ids: Iterable[int]) -> dict[int, Miner]:
    return {m.pk: m for m in Miner.objects.filter(pk__in=set(miner_ids)).select_related("miner_model")}


def curtailment_preview_table(
    *, preview: PlanPreview, labels: dict[str, str], hashprice_usd_per_th_day: Decimal | None
) -> PreviewTable:
    """Every strategy's plan side by side, with the miners each chose (one query for all of them)."""
    shown = {result.strategy.value: result.choices[:PREVIEW_MINERS_SHOWN] for result in preview.results}
    miners = _miner_lookup(choice.miner_id for choices in shown.values() for choice in choices)
    columns = []
    for result in preview.results:
        listed = []
        for choice in shown[result.strategy.value]:
            miner = miners.get(choice.miner_id)
            listed.append(
                PreviewMiner(
                    miner_id=choice.miner_id,
                    address=f"{miner.ip}:{miner.port}" if miner else str(choice.miner_id),
                    place="/".join(p for p in (miner.rack, miner.position) if p) if miner else "",
                    model=str(miner.miner_model) if miner else "",
                    action="sleep" if choice.sleep else choice.action.value,
                    target_power_w=choice.target_power_w,
                    power_change_kw=-choice.power_change_w / 1000,
                    hashrate_change_ths=-choice.hashrate_change_ths,
                )
            )
        gap = None
        if result.lower_bound_ths is not None:
            gap = max(result.hashrate_lost_ths - result.lower_bound_ths, 0.0)
        columns.append(
            PreviewColumn(
                result=result,
                label=labels.get(result.strategy.value, result.strategy.value),
                miners=tuple(listed),
                miners_hidden=max(len(result.choices) - len(listed), 0),
                gap_to_bound_ths=gap,
            )
        )
    meeting = [c for c in columns if c.result.target_met and c.result.choices]
    best = min(meeting, key=lambda c: c.result.hashrate_lost_ths).strategy if meeting else None
    return PreviewTable(columns=tuple(columns), hashprice_usd_per_th_day=hashprice_usd_per_th_day, best_strategy=best)


# --- The site's power around an event ------------------------------------------------------------------


@dataclass(frozen=True)
class PowerPoint:
    at: datetime
    power_kw: float
    miners: int  # miners counted in the point


@dataclass(frozen=True)
class PowerMarker:
    at: datetime
    label: str
    kind: str  # start, recovery, recovered, now


@dataclass(frozen=True)
class PowerSeries:
    """The site's draw over [start, end) (up to now), one point per minute (raw) or per rollup bucket."""

    plan_id: int
    site_id: int
    start: datetime
    end: datetime
    resolution: str  # "1m", "5m" or "1h"
    points: tuple[PowerPoint, ...]
    markers: tuple[PowerMarker, ...]
    baseline_kw: float | None
    target_kw: float | None  # the draw the plan aims at or below (shed and cap targets)


_MINUTE = timedelta(minutes=1)


def _power_points(*, site_id: int, start: datetime, end: datetime) -> tuple[list[PowerPoint], str]:
    """The site's draw from the shared history series: per minute from raw polls (shards polled apart
    added up), from rollups for long events; and the resolution used."""
    series = telemetry_series(site_id=site_id, start=start, end=end, raw_step=_MINUTE)
    points = [PowerPoint(at=point.t, power_kw=point.power_kw, miners=point.miners) for point in series.points]
    return points, series.resolution


def _event_window(plan: CurtailmentPlan) -> tuple[datetime, datetime]:
    started = plan.executed_at or plan.claimed_at or plan.scheduled_start
    ended = max(plan.recover_at, plan.finished_at or plan.recover_at)
    return started - CHART_MARGIN, ended + CHART_MARGIN


def _markers(plan: CurtailmentPlan, *, now: datetime, end: datetime) -> tuple[PowerMarker, ...]:
    markers = [PowerMarker(at=plan.executed_at or plan.scheduled_start, label="Start", kind="start")]
    recovery = plan.recovery_started_at or plan.recover_at
    markers.append(PowerMarker(at=recovery, label="Recovery", kind="recovery"))
    if plan.status == CurtailmentStatus.RECOVERED and plan.finished_at is not None:
        markers.append(PowerMarker(at=plan.finished_at, label="Recovered", kind="recovered"))
    elif now < end:
        # A plan still on: readings stop here, the axis runs on to the recovery.
        markers.append(PowerMarker(at=now, label="Now", kind="now"))
    return tuple(markers)


def _target_kw(plan: CurtailmentPlan) -> float | None:
    if plan.target_kind == CurtailmentTargetKind.SITE_CAP_KW:
        return float(plan.target_value)
    if plan.target_kind == CurtailmentTargetKind.SHED_KW and plan.baseline_power_kw is not None:
        return float(plan.baseline_power_kw - plan.target_value)
    return None


def curtailment_power_series(*, plan: CurtailmentPlan, now: datetime) -> PowerSeries:
    """The site's draw from 30 min before the plan's start to 30 min after its recovery.

    The window is the event's whole span (the chart's axis); readings stop at `now` for a plan still on.
    """
    start, end = _event_window(plan)
    until = min(end, now)
    span = until - start
    if span <= timedelta():
        points: list[PowerPoint] = []
        resolution = "1m"
    else:
        points, resolution = _power_points(site_id=plan.site_id, start=start, end=until)
    return PowerSeries(
        plan_id=plan.pk,
        site_id=plan.site_id,
        start=start,
        end=end,
        resolution=resolution,
        points=tuple(points),
        markers=_markers(plan, now=now, end=end),
        baseline_kw=None if plan.baseline_power_kw is None else float(plan.baseline_power_kw),
        target_kw=_target_kw(plan),
    )
