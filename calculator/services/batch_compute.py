"""Batch runs: a checked batch is stored at one market snapshot, then a worker computes its rows in chunks.

The market is read once, when the batch is created, and stored on it with the projection scenario resolved
to numbers (the difficulty growth and the price path), so every row, and any re-run of the task, uses the
same figures. Each row goes through the same engine calls as a single calculation (profitability_compute at
the snapshot, profitability_project on the scenario's market path), so its figures are the single
calculation's figures for the same inputs.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, localcontext

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from calculator.models import (
    CalculationBatch,
    CalculationBatchRow,
    CalculationBatchSource,
    CalculationBatchStatus,
    MinerModel,
)
from calculator.services.batch_errors import BatchInvalidError, BatchProblem
from calculator.services.batch_files import SheetTable
from calculator.services.batch_validation import (
    BatchRow,
    batch_row_json,
    batch_rows_validate,
    batch_setup_from_json,
)
from calculator.services.calculation import SETUP_FIELDS, market_inputs_json
from calculator.services.market_inputs import MarketInputs, market_snapshot_current
from calculator.services.profitability import (
    MarketPath,
    MarketSnapshot,
    MinerSetup,
    PricePath,
    PricePathKind,
    market_path_build,
    profitability_compute,
    profitability_project_totals,
)
from calculator.services.scenarios import Scenario, scenario_build
from mining_platform.core.errors import DomainError, InvalidInputError, NotFoundError
from mining_platform.core.locks import job_lock
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

# Rows committed per transaction: the progress bar moves in these steps, and a killed worker loses at most one.
CHUNK_ROWS = 500
_EIGHT_PLACES = Decimal("0.00000001")
# Wide enough that quantizing any stored figure to 8 places never runs out of digits.
_QUANTIZE = Context(prec=80)

# Figures summed over the rows into the fleet totals (all cover every unit of a row).
SUMMED_FIGURES = (
    "total_hashrate_ths",
    "total_power_w",
    "energy_kwh_per_day",
    "hosting_cost_usd_per_day",
    "revenue_usd_per_day",
    "revenue_btc_per_day",
    "cost_usd_per_day",
    "cost_btc_per_day",
    "profit_usd_per_day",
    "profit_btc_per_day",
    "revenue_usd_per_month",
    "revenue_btc_per_month",
    "cost_usd_per_month",
    "cost_btc_per_month",
    "profit_usd_per_month",
    "profit_btc_per_month",
    "total_hardware_cost_usd",
    "projected_profit_usd",
)


def _q(value: Decimal) -> Decimal:
    """Rounded to 8 places, half to even, as calculation_history stores figures."""
    return value.quantize(_EIGHT_PLACES, context=_QUANTIZE)


def _q_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else _q(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(_q(value))


# ---------------------------------------------------------------- market and scenario, stored and read back


def _scenario_json(scenario: Scenario) -> dict[str, object]:
    path = scenario.path
    price = path.price_path
    return {
        "horizon_days": len(path.days),
        "difficulty_growth_pct_per_month": str(path.difficulty_growth_pct_per_month),
        "difficulty_label": scenario.difficulty_label,
        "price_label": scenario.price_label,
        "price_path": {
            "kind": price.kind.value,
            "growth_pct_per_month": str(price.growth_pct_per_month),
            "points": [[on.isoformat(), str(value)] for on, value in price.points],
        },
        "halving_height": path.halving_height,
        "halving_on": None if path.halving_day is None else path.days[path.halving_day].on.isoformat(),
    }


def _value(figure: object) -> str:
    """The `value` of one stored market figure (calculation.market_inputs_json's shape)."""
    if not isinstance(figure, Mapping):
        raise InvalidInputError("The batch's stored market is incomplete.", fields={"market": ["is incomplete"]})
    return str(figure["value"])


def batch_snapshot(*, market: Mapping[str, object]) -> MarketSnapshot:
    """The market snapshot stored on a batch, exactly as it was read (figures are stored as exact text)."""
    return MarketSnapshot(
        btc_price_usd=Decimal(_value(market["btc_price_usd"])),
        difficulty=Decimal(_value(market["difficulty"])),
        block_height=int(_value(market["block_height"])),
        fees_per_block_btc=Decimal(_value(market["fees_per_block_btc"])),
        as_of=datetime.fromisoformat(str(market["as_of"])),
    )


def _points(value: object) -> tuple[tuple[date, Decimal], ...]:
    if not isinstance(value, list):
        return ()
    return tuple((date.fromisoformat(str(on)), Decimal(str(price))) for on, price in value)


def _path(*, scenario: Mapping[str, object], market: MarketSnapshot) -> MarketPath:
    """The scenario's market path, rebuilt from the numbers it was resolved to when the batch was stored."""
    price = scenario["price_path"]
    if not isinstance(price, Mapping):
        raise InvalidInputError("The batch's stored scenario is incomplete.", fields={"scenario": ["is incomplete"]})
    return market_path_build(
        market=market,
        horizon_days=int(str(scenario["horizon_days"])),
        difficulty_growth_pct_per_month=Decimal(str(scenario["difficulty_growth_pct_per_month"])),
        price_path=PricePath(
            kind=PricePathKind(str(price["kind"])),
            growth_pct_per_month=Decimal(str(price["growth_pct_per_month"])),
            points=_points(price["points"]),
        ),
    )


# ---------------------------------------------------------------- creating a batch


@dataclass(frozen=True)
class _Prepared:
    rows: list[BatchRow]
    market: MarketInputs
    scenario: Scenario


def _prepare(*, table: SheetTable, scenario_data: Mapping[str, object], now: datetime) -> _Prepared:
    """Check the rows and the scenario, and read the market once; no writes. Refuses with every problem at once."""
    rows: list[BatchRow] = []
    row_error: BatchInvalidError | None = None
    try:
        rows = batch_rows_validate(table=table)
    except BatchInvalidError as exc:
        row_error = exc
    # Read before any transaction: the cache and the market sources live outside Postgres.
    market = market_snapshot_current(now=now)
    setting_problems: list[BatchProblem] = []
    scenario: Scenario | None = None
    try:
        scenario = scenario_build(data=scenario_data, market=market.snapshot)
    except InvalidInputError as exc:
        setting_problems = [
            BatchProblem(row=None, column=name, message=message, value=str(scenario_data.get(name) or ""))
            for name, messages in exc.fields.items()
            for message in messages
        ]
    if row_error is not None or scenario is None:
        problems = [*setting_problems, *(row_error.problems if row_error is not None else ())]
        message = (
            row_error.message
            if row_error is not None
            else "The projection settings are not valid; nothing was computed."
        )
        raise BatchInvalidError(
            message,
            problems=problems,
            problem_count=len(setting_problems) + (row_error.problem_count if row_error is not None else 0),
            row_count=row_error.row_count if row_error is not None else 0,
        )
    return _Prepared(rows=rows, market=market, scenario=scenario)


def _store(
    *, user: User, name: str, source: CalculationBatchSource, prepared: _Prepared, now: datetime
) -> CalculationBatch:
    """Write the batch, queued; runs inside the caller's transaction."""
    batch = CalculationBatch(
        user=user,
        name=name[:255],
        source=source,
        created_at=now,
        status=CalculationBatchStatus.QUEUED,
        total=len(prepared.rows),
        inputs=[batch_row_json(row) for row in prepared.rows],
        scenario=_scenario_json(prepared.scenario),
        market=market_inputs_json(prepared.market),
    )
    batch.full_clean()
    batch.save()
    logger.info("Calculation batch created: batch_id=%s user_id=%s rows=%d", batch.pk, user.pk, batch.total)
    return batch


def calculation_batch_create(
    *,
    user: User,
    name: str,
    source: CalculationBatchSource,
    table: SheetTable,
    scenario_data: Mapping[str, object],
    now: datetime,
) -> CalculationBatch:
    """Check every row and the scenario, read the market once and store the batch, without running it.

    BatchInvalidError names every problem (row and column) and nothing is stored; UpstreamUnavailableError
    when no market figures exist at all.
    """
    prepared = _prepare(table=table, scenario_data=scenario_data, now=now)
    with transaction.atomic(durable=True):
        return _store(user=user, name=name, source=source, prepared=prepared, now=now)


def calculation_batch_start(
    *,
    user: User,
    name: str,
    source: CalculationBatchSource,
    table: SheetTable,
    scenario_data: Mapping[str, object],
    now: datetime,
) -> CalculationBatch:
    """As calculation_batch_create, then a worker computes the batch once it is committed."""
    # Imported here because calculator.tasks imports this module to wrap calculation_batch_run.
    from calculator.tasks import calculation_batch_run_task

    prepared = _prepare(table=table, scenario_data=scenario_data, now=now)
    with transaction.atomic(durable=True):
        batch = _store(user=user, name=name, source=source, prepared=prepared, now=now)
        batch_id = batch.pk
        # delay_on_commit in effect; celery-types does not know that method yet.
        transaction.on_commit(lambda: calculation_batch_run_task.delay(batch_id=batch_id))
    return batch


# ---------------------------------------------------------------- computing it


def _figures(*, setup: MinerSetup, market: MarketSnapshot, path: MarketPath) -> dict[str, object]:
    """The stored figures of one setup: the single calculation's engine calls, rounded as it rounds them."""
    result = profitability_compute(setup=setup, market=market)
    # Totals only: a batch shows no per-day rows, and skipping them is most of a row's time.
    projection = profitability_project_totals(setup=setup, path=path)
    quantity = Decimal(setup.quantity)
    figures: dict[str, object] = {
        "total_hashrate_ths": _q(setup.hashrate_ths * quantity),
        "total_power_w": _q(setup.power_w * quantity),
        "efficiency_j_per_th": _q(result.efficiency_j_per_th),
        "energy_kwh_per_day": _q(result.economics.energy_kwh),
        "hosting_cost_usd_per_day": _q(result.economics.hosting_cost_usd),
        "break_even_electricity_usd_per_kwh": _q_or_none(result.break_even_electricity_usd_per_kwh),
        "total_hardware_cost_usd": _q(result.total_hardware_cost_usd),
        "payback_days": _q_or_none(result.payback_days),
        "projected_profit_usd": _q(projection.total_profit_usd),
        "payback_on": projection.payback_on,
    }
    for period, figures_of in (("day", result.per_day), ("month", result.per_month)):
        for name in ("revenue_usd", "revenue_btc", "cost_usd", "cost_btc", "profit_usd", "profit_btc"):
            figures[f"{name}_per_{period}"] = _q(getattr(figures_of, name))
    return figures


def _row(
    *,
    batch_id: int,
    position: int,
    given: Mapping[str, object],
    known_models: set[int],
    figures: Mapping[str, object],
) -> CalculationBatchRow:
    model_id = given.get("miner_model_id")
    return CalculationBatchRow(
        batch_id=batch_id,
        position=position,
        source_row=int(str(given["row"])),
        label=str(given["label"]),
        # A catalogue row deleted since the upload leaves the row's name and specs, without the link.
        miner_model_id=model_id if isinstance(model_id, int) and model_id in known_models else None,
        model_name=str(given["model_name"]),
        quantity=int(str(given["quantity"])),
        **{name: Decimal(str(given[name])) for name in _GIVEN_NUMBERS},
        **figures,
    )


# The numbers a row was given, as the single calculation names them (quantity is a whole number).
_GIVEN_NUMBERS = tuple(name for name in SETUP_FIELDS if name != "quantity")


def _totals(*, batch_id: int) -> dict[str, object]:
    """Fleet totals from the stored rows: sums, and the fleet's efficiency, break-even and payback."""
    sums = CalculationBatchRow.objects.filter(batch_id=batch_id).aggregate(
        rows=Count("pk"),
        units=Sum("quantity"),
        rows_paying_back=Count("pk", filter=Q(payback_days__isnull=False)),
        rows_paying_back_in_horizon=Count("pk", filter=Q(payback_on__isnull=False)),
        **{name: Sum(name) for name in SUMMED_FIGURES},
    )
    hashrate: Decimal = sums["total_hashrate_ths"]
    energy: Decimal = sums["energy_kwh_per_day"]
    profit: Decimal = sums["profit_usd_per_day"]
    with localcontext(_QUANTIZE):
        # The electricity price at which the fleet's daily profit is 0, hosting fees kept.
        break_even = None if energy == 0 else (sums["revenue_usd_per_day"] - sums["hosting_cost_usd_per_day"]) / energy
        payback = sums["total_hardware_cost_usd"] / profit if profit > 0 else None
        efficiency = sums["total_power_w"] / hashrate
    return {
        "rows": sums["rows"],
        "units": sums["units"],
        "rows_paying_back": sums["rows_paying_back"],
        "rows_paying_back_in_horizon": sums["rows_paying_back_in_horizon"],
        **{name: str(sums[name]) for name in SUMMED_FIGURES},
        "efficiency_j_per_th": _text(efficiency),
        "break_even_electricity_usd_per_kwh": _text(break_even),
        "payback_days": _text(payback),
    }


def _compute(batch: CalculationBatch, clock: Callable[[], datetime]) -> CalculationBatch:
    if batch.status == CalculationBatchStatus.QUEUED:
        batch.status, batch.started_at = CalculationBatchStatus.RUNNING, clock()
        batch.save(update_fields=["status", "started_at"])
    market = batch_snapshot(market=batch.market)
    path = _path(scenario=batch.scenario, market=market)
    inputs: Sequence[Mapping[str, object]] = batch.inputs
    model_ids = {model_id for given in inputs if isinstance(model_id := given.get("miner_model_id"), int)}
    known_models = set(MinerModel.objects.filter(pk__in=model_ids).values_list("pk", flat=True))
    # Rows of a chunk are committed with `done`, so the stored rows are exactly the ones computed before.
    start = CalculationBatchRow.objects.filter(batch_id=batch.pk).count()
    # A fleet repeats setups (the same model at the same tariff); equal setups have equal figures.
    memo: dict[MinerSetup, dict[str, object]] = {}
    for chunk_start in range(start, batch.total, CHUNK_ROWS):
        chunk_end = min(chunk_start + CHUNK_ROWS, batch.total)
        rows = []
        for position in range(chunk_start, chunk_end):
            given = inputs[position]
            setup = batch_setup_from_json(given)
            figures = memo.get(setup)
            if figures is None:
                figures = memo[setup] = _figures(setup=setup, market=market, path=path)
            rows.append(
                _row(batch_id=batch.pk, position=position, given=given, known_models=known_models, figures=figures)
            )
        with transaction.atomic(durable=True):
            CalculationBatchRow.objects.bulk_create(rows)
            CalculationBatch.objects.filter(pk=batch.pk).update(done=chunk_end)
    totals = _totals(batch_id=batch.pk)
    with transaction.atomic(durable=True):
        batch.status, batch.done, batch.totals, batch.finished_at = (
            CalculationBatchStatus.DONE,
            batch.total,
            totals,
            clock(),
        )
        batch.save(update_fields=["status", "done", "totals", "finished_at"])
    return batch


def _fail(batch: CalculationBatch, message: str, clock: Callable[[], datetime]) -> None:
    # Only a batch still in progress: a run that finished it meanwhile keeps its result.
    CalculationBatch.objects.filter(
        pk=batch.pk, status__in=[CalculationBatchStatus.QUEUED, CalculationBatchStatus.RUNNING]
    ).update(status=CalculationBatchStatus.FAILED, error=message, finished_at=clock())


def calculation_batch_run(*, batch_id: int, clock: Callable[[], datetime] = timezone.now) -> CalculationBatch:
    """Compute the rows not stored yet, CHUNK_ROWS per transaction, then the fleet totals.

    A chunk's rows and the `done` count commit together, and the status turns done only with the totals,
    so a worker killed mid-batch leaves a running batch with complete rows only; run again (a redelivered
    task), it carries on after the last stored row at the same stored market. A per-batch lock keeps two
    deliveries from computing at once (JobLockedError). `clock` stamps the start and the end.
    """
    with job_lock(f"calculator.batch:{batch_id}", ttl_seconds=60):
        batch = CalculationBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise NotFoundError(f"Calculation batch {batch_id} not found.")
        if batch.status in (CalculationBatchStatus.DONE, CalculationBatchStatus.FAILED):
            return batch
        started = batch.done
        try:
            batch = _compute(batch, clock)
        except DomainError as exc:
            logger.warning("Calculation batch failed: batch_id=%s code=%s message=%s", batch_id, exc.code, exc.message)
            _fail(batch, exc.message, clock)
            batch.refresh_from_db()
            return batch
        except Exception:
            # The task is not retried on an error (only on a lost worker): say so rather than stay "computing".
            logger.exception("Calculation batch stopped: batch_id=%s", batch_id)
            _fail(batch, "The computation stopped on an unexpected error; upload the batch again.", clock)
            raise
    logger.info("Calculation batch done: batch_id=%s rows=%d resumed_at=%d", batch_id, batch.total, started)
    return batch
