"""What the calculator pages show, shaped for the templates: market figures with their ages, chart data."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import cast

from mining_platform.core.models import User

from .models import CalculationHistory
from .selectors import calculation_history_list_for_user, miner_model_list
from .services.calculation import chart_day_indexes
from .services.compare import Comparison
from .services.profitability import Projection

HISTORY_SHOWN = 8
_MARKET_FIGURES = (
    ("btc_price_usd", "BTC price"),
    ("difficulty", "Difficulty"),
    ("block_height", "Block height"),
    ("fees_per_block_btc", "Fees per block"),
)
_SI = ((Decimal(10) ** 18, "E"), (Decimal(10) ** 15, "P"), (Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "G"))


@dataclass(frozen=True)
class MarketFigure:
    key: str
    name: str
    value: str
    source: str
    age: str
    fallback: bool
    shipped_history: bool


@dataclass(frozen=True)
class MarketPanel:
    figures: tuple[MarketFigure, ...]
    as_of: str
    any_fallback: bool
    shipped_history: bool


def age_text(seconds: float) -> str:
    """A short, readable age: 45 s, 12 min, 3 h 5 min, 2 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def si_text(value: Decimal) -> str:
    """A large count with an SI prefix: 126.27 T."""
    for scale, prefix in _SI:
        if value >= scale:
            return f"{value / scale:,.2f} {prefix}"
    return f"{value:,.0f}"


def _figure_value(key: str, value: object) -> str:
    number = Decimal(str(value))
    if key == "btc_price_usd":
        return f"${number:,.2f}"
    if key == "difficulty":
        return si_text(number)
    if key == "block_height":
        return f"{number:,.0f}"
    return f"{number:.8f} BTC"


def market_panel(market: Mapping[str, object]) -> MarketPanel:
    """The market figures a calculation used (or would use), each with its source and age."""
    figures = []
    for key, name in _MARKET_FIGURES:
        # The shape calculation.market_inputs_json writes.
        figure = cast(Mapping[str, object], market[key])
        figures.append(
            MarketFigure(
                key=key,
                name=name,
                value=_figure_value(key, figure["value"]),
                source=str(figure["source"]),
                age=age_text(float(cast(float, figure["age_seconds"]))),
                fallback=bool(figure["fallback"]),
                shipped_history=bool(figure["shipped_history"]),
            )
        )
    return MarketPanel(
        figures=tuple(figures),
        as_of=str(market["as_of"]),
        any_fallback=any(figure.fallback for figure in figures),
        shipped_history=any(figure.shipped_history for figure in figures),
    )


def model_specs() -> dict[str, list[str]]:
    """Catalogue id to [hashrate TH/s, power W]: the form shows them as the custom fields' placeholders."""
    return {str(model.pk): [f"{model.hashrate_ths.normalize():f}", str(model.power_w)] for model in miner_model_list()}


def recent_calculations(*, user: object) -> list[CalculationHistory]:
    if not isinstance(user, User):
        return []
    return list(calculation_history_list_for_user(user=user)[:HISTORY_SHOWN])


def _net_series(projection: Projection, hardware_cost_usd: Decimal, indexes: Sequence[int]) -> list[float]:
    return [float(round(projection.days[i].cumulative_profit_usd - hardware_cost_usd, 2)) for i in indexes]


def compare_chart(comparison: Comparison) -> dict[str, object]:
    """Net position (cumulative profit less hardware) of every model on the same days, for one chart."""
    first = comparison.models[0].projection
    indexes = chart_day_indexes(days=len(first.days), marked=[first.halving_day])
    start_on: date = first.days[0].on
    return {
        "start_on": start_on.isoformat(),
        "day": indexes,
        "halving_day": first.halving_day,
        "series": [
            {
                "label": str(compared.pick.model),
                "net_usd": _net_series(compared.projection, compared.result.total_hardware_cost_usd, indexes),
                "payback_day": compared.projection.payback_day,
            }
            for compared in comparison.models
        ],
    }


def halving_on(projection: Projection) -> date | None:
    if projection.halving_day is None:
        return None
    return projection.days[0].on + timedelta(days=projection.halving_day)
