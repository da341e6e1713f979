"""The curtailment planner: strategies, targets, proofs of optimality, allowances and bad input.

Pure planning, no database: candidates are built in each test. Exact optima come from brute force
(every combination of options) on small fleets and from CBC with a zero gap on medium ones.
"""

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from hosting.choices import Firmware, MinerStatus
from hosting.services.curtailment_planner import (
    Candidate,
    CurtailAction,
    ExclusionReason,
    MinerState,
    PlanResult,
    PowerCurve,
    ShortReason,
    Solver,
    StalePolicy,
    Strategy,
    Target,
    TargetKind,
    curtailment_candidates_build,
    curtailment_plan,
    curtailment_plan_preview,
    dvfs_curve,
)
from hosting.services.curtailment_planner.curves import BRAIINS_OS_CURVE, WHATSMINER_CURVE
from hosting.services.curtailment_planner.knapsack import CoverProblem, cover_solve
from mining_platform.core.errors import InvalidInputError

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CURVES = (BRAIINS_OS_CURVE, WHATSMINER_CURVE)


def miner(miner_id: int, power_w: int, hashrate_ths: float, **extra: object) -> Candidate:
    return Candidate(miner_id=miner_id, power_w=power_w, hashrate_ths=hashrate_ths, **extra)  # type: ignore[arg-type]


def shed(kw: float, **extra: object) -> Target:
    return Target(kind=TargetKind.SHED_KW, value=kw, **extra)  # type: ignore[arg-type]


def chosen(result: PlanResult) -> set[int]:
    return {choice.miner_id for choice in result.choices}


def random_fleet(
    rng: np.random.Generator,
    size: int,
    *,
    partial_share: float = 0.0,
    customers: int = 0,
    tiers: int = 1,
) -> list[Candidate]:
    fleet = []
    for k in range(size):
        supports = bool(rng.random() < partial_share)
        customer = int(rng.integers(0, customers)) if customers else None
        fleet.append(
            miner(
                k + 1,
                int(rng.integers(900, 3800)),
                float(rng.uniform(0, 250)) if rng.random() > 0.05 else 0.0,
                supports_power_target=supports,
                curve=CURVES[k % 2] if supports else None,
                customer_id=customer,
                priority=(customer or 0) % tiers,
            )
        )
    return fleet


def option_table(candidate: Candidate, *, partial: bool) -> list[tuple[int, float]]:
    """Every (watts shed, TH/s lost) a miner may take, written out independently of the planner."""
    options = [(0, 0.0), (candidate.power_w, candidate.hashrate_ths)]
    if partial and candidate.supports_power_target and candidate.curve is not None:
        for power_fraction, hashrate_fraction in candidate.curve.points:
            options.append(
                (
                    candidate.power_w - round(candidate.power_w * power_fraction),
                    candidate.hashrate_ths * (1 - hashrate_fraction),
                )
            )
    return options


def brute_force(
    candidates: Sequence[Candidate],
    required_w: int,
    *,
    partial: bool = False,
    allowances_w: dict[int, int] | None = None,
) -> float:
    """The least TH/s lost over every combination of options, or inf if none sheds enough."""
    tables = [option_table(c, partial=partial) for c in candidates]
    best = math.inf
    for combo in itertools.product(*tables):
        if sum(watts for watts, _ in combo) < required_w:
            continue
        if allowances_w:
            per_customer: dict[int, int] = {}
            for candidate, (watts, _) in zip(candidates, combo, strict=True):
                if candidate.customer_id is not None:
                    per_customer[candidate.customer_id] = per_customer.get(candidate.customer_id, 0) + watts
            if any(per_customer.get(c, 0) > cap for c, cap in allowances_w.items()):
                continue
        best = min(best, sum(lost for _, lost in combo))
    return best


# Hand-checked plans, one per strategy and target kind

INEFFICIENT_PAIR = [
    miner(1, 3000, 30.0),  # 0.010 TH/s per W: least efficient
    miner(2, 3000, 33.0),  # 0.011
    miner(3, 1000, 20.0),  # 0.020
]


def test_curtailment_plan_performance_priority_turns_off_the_least_efficient_first() -> None:
    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=shed(4), strategy=Strategy.PERFORMANCE_PRIORITY)

    assert chosen(result) == {1, 2}
    assert result.shed_w == 6000
    assert result.hashrate_lost_ths == pytest.approx(63.0)
    assert result.target_met


