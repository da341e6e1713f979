"""A single profitability calculation: validate through the engine, compute at the current market, save it."""

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from calculator.models import CalculationHistory, MinerModel
from calculator.services.market_inputs import FigureSource, MarketInputs, market_snapshot_current
from calculator.services.profitability import (
    MinerSetup,
    ProfitabilityResult,
    Projection,
    miner_setup_from_mapping,
    profitability_compute,
    profitability_project,
)
from calculator.services.scenarios import Scenario, scenario_build
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User

# Inputs passed straight to MinerSetup, under the engine's own names.
SETUP_FIELDS = (
    "hashrate_ths",
    "power_w",
    "electricity_usd_per_kwh",
    "pool_fee_pct",
    "uptime_pct",
    "hardware_cost_usd",
    "hosting_fee_usd_per_month",
    "hosting_fee_usd_per_kwh",
    "curtailment_hours_per_month",
    "quantity",
)
# A chart of a ten-year projection needs no more points than a screen is wide.
CHART_POINTS = 400
RESULTS_CACHE_PREFIX = "calculator:results:"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _money(value: Decimal | None) -> str | None:
    """Figures are stored to 8 decimal places (a satoshi, a hundred-millionth of a dollar)."""
    # Fixed-point text ("0.00000000", never "0E-8"): clients parse it as a decimal number.
    return None if value is None else f"{value.quantize(Decimal('0.00000001')):f}"


def _source(figure: FigureSource) -> dict[str, object]:
    return {
        "source": figure.label,
        "age_seconds": round(figure.age_seconds, 1),
        "fallback": figure.fallback,
        "shipped_history": figure.shipped_history,
    }


def market_inputs_json(market: MarketInputs) -> dict[str, object]:
    snapshot = market.snapshot
    return {
        "as_of": snapshot.as_of.isoformat(),
        "btc_price_usd": {"value": str(snapshot.btc_price_usd), **_source(market.price)},
        "difficulty": {"value": str(snapshot.difficulty), **_source(market.difficulty)},
        "block_height": {"value": snapshot.block_height, **_source(market.block_height)},
        "fees_per_block_btc": {"value": str(snapshot.fees_per_block_btc), **_source(market.fees)},
    }


