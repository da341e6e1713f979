"""The strategies: from candidates and a target to a plan, and every strategy side by side for a preview.

What each strategy guarantees, for a power target (shed kW, or a site cap turned into kW to shed):
- performance priority: turns off the least efficient miners (highest J/TH from their figures) until the
  target is met; no claim of optimality, its gap to the LP bound is reported for comparison.
- optimal: each miner on or off; the least hashrate lost among all such plans that meet the target,
  proved optimal (`optimal`), or within `gap_pct` of the proved lower bound when the proof runs out of
  its budget. The own planner, CBC or HiGHS can solve it.
- partial: as optimal, and a miner whose firmware takes a power target may instead be turned down to one
  of its curve's levels; the same guarantee over all such plans.
- customer-aware: priority tiers are lexicographic: no miner of a customer with a higher priority
  number is touched while a lower number could still shed more. A tier that cannot cover what is left
  sheds the most watts it can within the allowances (kW each customer's miners may shed at most), for
  the least loss; the last tier touched is planned as optimal, subject to the allowances. Allowances
  are never exceeded. `optimal` says the whole is proved; otherwise `gap_pct` bounds what could be
  gained. Miners are on or off.
When a target cannot be met, a plan sheds all the candidates can (within any allowances) and says by
how much and why it falls short.
For a count of miners every strategy takes the least efficient miners (customer-aware: lowest priority
tier first); for a thermal limit every strategy turns off exactly the miners hotter than it. Neither has
anything to optimise, so those plans carry no bound.
"""

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from operator import attrgetter

import numpy as np
from numpy.typing import NDArray

from mining_platform.core.errors import InvalidInputError

from .curves import GENERIC_CURVE, PowerCurve
from .domain import (
    Candidate,
    CurtailAction,
    PlanChoice,
    PlanPreview,
    PlanResult,
    ShortReason,
    Solver,
    Strategy,
    Target,
    TargetKind,
)
from .knapsack import CoverProblem, CoverSolution, IntArray, cover_lp_bound, cover_solve
from .milp import DEFAULT_GAP_REL, DEFAULT_TIME_LIMIT_S, milp_cover_solve

# The lowest power target sent to a miner; below it no ASIC hashes (services/miner_control.py).
POWER_TARGET_MIN_W = 100
_BAD_CANDIDATES_SHOWN = 5


@dataclass(frozen=True)
class Fleet:
    """The candidates as columns, built once and shared by every strategy of a preview."""

    candidates: tuple[Candidate, ...]
    miner_id: IntArray
    power_w: IntArray
    hashrate_ths: NDArray[np.float64]
    customer: IntArray  # dense index into `customer_ids`, -1 for the operator's own miners
    customer_ids: tuple[int, ...]
    priority: IntArray
    curve: IntArray  # index into `curves`, -1 where the miner takes no power target
    curves: tuple[PowerCurve, ...]
    chip_temp_c: NDArray[np.float64]  # nan where unknown
    nominal: NDArray[np.bool_]
    sleep: NDArray[np.bool_]

    @property
    def size(self) -> int:
        return len(self.candidates)


