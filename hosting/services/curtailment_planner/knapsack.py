"""The covering knapsack behind the optimal, partial and customer-aware strategies, solved with numpy.

Each item (a miner) has options: option 0 leaves it alone, the others shed `shed_w[i, j]` watts for
`loss_ths[i, j]` TH/s (off, or a power target). Pick one option per item so that the watts shed reach
`required_w` and the TH/s lost are least, optionally with at most `cap_w[g]` watts shed from the items of
each allowance group g (a customer). With only "off" per item this is the 0-1 covering knapsack; with
power targets it is the multiple-choice one.

How it is solved, and why the result carries a proof:
1. LP relaxation. Per item, the lower convex hull of its options (from "leave it") gives segments whose
   slopes (TH/s lost per W shed) rise along the item; taking segments across all items in order of slope
   until the watts are reached, the last one in part, is the LP optimum (for allowances, each group's
   segments are cut at its cap first: the constraints are nested, so taking the cheapest first stays
   optimal). Its value is a lower bound on any plan's loss. The slope where the target is reached is
   the watt price `lam` (a group held at its cap has its own lower price).
2. Reduced costs. For any plan, loss - LP bound = lam * (excess watts) + (price times spare cap of
   capped groups) + sum over items of (r[i, chosen] - min_j r[i, j]), with r = loss - price * shed, and
   every term is >= 0. So an item whose second-best reduced cost exceeds its best by `delta_i` costs at
   least `delta_i` over the bound whenever it leaves its LP option.
3. Greedy. The LP's options for every item, then the next cheapest segments until the watts are met: a
   feasible plan, usually within one miner's hashrate of the bound.
4. Exact repair. The items with the smallest `delta` (the core: those near the break) are re-planned
   exactly by dynamic programming over watts (covering: least loss to shed at least c watts, c up to the
   core's share of the target, in steps of the greatest common divisor of the core's watts); the others
   keep their LP options. An allowance group enters the DP as one unit: its items whose delta is below
   the gap, combined by an exact-sum DP over watts within the group's remaining cap (combinations that
   provably cannot beat the current plan dropped, then those beaten by more watts for no more loss); a
   group too large for that contributes its few nearest items, combined exhaustively.
5. Proof. Any plan better than the core's optimum must move some item outside the core off its LP option,
   so it loses at least LP bound + min delta outside the core. Hence
   lower bound = min(core optimum, LP bound + min outside delta), and the plan is proved optimal when that
   reaches its loss. If not, the core is widened to every item whose delta is below the remaining gap,
   while the DP stays within its budget; whatever is left is reported as the gap.
6. Short of the target (not even the LP reaches it, or no whole-miner plan does within the allowances),
   the plan sheds the most watts it can, for the least loss: every item at its largest option, and in an
   allowance group that cannot all go, the largest total within the cap by the same exact-sum DP.
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

# Work allowed in one exact repair: DP cells (options times watt steps). About 0.1 s of numpy.
DP_CELL_BUDGET = 15_000_000
# Items re-planned exactly in the first round; later rounds widen it when the gap says so.
FIRST_CORE_ITEMS = 64
# Attempts at the exact repair, widening the core while the gap asks for it, narrowing it when over budget.
MAX_CORE_ROUNDS = 6
# An allowance group's core items are combined exhaustively (fewer watts may leave room for another
# item, so partial combinations cannot be pruned): at most this many items per group, the ones with the
# smallest delta, and at most this many distinct watt totals, else the core is shrunk.
MAX_GROUP_CORE_ITEMS = 10
MAX_GROUP_PROFILE = 4_000
# Work allowed for one allowance group's exact-sum DP (options times watt steps of its room).
GROUP_DP_BUDGET = 4_000_000


@dataclass(frozen=True)
class CoverProblem:
    """Options per item (row), option 0 being "leave it": 0 W, 0 TH/s. `inf` loss: no such option."""

    shed_w: IntArray  # (n, m)
    loss_ths: FloatArray  # (n, m)
    required_w: int
    group: IntArray | None = None  # (n,): each item's allowance group, -1 for none
    cap_w: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (groups,)


@dataclass(frozen=True, kw_only=True)
class CoverSolution:
    choice: IntArray  # (n,): the option taken per item
    shed_w: int
    loss_ths: float
    feasible: bool  # the watts asked are reached
    lp_feasible: bool  # the LP relaxation reaches them (False: not even fractions of miners would do)
    lp_bound_ths: float  # inf when the LP is infeasible
    lower_bound_ths: float
    optimal: bool
    core_items: int
    seconds: float
    status: str = "optimal"  # optimal, feasible (bound not reached), infeasible; or a MILP solver's word
    build_seconds: float = 0.0  # MILP only: building the model


@dataclass(kw_only=True)
class _Lp:
    feasible: bool
    bound: float
    price: FloatArray  # (n,) watt price per item: lam, or the group's price when held at its cap
    seg_item: IntArray  # segments in slope order: item, from option, to option, watts
    seg_from: IntArray
    seg_to: IntArray
    seg_shed: IntArray
    seg_slope: FloatArray
    lam: float


def cover_options(problem: CoverProblem) -> tuple[IntArray, FloatArray]:
    """The problem's options with the unusable ones (no watts, or a closed allowance group) removed."""
    shed = np.asarray(problem.shed_w, dtype=np.int64)
    loss = np.array(problem.loss_ths, dtype=np.float64)
    # Options must shed more watts column by column (the hull walks them in that order): one that sheds
    # no more than an earlier option is dropped, as is one that sheds nothing. An allowance of 0 W
    # forbids the group.
    loss[:, 1:][shed[:, 1:] <= 0] = np.inf
    for j in range(2, shed.shape[1]):
        earlier = np.where(np.isfinite(loss[:, 1:j]), shed[:, 1:j], 0).max(axis=1)
        loss[shed[:, j] <= earlier, j] = np.inf
    if problem.group is not None and problem.cap_w.size:
        closed = np.flatnonzero(problem.cap_w <= 0)
        if closed.size:
            loss[np.isin(problem.group, closed), 1:] = np.inf
    shed = np.where(np.isfinite(loss), shed, 0)
    return shed, loss


