"""Curtailment planning: the project's planner against PuLP with CBC and with HiGHS on the same fleets.

Usage: python bench/curtailment_plan.py [--fleets 1538,10000,100000] [--time-limit 60] [--seed 2026]

Each fleet mixes the models seeded in the calculator's catalogue (read from its migration, weighted
towards S19/S21-class machines), each miner's measured power and hashrate jittered a few per cent around
the nominal figures; Bitmain machines run stock firmware or Braiins OS, MicroBT ones Whatsminer firmware,
so some take power targets. The target is to shed 30 % of the fleet's draw. For each fleet:
- the own planner (optimal strategy): seconds from the candidate list to the plan, and its gap to the
  lower bound it proves (0 when proved optimal) and to the plain LP bound;
- performance priority (least efficient off first, the reference design): its hashrate loss and gap;
- the PuLP model with the bundled CBC and with HiGHS (presolve off), both asked to stop within 0.01 %
  (gapRel 1e-4) or at the time limit: seconds (model building included), status, objective, and gap to
  the proved bound. Each runs in a child process ended at 1.5 times the limit ("stopped_at_wall_limit"),
  because HiGHS does not check its limit during the root LP, which takes minutes at 100,000 miners;
- the partial strategy (power targets besides off) with the own planner, and with CBC on fleets up to
  10,000 miners; the customer-aware strategy with the own planner (three priority tiers, two allowances).
One JSON line per fleet; the last line is the 100,000-miner fleet's (or the largest fleet's).
"""

import argparse
import ctypes
import importlib
import json
import multiprocessing
import queue
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# The planner is pure code over plain values: no database and no Django setup, only the project on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from hosting.choices import Firmware
from hosting.services.curtailment_planner import (
    Candidate,
    PlanResult,
    Solver,
    Strategy,
    Target,
    TargetKind,
    curtailment_plan,
    power_curve_for,
    supports_sleep,
)

# The catalogue's seed data: (make, model, TH/s, W, release month).
CATALOGUE = importlib.import_module("calculator.migrations.0002_seed_miner_models").MODELS
SHED_SHARE = 0.30
OWN_RUNS = 3
# A MILP solve is ended from outside at its time limit times this (model building included).
WALL_FACTOR = 1.5


def model_weight(model: str) -> float:
    """Share of a model in the fleet: today's farms are mostly S19/S21-class (and their MicroBT and
    Canaan peers); older machines linger in small numbers."""
    if any(tag in model for tag in ("S19", "S21")):
        return 4.0
    if any(tag in model for tag in ("M30S", "M50", "M60", "1346", "1366", "1566")):
        return 1.5
    return 0.3


def fleet_build(size: int, rng: np.random.Generator) -> list[Candidate]:
    weights = np.array([model_weight(row[1]) for row in CATALOGUE])
    picks = rng.choice(len(CATALOGUE), size=size, p=weights / weights.sum())
    power_jitter = np.clip(rng.normal(1.0, 0.02, size), 0.94, 1.06)
    hashrate_jitter = np.clip(rng.normal(1.0, 0.03, size), 0.91, 1.09)
    braiins = rng.random(size) < 0.3
    customers = rng.integers(0, 20, size)
    candidates = []
    for k in range(size):
        make, _model, ths, watts, _released = CATALOGUE[picks[k]]
        if make == "Bitmain":
            firmware = Firmware.BRAIINS_OS if braiins[k] else Firmware.ANTMINER_STOCK
        else:
            firmware = Firmware.WHATSMINER if make == "MicroBT" else Firmware.AVALON
        curve = power_curve_for(firmware=firmware)
        candidates.append(
            Candidate(
                miner_id=k + 1,
                power_w=round(watts * float(power_jitter[k])),
                hashrate_ths=float(ths) * float(hashrate_jitter[k]),
                customer_id=int(customers[k]),
                priority=int(customers[k]) % 3,
                supports_power_target=curve is not None,
                curve=curve,
                sleep_supported=supports_sleep(firmware=firmware),
            )
        )
    return candidates


def timed(run: Callable[[], PlanResult]) -> tuple[PlanResult, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def _child(run: Callable[[], PlanResult], results: "multiprocessing.Queue[tuple[PlanResult, float]]") -> None:
    results.put(timed(run))


def boxed(run: Callable[[], PlanResult], *, wall_s: float) -> tuple[PlanResult | None, float]:
    """`run` in a forked child, ended after `wall_s` seconds if it has not answered by then: HiGHS does
    not look at its time limit while it solves the root LP, which takes minutes at 100,000 miners."""
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[PlanResult, float]] = context.Queue()
    child = context.Process(target=_child, args=(run, results))
    started = time.perf_counter()
    child.start()
    try:
        result, seconds = results.get(timeout=wall_s)
    except queue.Empty:
        child.terminate()
        child.join()
        return None, time.perf_counter() - started
    child.join()
    return result, seconds


def gap_to(loss: float, bound: float) -> float:
    return 100.0 * (loss - bound) / loss if loss > 0 else 0.0