def test_curtailment_plan_optimal_loses_less_than_performance_priority_when_that_overshoots() -> None:
    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=shed(4), strategy=Strategy.OPTIMAL)

    assert chosen(result) == {1, 3}
    assert result.shed_w == 4000
    assert result.hashrate_lost_ths == pytest.approx(50.0)
    assert result.optimal
    assert result.gap_pct == 0.0
    assert result.lp_bound_ths == pytest.approx(30.0 + 33.0 / 3)  # miner 1, then a third of miner 2


def test_curtailment_plan_site_cap_sheds_the_draw_above_the_cap() -> None:
    target = Target(kind=TargetKind.SITE_CAP_KW, value=Decimal("9.5"), site_power_kw=Decimal("13.5"))

    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=target, strategy=Strategy.OPTIMAL)

    assert result.required_w == 4000
    assert chosen(result) == {1, 3}


def test_curtailment_plan_site_cap_without_a_site_figure_uses_the_candidates_draw() -> None:
    target = Target(kind=TargetKind.SITE_CAP_KW, value=3)

    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=target, strategy=Strategy.OPTIMAL)

    assert result.required_w == 4000
    assert result.notes == ("no site draw given: the candidates' draw (7 kW) was taken as the site's",)


def test_curtailment_plan_site_cap_already_met_curtails_nothing() -> None:
    target = Target(kind=TargetKind.SITE_CAP_KW, value=20, site_power_kw=12)

    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=target, strategy=Strategy.OPTIMAL)

    assert result.choices == ()
    assert result.target_met
    assert result.hashrate_lost_ths == 0.0


def test_curtailment_plan_count_target_takes_the_least_efficient_miners() -> None:
    target = Target(kind=TargetKind.MINERS, value=2)

    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=target, strategy=Strategy.OPTIMAL)

    assert chosen(result) == {1, 2}
    assert result.target_met
    assert result.lp_bound_ths is None


def test_curtailment_plan_count_target_larger_than_the_fleet_is_short_by_the_missing_miners() -> None:
    target = Target(kind=TargetKind.MINERS, value=5)

    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=target, strategy=Strategy.PERFORMANCE_PRIORITY)

    assert len(result.choices) == 3
    assert result.short_by == 2
    assert result.short_reason == ShortReason.NOTHING_LEFT


def test_curtailment_plan_thermal_target_curtails_exactly_the_miners_hotter_than_the_limit() -> None:
    candidates = [
        miner(1, 3000, 100.0, chip_temp_c=91.0),
        miner(2, 3000, 100.0, chip_temp_c=85.0),
        miner(3, 3000, 100.0, chip_temp_c=86.5),
        miner(4, 3000, 100.0),
    ]
    target = Target(kind=TargetKind.THERMAL_C, value=85)

    result = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.PARTIAL)

    assert chosen(result) == {1, 3}
    assert all(choice.action == CurtailAction.OFF for choice in result.choices)
    assert result.notes == ("1 miners report no chip temperature and were left alone",)


def test_curtailment_plan_partial_turns_a_miner_down_instead_of_off() -> None:
    candidates = [
        miner(1, 3000, 100.0, supports_power_target=True, curve=BRAIINS_OS_CURVE),
        miner(2, 3000, 100.0),
    ]

    result = curtailment_plan(candidates=candidates, target=shed(0.3), strategy=Strategy.PARTIAL)

    (only,) = result.choices
    assert only.miner_id == 1
    assert only.action == CurtailAction.POWER_TARGET
    assert only.target_power_w == 2700
    assert only.power_change_w == -300
    assert only.hashrate_change_ths == pytest.approx(-100.0 * (1 - BRAIINS_OS_CURVE.points[0][1]))
    assert result.optimal


def test_curtailment_plan_partial_without_a_curve_uses_the_generic_one() -> None:
    candidates = [miner(1, 3000, 100.0, supports_power_target=True)]

    result = curtailment_plan(candidates=candidates, target=shed(0.6), strategy=Strategy.PARTIAL)

    (only,) = result.choices
    assert only.action == CurtailAction.POWER_TARGET
    assert only.target_power_w == 2400