def _lower_hulls(shed: IntArray, loss: FloatArray) -> tuple[IntArray, IntArray]:
    """Per item, the option indices on the lower convex hull from (0, 0), by rising watts (monotone chain).

    Options must come in rising watts per item; the loop runs over the few option columns, never items.
    """
    n, m = shed.shape
    watts = shed.astype(np.float64)
    stack = np.zeros((n, m), dtype=np.int64)
    top = np.ones(n, dtype=np.int64)
    for j in range(1, m):
        rows = np.flatnonzero(np.isfinite(loss[:, j]))
        if rows.size == 0:
            continue
        sel = np.arange(rows.size)
        while sel.size:
            sel = sel[top[rows[sel]] >= 2]
            if sel.size == 0:
                break
            r = rows[sel]
            a, b = stack[r, top[r] - 2], stack[r, top[r] - 1]
            sa, la, sb, lb = watts[r, a], loss[r, a], watts[r, b], loss[r, b]
            cross = (sb - sa) * (loss[r, j] - la) - (lb - la) * (watts[r, j] - sa)
            sel = sel[cross <= 0]  # b is not below the chord a-j: not on the hull
            top[rows[sel]] -= 1
        stack[rows, top[rows]] = j
        top[rows] += 1
    return stack, top


def _lp(problem: CoverProblem, shed: IntArray, loss: FloatArray) -> _Lp:
    n, m = shed.shape
    required = problem.required_w
    if m == 2:  # only "off": each item is one segment
        item = np.flatnonzero(np.isfinite(loss[:, 1]))
        k = np.zeros(item.size, dtype=np.int64)
        stack = np.zeros((n, 2), dtype=np.int64)
        stack[:, 1] = 1
    else:
        stack, top = _lower_hulls(shed, loss)
        mask = np.arange(m - 1)[None, :] < (top - 1)[:, None]
        item, k = np.nonzero(mask)
    start, end = stack[item, k], stack[item, k + 1]
    seg_shed = shed[item, end] - shed[item, start]
    seg_loss = loss[item, end] - loss[item, start]
    slope = seg_loss / seg_shed
    # Within an item the hull's slopes rise, so a stable sort keeps its segments in order.
    order = np.argsort(slope, kind="stable")
    item, start, end, seg_shed, slope = item[order], start[order], end[order], seg_shed[order], slope[order]

    allowed = seg_shed
    seg_group: IntArray | None = None
    if problem.group is not None and problem.cap_w.size:
        seg_group = problem.group[item]
        allowed = seg_shed.copy()
        capped = np.flatnonzero(seg_group >= 0)
        if capped.size:
            by_group = capped[np.argsort(seg_group[capped], kind="stable")]
            groups = seg_group[by_group]
            running = np.cumsum(seg_shed[by_group])
            first = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
            before_group = np.repeat(np.r_[0, running[first[1:] - 1]], np.diff(np.r_[first, groups.size]))
            within_before = running - before_group - seg_shed[by_group]
            room = problem.cap_w[groups] - within_before
            allowed[by_group] = np.clip(room, 0, seg_shed[by_group])

    cumulative = np.cumsum(allowed)
    total = int(cumulative[-1]) if cumulative.size else 0
    price = np.zeros(n, dtype=np.float64)
    segments = {"seg_item": item, "seg_from": start, "seg_to": end, "seg_shed": seg_shed, "seg_slope": slope}
    if required <= 0:
        return _Lp(feasible=True, bound=0.0, price=price, **segments, lam=0.0)
    if total < required:
        return _Lp(feasible=False, bound=math.inf, price=price, **segments, lam=math.inf)
    brk = int(np.searchsorted(cumulative, required, side="left"))
    taken = allowed[: brk + 1].astype(np.float64)
    taken[brk] = required - (cumulative[brk] - allowed[brk])
    bound = float(np.dot(taken, slope[: brk + 1]))
    lam = float(slope[brk])
    price[:] = lam
    if seg_group is not None and problem.group is not None:
        taken_group = seg_group[: brk + 1]
        capped_taken = (taken_group >= 0) & (taken > 0)
        groups = taken_group[capped_taken]
        used = np.bincount(groups, weights=taken[capped_taken], minlength=problem.cap_w.size)
        held = np.flatnonzero(used >= problem.cap_w - 1e-9)
        if held.size:
            # A group held at its cap is priced at the slope of its last segment taken (<= lam).
            # (A group with a zero cap has no options left: any finite price will do for it.)
            group_price = np.full(problem.cap_w.size, -np.inf)
            np.maximum.at(group_price, groups, slope[: brk + 1][capped_taken])
            group_price[~np.isfinite(group_price)] = lam
            at_cap = np.isin(problem.group, held)
            price[at_cap] = group_price[problem.group[at_cap]]
    return _Lp(feasible=True, bound=bound, price=price, **segments, lam=lam)