def chart_day_indexes(*, days: int, marked: Iterable[int | None]) -> list[int]:
    """About CHART_POINTS evenly spaced days of a projection, with the last day and every marked day."""
    step = max(1, -(-days // CHART_POINTS))
    return sorted(set(range(0, days, step)) | {i for i in marked if i is not None} | {days - 1})


def _chart_json(projection: Projection, hardware_cost_usd: Decimal) -> dict[str, object]:
    """Cumulative profit sampled for a chart, always with the payback and halving days."""
    days = projection.days
    indexes = chart_day_indexes(days=len(days), marked=(projection.payback_day, projection.halving_day))
    return {
        "start_on": days[0].on.isoformat(),
        "day": indexes,
        "cumulative_profit_usd": [float(round(days[i].cumulative_profit_usd, 2)) for i in indexes],
        "btc_price_usd": [float(round(days[i].btc_price_usd, 2)) for i in indexes],
        "hardware_cost_usd": float(round(hardware_cost_usd, 2)),
        "payback_day": projection.payback_day,
        "halving_day": projection.halving_day,
    }


def _results_json(result: ProfitabilityResult, projection: Projection, scenario: Scenario) -> dict[str, object]:
    def period(name: str) -> dict[str, str | None]:
        figures = getattr(result, name)
        return {
            key: _money(getattr(figures, key))
            for key in ("revenue_usd", "revenue_btc", "cost_usd", "cost_btc", "profit_usd", "profit_btc")
        }

    return {
        "per_day": period("per_day"),
        "per_month": period("per_month"),
        "per_year": period("per_year"),
        "subsidy_btc": _text(result.subsidy_btc),
        "hashprice_usd_per_th_day": _money(result.hashprice_usd_per_th_day),
        "efficiency_j_per_th": _money(result.efficiency_j_per_th),
        "break_even_electricity_usd_per_kwh": _money(result.break_even_electricity_usd_per_kwh),
        "break_even_btc_price_usd": _money(result.break_even_btc_price_usd),
        "total_hardware_cost_usd": _money(result.total_hardware_cost_usd),
        "roi_pct_per_year": _money(result.roi_pct_per_year),
        "pays_back": result.pays_back,
        "payback_days": _money(result.payback_days),
        "projection": {
            "horizon_days": len(projection.days),
            "difficulty_scenario": scenario.difficulty_label,
            "difficulty_growth_pct_per_month": _money(scenario.path.difficulty_growth_pct_per_month),
            "price_scenario": scenario.price_label,
            "final_difficulty": _money(projection.days[-1].difficulty),
            "final_btc_price_usd": _money(projection.days[-1].btc_price_usd),
            "cumulative_profit_usd": _money(projection.total_profit_usd),
            "cumulative_profit_btc": _money(projection.total_profit_btc),
            "net_usd": _money(projection.net_usd),
            "pays_back": projection.pays_back,
            # None is "never" within the horizon.
            "payback_on": None if projection.payback_on is None else projection.payback_on.isoformat(),
            "halving_height": projection.halving_height,
            "halving_at": projection.halving_at.isoformat(),
            "halving_on": None
            if projection.halving_day is None
            else projection.days[projection.halving_day].on.isoformat(),
        },
        "chart": _chart_json(projection, result.total_hardware_cost_usd),
    }


def _inputs_json(data: Mapping[str, object]) -> dict[str, object]:
    return {key: (str(value) if isinstance(value, Decimal) else value) for key, value in data.items()}


def _miner_model(*, data: Mapping[str, object]) -> MinerModel | None:
    model_id = data.get("miner_model_id")
    if model_id is None or model_id == "":
        return None
    model = MinerModel.objects.filter(pk=model_id).first() if isinstance(model_id, int) else None
    if model is None:
        raise InvalidInputError(
            "Some values are not valid: miner_model_id.", fields={"miner_model_id": ["is not in the catalogue"]}
        )
    return model


def calculation_setup(*, data: Mapping[str, object], model: MinerModel | None) -> MinerSetup:
    """The engine's setup from the fields given; a catalogue model fills in hashrate and power left blank."""
    setup_values = {key: data[key] for key in SETUP_FIELDS if data.get(key) is not None and data.get(key) != ""}
    if model is not None:
        setup_values.setdefault("hashrate_ths", model.hashrate_ths)
        setup_values.setdefault("power_w", Decimal(model.power_w))
    return miner_setup_from_mapping(data=setup_values)


def _results_cache_key(*, inputs: Mapping[str, object], market: MarketInputs) -> str:
    """The same inputs at the same market figures (and day) give the same results."""
    snapshot = market.snapshot
    identity = {
        "inputs": inputs,
        "market": [
            str(snapshot.btc_price_usd),
            str(snapshot.difficulty),
            snapshot.block_height,
            str(snapshot.fees_per_block_btc),
            snapshot.as_of.date().isoformat(),
        ],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return RESULTS_CACHE_PREFIX + digest


def _setup_and_scenario(
    *, data: Mapping[str, object], model: MinerModel | None, market: MarketInputs
) -> tuple[MinerSetup, Scenario]:
    """Both checked before either is used, so a form shows every bad field at once."""
    errors: dict[str, list[str]] = {}
    setup: MinerSetup | None = None
    scenario: Scenario | None = None
    try:
        setup = calculation_setup(data=data, model=model)
    except InvalidInputError as error:
        errors.update(error.fields)
    try:
        scenario = scenario_build(data=data, market=market.snapshot)
    except InvalidInputError as error:
        errors.update(error.fields)
    if setup is None or scenario is None:
        raise InvalidInputError(f"Some values are not valid: {', '.join(sorted(errors))}.", fields=errors)
    return setup, scenario


def calculation_results(
    *, data: Mapping[str, object], model: MinerModel | None, market: MarketInputs
) -> dict[str, object]:
    """The key figures, projection summary and chart of `data` at `market`, cached for identical requests.

    The cache only skips the arithmetic: the market figures themselves are read fresh for each request.
    Bad values raise InvalidInputError naming each field (nothing is cached then).
    """
    key = _results_cache_key(inputs=_inputs_json(data), market=market)
    cached = cache.get(key)
    if cached is not None:
        return cast(dict[str, object], cached)
    setup, scenario = _setup_and_scenario(data=data, model=model, market=market)
    result = profitability_compute(setup=setup, market=market.snapshot)
    projection = profitability_project(setup=setup, path=scenario.path)
    results = _results_json(result, projection, scenario)
    cache.set(key, results, timeout=settings.CALCULATOR_RESULTS_CACHE_SECONDS)
    return results


def calculation_run(*, data: Mapping[str, object], user: User | None, now: datetime) -> CalculationHistory:
    """Compute one calculation at the current market and save it (for `user` when given, else anonymously).

    `data` holds the engine's setup fields, optionally `miner_model_id` (custom hashrate and power override
    the model's), `horizon_days` and the scenario fields of calculator.services.scenarios. Bad values raise
    InvalidInputError naming each field.
    """
    model = _miner_model(data=data)
    # Market figures are read (cache, Redis) before the transaction: nothing outside Postgres inside it.
    market = market_snapshot_current(now=now)
    results = calculation_results(data=data, model=model, market=market)
    row = CalculationHistory(
        user=user,
        created_at=now,
        miner_model=model,
        inputs=_inputs_json(data),
        market=market_inputs_json(market),
        results=results,
    )
    with transaction.atomic(durable=True):
        row.full_clean()
        row.save()
    return row