def milp_figures(prefix: str, result: PlanResult | None, seconds: float, bound: float) -> dict[str, object]:
    met = result is not None and result.target_met
    return {
        f"{prefix}_seconds": round(seconds, 3),
        f"{prefix}_status": "stopped_at_wall_limit" if result is None else result.status,
        f"{prefix}_objective_ths": round(result.hashrate_lost_ths, 3) if result is not None and met else None,
        f"{prefix}_gap_pct": gap_to(result.hashrate_lost_ths, bound) if result is not None and met else None,
    }


def bench_fleet(size: int, *, seed: int, time_limit_s: float) -> dict[str, object]:
    rng = np.random.default_rng(seed + size)
    candidates = fleet_build(size, rng)
    fleet_kw = sum(c.power_w for c in candidates) / 1000
    target = Target(kind=TargetKind.SHED_KW, value=round(fleet_kw * SHED_SHARE, 3))
    allowances = Target(
        kind=TargetKind.SHED_KW, value=target.value, allowances_kw={0: fleet_kw * 0.01, 1: fleet_kw * 0.005}
    )

    def plan(strategy: Strategy, solver: Solver | None = None, goal: Target = target) -> PlanResult:
        return curtailment_plan(
            candidates=candidates, target=goal, strategy=strategy, solver=solver, time_limit_s=time_limit_s
        )

    own_runs = [timed(lambda: plan(Strategy.OPTIMAL)) for _ in range(OWN_RUNS)]
    own, own_s = own_runs[0][0], statistics.median(seconds for _, seconds in own_runs)
    bound = own.lower_bound_ths or 0.0
    performance, performance_s = timed(lambda: plan(Strategy.PERFORMANCE_PRIORITY))
    partial, partial_s = timed(lambda: plan(Strategy.PARTIAL))
    aware, aware_s = timed(lambda: plan(Strategy.CUSTOMER_AWARE, goal=allowances))
    wall_s = time_limit_s * WALL_FACTOR
    cbc, cbc_s = boxed(lambda: plan(Strategy.OPTIMAL, Solver.CBC), wall_s=wall_s)
    highs, highs_s = boxed(lambda: plan(Strategy.OPTIMAL, Solver.HIGHS), wall_s=wall_s)
    figures: dict[str, object] = {
        "bench": "curtailment_plan",
        "miners": size,
        "target_kw": float(target.value),
        "shed_kw": own.shed_kw,
        "seconds": round(own_s, 4),
        "hashrate_lost_ths": round(own.hashrate_lost_ths, 3),
        "lower_bound_ths": round(bound, 3),
        "gap_pct": own.gap_pct,
        "lp_gap_pct": gap_to(own.hashrate_lost_ths, own.lp_bound_ths or 0.0),
        "optimal": own.optimal,
        "miners_curtailed": own.miners_curtailed,
        "performance_priority_seconds": round(performance_s, 4),
        "performance_priority_lost_ths": round(performance.hashrate_lost_ths, 3),
        "performance_priority_gap_pct": gap_to(performance.hashrate_lost_ths, bound),
        **milp_figures("cbc", cbc, cbc_s, bound),
        **milp_figures("highs", highs, highs_s, bound),
        "ratio": round(cbc_s / own_s, 1),
        "highs_ratio": round(highs_s / own_s, 1),
        "partial_seconds": round(partial_s, 4),
        "partial_lost_ths": round(partial.hashrate_lost_ths, 3),
        "partial_gap_pct": partial.gap_pct,
        "partial_optimal": partial.optimal,
        "partial_power_targets": partial.power_targets,
        "partial_saves_ths": round(own.hashrate_lost_ths - partial.hashrate_lost_ths, 3),
        "customer_aware_seconds": round(aware_s, 4),
        "customer_aware_lost_ths": round(aware.hashrate_lost_ths, 3),
        "customer_aware_gap_pct": aware.gap_pct,
        "customer_aware_optimal": aware.optimal,
    }
    if size <= 10_000:
        partial_cbc, partial_cbc_s = boxed(lambda: plan(Strategy.PARTIAL, Solver.CBC), wall_s=wall_s)
        figures |= milp_figures("partial_cbc", partial_cbc, partial_cbc_s, partial.lower_bound_ths or 0.0)
    return figures


def describe(figures: dict[str, object]) -> str:
    return (
        f"{figures['miners']:>7} miners, shed {figures['target_kw']} kW: own {figures['seconds']} s "
        f"gap {figures['gap_pct']} % (LP {figures['lp_gap_pct']:.2e} %) | performance priority loses "
        f"{figures['performance_priority_gap_pct']:.4f} % more | CBC {figures['cbc_seconds']} s "
        f"{figures['cbc_status']} gap {figures['cbc_gap_pct']} | HiGHS {figures['highs_seconds']} s "
        f"{figures['highs_status']} gap {figures['highs_gap_pct']} | partial {figures['partial_seconds']} s "
        f"saves {figures['partial_saves_ths']} TH/s with {figures['partial_power_targets']} power targets"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", default="1538,10000,100000")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds for CBC and HiGHS, per solve")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.fleets.split(","))
    lines = []
    for size in sizes:
        figures = bench_fleet(size, seed=args.seed, time_limit_s=args.time_limit)
        print(describe(figures), flush=True)
        lines.append(json.dumps(figures))
    # HiGHS prints its banner through C stdio; flush it now so that it cannot land after the JSON lines.
    ctypes.CDLL(None).fflush(None)
    sys.stdout.flush()
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    main()