def _group_usage(problem: CoverProblem, shed_taken: IntArray) -> IntArray:
    if problem.group is None or not problem.cap_w.size:
        return np.zeros(0, dtype=np.int64)
    mine = problem.group >= 0
    return np.bincount(problem.group[mine], weights=shed_taken[mine], minlength=problem.cap_w.size).astype(np.int64)


def _walk(problem: CoverProblem, lp: _Lp, choice: IntArray, shed: IntArray, need_w: int, first: int) -> int:
    """Advance items along their hull in slope order from segment `first` until `need_w` more watts are
    shed, keeping within the caps. Changes `choice` in place; returns the watts still missing."""
    capped = problem.group is not None and problem.cap_w.size > 0
    used = _group_usage(problem, shed[np.arange(choice.size), choice]) if capped else None
    for position in range(first, lp.seg_item.size):
        if need_w <= 0:
            break
        i = int(lp.seg_item[position])
        if choice[i] != lp.seg_from[position]:
            continue
        watts = int(lp.seg_shed[position])
        if used is not None and problem.group is not None:
            g = int(problem.group[i])
            if g >= 0:
                if used[g] + watts > problem.cap_w[g]:
                    continue
                used[g] += watts
        choice[i] = lp.seg_to[position]
        need_w -= watts
    return need_w


@dataclass
class _Unit:
    """One DP unit: an item, or the core items of an allowance group taken together."""

    shed: list[int]
    loss: list[float]
    items: list[int]
    decode: Callable[[int], Sequence[int]]  # an option of the unit to the option of each of `items`


def _item_unit(i: int, shed: IntArray, loss: FloatArray) -> _Unit:
    valid = [j for j in range(shed.shape[1]) if np.isfinite(loss[i, j])]
    return _Unit([int(shed[i, j]) for j in valid], [float(loss[i, j]) for j in valid], [i], lambda k: (valid[k],))


