"""Reading a batch file (CSV or Excel .xlsx) into a table of raw cells, numbered as the user sees them.

Row numbers count the header as row 1, as a spreadsheet shows them: blank rows are skipped but keep
their number, so "row 12" is row 12 in Excel or in a text editor's CSV record count. Nothing here
knows what a column means; batch_validation checks the values.
"""

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from calculator.services.batch_errors import BatchInvalidError, BatchProblem

FILE_TYPES = (".csv", ".xlsx")
# A batch has a dozen columns; more than this is not a batch file (and bounds the memory of one row).
MAX_COLUMNS = 40
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the legacy .xls (and .doc) container

Cell = object  # str from CSV; str, int, float, bool, datetime or None from Excel


@dataclass(frozen=True)
class SheetRow:
    number: int  # as the user sees it: a file's header is row 1
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class SheetTable:
    """A header and the non-blank rows under it."""

    header: tuple[str, ...]
    rows: tuple[SheetRow, ...]


def _file_error(message: str) -> BatchInvalidError:
    return BatchInvalidError(message, problems=[BatchProblem(row=None, column="file", message=message)])


def _is_blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _trimmed(cells: Sequence[Cell]) -> tuple[Cell, ...]:
    """The cells up to the last non-blank one (a sheet read to a fixed width pads every row)."""
    end = len(cells)
    while end and _is_blank(cells[end - 1]):
        end -= 1
    return tuple(cells[:end])


def _table(rows: Iterable[Sequence[Cell]], *, max_rows: int) -> SheetTable:
    """The header (row 1) and the non-blank rows after it; refuses more than `max_rows` of them."""
    header: tuple[str, ...] | None = None
    kept: list[SheetRow] = []
    for number, cells in enumerate(rows, start=1):
        if len(cells) > MAX_COLUMNS and any(not _is_blank(c) for c in cells[MAX_COLUMNS:]):
            letter = get_column_letter(MAX_COLUMNS + 1)
            raise _file_error(
                f"Row {number} has a value in column {letter}; a batch file has at most {MAX_COLUMNS} columns."
            )
        cells = _trimmed(cells)
        if header is None:
            if not cells:
                raise _file_error("Row 1 is empty: it must hold the column names (download the template to see them).")
            header = tuple("" if _is_blank(c) else str(c).strip() for c in cells)
            continue
        if not cells:
            continue
        if len(kept) == max_rows:
            raise _file_error(
                f"The file has more than {max_rows:,} rows; split it into batches of at most {max_rows:,}."
            )
        kept.append(SheetRow(number=number, cells=cells))
    if header is None:
        raise _file_error("The file is empty.")
    if not kept:
        raise _file_error("The file has column names but no rows under them.")
    return SheetTable(header=header, rows=tuple(kept))


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    try:
        # utf-8-sig drops the byte order mark Excel writes at the start of "CSV UTF-8".
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(
            f"The CSV file is not UTF-8 text (byte {exc.start + 1}); in Excel, save it as “CSV UTF-8”."
        ) from exc
    first_line = text.split("\n", 1)[0]
    # Spreadsheets set to a locale with a decimal comma write ';' between fields.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows_read = 0
    try:
        for row in reader:
            rows_read += 1
            yield row
    except csv.Error as exc:
        raise _file_error(f"The CSV file cannot be read after row {rows_read}: {exc}.") from exc


def _xlsx_rows(content: bytes) -> Iterator[tuple[Cell, ...]]:
    if content.startswith(_OLE_MAGIC):
        raise _file_error("This is an old Excel .xls workbook; save it as .xlsx (Excel Workbook) or CSV.")
    if not content.startswith(_ZIP_MAGIC):
        raise _file_error("The file is not an Excel .xlsx workbook.")
    try:
        # data_only: a formula cell gives the value Excel last computed, not the formula.
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise _file_error(f"The Excel file cannot be read: {exc}.") from exc
    try:
        if not book.worksheets:
            raise _file_error("The Excel file has no sheet.")
        # The first sheet is the batch; others (notes, lookups) are left alone.
        yield from book.worksheets[0].iter_rows(max_col=MAX_COLUMNS + 1, values_only=True)
    finally:
        book.close()


def batch_file_read(*, name: str, content: bytes, max_rows: int) -> SheetTable:
    """The rows of an uploaded .csv or .xlsx file; BatchInvalidError says what is wrong with the file itself."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in FILE_TYPES:
        shown = suffix or "a file without an extension"
        hint = " (an old Excel workbook: save it as .xlsx)" if suffix == ".xls" else ""
        raise _file_error(f"Upload a .csv or .xlsx file, not {shown}{hint}.")
    if not content.strip():
        raise _file_error("The file is empty.")
    if suffix == ".csv":
        if content.startswith(_ZIP_MAGIC):
            raise _file_error("This file is an Excel workbook named .csv; upload it with the .xlsx extension.")
        return _table(_csv_rows(content), max_rows=max_rows)
    return _table(_xlsx_rows(content), max_rows=max_rows)