def fleet_from_candidates(candidates: Iterable[Candidate]) -> Fleet:
    """Check the candidates and lay them out as columns; InvalidInputError names the bad ones."""
    items = tuple(candidates)
    # One pass per field: about 7 ms per field at 100,000 candidates (transposing rows costs far more).
    fields = (
        "miner_id",
        "power_w",
        "hashrate_ths",
        "customer_id",
        "priority",
        "supports_power_target",
        "curve",
        "chip_temp_c",
        "nominal",
        "sleep_supported",
    )
    columns = [list(map(attrgetter(name), items)) for name in fields]
    ids_column, power_column, hashrate_column, customer_column, priority_column = columns[:5]
    supports_column, curve_column, temp_column, nominal_column, sleep_column = columns[5:]
    try:
        power = np.array(power_column, dtype=np.float64)
        hashrate = np.array(hashrate_column, dtype=np.float64)
        ids = np.array(ids_column, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(fields={"candidates": ["miner_id, power_w and hashrate_ths must be numbers"]}) from exc
    problems: list[str] = []
    bad_power = np.flatnonzero(~np.isfinite(power) | (power < 0) | (power != np.floor(power)))
    problems += [
        f"candidate {i} (miner {items[i].miner_id}): power_w must be whole watts, not negative"
        for i in bad_power[:_BAD_CANDIDATES_SHOWN].tolist()
    ]
    bad_hashrate = np.flatnonzero(~np.isfinite(hashrate) | (hashrate < 0))
    problems += [
        f"candidate {i} (miner {items[i].miner_id}): hashrate_ths must be a finite number, not negative"
        for i in bad_hashrate[:_BAD_CANDIDATES_SHOWN].tolist()
    ]
    unique_ids, counts = np.unique(ids, return_counts=True)
    problems += [f"miner {m} appears more than once" for m in unique_ids[counts > 1][:_BAD_CANDIDATES_SHOWN].tolist()]
    if problems:
        raise InvalidInputError(fields={"candidates": problems})

    customer_ids = tuple(sorted(set(customer_column) - {None}))
    customer_index: dict[int | None, int] = {customer_id: k for k, customer_id in enumerate(customer_ids)}
    customer_index[None] = -1
    # Candidates usually share a few curve objects: look them up by identity before hashing their points.
    curves: dict[PowerCurve, int] = {}
    by_identity: dict[int, int] = {}
    curve = np.full(len(items), -1, dtype=np.int64)
    for k in np.flatnonzero(np.array(supports_column, dtype=np.bool_)).tolist():
        chosen = curve_column[k] or GENERIC_CURVE
        index = by_identity.get(id(chosen))
        if index is None:
            index = by_identity[id(chosen)] = curves.setdefault(chosen, len(curves))
        curve[k] = index
    return Fleet(
        candidates=items,
        miner_id=ids,
        power_w=power.astype(np.int64),
        hashrate_ths=hashrate,
        customer=np.array([customer_index[c] for c in customer_column], dtype=np.int64),
        customer_ids=customer_ids,
        priority=np.array(priority_column, dtype=np.int64),
        curve=curve,
        curves=tuple(curves),
        chip_temp_c=np.array([math.nan if t is None else t for t in temp_column], dtype=np.float64),
        nominal=np.array(nominal_column, dtype=np.bool_),
        sleep=np.array(sleep_column, dtype=np.bool_),
    )


def _options(fleet: Fleet, *, partial: bool) -> tuple[IntArray, NDArray[np.float64], IntArray]:
    """Option columns: 0 leave it, then the power-target levels by falling power, last off.

    Also the target power of each option in W (0 where not a power target)."""
    levels = max((len(curve.points) for curve in fleet.curves), default=0) if partial else 0
    n, width = fleet.size, levels + 2
    shed = np.zeros((n, width), dtype=np.int64)
    loss = np.full((n, width), np.inf)
    loss[:, 0] = 0.0
    target_w = np.zeros((n, width), dtype=np.int64)
    power, hashrate = fleet.power_w, fleet.hashrate_ths
    shed[:, -1], loss[:, -1] = power, hashrate
    for index, curve in enumerate(fleet.curves if partial else ()):
        rows = np.flatnonzero(fleet.curve == index)
        for j, (power_fraction, hashrate_fraction) in enumerate(curve.points, start=1):
            watts = np.rint(power[rows] * power_fraction).astype(np.int64)
            usable = watts >= POWER_TARGET_MIN_W
            shed[rows, j] = power[rows] - watts
            target_w[rows, j] = watts
            loss[rows, j] = np.where(usable, hashrate[rows] * (1.0 - hashrate_fraction), np.inf)
    return shed, loss, target_w


def _required_w(target: Target, fleet: Fleet) -> int:
    value = Decimal(str(target.value))
    if target.kind == TargetKind.SITE_CAP_KW:
        site_kw = (
            Decimal(str(target.site_power_kw))
            if target.site_power_kw is not None
            else Decimal(int(fleet.power_w.sum())) / 1000
        )
        value = site_kw - value
    return max(0, int((value * 1000).to_integral_value(rounding=ROUND_CEILING)))


def _revenue(hashrate_lost_ths: float, hashprice: Decimal | None) -> Decimal | None:
    if hashprice is None:
        return None
    per_day = Decimal(str(round(hashrate_lost_ths, 6))) * hashprice
    return (per_day / 24).quantize(Decimal("0.01"))


def _choices(
    fleet: Fleet, choice: IntArray, shed: IntArray, loss: NDArray[np.float64], target_w: IntArray
) -> tuple[PlanChoice, ...]:
    off_column = shed.shape[1] - 1
    picked = np.flatnonzero(choice > 0)
    columns = choice[picked]
    watts = shed[picked, columns].tolist()
    lost = loss[picked, columns].tolist()
    targets = target_w[picked, columns].tolist()
    ids = fleet.miner_id[picked].tolist()
    sleeps = fleet.sleep[picked].tolist()
    off = [column == off_column for column in columns.tolist()]
    return tuple(
        map(
            PlanChoice,
            ids,
            [CurtailAction.OFF if is_off else CurtailAction.POWER_TARGET for is_off in off],
            [sleep and is_off for sleep, is_off in zip(sleeps, off, strict=True)],
            [None if is_off else target for target, is_off in zip(targets, off, strict=True)],
            [-w for w in watts],
            [-lo for lo in lost],
        )
    )


def _gap_pct(loss: float, lower: float | None) -> float | None:
    if lower is None or not math.isfinite(lower):
        return None
    if loss <= 0:
        return 0.0
    return max(0.0, 100.0 * (loss - lower) / loss)


def _nominal_note(fleet: Fleet, choice: IntArray) -> tuple[str, ...]:
    planned_on_nominal = int(np.count_nonzero(fleet.nominal[choice > 0]))
    if planned_on_nominal:
        return (f"{planned_on_nominal} chosen miners are planned on nominal figures (no fresh measurement)",)
    return ()


@dataclass(frozen=True)
class _Context:
    fleet: Fleet
    target: Target
    hashprice: Decimal | None
    time_limit_s: float
    gap_rel: float


def _result(
    ctx: _Context,
    *,
    strategy: Strategy,
    solver: Solver,
    choice: IntArray,
    options: tuple[IntArray, NDArray[np.float64], IntArray],
    required_w: int | None,
    lp_bound: float | None,
    lower_bound: float | None,
    optimal: bool,
    status: str,
    started: float,
    short_reason: ShortReason | None = None,
    notes: tuple[str, ...] = (),
) -> PlanResult:
    shed, loss, target_w = options
    rows = np.arange(choice.size)
    shed_w = int(shed[rows, choice].sum())
    lost = float(loss[rows, choice].sum())
    if ctx.target.kind == TargetKind.MINERS:
        short_by = max(0.0, float(ctx.target.value) - int(np.count_nonzero(choice)))
    elif required_w is not None:
        short_by = max(0, required_w - shed_w) / 1000
    else:
        short_by = 0.0
    met = short_by <= 0
    if met:
        short_reason = None
    elif short_reason is None:
        short_reason = ShortReason.NOTHING_LEFT
    finite_lp = lp_bound if lp_bound is not None and math.isfinite(lp_bound) else None
    finite_lower = lower_bound if lower_bound is not None and math.isfinite(lower_bound) else None
    return PlanResult(
        strategy=strategy,
        solver=solver,
        target=ctx.target,
        required_w=required_w,
        choices=_choices(ctx.fleet, choice, shed, loss, target_w),
        shed_w=shed_w,
        hashrate_lost_ths=lost,
        target_met=met,
        short_by=short_by,
        short_reason=short_reason,
        lp_bound_ths=finite_lp,
        # A proved optimum is its own lower bound (sums of floats in another order differ in the last bits).
        lower_bound_ths=lost if optimal and met else finite_lower,
        gap_pct=(0.0 if optimal else _gap_pct(lost, finite_lower)) if met else None,
        optimal=optimal and met,
        status=status,
        solve_seconds=time.perf_counter() - started,
        revenue_lost_usd_per_hour=_revenue(lost, ctx.hashprice),
        notes=notes + _nominal_note(ctx.fleet, choice),
    )


def _efficiency_order(fleet: Fleet, *, by_priority: bool) -> IntArray:
    """Miners that draw power, least efficient (highest J/TH, i.e. least TH/s per W) first; ties by id."""
    drawing = np.flatnonzero(fleet.power_w > 0)
    ths_per_w = fleet.hashrate_ths[drawing] / fleet.power_w[drawing]
    keys = (fleet.miner_id[drawing], ths_per_w) + ((fleet.priority[drawing],) if by_priority else ())
    return drawing[np.lexsort(keys)]


def _solve(ctx: _Context, problem: CoverProblem, solver: Solver) -> CoverSolution:
    if solver == Solver.OWN:
        return cover_solve(problem)
    return milp_cover_solve(problem, solver=solver, time_limit_s=ctx.time_limit_s, gap_rel=ctx.gap_rel)


def _short_reason(ctx: _Context, required_w: int) -> ShortReason:
    """Why a power target was missed: too little power in the candidates at all, or the allowances."""
    return ShortReason.NOTHING_LEFT if int(ctx.fleet.power_w.sum()) < required_w else ShortReason.ALLOWANCES


def _plan_count_or_thermal(ctx: _Context, strategy: Strategy, started: float) -> PlanResult:
    fleet, target = ctx.fleet, ctx.target
    options = _options(fleet, partial=False)
    choice = np.zeros(fleet.size, dtype=np.int64)
    notes: tuple[str, ...] = ()
    if target.kind == TargetKind.MINERS:
        order = _efficiency_order(fleet, by_priority=strategy == Strategy.CUSTOMER_AWARE)
        choice[order[: int(target.value)]] = 1
        notes = ("a count of miners: the least efficient are taken; there is no power to optimise",)
    else:
        hot = fleet.chip_temp_c > float(target.value)
        choice[hot] = 1
        unknown = int(np.count_nonzero(np.isnan(fleet.chip_temp_c)))
        if unknown:
            notes = (f"{unknown} miners report no chip temperature and were left alone",)
    return _result(
        ctx,
        strategy=strategy,
        solver=Solver.GREEDY,
        choice=choice,
        options=options,
        required_w=None,
        lp_bound=None,
        lower_bound=None,
        optimal=False,
        status="planned",
        started=started,
        notes=notes,
    )


def _plan_performance(ctx: _Context, started: float) -> PlanResult:
    fleet = ctx.fleet
    required = _required_w(ctx.target, fleet)
    options = _options(fleet, partial=False)
    order = _efficiency_order(fleet, by_priority=False)
    cumulative = np.cumsum(fleet.power_w[order])
    taken = int(np.searchsorted(cumulative, required, side="left")) + 1 if required > 0 else 0
    choice = np.zeros(fleet.size, dtype=np.int64)
    choice[order[:taken]] = 1
    bound = cover_lp_bound(CoverProblem(options[0], options[1], required))
    return _result(
        ctx,
        strategy=Strategy.PERFORMANCE_PRIORITY,
        solver=Solver.GREEDY,
        choice=choice,
        options=options,
        required_w=required,
        lp_bound=bound,
        lower_bound=bound,
        optimal=False,
        status="planned",
        started=started,
    )


def _plan_cover(ctx: _Context, strategy: Strategy, solver: Solver, started: float) -> PlanResult:
    fleet = ctx.fleet
    required = _required_w(ctx.target, fleet)
    options = _options(fleet, partial=strategy == Strategy.PARTIAL)
    solution = _solve(ctx, CoverProblem(options[0], options[1], required), solver)
    return _result(
        ctx,
        strategy=strategy,
        solver=solver,
        choice=solution.choice,
        options=options,
        required_w=required,
        lp_bound=solution.lp_bound_ths,
        lower_bound=solution.lower_bound_ths,
        optimal=solution.optimal,
        status=solution.status,
        started=started,
    )


def _allowances_w(ctx: _Context) -> IntArray:
    """Each customer's allowance in W (floored: never above what was allowed), -1 for no allowance."""
    caps = np.full(len(ctx.fleet.customer_ids), -1, dtype=np.int64)
    for k, customer_id in enumerate(ctx.fleet.customer_ids):
        allowance = ctx.target.allowances_kw.get(customer_id)
        if allowance is not None:
            caps[k] = int(Decimal(str(allowance)) * 1000)
    return caps


def _plan_customer_aware(ctx: _Context, solver: Solver, started: float) -> PlanResult:
    fleet = ctx.fleet
    required = _required_w(ctx.target, fleet)
    shed, loss, target_w = _options(fleet, partial=False)
    caps = _allowances_w(ctx)
    capped_customers = np.flatnonzero(caps >= 0)
    # Allowance groups: capped customers only, renumbered densely; their remaining watts shrink tier by tier.
    group_of_customer = np.full(caps.size + 1, -1, dtype=np.int64)
    group_of_customer[capped_customers] = np.arange(capped_customers.size)
    group = group_of_customer[fleet.customer]  # customer -1 reads the spare last slot: no group
    room = caps[capped_customers].copy()

    choice = np.zeros(fleet.size, dtype=np.int64)
    remaining = required
    lp_total = lower_total = 0.0
    optimal, status, short_reason = True, "optimal", None
    notes: list[str] = []
    for tier in np.unique(fleet.priority).tolist():
        if remaining <= 0:
            break
        members = np.flatnonzero(fleet.priority == tier)
        problem = CoverProblem(shed[members], loss[members], remaining, group[members], room.copy())
        solution = _solve(ctx, problem, solver)
        choice[members] = solution.choice
        watts = shed[members, solution.choice]
        remaining -= int(watts.sum())
        in_group = group[members] >= 0
        room -= np.bincount(group[members][in_group], weights=watts[in_group], minlength=room.size).astype(np.int64)
        if solution.feasible:
            lp_total += solution.lp_bound_ths
            lower_total += solution.lower_bound_ths
            optimal, status = optimal and solution.optimal, solution.status
            break
        # The tier cannot cover what is left: it sheds all it can (as far as the allowances let, most watts
        # first, then least loss) before the next tier is touched. That loss is forced when the most watts
        # were found exactly; otherwise the LP bound for those watts stands in and optimality is not claimed.
        tier_lost = float(loss[members, solution.choice].sum())
        if solution.optimal:
            lp_total += tier_lost
            lower_total += tier_lost
        else:
            bound = cover_lp_bound(CoverProblem(shed[members], loss[members], int(watts.sum())))
            lp_total += bound
            lower_total += bound
            optimal = False
            notes.append(f"priority {tier}: the most watts within the allowances were not found exactly")
    if remaining > 0:
        short_reason = _short_reason(ctx, required)
        status = "infeasible"
    return _result(
        ctx,
        strategy=Strategy.CUSTOMER_AWARE,
        solver=solver,
        choice=choice,
        options=(shed, loss, target_w),
        required_w=required,
        lp_bound=lp_total,
        lower_bound=lower_total,
        optimal=optimal,
        status=status,
        started=started,
        short_reason=short_reason,
        notes=tuple(notes),
    )


def _check_hashprice(hashprice: Decimal | None) -> None:
    if hashprice is not None and (not hashprice.is_finite() or hashprice < 0):
        raise InvalidInputError(fields={"hashprice_usd_per_th_day": ["must be a finite amount, not negative"]})


def curtailment_plan(
    *,
    candidates: Sequence[Candidate] | Fleet,
    target: Target,
    strategy: Strategy | str,
    solver: Solver | str | None = None,
    hashprice_usd_per_th_day: Decimal | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    gap_rel: float = DEFAULT_GAP_REL,
) -> PlanResult:
    """One strategy's plan for `target` (see the module docstring for what each guarantees).

    `solver` applies to optimal, partial and customer-aware (default: the own planner); CBC and HiGHS
    are time-boxed by `time_limit_s` and stop within `gap_rel` of their bound.
    """
    started = time.perf_counter()
    if strategy not in Strategy.__members__.values():
        raise InvalidInputError(
            fields={"strategy": [f"unknown strategy {strategy!r}; use one of {', '.join(Strategy)}"]}
        )
    strategy = Strategy(strategy)
    if solver is not None and solver not in Solver.__members__.values():
        raise InvalidInputError(fields={"solver": [f"unknown solver {solver!r}; use one of {', '.join(Solver)}"]})
    if strategy == Strategy.PERFORMANCE_PRIORITY and solver not in (None, Solver.GREEDY):
        raise InvalidInputError(fields={"solver": ["performance priority is a sort: it takes no solver"]})
    chosen_solver = Solver(solver) if solver is not None else Solver.OWN
    if strategy != Strategy.PERFORMANCE_PRIORITY and chosen_solver == Solver.GREEDY:
        raise InvalidInputError(fields={"solver": ["use own, cbc or highs for this strategy"]})
    if not (time_limit_s > 0 and math.isfinite(time_limit_s)):
        raise InvalidInputError(fields={"time_limit_s": ["must be a positive number of seconds"]})
    if not 0 <= gap_rel < 1:
        raise InvalidInputError(fields={"gap_rel": ["must lie in [0, 1)"]})
    _check_hashprice(hashprice_usd_per_th_day)
    fleet = candidates if isinstance(candidates, Fleet) else fleet_from_candidates(candidates)
    ctx = _Context(fleet, target, hashprice_usd_per_th_day, time_limit_s, gap_rel)

    if target.kind in (TargetKind.MINERS, TargetKind.THERMAL_C):
        result = _plan_count_or_thermal(ctx, strategy, started)
    elif strategy == Strategy.PERFORMANCE_PRIORITY:
        result = _plan_performance(ctx, started)
    elif strategy == Strategy.CUSTOMER_AWARE:
        result = _plan_customer_aware(ctx, chosen_solver, started)
    else:
        result = _plan_cover(ctx, strategy, chosen_solver, started)
    if target.kind == TargetKind.SITE_CAP_KW and target.site_power_kw is None:
        site_kw = int(fleet.power_w.sum()) / 1000
        note = f"no site draw given: the candidates' draw ({site_kw:g} kW) was taken as the site's"
        result = replace(result, notes=(note, *result.notes))
    return result


def curtailment_plan_preview(
    *,
    candidates: Sequence[Candidate],
    target: Target,
    hashprice_usd_per_th_day: Decimal | None = None,
) -> PlanPreview:
    """Every strategy's plan for `target` with the own planner, side by side, before anything is sent."""
    _check_hashprice(hashprice_usd_per_th_day)
    fleet = fleet_from_candidates(candidates)
    return PlanPreview(
        target=target,
        results=tuple(
            curtailment_plan(
                candidates=fleet, target=target, strategy=strategy, hashprice_usd_per_th_day=hashprice_usd_per_th_day
            )
            for strategy in Strategy
        ),
    )