def test_curtailment_plan_partial_uses_power_targets_only_on_miners_that_support_them() -> None:
    rng = np.random.default_rng(7)
    candidates = random_fleet(rng, 300, partial_share=0.4)
    supports = {c.miner_id for c in candidates if c.supports_power_target}
    total_kw = sum(c.power_w for c in candidates) / 1000

    result = curtailment_plan(candidates=candidates, target=shed(round(total_kw * 0.3)), strategy=Strategy.PARTIAL)

    turned_down = {c.miner_id for c in result.choices if c.action == CurtailAction.POWER_TARGET}
    assert turned_down
    assert turned_down <= supports
    assert result.target_met


def test_curtailment_plan_off_prefers_sleep_where_the_firmware_has_it() -> None:
    candidates = [miner(1, 3000, 30.0, sleep_supported=True), miner(2, 3000, 31.0, sleep_supported=False)]

    result = curtailment_plan(candidates=candidates, target=shed(6), strategy=Strategy.OPTIMAL)

    assert {(c.miner_id, c.sleep) for c in result.choices} == {(1, True), (2, False)}


def test_curtailment_plan_customer_aware_curtails_the_lowest_priority_tier_first() -> None:
    candidates = [
        miner(1, 3000, 150.0, customer_id=10, priority=0),  # efficient, but its customer goes first
        miner(2, 3000, 140.0, customer_id=10, priority=0),
        miner(3, 3000, 20.0, customer_id=20, priority=1),  # inefficient, protected by its tier
    ]

    result = curtailment_plan(candidates=candidates, target=shed(3), strategy=Strategy.CUSTOMER_AWARE)

    assert chosen(result) == {2}
    assert result.optimal


def test_curtailment_plan_customer_aware_moves_to_the_next_tier_only_when_the_first_is_all_off() -> None:
    candidates = [
        miner(1, 3000, 150.0, customer_id=10, priority=0),
        miner(2, 3000, 140.0, customer_id=10, priority=0),
        miner(3, 3000, 20.0, customer_id=20, priority=1),
        miner(4, 3000, 25.0, customer_id=20, priority=1),
    ]

    result = curtailment_plan(candidates=candidates, target=shed(8), strategy=Strategy.CUSTOMER_AWARE)

    assert chosen(result) == {1, 2, 3}
    assert result.lower_bound_ths == pytest.approx(310.0)
    assert result.optimal


def test_curtailment_plan_customer_aware_keeps_within_an_allowance_and_takes_another_customers_miner() -> None:
    candidates = [
        miner(1, 3000, 20.0, customer_id=10),
        miner(2, 3000, 21.0, customer_id=10),
        miner(3, 3000, 90.0, customer_id=20),
    ]
    target = shed(6, allowances_kw={10: 4})

    result = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.CUSTOMER_AWARE)

    assert chosen(result) == {1, 3}
    assert result.optimal


def test_curtailment_plan_customer_aware_fills_an_allowance_as_far_as_whole_miners_go_before_the_next_tier() -> None:
    candidates = [
        miner(1, 3000, 30.0, customer_id=10, priority=0),
        miner(2, 2500, 20.0, customer_id=10, priority=0),  # the cheapest per watt, but 5 kW takes miners 1 and 3
        miner(3, 2000, 25.0, customer_id=10, priority=0),
        miner(4, 4000, 100.0, customer_id=20, priority=1),
        miner(5, 4000, 110.0, customer_id=20, priority=1),
    ]
    target = shed(8, allowances_kw={10: 5})

    result = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.CUSTOMER_AWARE)

    assert chosen(result) == {1, 3, 4}
    assert result.hashrate_lost_ths == pytest.approx(155.0)
    assert result.optimal


def test_curtailment_plan_customer_aware_with_cbc_agrees_with_the_own_planner_across_tiers() -> None:
    rng = np.random.default_rng(31)
    candidates = random_fleet(rng, 80, customers=4, tiers=2)
    target = shed(27.195, allowances_kw={0: 21, 1: 31, 2: 0})

    own = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.CUSTOMER_AWARE)
    cbc = curtailment_plan(
        candidates=candidates, target=target, strategy=Strategy.CUSTOMER_AWARE, solver=Solver.CBC, gap_rel=0.0
    )

    assert own.optimal
    assert chosen(own) == chosen(cbc)
    assert own.hashrate_lost_ths == pytest.approx(cbc.hashrate_lost_ths, rel=1e-9)


