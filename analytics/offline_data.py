"""The offline market history shipped in analytics/data/ (see its PROVENANCE.md).

The files are the replay source when live collectors are off, so every money figure can be shown on a
machine with no internet. This module names them and reads them; it never downloads anything.
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class OfflineDataset:
    """One shipped CSV: its file name, the column that orders its rows, and its columns."""

    name: str
    filename: str
    order_column: str
    columns: tuple[str, ...]


DATASETS: tuple[OfflineDataset, ...] = (
    OfflineDataset(
        "btc_usd_daily", "btc_usd_daily.csv", "date", ("date", "open", "high", "low", "close", "volume_btc")
    ),
    OfflineDataset(
        "btc_usd_hourly",
        "btc_usd_hourly_last90d.csv",
        "datetime_utc",
        ("datetime_utc", "open", "high", "low", "close", "volume_btc", "volume_usd"),
    ),
    OfflineDataset(
        "btc_difficulty_daily",
        "btc_difficulty_daily.csv",
        "date",
        ("date", "difficulty", "hashrate_ths", "fees_btc"),
    ),
    OfflineDataset(
        "btc_difficulty_adjustments",
        "btc_difficulty_adjustments.csv",
        "height",  # block timestamps are filled only up to height 878,976 (see PROVENANCE.md)
        ("height", "start_time_utc", "start_date", "bits", "difficulty", "date_source"),
    ),
)


def offline_dataset_path(*, dataset: OfflineDataset) -> Path:
    return Path(settings.MARKET_DATA_DIR) / dataset.filename


def offline_dataset_rows(*, dataset: OfflineDataset) -> Iterator[dict[str, str]]:
    """The rows of a shipped dataset, oldest first, as text (callers convert with Decimal)."""
    with offline_dataset_path(dataset=dataset).open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)
