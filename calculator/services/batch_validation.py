"""Checking a batch's rows before anything is computed: every problem of every row, each with its row and column.

Columns are named as the engine names the setup fields (`hashrate_ths`, `power_w`, ...), plus `model` (a
catalogue model by "make model" name, by model name alone when only one make has it, or by id) and `label`.
The engine's own checks (ranges, whole numbers) give the messages, so the batch and the single calculation
say the same thing about the same value. On top of them a batch caps each value at a size no real miner
or tariff comes near and takes at most 8 decimal places, because the rows are stored to 8 places and a
stored input must be the input that was computed.
"""

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from openpyxl.utils import get_column_letter

from calculator.models import MinerModel
from calculator.selectors import miner_model_list
from calculator.services.batch_errors import PROBLEMS_KEPT, BatchInvalidError, BatchProblem
from calculator.services.batch_files import Cell, SheetRow, SheetTable
from calculator.services.profitability import MinerSetup
from mining_platform.core.errors import InvalidInputError

DECIMAL_PLACES = 8
LABEL_MAX_CHARS = 200


@dataclass(frozen=True)
class Column:
    name: str
    description: str
    required: bool = False
    maximum: Decimal | None = None  # the batch's cap, where the engine has none


# In the order of the template. Ranges the engine checks (0-100 %, hours in a month) are not repeated.
COLUMNS: tuple[Column, ...] = (
    Column("label", "Your name for the row (a rack, a site, a quote); optional."),
    Column("model", 'A catalogue model: "make model" as listed (any case) or its id. Leave blank for custom specs.'),
    Column(
        "hashrate_ths",
        "TH/s of one unit; required without a model, overrides the model's when given.",
        maximum=Decimal(1_000_000),
    ),
    Column(
        "power_w",
        "Watts of one unit at the wall; required without a model, overrides the model's.",
        maximum=Decimal(1_000_000),
    ),
    Column("quantity", "Number of units (a whole number).", required=True, maximum=Decimal(1_000_000)),
    Column("electricity_usd_per_kwh", "Electricity price, USD per kWh.", required=True, maximum=Decimal(100)),
    Column("pool_fee_pct", "Pool fee, 0-100 %; default 0."),
    Column("uptime_pct", "Share of the time the units earn, 0-100 %; default 100."),
    Column("hardware_cost_usd", "Price of one unit, USD; default 0.", maximum=Decimal(100_000_000)),
    Column("hosting_fee_usd_per_month", "Hosting fee per unit and month, USD; default 0.", maximum=Decimal(1_000_000)),
    Column(
        "hosting_fee_usd_per_kwh", "Hosting fee per kWh on top of electricity, USD; default 0.", maximum=Decimal(100)
    ),
    Column("curtailment_hours_per_month", "Expected hours switched off a month; default 0."),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
_RULES = {column.name: column for column in COLUMNS}
NUMBER_COLUMNS = tuple(name for name in COLUMN_NAMES if name not in ("label", "model"))
SPEC_COLUMNS = ("hashrate_ths", "power_w")

# Digits with an optional dot part and exponent; a comma only as a thousands separator (1,250.5).
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
# Valid values standing in for required ones that are missing or bad, while the engine checks the rest.
_STAND_INS = {
    "hashrate_ths": Decimal(1),
    "power_w": Decimal(1),
    "quantity": Decimal(1),
    "electricity_usd_per_kwh": Decimal(0),
}


@dataclass(frozen=True)
class BatchRow:
    """One checked row: where it came from, its catalogue model if any, and the engine's setup."""

    row: int
    label: str
    miner_model_id: int | None
    model_name: str  # "make model" of the catalogue row; blank for custom specs
    setup: MinerSetup


class _CellError(Exception):
    """A cell's value is not usable; the message completes "<column> ..."."""


@dataclass
class _Problems:
    """Collects problems, keeping the first PROBLEMS_KEPT and counting the rest."""

    kept: list[BatchProblem] = field(default_factory=list)
    count: int = 0
    rows: set[int] = field(default_factory=set)

    def add(self, row: int | None, column: str, message: str, value: Cell = None) -> None:
        self.count += 1
        if row is not None:
            self.rows.add(row)
        if len(self.kept) < PROBLEMS_KEPT:
            self.kept.append(BatchProblem(row=row, column=column, message=message, value=_shown(value)))

    def raise_if_any(self, message: str) -> None:
        if self.count:
            raise BatchInvalidError(message, problems=self.kept, problem_count=self.count, row_count=len(self.rows))


def _shown(value: Cell) -> str:
    text = "" if value is None else str(value).strip()
    return text if len(text) <= 40 else text[:39] + "…"


def _is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _column_key(raw: str) -> str:
    return "_".join(raw.strip().lower().replace("-", " ").split())


def _letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index (0 -> A)."""
    return str(get_column_letter(index + 1))


def _header(table: SheetTable) -> dict[str, int]:
    """Column name -> index; header problems refuse the file before any row is read."""
    problems = _Problems()
    found: dict[str, int] = {}
    for index, raw in enumerate(table.header):
        name = _column_key(raw)
        if not name:
            first = next((row.number for row in table.rows if not _is_blank(_cell(row, index))), None)
            if first is not None:
                problems.add(
                    None, f"column {_letter(index)}", f"has values (row {first} is the first) but no name in row 1"
                )
            continue
        if name in found:
            problems.add(None, name, f"appears twice (columns {_letter(found[name])} and {_letter(index)})", raw)
        elif name not in _RULES:
            close = difflib.get_close_matches(name, COLUMN_NAMES, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f"; the columns are {', '.join(COLUMN_NAMES)}"
            problems.add(None, raw.strip(), f"is not a known column{hint}", raw)
        found.setdefault(name, index)
    for column in COLUMNS:
        if column.required and column.name not in found:
            problems.add(None, column.name, "column is missing")
    if "model" not in found and not all(name in found for name in SPEC_COLUMNS):
        missing = [name for name in SPEC_COLUMNS if name not in found]
        problems.add(None, "model", f"column is missing: give a model column, or {' and '.join(missing)}")
    problems.raise_if_any("The file's columns are not right; nothing was computed.")
    return {name: index for name, index in found.items() if name in _RULES}


def _cell(row: SheetRow, index: int) -> Cell:
    return row.cells[index] if index < len(row.cells) else None


def _number(cell: Cell, *, whole: bool = False) -> Decimal:
    if isinstance(cell, bool) or not isinstance(cell, int | float | Decimal | str):
        raise _CellError("must be a number")
    if isinstance(cell, float):
        number = Decimal(repr(cell))  # through repr so 0.07 stays 0.07, not its binary expansion
    elif isinstance(cell, int | Decimal):
        number = Decimal(cell)
    else:
        text = cell.strip()
        if not _NUMBER.fullmatch(text) or not any(ch.isdigit() for ch in text):
            # A comma not grouping thousands (0,05) is a decimal comma: say so rather than misread it.
            if _DECIMAL_COMMA.fullmatch(text):
                raise _CellError(f"must use a dot for decimals ({text.replace(',', '.')}, not {text})")
            raise _CellError("must be a number")
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation as exc:
            raise _CellError("must be a number") from exc
    if not number.is_finite():
        raise _CellError("must be a number")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > DECIMAL_PLACES:
        raise _CellError(f"has more than {DECIMAL_PLACES} decimal places")
    if whole and number != number.to_integral_value():
        raise _CellError("must be a whole number")
    return number


@dataclass(frozen=True)
class _Catalogue:
    by_id: dict[int, MinerModel]
    by_name: dict[str, MinerModel | None]  # None: a model name several makes share
    names: tuple[str, ...]  # "make model" as listed, for suggestions


def _name_key(text: str) -> str:
    return " ".join(text.lower().split())


def _catalogue() -> _Catalogue:
    models = list(miner_model_list())
    by_name: dict[str, MinerModel | None] = {}
    for model in models:
        alone = _name_key(model.model)
        by_name[alone] = None if alone in by_name and by_name[alone] != model else model
    for model in models:
        by_name[_name_key(f"{model.make} {model.model}")] = model
    return _Catalogue(
        by_id={model.pk: model for model in models},
        by_name=by_name,
        names=tuple(f"{model.make} {model.model}" for model in models),
    )


def _model(cell: Cell, catalogue: _Catalogue) -> MinerModel:
    if isinstance(cell, int | float) and not isinstance(cell, bool) and float(cell).is_integer():
        found = catalogue.by_id.get(int(cell))
    elif isinstance(cell, str) and cell.strip().isdigit():
        found = catalogue.by_id.get(int(cell.strip()))
    else:
        key = _name_key(str(cell))
        if key in catalogue.by_name and catalogue.by_name[key] is None:
            raise _CellError("is a model name several makes share; write the make too")
        found = catalogue.by_name.get(key)
        if found is None:
            close = difflib.get_close_matches(str(cell).strip(), catalogue.names, n=1, cutoff=0.6)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            raise _CellError(f"is not in the catalogue{hint}")
    if found is None:
        raise _CellError("is not a catalogue model id")
    return found


def _row(
    sheet_row: SheetRow, columns: Mapping[str, int], catalogue: _Catalogue, problems: _Problems
) -> BatchRow | None:
    number = sheet_row.number
    before = problems.count
    values: dict[str, Decimal] = {}
    for name in NUMBER_COLUMNS:
        if name not in columns:
            continue
        cell = _cell(sheet_row, columns[name])
        if _is_blank(cell):
            if _RULES[name].required:
                problems.add(number, name, "is required")
            continue
        try:
            value = _number(cell, whole=name == "quantity")
        except _CellError as exc:
            problems.add(number, name, str(exc), cell)
            continue
        maximum = _RULES[name].maximum
        if maximum is not None and value > maximum:
            problems.add(number, name, f"must be {maximum:,} or less in a batch", cell)
            continue
        values[name] = value
    model: MinerModel | None = None
    model_cell = _cell(sheet_row, columns["model"]) if "model" in columns else None
    specs_given = [name for name in SPEC_COLUMNS if name in columns and not _is_blank(_cell(sheet_row, columns[name]))]
    if not _is_blank(model_cell):
        try:
            model = _model(model_cell, catalogue)
        except _CellError as exc:
            problems.add(number, "model", str(exc), model_cell)
    elif not specs_given:
        problems.add(number, "model", "give a catalogue model, or hashrate_ths and power_w")
    else:
        for name in SPEC_COLUMNS:
            if name not in specs_given:
                problems.add(number, name, "is required when no model is given")
    label_cell = _cell(sheet_row, columns["label"]) if "label" in columns else None
    label = "" if _is_blank(label_cell) else str(label_cell).strip()
    if len(label) > LABEL_MAX_CHARS:
        problems.add(number, "label", f"must be {LABEL_MAX_CHARS} characters or fewer", label_cell)
    if model is not None:
        values.setdefault("hashrate_ths", model.hashrate_ths)
        values.setdefault("power_w", Decimal(model.power_w))
    # The engine checks the values that passed so far; a stand-in fills each one that did not, so a row
    # with a bad quantity still hears that its uptime is out of range.
    probe = {**_STAND_INS, **values}
    try:
        setup = MinerSetup(**probe)  # type: ignore[arg-type]  # quantity is checked whole above, as the engine does
    except InvalidInputError as exc:
        for name, messages in exc.fields.items():
            for message in messages:
                problems.add(number, name, message, _cell(sheet_row, columns[name]) if name in columns else None)
    if problems.count > before:
        return None
    return BatchRow(
        row=number,
        label=label,
        miner_model_id=None if model is None else model.pk,
        model_name="" if model is None else f"{model.make} {model.model}",
        setup=setup,
    )


def batch_rows_validate(*, table: SheetTable) -> list[BatchRow]:
    """Every row checked, or BatchInvalidError naming every bad row and column (the first 1,000 in full)."""
    if not table.rows:
        message = "There are no rows to compute: fill in at least one row."
        raise BatchInvalidError(message, problems=[BatchProblem(row=None, column="rows", message=message)])
    columns = _header(table)
    catalogue = _catalogue()
    problems = _Problems()
    rows = [_row(sheet_row, columns, catalogue, problems) for sheet_row in table.rows]
    problems.raise_if_any(
        f"{problems.count:,} problem{'s' if problems.count != 1 else ''} in {len(problems.rows):,} "
        f"row{'s' if len(problems.rows) != 1 else ''}; nothing was computed."
    )
    return [row for row in rows if row is not None]


def batch_table_from_fleet(*, rows: Sequence[Mapping[str, str]]) -> SheetTable:
    """The rows of the fleet built on the page as a table, numbered from 1 as the page shows them."""
    return SheetTable(
        header=COLUMN_NAMES,
        rows=tuple(
            SheetRow(number=number, cells=tuple(row.get(name, "") for name in COLUMN_NAMES))
            for number, row in enumerate(rows, start=1)
            if any(not _is_blank(row.get(name)) for name in COLUMN_NAMES)
        ),
    )


def batch_row_json(row: BatchRow) -> dict[str, object]:
    """A checked row as stored on the batch until it is computed: numbers as exact text."""
    setup = row.setup
    return {
        "row": row.row,
        "label": row.label,
        "miner_model_id": row.miner_model_id,
        "model_name": row.model_name,
        **{name: str(getattr(setup, name)) for name in NUMBER_COLUMNS if name != "quantity"},
        "quantity": setup.quantity,
    }


def batch_setup_from_json(data: Mapping[str, object]) -> MinerSetup:
    """The engine's setup of a stored row (checked again by the engine, which is cheap)."""
    values = {name: data[name] for name in NUMBER_COLUMNS}
    return MinerSetup(**values)  # type: ignore[arg-type]  # text and ints; the engine checks and converts