def test_curtailment_plan_customer_aware_short_because_of_allowances_says_so() -> None:
    candidates = [miner(1, 3000, 20.0, customer_id=10), miner(2, 3000, 21.0, customer_id=10)]
    target = shed(6, allowances_kw={10: 4})

    result = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.CUSTOMER_AWARE)

    assert not result.target_met
    assert result.short_reason == ShortReason.ALLOWANCES
    assert result.short_by == pytest.approx(3.0)
    assert result.shed_w == 3000


def test_curtailment_plan_customer_aware_never_exceeds_an_allowance() -> None:
    rng = np.random.default_rng(11)
    candidates = random_fleet(rng, 400, customers=6, tiers=2)
    allowances = {0: 50, 1: 120, 2: 0, 3: 300}
    total_kw = sum(c.power_w for c in candidates) / 1000

    result = curtailment_plan(
        candidates=candidates,
        target=shed(round(total_kw * 0.4), allowances_kw=allowances),
        strategy=Strategy.CUSTOMER_AWARE,
    )

    by_id = {c.miner_id: c for c in candidates}
    shed_kw: dict[int, float] = {}
    for choice in result.choices:
        customer = by_id[choice.miner_id].customer_id
        assert customer is not None
        shed_kw[customer] = shed_kw.get(customer, 0.0) - choice.power_change_w / 1000
    assert all(shed_kw.get(customer, 0.0) <= allowance for customer, allowance in allowances.items())
    assert 2 not in shed_kw
    assert shed_kw[0] > 40  # the allowance is used, not just respected


def test_curtailment_plan_unreachable_target_sheds_everything_and_is_short_by_the_rest() -> None:
    result = curtailment_plan(candidates=INEFFICIENT_PAIR, target=shed(10), strategy=Strategy.OPTIMAL)

    assert chosen(result) == {1, 2, 3}
    assert not result.target_met
    assert result.short_by == pytest.approx(3.0)
    assert result.short_reason == ShortReason.NOTHING_LEFT
    assert result.gap_pct is None
    assert not result.optimal


def test_curtailment_plan_takes_zero_hashrate_miners_first_at_no_loss() -> None:
    candidates = [miner(1, 3000, 100.0), miner(2, 2500, 0.0), miner(3, 1000, 0.0), miner(4, 3000, 90.0)]

    result = curtailment_plan(candidates=candidates, target=shed(3.5), strategy=Strategy.OPTIMAL)

    assert chosen(result) == {2, 3}
    assert result.hashrate_lost_ths == 0.0
    assert result.gap_pct == 0.0


def test_curtailment_plan_ties_between_identical_miners_give_an_optimal_plan_and_break_by_miner_id() -> None:
    candidates = [miner(k, 3000, 100.0) for k in (5, 3, 9, 1)]

    optimal = curtailment_plan(candidates=candidates, target=shed(5), strategy=Strategy.OPTIMAL)
    performance = curtailment_plan(candidates=candidates, target=shed(5), strategy=Strategy.PERFORMANCE_PRIORITY)

    assert len(optimal.choices) == 2
    assert optimal.hashrate_lost_ths == 200.0
    assert optimal.optimal
    assert chosen(performance) == {1, 3}


def test_curtailment_plan_revenue_lost_is_hashrate_times_hashprice_per_hour() -> None:
    result = curtailment_plan(
        candidates=INEFFICIENT_PAIR,
        target=shed(4),
        strategy=Strategy.OPTIMAL,
        hashprice_usd_per_th_day=Decimal("0.048"),
    )

    assert result.revenue_lost_usd_per_hour == Decimal("0.10")  # 50 TH/s * 0.048 / 24


def test_curtailment_plan_flags_choices_planned_on_nominal_figures() -> None:
    candidates = [miner(1, 3250, 95.0, nominal=True), miner(2, 3000, 120.0)]

    result = curtailment_plan(candidates=candidates, target=shed(3), strategy=Strategy.OPTIMAL)

    assert chosen(result) == {1}
    assert result.notes == ("1 chosen miners are planned on nominal figures (no fresh measurement)",)