def _frontier(watts: IntArray, lost: FloatArray) -> IntArray:
    """Indices of the points no other point beats with at least as many watts for no more loss, by rising
    watts (the DP only needs to cover, so more watts never hurt once the allowance is respected)."""
    order = np.lexsort((lost, -watts))  # most watts first, then least loss
    best_after = np.minimum.accumulate(lost[order])
    keep = np.r_[True, lost[order][1:] < best_after[:-1]]
    return order[keep][::-1]


def _with_nothing(points: IntArray, watts: IntArray) -> bool:
    return points.size > 0 and watts[points[0]] == 0


def _group_unit_sparse(items: list[int], shed: IntArray, loss: FloatArray, room_w: int) -> _Unit | None:
    """The group's undominated (watts, loss) combinations by enumeration, for a few items and a large room.

    While items are still being added only equal watts compare (fewer watts may leave room for a later
    item); dominance by more watts applies only to the finished combinations.
    """
    states: dict[int, tuple[float, tuple[int, ...]]] = {0: (0.0, ())}
    for i in items:
        options = [(int(shed[i, j]), float(loss[i, j]), j) for j in range(shed.shape[1]) if np.isfinite(loss[i, j])]
        grown: dict[int, tuple[float, tuple[int, ...]]] = {}
        for watts, (lost, picks) in states.items():
            for s, lo, j in options:
                total = watts + s
                if total <= room_w and (total not in grown or lost + lo < grown[total][0]):
                    grown[total] = (lost + lo, (*picks, j))
        if len(grown) > MAX_GROUP_PROFILE:
            return None
        states = grown
    totals = np.array(list(states), dtype=np.int64)
    losses = np.array([states[int(w)][0] for w in totals])
    points = _frontier(totals, losses)
    kept_watts = totals[points].tolist()
    kept_loss = losses[points].tolist()
    kept_picks = [states[w][1] for w in kept_watts]
    if not _with_nothing(points, totals):  # the DP takes option 0 as "leave them all"
        kept_watts, kept_loss, kept_picks = [0, *kept_watts], [0.0, *kept_loss], [(0,) * len(items), *kept_picks]

    def decode(k: int) -> tuple[int, ...]:
        return kept_picks[k]

    return _Unit(kept_watts, kept_loss, items, decode)


@dataclass(frozen=True)
class _Pricing:
    """What pruning a group's combinations needs: the LP's prices and each item's best reduced cost."""

    lam: float
    price: FloatArray
    best_reduced: FloatArray
    gap: float  # the incumbent's loss minus the LP bound (inf without an incumbent)


def _group_unit_dense(
    items: list[int], shed: IntArray, loss: FloatArray, room_w: int, pricing: _Pricing
) -> _Unit | None:
    """The group's undominated combinations by an exact-sum DP over watts, within the DP budget.

    A combination that sheds w of the room costs at least (its loss - price * w - the items' best reduced
    costs) + (lam - price) * (room - w) over the LP bound (the module docstring's identity, restricted to
    this group); one costing the incumbent's gap or more cannot be part of a better plan and is dropped.
    """
    options = [
        [(int(shed[i, j]), float(loss[i, j]), j) for j in range(1, shed.shape[1]) if np.isfinite(loss[i, j])]
        for i in items
    ]
    step = 0
    for row in options:
        for watts, _, _ in row:
            step = math.gcd(step, watts)
    if step == 0:
        return None
    size = room_w // step
    if sum(len(row) for row in options) * (size + 1) > GROUP_DP_BUDGET:
        return None
    best = np.full(size + 1, np.inf)
    best[0] = 0.0
    taken = np.zeros((len(items), size + 1), dtype=np.uint8)
    for t, row in enumerate(options):
        new = best.copy()
        for watts, lost, j in row:
            width = watts // step
            if width > size:
                continue
            candidate = best[: size + 1 - width] + lost
            better = candidate < new[width:]
            np.copyto(new[width:], candidate, where=better)
            np.copyto(taken[t, width:], j, where=better)
        best = new
    watts_at = np.arange(size + 1, dtype=np.int64) * step
    price = float(pricing.price[items[0]])
    floor = float(pricing.best_reduced[items].sum())
    over_bound = best - price * watts_at - floor + (pricing.lam - price) * (room_w - watts_at)
    useful = np.flatnonzero(np.isfinite(best) & (over_bound < pricing.gap + _tolerance(pricing.gap)))
    useful = np.union1d(useful, [0])
    points = useful[_frontier(watts_at[useful], best[useful])]
    if points.size > MAX_GROUP_PROFILE:
        return None
    if not _with_nothing(points, watts_at):
        points = np.r_[0, points]

    def decode(k: int) -> list[int]:
        c = int(points[k])
        picks = [0] * len(items)
        for t in range(len(items) - 1, -1, -1):
            j = int(taken[t, c])
            picks[t] = j
            c -= int(shed[items[t], j]) // step
        return picks

    return _Unit(watts_at[points].tolist(), best[points].tolist(), items, decode)


