"""The same covering knapsack as a PuLP model, solved by CBC (bundled with PuLP) or HiGHS.

One binary per miner and option (off, or each power target), at most one option per miner, the watts
shed at least the target, and at most the allowance per capped customer. It is the textbook model and
the cross-check for the project's own planner (knapsack.py); both solvers are time-boxed.

HiGHS runs with presolve off: its MIP presolve scales very badly on one dense knapsack row (minutes at
100,000 binaries, against well under a second without it; platform notes section 6).
"""

import math
import time
import warnings
from dataclasses import replace

import numpy as np
import pulp  # type: ignore[import-untyped]  # PuLP ships no type information

from .domain import Solver
from .knapsack import CoverProblem, CoverSolution, cover_lp_bound, cover_nothing, cover_options, cover_solve

DEFAULT_TIME_LIMIT_S = 60.0
# Stop when proved within 0.01 % of the optimum: the planner's own target.
DEFAULT_GAP_REL = 1e-4


def _solver_command(*, solver: Solver, time_limit_s: float, gap_rel: float) -> object:
    if solver == Solver.CBC:
        # PuLP 3.3 marks its bundled CBC deprecated (PuLP 4 wants a separately installed one); the bundled
        # binary is the one that runs offline here (platform notes section 6), so the warning is silenced.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, message="PULP_CBC_CMD is deprecated")
            return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, threads=1)
    if solver == Solver.HIGHS:
        return pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, threads=1, presolve="off")
    raise ValueError(f"not a MILP solver: {solver}")


def milp_cover_solve(
    problem: CoverProblem,
    *,
    solver: Solver,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    gap_rel: float = DEFAULT_GAP_REL,
) -> CoverSolution:
    """Solve `problem` with PuLP and `solver`; the bound is the LP's, or HiGHS's own when higher."""
    started = time.perf_counter()
    shed, loss = cover_options(problem)
    n = shed.shape[0]
    choice = np.zeros(n, dtype=np.int64)
    lp_bound = cover_lp_bound(problem)
    if problem.required_w <= 0:
        return cover_nothing(n, started)
    if not math.isfinite(lp_bound):
        # Not even fractions of miners reach the target: no model to solve, the plan is to shed all that
        # can be shed (the same for every solver).
        return cover_solve(problem)

    valid = np.isfinite(loss)
    valid[:, 0] = False
    item, option = np.nonzero(valid)
    model = pulp.LpProblem("curtailment", pulp.LpMinimize)
    variables = [model.add_variable(f"x{k}", cat=pulp.LpBinary) for k in range(item.size)]
    model += pulp.LpAffineExpression(zip(variables, loss[item, option].tolist(), strict=True))
    model += (
        pulp.LpAffineExpression(zip(variables, shed[item, option].tolist(), strict=True)) >= problem.required_w,
        "shed",
    )
    if shed.shape[1] > 2:
        per_item = np.bincount(item, minlength=n)
        starts = np.r_[0, np.cumsum(per_item)]
        for i in np.flatnonzero(per_item > 1).tolist():
            model += pulp.lpSum(variables[starts[i] : starts[i + 1]]) <= 1, f"one_{i}"
    if problem.group is not None and problem.cap_w.size:
        groups = problem.group[item]
        for g in range(problem.cap_w.size):
            members = np.flatnonzero(groups == g)
            if members.size:
                terms = zip(
                    [variables[k] for k in members.tolist()], shed[item[members], option[members]].tolist(), strict=True
                )
                model += pulp.LpAffineExpression(terms) <= int(problem.cap_w[g]), f"cap_{g}"
    built = time.perf_counter()

    model.solve(_solver_command(solver=solver, time_limit_s=time_limit_s, gap_rel=gap_rel))
    status = str(pulp.LpStatus[model.status]).lower().replace(" ", "_")
    found = model.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    if found:
        values = np.array([variable.varValue or 0.0 for variable in variables])
        chosen = np.flatnonzero(values > 0.5)
        choice[item[chosen]] = option[chosen]
        if model.sol_status == pulp.LpSolutionIntegerFeasible:
            status = "time_limit"
    elif status == "infeasible":
        # Whole miners cannot meet the target within the allowances: shed all that can be shed, as above.
        return replace(cover_solve(problem), build_seconds=built - started)
    else:
        status = "no_solution" if status == "optimal" else status
    lower = lp_bound
    if solver == Solver.HIGHS and found:
        dual_bound = float(model.solverModel.getInfo().mip_dual_bound)
        if math.isfinite(dual_bound):
            lower = max(lower, dual_bound)

    rows = np.arange(n)
    watts = int(shed[rows, choice].sum())
    lost = float(loss[rows, choice].sum())
    feasible = found and watts >= problem.required_w
    lower = min(lower, lost) if feasible else lower
    optimal = feasible and lower >= lost - 1e-9 * max(1.0, lost)
    lower = lost if optimal else lower
    return CoverSolution(
        choice=choice,
        shed_w=watts,
        loss_ths=lost,
        feasible=feasible,
        lp_feasible=math.isfinite(lp_bound),
        lp_bound_ths=lp_bound,
        lower_bound_ths=lower,
        optimal=optimal,
        core_items=0,
        seconds=time.perf_counter() - started,
        status=status,
        build_seconds=built - started,
    )