def test_curtailment_plan_preview_shows_every_strategy_side_by_side() -> None:
    candidates = [
        miner(1, 3000, 30.0, customer_id=1, priority=1),
        miner(2, 3000, 33.0, customer_id=2, priority=0, supports_power_target=True, curve=BRAIINS_OS_CURVE),
        miner(3, 1000, 20.0, customer_id=1, priority=1),
    ]

    preview = curtailment_plan_preview(candidates=candidates, target=shed(4), hashprice_usd_per_th_day=Decimal("0.05"))

    assert [r.strategy for r in preview.results] == list(Strategy)
    assert chosen(preview.result(Strategy.PERFORMANCE_PRIORITY)) == {1, 2}
    assert chosen(preview.result(Strategy.OPTIMAL)) == {1, 3}
    assert chosen(preview.result(Strategy.CUSTOMER_AWARE)) == {2, 3}
    partial = preview.result(Strategy.PARTIAL)
    assert partial.hashrate_lost_ths <= preview.result(Strategy.OPTIMAL).hashrate_lost_ths
    assert all(r.target_met and r.revenue_lost_usd_per_hour is not None for r in preview.results)


# Exact optima: brute force on small fleets, CBC on medium ones


@pytest.mark.parametrize("seed", range(40))
def test_curtailment_plan_optimal_equals_brute_force_on_small_fleets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_fleet(rng, int(rng.integers(1, 11)))
    required_w = int(rng.integers(0, sum(c.power_w for c in candidates) + 1))
    exact = brute_force(candidates, required_w)

    result = curtailment_plan(candidates=candidates, target=shed(required_w / 1000), strategy=Strategy.OPTIMAL)

    assert result.hashrate_lost_ths == pytest.approx(exact, abs=1e-9)
    assert result.optimal
    assert result.lp_bound_ths is not None
    assert result.lp_bound_ths <= exact + 1e-9


@pytest.mark.parametrize("seed", range(30))
def test_curtailment_plan_partial_equals_brute_force_on_small_fleets(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    candidates = random_fleet(rng, int(rng.integers(1, 6)), partial_share=0.7)
    required_w = int(rng.integers(0, sum(c.power_w for c in candidates) + 1))
    exact = brute_force(candidates, required_w, partial=True)

    result = curtailment_plan(candidates=candidates, target=shed(required_w / 1000), strategy=Strategy.PARTIAL)

    assert result.hashrate_lost_ths == pytest.approx(exact, abs=1e-9)
    assert result.optimal


@pytest.mark.parametrize("seed", range(30))
def test_curtailment_plan_customer_aware_equals_brute_force_with_allowances(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    candidates = random_fleet(rng, int(rng.integers(2, 10)), customers=3)
    allowances_w = {0: int(rng.integers(0, 8000)), 1: int(rng.integers(0, 8000))}
    required_w = int(rng.integers(0, sum(c.power_w for c in candidates) + 1))
    exact = brute_force(candidates, required_w, allowances_w=allowances_w)
    target = shed(required_w / 1000, allowances_kw={c: w / 1000 for c, w in allowances_w.items()})

    result = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.CUSTOMER_AWARE)

    if math.isinf(exact):
        assert not result.target_met
        assert result.short_reason in (ShortReason.ALLOWANCES, ShortReason.NOTHING_LEFT)
    else:
        assert result.hashrate_lost_ths == pytest.approx(exact, abs=1e-9)
        assert result.optimal


@pytest.mark.parametrize(("seed", "strategy"), [(1, Strategy.OPTIMAL), (2, Strategy.OPTIMAL), (3, Strategy.PARTIAL)])
def test_curtailment_plan_own_planner_equals_cbc_optimum_on_medium_fleets(seed: int, strategy: Strategy) -> None:
    rng = np.random.default_rng(300 + seed)
    candidates = random_fleet(rng, 150, partial_share=0.5)
    target = shed(round(sum(c.power_w for c in candidates) * 0.3 / 1000, 3))

    own = curtailment_plan(candidates=candidates, target=target, strategy=strategy)
    cbc = curtailment_plan(candidates=candidates, target=target, strategy=strategy, solver=Solver.CBC, gap_rel=0.0)

    assert cbc.status == "optimal"
    assert own.optimal
    assert own.hashrate_lost_ths == pytest.approx(cbc.hashrate_lost_ths, rel=1e-9)
    assert own.required_w is not None
    assert own.shed_w >= own.required_w


def test_curtailment_plan_highs_reaches_the_own_planners_optimum_on_a_small_fleet() -> None:
    rng = np.random.default_rng(5)
    candidates = random_fleet(rng, 60)
    target = shed(round(sum(c.power_w for c in candidates) * 0.3 / 1000, 3))

    own = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.OPTIMAL)
    highs = curtailment_plan(candidates=candidates, target=target, strategy=Strategy.OPTIMAL, solver="highs", gap_rel=0)

    assert highs.target_met
    assert highs.hashrate_lost_ths == pytest.approx(own.hashrate_lost_ths, rel=1e-9)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_curtailment_plan_bound_is_below_the_plan_and_the_gap_is_not_negative(strategy: Strategy) -> None:
    rng = np.random.default_rng(17)
    candidates = random_fleet(rng, 2000, partial_share=0.3, customers=5, tiers=2)
    target = shed(round(sum(c.power_w for c in candidates) * 0.3 / 1000), allowances_kw={1: 200})

    result = curtailment_plan(candidates=candidates, target=target, strategy=strategy)

    assert result.target_met
    assert result.required_w is not None
    assert result.shed_w >= result.required_w
    assert result.lower_bound_ths is not None
    assert result.lp_bound_ths is not None
    assert result.lp_bound_ths <= result.lower_bound_ths + 1e-6 <= result.hashrate_lost_ths + 2e-6
    assert result.gap_pct is not None
    assert result.gap_pct >= 0.0