def _core_units(
    problem: CoverProblem,
    core: IntArray,
    shed: IntArray,
    loss: FloatArray,
    lp_choice: IntArray,
    delta: FloatArray,
    pricing: _Pricing,
) -> tuple[list[_Unit], IntArray] | None:
    """The DP units for `core`, and the items they cover (an allowance group may bring in more of its
    items, or fewer: all its items near the price when the exact-sum DP fits, else the nearest few)."""
    group = problem.group if problem.group is not None and problem.cap_w.size else None
    units = [_item_unit(i, shed, loss) for i in (core if group is None else core[group[core] < 0]).tolist()]
    covered = [unit.items[0] for unit in units]
    if group is not None:
        for g in np.unique(group[core][group[core] >= 0]).tolist():
            members = np.flatnonzero(group == g)
            members = members[np.argsort(delta[members], kind="stable")]
            in_core = members[np.isin(members, core)]
            near = members[delta[members] < pricing.gap] if math.isfinite(pricing.gap) else in_core
            unit = None
            for chosen in (near, in_core[:MAX_GROUP_CORE_ITEMS]):
                items = chosen.tolist()
                if not items:
                    continue
                others = members[~np.isin(members, chosen)]
                # The others keep their LP options, which stay within the cap, so the room is not negative.
                room = max(0, int(problem.cap_w[g] - shed[others, lp_choice[others]].sum()))
                unit = _group_unit_dense(items, shed, loss, room, pricing)
                if unit is None and len(items) <= MAX_GROUP_CORE_ITEMS:
                    unit = _group_unit_sparse(items, shed, loss, room)
                if unit is not None:
                    break
            if unit is None:
                return None
            units.append(unit)
            covered += unit.items
    return units, np.array(covered, dtype=np.int64)


