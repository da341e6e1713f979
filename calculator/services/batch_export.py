"""Batch files out: the results as CSV or Excel (rows, fleet total, market and scenario) and the upload template.

A dataset is built from the stored rows once; the renderers turn it into bytes without a query. Figures
go out as stored (8 decimal places) so the file and the page agree; Excel cells are numbers with a display
format, CSV cells are exact text. Times are UTC (Excel keeps no time zone; the headers say so).
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from calculator.models import CalculationBatch, CalculationBatchRow
from calculator.services.batch_selectors import (
    DEFAULT_SORT,
    FleetTotals,
    calculation_batch_market,
    calculation_batch_market_as_of,
    calculation_batch_rows,
    calculation_batch_scenario,
    calculation_batch_totals,
)
from calculator.services.batch_validation import COLUMN_NAMES, COLUMNS

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
NEVER = "never"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BEYOND_HORIZON = "after the horizon"

Cell = Decimal | int | str | date | None

_USD = "#,##0.00"
_BTC = "0.00000000"
_NUMBER = "#,##0.########"
_WHOLE = "#,##0"
_DAY = "yyyy-mm-dd"


@dataclass(frozen=True)
class ExportColumn:
    header: str  # with its unit, as the file shows it
    field: str  # the row's attribute (or a FleetTotals field of the same name)
    number_format: str | None = None  # Excel's display format
    in_totals: bool = False  # summed or derived for the fleet total row


# Given values first (as the upload names them, so a file can be edited and uploaded again), then figures.
EXPORT_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("row", "source_row", _WHOLE),
    ExportColumn("label", "label"),
    ExportColumn("model", "model_name"),
    ExportColumn("hashrate_ths", "hashrate_ths", _NUMBER),
    ExportColumn("power_w", "power_w", _NUMBER),
    ExportColumn("quantity", "quantity", _WHOLE, in_totals=True),
    ExportColumn("electricity_usd_per_kwh", "electricity_usd_per_kwh", _NUMBER),
    ExportColumn("pool_fee_pct", "pool_fee_pct", _NUMBER),
    ExportColumn("uptime_pct", "uptime_pct", _NUMBER),
    ExportColumn("hardware_cost_usd", "hardware_cost_usd", _USD),
    ExportColumn("hosting_fee_usd_per_month", "hosting_fee_usd_per_month", _USD),
    ExportColumn("hosting_fee_usd_per_kwh", "hosting_fee_usd_per_kwh", _NUMBER),
    ExportColumn("curtailment_hours_per_month", "curtailment_hours_per_month", _NUMBER),
    ExportColumn("Total hashrate (TH/s)", "total_hashrate_ths", _NUMBER, in_totals=True),
    ExportColumn("Total power (W)", "total_power_w", _NUMBER, in_totals=True),
    ExportColumn("Efficiency (J/TH)", "efficiency_j_per_th", "0.00", in_totals=True),
    ExportColumn("Revenue per day (USD)", "revenue_usd_per_day", _USD, in_totals=True),
    ExportColumn("Revenue per day (BTC)", "revenue_btc_per_day", _BTC, in_totals=True),
    ExportColumn("Cost per day (USD)", "cost_usd_per_day", _USD, in_totals=True),
    ExportColumn("Cost per day (BTC)", "cost_btc_per_day", _BTC, in_totals=True),
    ExportColumn("Profit per day (USD)", "profit_usd_per_day", _USD, in_totals=True),
    ExportColumn("Profit per day (BTC)", "profit_btc_per_day", _BTC, in_totals=True),
    ExportColumn("Revenue per month (USD)", "revenue_usd_per_month", _USD, in_totals=True),
    ExportColumn("Revenue per month (BTC)", "revenue_btc_per_month", _BTC, in_totals=True),
    ExportColumn("Cost per month (USD)", "cost_usd_per_month", _USD, in_totals=True),
    ExportColumn("Cost per month (BTC)", "cost_btc_per_month", _BTC, in_totals=True),
    ExportColumn("Profit per month (USD)", "profit_usd_per_month", _USD, in_totals=True),
    ExportColumn("Profit per month (BTC)", "profit_btc_per_month", _BTC, in_totals=True),
    ExportColumn("Break-even electricity (USD/kWh)", "break_even_electricity_usd_per_kwh", "0.0000", in_totals=True),
    ExportColumn("Payback (days)", "payback_days", "#,##0.0", in_totals=True),
    ExportColumn("Projected payback date", "payback_on", _DAY),
    ExportColumn("Projected profit over the horizon (USD)", "projected_profit_usd", _USD, in_totals=True),
    ExportColumn("Hardware cost, all units (USD)", "total_hardware_cost_usd", _USD, in_totals=True),
)


@dataclass(frozen=True)
class BatchExport:
    """Everything an export file holds, ready to render."""

    name: str
    columns: tuple[ExportColumn, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total: tuple[Cell, ...]
    # (figure, value, source, age in seconds, stand-in) of each market figure, then the scenario lines.
    market: tuple[tuple[str, str, str, float | str, str], ...]


def _cell(row: CalculationBatchRow, column: ExportColumn) -> Cell:
    value: Cell = getattr(row, column.field)
    # A payback that does not exist: never (no profit at today's figures), or not within the projection.
    if value is None and column.field == "payback_days":
        return NEVER
    if value is None and column.field == "payback_on":
        return BEYOND_HORIZON
    return value


def _total(totals: FleetTotals | None, column: ExportColumn, index: int) -> Cell:
    if index == 0:
        return "Fleet total"
    if totals is None or not column.in_totals:
        return None
    field = "units" if column.field == "quantity" else column.field
    value: Cell = getattr(totals, field)
    return NEVER if value is None and field == "payback_days" else value


def batch_export_dataset(*, batch: CalculationBatch, sort: str = DEFAULT_SORT) -> BatchExport:
    """The stored rows in the page's order, the fleet total, and the market and scenario used."""
    rows = tuple(
        tuple(_cell(row, column) for column in EXPORT_COLUMNS) for row in calculation_batch_rows(batch=batch, sort=sort)
    )
    totals = calculation_batch_totals(batch=batch)
    as_of = calculation_batch_market_as_of(batch=batch)
    scenario = calculation_batch_scenario(batch=batch)
    market: list[tuple[str, str, str, float | str, str]] = [
        (figure.label, figure.value, figure.source, figure.age_seconds, "yes" if figure.fallback else "no")
        for figure in calculation_batch_market(batch=batch)
    ]
    shown_as_of = "" if as_of is None else as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    market += [
        ("Market read at", shown_as_of, "when the batch was created; every row uses these figures", "", ""),
        ("Horizon (days)", str(scenario.horizon_days), "projection of each row's payback date", "", ""),
        ("Difficulty", scenario.difficulty_label, "", "", ""),
        ("BTC price", scenario.price_label, "", "", ""),
    ]
    return BatchExport(
        name=batch.name or f"batch {batch.pk}",
        columns=EXPORT_COLUMNS,
        rows=rows,
        total=tuple(_total(totals, column, index) for index, column in enumerate(EXPORT_COLUMNS)),
        market=tuple(market),
    )


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv_cell(value: Cell | float) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"  # ages in seconds
    text = _text(value)
    # Text a spreadsheet would run as a formula (a label "=HYPERLINK(...)") opens as text instead.
    return f"'{text}" if isinstance(value, str) and text.startswith(_FORMULA_STARTS) else text