def test_cover_solve_proves_a_bound_from_the_core_when_it_cannot_prove_optimality(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a core of one item and no widening, the plan may not be proved optimal; the bound must still hold.
    monkeypatch.setattr("hosting.services.curtailment_planner.knapsack.FIRST_CORE_ITEMS", 1)
    monkeypatch.setattr("hosting.services.curtailment_planner.knapsack.MAX_CORE_ROUNDS", 1)
    for seed in range(30):
        rng = np.random.default_rng(400 + seed)
        candidates = random_fleet(rng, 8)
        required_w = int(rng.integers(1, sum(c.power_w for c in candidates) // 2))
        exact = brute_force(candidates, required_w)
        shed_w = np.array([[0, c.power_w] for c in candidates], dtype=np.int64)
        loss = np.array([[0.0, c.hashrate_ths] for c in candidates])

        solution = cover_solve(CoverProblem(shed_w=shed_w, loss_ths=loss, required_w=required_w))

        assert solution.lower_bound_ths <= exact + 1e-9
        assert solution.loss_ths >= exact - 1e-9
        if solution.optimal:
            assert solution.loss_ths == pytest.approx(exact, abs=1e-9)


# Bad input


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"kind": "shed_kw", "value": -1}, "value"),
        ({"kind": "shed_mw", "value": 1}, "kind"),
        ({"kind": "shed_kw", "value": math.nan}, "value"),
        ({"kind": "miners", "value": 2.5}, "value"),
        ({"kind": "site_cap_kw", "value": 5, "site_power_kw": -3}, "site_power_kw"),
        ({"kind": "shed_kw", "value": 5, "allowances_kw": {1: -2}}, "allowances_kw"),
    ],
)
def test_target_rejects_bad_input_naming_the_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        Target(**arguments)  # type: ignore[arg-type]  # bad input on purpose

    assert list(excinfo.value.fields) == [field]


@pytest.mark.parametrize(
    ("candidates", "extra", "field"),
    [
        ([miner(1, -5, 10.0)], {}, "candidates"),
        ([miner(1, 3000, -1.0)], {}, "candidates"),
        ([miner(1, None, 10.0)], {}, "candidates"),  # type: ignore[arg-type]  # bad input on purpose
        ([miner(1, 3000, 10.0), miner(1, 2000, 10.0)], {}, "candidates"),
        (INEFFICIENT_PAIR, {"strategy": "cheapest"}, "strategy"),
        (INEFFICIENT_PAIR, {"solver": "gurobi"}, "solver"),
        (INEFFICIENT_PAIR, {"strategy": Strategy.PERFORMANCE_PRIORITY, "solver": Solver.CBC}, "solver"),
        (INEFFICIENT_PAIR, {"hashprice_usd_per_th_day": Decimal("-0.01")}, "hashprice_usd_per_th_day"),
    ],
)
def test_curtailment_plan_rejects_bad_input_naming_the_field(
    candidates: list[Candidate], extra: dict[str, object], field: str
) -> None:
    arguments = {"candidates": candidates, "target": shed(1), "strategy": Strategy.OPTIMAL} | extra

    with pytest.raises(InvalidInputError) as excinfo:
        curtailment_plan(**arguments)  # type: ignore[arg-type]  # bad input on purpose

    assert list(excinfo.value.fields) == [field]