def _dp(units: list[_Unit], need_w: int) -> tuple[float, list[int]] | None:
    """Least loss for the units to shed at least `need_w`, and the option per unit; None over budget."""
    if need_w <= 0:
        return 0.0, [0] * len(units)
    step = 0
    for unit in units:
        for watts in unit.shed[1:]:
            step = math.gcd(step, watts)
    if step == 0:
        return math.inf, [0] * len(units)
    steps = -(-need_w // step)
    cells = sum(len(unit.shed) - 1 for unit in units) * (steps + 1)
    if cells > DP_CELL_BUDGET:
        return None
    # best[c]: least loss to shed at least c steps with the units so far; best[0] is 0 and best rises.
    best = np.full(steps + 1, np.inf)
    best[0] = 0.0
    widest = max(len(unit.shed) for unit in units)
    taken = np.zeros((len(units), steps + 1), dtype=np.uint8 if widest <= 256 else np.int32)
    for u, unit in enumerate(units):
        new = best.copy()
        row = taken[u]
        for j in range(1, len(unit.shed)):
            size, lost = min(unit.shed[j] // step, steps + 1), unit.loss[j]
            # Below `size` steps the option alone covers: its loss; above, it adds to the rest's best.
            head = new[:size] > lost
            np.copyto(new[:size], lost, where=head)
            np.copyto(row[:size], j, where=head)
            if size <= steps:
                candidate = best[: steps + 1 - size] + lost
                tail = candidate < new[size:]
                np.copyto(new[size:], candidate, where=tail)
                np.copyto(row[size:], j, where=tail)
        best = new
    if not np.isfinite(best[steps]):
        return math.inf, [0] * len(units)
    picks = [0] * len(units)
    c = steps
    for u in range(len(units) - 1, -1, -1):
        j = int(taken[u, c])
        picks[u] = j
        c = max(0, c - units[u].shed[j] // step)
    return float(best[steps]), picks


def _evaluate(problem: CoverProblem, shed: IntArray, loss: FloatArray, choice: IntArray) -> tuple[int, float, bool]:
    rows = np.arange(choice.size)
    shed_taken = shed[rows, choice]
    watts = int(shed_taken.sum())
    lost = float(loss[rows, choice].sum())
    within_caps = True
    if problem.group is not None and problem.cap_w.size:
        within_caps = bool(np.all(_group_usage(problem, shed_taken) <= problem.cap_w))
    return watts, lost, within_caps and watts >= problem.required_w


def _max_shed(problem: CoverProblem, lp: _Lp, shed: IntArray, loss: FloatArray) -> tuple[IntArray, bool]:
    """The most watts the items can shed within the allowances, for the least loss, and whether that is
    exact: every item at its largest option, except in allowance groups that cannot all go, where an
    exact-sum DP picks the largest total within the cap (the slope walk if the DP is over budget)."""
    n = shed.shape[0]
    choice = np.argmax(np.where(np.isfinite(loss), shed, -1), axis=1).astype(np.int64)
    if problem.group is None or not problem.cap_w.size:
        return choice, True
    rows = np.arange(n)
    pricing = _Pricing(0.0, np.zeros(n), np.zeros(n), math.inf)
    exact = True
    for g in np.unique(problem.group[problem.group >= 0]).tolist():
        members = np.flatnonzero(problem.group == g)
        if shed[members, choice[members]].sum() <= problem.cap_w[g]:
            continue
        unit = _group_unit_dense(members.tolist(), shed, loss, int(problem.cap_w[g]), pricing)
        if unit is None:
            exact = False
            break
        choice[members] = unit.decode(len(unit.shed) - 1)  # the frontier's last point: the most watts
    if not exact:
        choice = np.zeros(n, dtype=np.int64)
        _walk(
            problem,
            lp,
            choice,
            shed,
            int(shed[rows, np.argmax(np.where(np.isfinite(loss), shed, -1), axis=1)].sum()),
            0,
        )
    return choice, exact


def cover_lp_bound(problem: CoverProblem) -> float:
    """The LP relaxation's value: no plan loses less. `inf` when not even the LP reaches the watts."""
    shed, loss = cover_options(problem)
    return _lp(problem, shed, loss).bound


def cover_solve(problem: CoverProblem) -> CoverSolution:
    """The least-loss plan (see the module docstring), with its LP bound and proved lower bound."""
    started = time.perf_counter()
    shed, loss = cover_options(problem)
    n = shed.shape[0]
    rows = np.arange(n)
    lp = _lp(problem, shed, loss)

    if problem.required_w <= 0:
        return cover_nothing(n, started)

    if not lp.feasible:
        choice, exact = _max_shed(problem, lp, shed, loss)
        watts, lost, _ = _evaluate(problem, shed, loss, choice)
        return _solution(
            choice, watts, lost, started, lp_feasible=False, lp_bound=math.inf, lower=math.inf, exact_short=exact
        )

    reduced = np.where(np.isfinite(loss), loss - lp.price[:, None] * shed, np.inf)
    lp_choice = np.argmin(reduced, axis=1).astype(np.int64)
    best_reduced = reduced[rows, lp_choice]
    delta = np.partition(reduced, 1, axis=1)[:, 1] - best_reduced if shed.shape[1] > 1 else np.full(n, np.inf)

    # Greedy: LP options, then the cheapest segments at or above the watt price until the target is met.
    greedy = lp_choice.copy()
    first = int(np.searchsorted(lp.seg_slope, lp.lam, side="left"))
    missing = problem.required_w - int(shed[rows, greedy].sum())
    if _walk(problem, lp, greedy, shed, missing, first) > 0:
        _walk(problem, lp, greedy, shed, problem.required_w - int(shed[rows, greedy].sum()), 0)
    _, g_loss, g_ok = _evaluate(problem, shed, loss, greedy)
    best_choice, best_loss = (greedy, g_loss) if g_ok else (None, math.inf)

    lower = lp.bound
    core_size = min(n, FIRST_CORE_ITEMS)
    core_items = 0
    solved_size, too_big = 0, math.inf
    for _ in range(MAX_CORE_ROUNDS):
        finite = np.flatnonzero(np.isfinite(delta))
        size = min(core_size, finite.size)
        if size == 0:
            break
        core = finite if size == finite.size else finite[np.argpartition(delta[finite], size - 1)[:size]]
        pricing = _Pricing(lp.lam, lp.price, best_reduced, best_loss - lp.bound)
        built = _core_units(problem, core, shed, loss, lp_choice, delta, pricing)
        if built is not None:
            units, core = built
            outside = np.ones(n, dtype=bool)
            outside[core] = False
            outside_delta = float(delta[outside].min()) if outside.any() else math.inf
            fixed_shed = shed[rows, lp_choice] * outside
            fixed_loss = float(loss[rows[outside], lp_choice[outside]].sum())
        solved = None if built is None else _dp(units, problem.required_w - int(fixed_shed.sum()))
        if built is None or solved is None:
            # Over budget: a smaller core still gives a valid, if weaker, bound and may improve the plan.
            too_big = min(too_big, core_size)
            core_size //= 2
            if core_size <= max(4, solved_size):
                break
            continue
        solved_size = max(solved_size, core_size)
        core_loss, picks = solved
        core_items = int(core.size)
        candidate_loss = fixed_loss + core_loss
        lower = max(lower, min(candidate_loss, lp.bound + outside_delta))
        if math.isfinite(candidate_loss) and candidate_loss < best_loss:
            choice = lp_choice.copy()
            for unit, pick in zip(units, picks, strict=True):
                for i, j in zip(unit.items, unit.decode(pick), strict=True):
                    choice[i] = j
            watts, lost, ok = _evaluate(problem, shed, loss, choice)
            if ok and lost < best_loss:
                best_choice, best_loss = choice, lost
        if not math.isfinite(best_loss):
            # No whole-miner plan yet (allowances can make the greedy walk fail): widen the core.
            if core.size == finite.size:
                break
            core_size *= 8
            continue
        if lower >= best_loss - _tolerance(best_loss):
            break
        wanted = int(np.count_nonzero(delta < best_loss - lp.bound))
        if wanted <= core.size:
            break
        widened = min(wanted + 8, core_size * 8)
        if widened >= too_big:
            widened = (core_size + int(too_big)) // 2
        if widened <= core_size:
            break
        core_size = widened

    if best_choice is None:
        # LP-feasible, yet no whole-miner plan meets the target within the allowances (or none was found).
        choice, exact = _max_shed(problem, lp, shed, loss)
        watts, lost, _ = _evaluate(problem, shed, loss, choice)
        return _solution(
            choice, watts, lost, started, lp_feasible=True, lp_bound=lp.bound, lower=lp.bound, exact_short=exact
        )
    watts, lost, _ = _evaluate(problem, shed, loss, best_choice)
    return _solution(
        best_choice,
        watts,
        lost,
        started,
        lp_feasible=True,
        lp_bound=lp.bound,
        lower=min(lower, lost),
        core=core_items,
        found=True,
    )


def cover_nothing(n: int, started: float) -> CoverSolution:
    """The plan for a target already met: every item left alone."""
    return CoverSolution(
        choice=np.zeros(n, dtype=np.int64),
        shed_w=0,
        loss_ths=0.0,
        feasible=True,
        lp_feasible=True,
        lp_bound_ths=0.0,
        lower_bound_ths=0.0,
        optimal=True,
        core_items=0,
        seconds=time.perf_counter() - started,
    )


def _solution(
    choice: IntArray,
    watts: int,
    lost: float,
    started: float,
    *,
    lp_feasible: bool,
    lp_bound: float,
    lower: float,
    core: int = 0,
    found: bool = False,
    exact_short: bool = False,
) -> CoverSolution:
    # Short of the target, "optimal" means: the most watts the items can shed, for the least loss.
    optimal = (lower >= lost - _tolerance(lost)) if found else exact_short
    if optimal:
        lower = lost  # equal up to the order in which floats were added
    return CoverSolution(
        choice=choice,
        shed_w=watts,
        loss_ths=lost,
        feasible=found,
        lp_feasible=lp_feasible,
        lp_bound_ths=lp_bound,
        lower_bound_ths=lower,
        optimal=optimal,
        core_items=core,
        seconds=time.perf_counter() - started,
        status=("optimal" if optimal else "feasible") if found else "infeasible",
    )


def _tolerance(value: float) -> float:
    """Float sums of 100,000 losses differ in their last bits with the order of adding."""
    return 1e-9 * max(1.0, abs(value)) if math.isfinite(value) else 0.0
