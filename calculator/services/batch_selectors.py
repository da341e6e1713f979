"""Reads of calculation batches, scoped to their owner: progress, sorted rows, fleet totals and the market used."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, OrderBy, QuerySet, Value

from calculator.models import CalculationBatch, CalculationBatchRow, CalculationBatchStatus
from mining_platform.core.errors import NotFoundError
from mining_platform.core.models import User

# ?sort= keys and the row column each orders by. A figure that does not exist (payback never, no energy
# drawn) sorts after every number going up and before them going down: "never" is the longest payback.
SORT_COLUMNS = {
    "row": "position",
    "label": "label",
    "model": "model_name",
    "quantity": "quantity",
    "hashrate": "total_hashrate_ths",
    "power": "total_power_w",
    "efficiency": "efficiency_j_per_th",
    "revenue_day": "revenue_usd_per_day",
    "cost_day": "cost_usd_per_day",
    "profit_day": "profit_usd_per_day",
    "revenue_month": "revenue_usd_per_month",
    "cost_month": "cost_usd_per_month",
    "profit_month": "profit_usd_per_month",
    "break_even": "break_even_electricity_usd_per_kwh",
    "payback": "payback_days",
    "payback_on": "payback_on",
    "projected_profit": "projected_profit_usd",
}
DEFAULT_SORT = "row"


@dataclass(frozen=True)
class BatchProgress:
    """How far a batch got, for the progress bar."""

    batch_id: int
    status: str
    total: int
    done: int
    error: str

    @property
    def percent(self) -> int:
        # Floor, so 100 % is shown only once every row is stored.
        return 100 * self.done // self.total if self.total else 100

    @property
    def finished(self) -> bool:
        return self.status in (CalculationBatchStatus.DONE, CalculationBatchStatus.FAILED)


@dataclass(frozen=True)
class FleetTotals:
    """The fleet's figures: sums over every row, and the fleet's efficiency, break-even and payback."""

    rows: int
    units: int
    rows_paying_back: int
    rows_paying_back_in_horizon: int
    total_hashrate_ths: Decimal
    total_power_w: Decimal
    energy_kwh_per_day: Decimal
    hosting_cost_usd_per_day: Decimal
    revenue_usd_per_day: Decimal
    revenue_btc_per_day: Decimal
    cost_usd_per_day: Decimal
    cost_btc_per_day: Decimal
    profit_usd_per_day: Decimal
    profit_btc_per_day: Decimal
    revenue_usd_per_month: Decimal
    revenue_btc_per_month: Decimal
    cost_usd_per_month: Decimal
    cost_btc_per_month: Decimal
    profit_usd_per_month: Decimal
    profit_btc_per_month: Decimal
    total_hardware_cost_usd: Decimal
    projected_profit_usd: Decimal
    efficiency_j_per_th: Decimal
    break_even_electricity_usd_per_kwh: Decimal | None
    payback_days: Decimal | None

    @property
    def total_power_kw(self) -> Decimal:
        return self.total_power_w / 1000


@dataclass(frozen=True)
class MarketFigure:
    """One market figure a batch was computed at, with its source and age when the batch was created."""

    name: str
    label: str
    value: str
    source: str
    age_seconds: float
    fallback: bool


@dataclass(frozen=True)
class BatchScenario:
    horizon_days: int
    difficulty_label: str
    price_label: str
    halving_height: int | None
    halving_on: date | None


_MARKET_LABELS = (
    ("btc_price_usd", "BTC price (USD)"),
    ("difficulty", "Network difficulty"),
    ("block_height", "Block height"),
    ("fees_per_block_btc", "Fees per block (BTC)"),
)


def calculation_batch_list_for_user(*, user: User, limit: int = 20) -> list[CalculationBatch]:
    """The user's most recent batches, newest first (without their stored inputs)."""
    return list(CalculationBatch.objects.filter(user=user).defer("inputs").order_by("-created_at", "-id")[:limit])


