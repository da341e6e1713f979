"""What the planner takes and gives: candidates, a target, and the chosen actions with their figures.

Nothing here reads the database. The caller builds `Candidate`s from miners and their latest telemetry
(`eligibility.candidates_from_states` does that from plain values) and stores what comes back.
"""

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from mining_platform.core.errors import InvalidInputError

from .curves import PowerCurve


class Strategy(enum.StrEnum):
    PERFORMANCE_PRIORITY = "performance_priority"  # least efficient (J/TH) off first, the reference design
    OPTIMAL = "optimal"  # least hashrate lost for the power asked, miners on or off
    PARTIAL = "partial"  # as optimal, with power targets besides off where the firmware takes them
    CUSTOMER_AWARE = "customer_aware"  # priority tiers first, allowances per customer, optimal within


class Solver(enum.StrEnum):
    GREEDY = "greedy"  # a sort and a prefix (performance priority, count and thermal targets)
    OWN = "own"  # the project's covering-knapsack planner (knapsack.py)
    CBC = "cbc"  # the PuLP model solved by CBC, bundled with PuLP
    HIGHS = "highs"  # the PuLP model solved by HiGHS with presolve off (platform notes section 6)


class TargetKind(enum.StrEnum):
    SHED_KW = "shed_kw"  # shed at least this many kW
    SITE_CAP_KW = "site_cap_kw"  # bring the site's draw down to at most this many kW
    MINERS = "miners"  # curtail this many miners
    THERMAL_C = "thermal_c"  # curtail every miner whose chip is hotter than this, and nothing else


class CurtailAction(enum.StrEnum):
    OFF = "off"  # stop hashing: sleep where the firmware has it, else power off
    POWER_TARGET = "power_target"  # keep hashing at a lower power


class ShortReason(enum.StrEnum):
    NOTHING_LEFT = "nothing_left"  # every candidate is already in the plan at its lowest power
    ALLOWANCES = "allowances"  # enough power exists, but the customers' allowances forbid taking it


Number = int | float | Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One miner that may be curtailed, with the figures the plan is made from."""

    miner_id: int
    power_w: int  # latest measured draw, or the model's nominal draw when `nominal`
    hashrate_ths: float  # latest measured hashrate, or nominal when `nominal`
    nominal: bool = False  # the figures are the model's nominal ones: telemetry had none fresh enough
    customer_id: int | None = None
    priority: int = 0  # from the customer: lower numbers are curtailed first (customer-aware strategy)
    supports_power_target: bool = False
    curve: PowerCurve | None = None  # hashrate at lower power; the generic curve when None
    chip_temp_c: float | None = None
    sleep_supported: bool = False


@dataclass(frozen=True, kw_only=True)
class Target:
    """What the plan must achieve. `value` is in the kind's unit: kW, kW, miners or degrees Celsius."""

    kind: TargetKind
    value: Number
    # The site's whole measured draw, for a site cap; without it the candidates' draw is used.
    site_power_kw: Number | None = None
    # The most kW each customer's miners may shed (customer id to kW), honoured by the customer-aware
    # strategy; customers not named have no limit.
    allowances_kw: Mapping[int, Number] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TargetKind.__members__.values():
            kinds = ", ".join(TargetKind)
            raise InvalidInputError(fields={"kind": [f"unknown target kind {self.kind!r}; use one of {kinds}"]})
        object.__setattr__(self, "kind", TargetKind(self.kind))
        value = _finite(self.value)
        if value is None:
            raise InvalidInputError(fields={"value": ["must be a finite number"]})
        if self.kind != TargetKind.THERMAL_C and value < 0:
            raise InvalidInputError(fields={"value": ["must not be negative"]})
        if self.kind == TargetKind.MINERS and value != math.floor(value):
            raise InvalidInputError(fields={"value": ["a number of miners must be a whole number"]})
        if self.site_power_kw is not None:
            site = _finite(self.site_power_kw)
            if site is None or site < 0:
                raise InvalidInputError(fields={"site_power_kw": ["must be a finite number, not negative"]})
        problems = [
            f"customer {customer_id}: must be a finite number of kW, not negative"
            for customer_id, allowance in self.allowances_kw.items()
            if (checked := _finite(allowance)) is None or checked < 0
        ]
        if problems:
            raise InvalidInputError(fields={"allowances_kw": problems})

    @property
    def is_power(self) -> bool:
        return self.kind in (TargetKind.SHED_KW, TargetKind.SITE_CAP_KW)


class PlanChoice(NamedTuple):
    """One miner in a plan. Changes are signed: a curtailment makes both negative.

    A NamedTuple rather than the house's frozen dataclass: a plan for a large site holds tens of
    thousands of these, and a tuple is built several times faster while being just as immutable.
    """

    miner_id: int
    action: CurtailAction
    sleep: bool  # for OFF: sleep rather than cut power (the firmware can)
    target_power_w: int | None  # for POWER_TARGET
    power_change_w: int
    hashrate_change_ths: float


@dataclass(frozen=True, kw_only=True)
class PlanResult:
    """One strategy's plan and its figures, comparable side by side with the others'."""

    strategy: Strategy
    solver: Solver
    target: Target
    required_w: int | None  # the shed a power target asks for, in W
    choices: tuple[PlanChoice, ...]
    shed_w: int
    hashrate_lost_ths: float
    target_met: bool
    short_by: float  # in the target's unit (kW or miners); 0 when met
    short_reason: ShortReason | None
    # Lower bounds on the hashrate any plan must lose for this target (None for count and thermal
    # targets, which have nothing to optimise): the LP relaxation's, and the best one proved (at least
    # the LP's; equal to the plan's loss when the plan is proved optimal).
    lp_bound_ths: float | None
    lower_bound_ths: float | None
    gap_pct: float | None  # 100 * (loss - lower bound) / loss
    optimal: bool  # proved optimal for the strategy's problem
    status: str  # "optimal", "feasible", "infeasible", or the MILP solver's status
    solve_seconds: float
    revenue_lost_usd_per_hour: Decimal | None  # at the hashprice given
    notes: tuple[str, ...] = ()

    @property
    def shed_kw(self) -> float:
        return self.shed_w / 1000

    @property
    def miners_curtailed(self) -> int:
        return len(self.choices)

    @property
    def power_targets(self) -> int:
        return sum(1 for choice in self.choices if choice.action == CurtailAction.POWER_TARGET)


@dataclass(frozen=True)
class PlanPreview:
    """Every strategy's plan for one target, in a fixed order, for the operator to compare."""

    target: Target
    results: tuple[PlanResult, ...]

    def result(self, strategy: Strategy) -> PlanResult:
        for result in self.results:
            if result.strategy == strategy:
                return result
        raise KeyError(strategy)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
