"""A single profitability calculation: validate through the engine, compute at the current market, save it."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from calculator.models import CalculationHistory, MinerModel
from calculator.services.market_inputs import FigureSource, MarketInputs, market_snapshot_current
from calculator.services.profitability import (
    PricePath,
    PricePathKind,
    ProfitabilityResult,
    Projection,
    miner_setup_from_mapping,
    profitability_compute,
    profitability_project,
)
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
DEFAULT_HORIZON_DAYS = 365


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _money(value: Decimal | None) -> str | None:
    """Figures are stored to 8 decimal places (a satoshi, a hundred-millionth of a dollar)."""
    return None if value is None else str(value.quantize(Decimal("0.00000001")))


def _source(figure: FigureSource) -> dict[str, object]:
    return {
        "source": figure.label,
        "age_seconds": round(figure.age_seconds, 1),
        "fallback": figure.fallback,
        "shipped_history": figure.shipped_history,
    }


def _market_json(market: MarketInputs) -> dict[str, object]:
    snapshot = market.snapshot
    return {
        "as_of": snapshot.as_of.isoformat(),
        "btc_price_usd": {"value": str(snapshot.btc_price_usd), **_source(market.price)},
        "difficulty": {"value": str(snapshot.difficulty), **_source(market.difficulty)},
        "block_height": {"value": snapshot.block_height, **_source(market.block_height)},
        "fees_per_block_btc": {"value": str(snapshot.fees_per_block_btc), **_source(market.fees)},
    }


def _results_json(result: ProfitabilityResult, projection: Projection, horizon_days: int) -> dict[str, object]:
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
            "horizon_days": horizon_days,
            "cumulative_profit_usd": _money(projection.total_profit_usd),
            "cumulative_profit_btc": _money(projection.total_profit_btc),
            "net_usd": _money(projection.net_usd),
            "pays_back": projection.pays_back,
            # None is "never" within the horizon.
            "payback_on": None if projection.payback_on is None else projection.payback_on.isoformat(),
            "halving_height": projection.halving_height,
            "halving_at": projection.halving_at.isoformat(),
        },
    }


def _inputs_json(data: Mapping[str, object]) -> dict[str, object]:
    return {key: (str(value) if isinstance(value, Decimal) else value) for key, value in data.items()}


def _given(data: Mapping[str, object], key: str, default: object) -> object:
    """The value under `key`, or `default` when it is missing or null."""
    value = data.get(key)
    return default if value is None else value


def _miner_model(*, data: Mapping[str, object]) -> MinerModel | None:
    model_id = data.get("miner_model_id")
    if model_id is None:
        return None
    model = MinerModel.objects.filter(pk=model_id).first() if isinstance(model_id, int) else None
    if model is None:
        raise InvalidInputError(
            "Some values are not valid: miner_model_id.", fields={"miner_model_id": ["is not in the catalogue"]}
        )
    return model


def _price_path(*, data: Mapping[str, object]) -> PricePath:
    scenario = _given(data, "price_scenario", PricePathKind.FLAT)
    if scenario == PricePathKind.GROWTH:
        growth = _given(data, "price_growth_pct_per_month", Decimal(0))
        try:
            return PricePath(kind=PricePathKind.GROWTH, growth_pct_per_month=growth)  # type: ignore[arg-type]  # checked in __post_init__
        except InvalidInputError as error:
            # The engine names the path's field; the form names it price_growth_pct_per_month.
            raise InvalidInputError(
                error.message.replace("price_path.growth_pct_per_month", "price_growth_pct_per_month"),
                fields={"price_growth_pct_per_month": error.fields.get("price_path.growth_pct_per_month", [])},
            ) from error
    if scenario != PricePathKind.FLAT:
        raise InvalidInputError(
            "Some values are not valid: price_scenario.", fields={"price_scenario": ["must be flat or growth"]}
        )
    return PricePath()


def calculation_run(*, data: Mapping[str, object], user: User | None, now: datetime) -> CalculationHistory:
    """Compute one calculation at the current market and save it (for `user` when given, else anonymously).

    `data` holds the engine's setup fields, optionally `miner_model_id` (custom hashrate and power override
    the model's), `horizon_days`, `difficulty_growth_pct_per_month`, `price_scenario` (flat or growth) and
    `price_growth_pct_per_month`. Bad values raise InvalidInputError naming each field.
    """
    model = _miner_model(data=data)
    setup_values = {key: data[key] for key in SETUP_FIELDS if data.get(key) is not None}
    if model is not None:
        setup_values.setdefault("hashrate_ths", model.hashrate_ths)
        setup_values.setdefault("power_w", Decimal(model.power_w))
    setup = miner_setup_from_mapping(data=setup_values)
    path = _price_path(data=data)
    horizon = _given(data, "horizon_days", DEFAULT_HORIZON_DAYS)
    growth = _given(data, "difficulty_growth_pct_per_month", Decimal(0))
    # Market figures are read (cache, Redis) before the transaction: nothing outside Postgres inside it.
    market = market_snapshot_current(now=now)
    result = profitability_compute(setup=setup, market=market.snapshot)
    projection = profitability_project(
        setup=setup,
        market=market.snapshot,
        horizon_days=horizon,  # type: ignore[arg-type]  # checked by the engine, which names the field
        difficulty_growth_pct_per_month=growth,  # type: ignore[arg-type]  # checked by the engine
        price_path=path,
    )
    row = CalculationHistory(
        user=user,
        created_at=now,
        miner_model=model,
        inputs=_inputs_json(data),
        market=_market_json(market),
        results=_results_json(result, projection, len(projection.days)),
    )
    with transaction.atomic(durable=True):
        row.full_clean()
        row.save()
    return row
