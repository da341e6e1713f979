"""What-if: several miner models side by side at the same market figures, tariffs and scenario.

Every model is projected on one market path, so the differences are the machines' alone. Comparisons
are not saved: they are a way to choose, and each one can be opened as a single calculation.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from calculator.models import MinerModel
from calculator.services.calculation import calculation_setup
from calculator.services.market_inputs import MarketInputs, market_snapshot_current
from calculator.services.profitability import (
    ProfitabilityResult,
    Projection,
    profitability_compute,
    profitability_project,
)
from calculator.services.scenarios import Scenario, scenario_build
from mining_platform.core.errors import InvalidInputError

MIN_MODELS = 2


@dataclass(frozen=True)
class ComparePick:
    """One slot of the comparison: its position on the form, the model and its hardware cost text."""

    slot: int
    model: MinerModel
    hardware_cost_usd: object


@dataclass(frozen=True)
class ComparedModel:
    pick: ComparePick
    result: ProfitabilityResult
    projection: Projection


@dataclass(frozen=True)
class Comparison:
    market: MarketInputs
    scenario: Scenario
    models: tuple[ComparedModel, ...]

    def best_by_profit(self) -> ComparedModel:
        return max(self.models, key=lambda compared: compared.result.per_day.profit_usd)


def calculation_compare(*, data: Mapping[str, object], picks: Sequence[ComparePick], now: datetime) -> Comparison:
    """Compute each picked model with the shared `data` (tariffs, horizon, scenario) on one market path.

    Errors name the form's fields: a hardware cost as hardware_cost_usd_<slot>, the shared ones as they are.
    """
    if len(picks) < MIN_MODELS:
        raise InvalidInputError(
            "Some values are not valid: model_0.", fields={"model_0": [f"and at least {MIN_MODELS} models are needed"]}
        )
    errors: dict[str, list[str]] = {}
    setups = []
    for pick in picks:
        try:
            setups.append(
                calculation_setup(data={**data, "hardware_cost_usd": pick.hardware_cost_usd}, model=pick.model)
            )
        except InvalidInputError as error:
            for name, messages in error.fields.items():
                key = f"hardware_cost_usd_{pick.slot}" if name == "hardware_cost_usd" else name
                errors.setdefault(key, [])
                errors[key].extend(message for message in messages if message not in errors[key])
    if errors:
        raise InvalidInputError(f"Some values are not valid: {', '.join(sorted(errors))}.", fields=errors)
    market = market_snapshot_current(now=now)
    scenario = scenario_build(data=data, market=market.snapshot)
    compared = tuple(
        ComparedModel(
            pick=pick,
            result=profitability_compute(setup=setup, market=market.snapshot),
            projection=profitability_project(setup=setup, path=scenario.path),
        )
        for pick, setup in zip(picks, setups, strict=True)
    )
    return Comparison(market=market, scenario=scenario, models=compared)