def calculation_batch_get_for_user(*, batch_id: int, user: User) -> CalculationBatch:
    """One of the user's batches (without its stored inputs); NotFoundError for any other, so none leaks."""
    batch = CalculationBatch.objects.filter(pk=batch_id, user=user).defer("inputs").first()
    if batch is None:
        raise NotFoundError(f"Calculation batch {batch_id} not found.")
    return batch


def calculation_batch_progress(*, batch: CalculationBatch) -> BatchProgress:
    return BatchProgress(batch_id=batch.pk, status=batch.status, total=batch.total, done=batch.done, error=batch.error)


def sort_key_clean(sort: str) -> str:
    """`sort` when it names a column (optionally with a leading '-'), else the default."""
    return sort if sort.removeprefix("-") in SORT_COLUMNS else DEFAULT_SORT


def calculation_batch_rows(*, batch: CalculationBatch, sort: str = DEFAULT_SORT) -> QuerySet[CalculationBatchRow]:
    """The batch's stored rows in the order `sort` asks (see SORT_COLUMNS), ties in input order."""
    key = sort_key_clean(sort)
    column = SORT_COLUMNS[key.removeprefix("-")]
    order: OrderBy = F(column).desc(nulls_first=True) if key.startswith("-") else F(column).asc(nulls_last=True)
    # Power is shown in kW; the division is exact (a power of ten), done in the query for the page.
    power_kw = ExpressionWrapper(F("total_power_w") / Value(Decimal(1000)), output_field=DecimalField())
    return CalculationBatchRow.objects.filter(batch=batch).annotate(total_power_kw=power_kw).order_by(order, "position")


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _whole(value: object) -> int:
    return int(str(value)) if value is not None else 0


def calculation_batch_totals(*, batch: CalculationBatch) -> FleetTotals | None:
    """The fleet totals of a finished batch, or None before every row is stored."""
    totals = batch.totals
    if batch.status != CalculationBatchStatus.DONE or not totals:
        return None
    counts = ("rows", "units", "rows_paying_back", "rows_paying_back_in_horizon")
    optional = ("break_even_electricity_usd_per_kwh", "payback_days")
    values: dict[str, object] = {name: _whole(totals.get(name)) for name in counts}
    for name in FleetTotals.__dataclass_fields__:
        if name not in counts:
            number = _decimal(totals.get(name))
            values[name] = number if number is not None or name in optional else Decimal(0)
    return FleetTotals(**values)  # type: ignore[arg-type]  # each value converted above by its field's kind


def calculation_batch_market(*, batch: CalculationBatch) -> list[MarketFigure]:
    """The market figures the batch was computed at, each with its source and age."""
    figures = []
    for name, label in _MARKET_LABELS:
        figure = batch.market.get(name) or {}
        figures.append(
            MarketFigure(
                name=name,
                label=label,
                value=str(figure.get("value", "")),
                source=str(figure.get("source", "")),
                age_seconds=float(figure.get("age_seconds") or 0),
                fallback=bool(figure.get("fallback")),
            )
        )
    return figures


def calculation_batch_market_as_of(*, batch: CalculationBatch) -> datetime | None:
    as_of = batch.market.get("as_of")
    return datetime.fromisoformat(as_of) if isinstance(as_of, str) else None


def calculation_batch_scenario(*, batch: CalculationBatch) -> BatchScenario:
    scenario = batch.scenario
    halving_on = scenario.get("halving_on")
    halving_height = scenario.get("halving_height")
    return BatchScenario(
        horizon_days=_whole(scenario.get("horizon_days")),
        difficulty_label=str(scenario.get("difficulty_label", "")),
        price_label=str(scenario.get("price_label", "")),
        halving_height=halving_height if isinstance(halving_height, int) else None,
        halving_on=date.fromisoformat(halving_on) if isinstance(halving_on, str) else None,
    )