# Curves


def test_dvfs_curve_loses_less_hashrate_than_power() -> None:
    curve = dvfs_curve(name="test", voltage_slope=0.5, fixed_share=0.05)

    hashrate_fractions = [h for _, h in curve.points]
    assert hashrate_fractions == sorted(hashrate_fractions, reverse=True)
    assert all(h > p for p, h in curve.points)
    assert curve.points[-1][0] == 0.6
    assert curve.points[-1][1] == pytest.approx(0.7533, abs=1e-4)


def test_dvfs_curve_with_voltage_held_is_linear_apart_from_the_fixed_share() -> None:
    curve = dvfs_curve(name="flat", voltage_slope=0.0, fixed_share=0.0, power_fractions=(0.5,))

    assert curve.points == ((0.5, 0.5),)


def test_power_curve_rejects_hashrate_rising_as_power_falls() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        PowerCurve(name="bad", points=((0.9, 0.8), (0.8, 0.85)))

    assert list(excinfo.value.fields) == ["points"]


# Eligibility


def state(miner_id: int, **extra: object) -> MinerState:
    values: dict[str, object] = {
        "status": MinerStatus.ONLINE,
        "firmware": Firmware.BRAIINS_OS,
        "nominal_power_w": 3250,
        "nominal_hashrate_ths": 95.0,
        "reading_at": NOW - timedelta(minutes=1),
        "power_w": 3180,
        "hashrate_ths": 93.5,
    }
    return MinerState(miner_id=miner_id, **(values | extra))  # type: ignore[arg-type]


def test_curtailment_candidates_build_says_why_each_miner_was_left_out() -> None:
    states = [
        state(1),
        state(2, status=MinerStatus.OFFLINE),
        state(3, status=MinerStatus.MAINTENANCE),
        state(4, is_sleeping=True),
        state(5, in_curtailment=True),
        state(6, reading_at=None),
        state(7, reading_at=NOW - timedelta(minutes=6)),
    ]

    eligibility = curtailment_candidates_build(states=states, now=NOW)

    assert [c.miner_id for c in eligibility.candidates] == [1]
    assert {(e.miner_id, e.reason) for e in eligibility.excluded} == {
        (2, ExclusionReason.OFFLINE),
        (3, ExclusionReason.MAINTENANCE),
        (4, ExclusionReason.CURTAILED),
        (5, ExclusionReason.CURTAILED),
        (6, ExclusionReason.NO_READING),
        (7, ExclusionReason.STALE),
    }


def test_curtailment_candidates_build_uses_measured_figures_and_firmware_abilities() -> None:
    eligibility = curtailment_candidates_build(
        states=[state(1, chip_temp_c=78.0), state(2, firmware=Firmware.WHATSMINER)], now=NOW
    )

    braiins, whatsminer = eligibility.candidates
    assert (braiins.power_w, braiins.hashrate_ths, braiins.nominal) == (3180, 93.5, False)
    # Braiins OS takes a power target over gRPC only, which the control client does not speak: it sleeps.
    assert not braiins.supports_power_target
    assert braiins.sleep_supported
    assert braiins.chip_temp_c == 78.0
    assert whatsminer.supports_power_target
    assert whatsminer.curve == WHATSMINER_CURVE


def test_curtailment_candidates_build_falls_back_to_nominal_power_when_the_reading_has_none() -> None:
    eligibility = curtailment_candidates_build(
        states=[state(1, firmware=Firmware.ANTMINER_STOCK, power_w=None)], now=NOW
    )

    (candidate,) = eligibility.candidates
    assert (candidate.power_w, candidate.hashrate_ths, candidate.nominal) == (3250, 93.5, True)
    assert not candidate.supports_power_target


def test_curtailment_candidates_build_plans_stale_miners_on_nominal_figures_when_asked() -> None:
    eligibility = curtailment_candidates_build(
        states=[state(1, reading_at=NOW - timedelta(hours=1))], now=NOW, stale_policy=StalePolicy.NOMINAL
    )

    (candidate,) = eligibility.candidates
    assert (candidate.power_w, candidate.hashrate_ths, candidate.nominal) == (3250, 95.0, True)
    assert eligibility.excluded == ()
