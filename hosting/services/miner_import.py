"""Importing miners from CSV or Excel: all rows land, or none, and every bad row is named."""

import logging
from dataclasses import dataclass

import tablib
from django.db import transaction
from tablib.exceptions import InvalidDimensions

from hosting.resources import MinerResource
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class ImportReport:
    new: int
    updated: int
    skipped: int


def _dataset(*, content: bytes, file_format: str) -> tablib.Dataset:
    if file_format not in FORMATS:
        raise InvalidInputError(fields={"format": [f"use one of {', '.join(FORMATS)}"]})
    try:
        if file_format == "csv":
            return tablib.Dataset().load(content.decode("utf-8-sig"), format="csv")
        return tablib.Dataset().load(content, format="xlsx")
    except (UnicodeDecodeError, ValueError, KeyError, InvalidDimensions) as exc:
        raise InvalidInputError(fields={"file": [f"not a readable {file_format} file: {exc}"]}) from exc


@transaction.atomic(durable=True)
def miners_import(*, content: bytes, file_format: str, dry_run: bool = False) -> ImportReport:
    """Create or update miners from a file; any bad row refuses the whole file, naming row and field.

    Row numbers count the header as row 1, as a spreadsheet shows them.
    """
    dataset = _dataset(content=content, file_format=file_format)
    result = MinerResource().import_data(dataset, dry_run=True, raise_errors=False, use_transactions=True)
    problems: dict[str, list[str]] = {}
    for invalid in result.invalid_rows:
        for field, messages in invalid.error_dict.items():
            column = "model" if field == "miner_model" else field
            problems[f"rows[{invalid.number + 1}].{column}"] = [str(m) for m in messages]
    for number, errors in result.row_errors():
        for error in errors:
            problems.setdefault(f"rows[{number + 1}]", []).append(str(error.error))
    if result.base_errors:
        problems["file"] = [str(e.error) for e in result.base_errors]
    if problems:
        raise InvalidInputError("The file has rows that cannot be imported; nothing was written.", fields=problems)
    if not dry_run:
        result = MinerResource().import_data(dataset, dry_run=False, raise_errors=True, use_transactions=True)
    totals = result.totals
    report = ImportReport(new=totals.get("new", 0), updated=totals.get("update", 0), skipped=totals.get("skip", 0))
    logger.info(
        "Miners imported: new=%d updated=%d skipped=%d dry_run=%s", report.new, report.updated, report.skipped, dry_run
    )
    return report