def _csv_bytes(lines: Iterable[Sequence[Cell | float]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in lines:
        writer.writerow([_csv_cell(value) for value in line])
    # A byte order mark, so Excel opens the file as UTF-8 (labels may hold any script).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def batch_export_csv(*, dataset: BatchExport) -> bytes:
    """The rows, a blank line and the fleet total, then the market figures and the scenario."""
    header = ("Market figure", "Value", "Source", "Age when read (s)", "Stand-in value")
    return _csv_bytes(
        [
            [column.header for column in dataset.columns],
            *dataset.rows,
            [],
            dataset.total,
            [],
            header,
            *dataset.market,
        ]
    )


def _append(
    sheet: WriteOnlyWorksheet, values: Sequence[Cell | float], formats: Sequence[str | None], *, bold: bool = False
) -> None:
    cells = []
    for value, number_format in zip(values, formats, strict=False):
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # user text (a label) stays text, never a formula
        if number_format is not None and not isinstance(value, str):
            cell.number_format = number_format
        if bold:
            cell.font = Font(bold=True)
        cells.append(cell)
    sheet.append(cells)


def batch_export_xlsx(*, dataset: BatchExport) -> bytes:
    """A "Results" sheet (rows, then the fleet total in bold) and a "Market" sheet (figures and scenario)."""
    # Write-only: rows stream to the file, so a 100,000-row batch does not hold every cell object at once.
    book = Workbook(write_only=True)
    results = book.create_sheet("Results")
    formats = [column.number_format for column in dataset.columns]
    for index, column in enumerate(dataset.columns, start=1):
        results.column_dimensions[get_column_letter(index)].width = max(11, min(len(column.header) + 2, 24))
    results.freeze_panes = "D2"
    _append(results, [column.header for column in dataset.columns], [None] * len(formats), bold=True)
    for row in dataset.rows:
        _append(results, row, formats)
    results.append([])
    _append(results, dataset.total, formats, bold=True)
    market = book.create_sheet("Market")
    for letter, width in zip("ABCDE", (26, 24, 70, 18, 14), strict=True):
        market.column_dimensions[letter].width = width
    _append(market, ["Market figure", "Value", "Source", "Age when read (s)", "Stand-in value"], [None] * 5, bold=True)
    for line in dataset.market:
        _append(market, line, [None, None, None, "0", None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- the upload template


def _template_rows(*, example_model: str | None) -> list[list[Cell]]:
    # label, model, hashrate_ths, power_w, quantity, electricity, pool fee, uptime, hardware, hosting a month,
    # hosting a kWh, curtailment hours: one catalogue row, one row of custom specs.
    custom: list[Cell] = ["Quote from a reseller", None, Decimal(190), Decimal(3420), 25, Decimal("0.065")]
    custom += [Decimal("1.5"), Decimal(98), Decimal(3100), Decimal(35), 0, Decimal(12)]
    if example_model is None:
        return [custom]
    catalogue: list[Cell] = ["Hall A, rack 1", example_model, None, None, 40, Decimal("0.055"), Decimal(2)]
    catalogue += [Decimal(97), Decimal(3800), 0, 0, 0]
    return [catalogue, custom]


def batch_template_csv(*, example_model: str | None) -> bytes:
    """The upload header and two example rows (a catalogue model and custom specs) as CSV."""
    return _csv_bytes([COLUMN_NAMES, *_template_rows(example_model=example_model)])


def batch_template_xlsx(*, example_model: str | None) -> bytes:
    """The upload template as an Excel workbook: the "Fleet" sheet to fill in, and a sheet explaining each column."""
    book = Workbook(write_only=True)
    fleet = book.create_sheet("Fleet")
    for index, name in enumerate(COLUMN_NAMES, start=1):
        fleet.column_dimensions[get_column_letter(index)].width = max(12, len(name) + 2)
    fleet.freeze_panes = "A2"
    _append(fleet, list(COLUMN_NAMES), [None] * len(COLUMN_NAMES), bold=True)
    for row in _template_rows(example_model=example_model):
        _append(fleet, row, [None] * len(row))
    notes = book.create_sheet("Columns")
    notes.column_dimensions["A"].width = 30
    notes.column_dimensions["B"].width = 12
    notes.column_dimensions["C"].width = 100
    _append(notes, ["Column", "Required", "Meaning"], [None] * 3, bold=True)
    for column in COLUMNS:
        notes.append([column.name, "yes" if column.required else "", column.description])
    notes.append([])
    notes.append(["", "", "Only the first sheet is read. Row 1 holds the column names; blank rows are skipped."])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_file_name(*, batch: CalculationBatch, extension: str, now: datetime) -> str:
    """A file name for a batch's export: the batch id and the day, safe in any file system."""
    return f"calculator_batch_{batch.pk}_{now.astimezone(UTC):%Y%m%d}.{extension}"
