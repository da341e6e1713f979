"""The shipped market history is complete, ordered and matches its provenance."""

import itertools
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from analytics.offline_data import DATASETS, OfflineDataset, offline_dataset_path, offline_dataset_rows


def _provenance_row_counts() -> dict[str, int]:
    text = (settings.MARKET_DATA_DIR / "PROVENANCE.md").read_text()
    return {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"\| `([a-z0-9_]+\.csv)` \| ([\d,]+) \|", text)}


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: d.name)
def test_offline_dataset_has_its_columns_and_the_rows_its_provenance_states(dataset: OfflineDataset) -> None:
    rows = list(offline_dataset_rows(dataset=dataset))

    assert tuple(rows[0].keys()) == dataset.columns
    assert len(rows) == _provenance_row_counts()[dataset.filename]


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: d.name)
def test_offline_dataset_is_strictly_ordered(dataset: OfflineDataset) -> None:
    raw = [row[dataset.order_column] for row in offline_dataset_rows(dataset=dataset)]
    # Heights compare as numbers; ISO dates and times compare as text.
    keys = [f"{int(k):012d}" for k in raw] if dataset.order_column == "height" else raw

    assert all(a < b for a, b in itertools.pairwise(keys))


def test_offline_daily_prices_have_no_missing_day_and_sane_candles() -> None:
    dataset = next(d for d in DATASETS if d.name == "btc_usd_daily")
    rows = list(offline_dataset_rows(dataset=dataset))
    days = [date.fromisoformat(r["date"]) for r in rows]

    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))
    for row in rows:
        low, high = Decimal(row["low"]), Decimal(row["high"])
        assert low <= Decimal(row["open"]) <= high, row
        assert low <= Decimal(row["close"]) <= high, row


def test_offline_hourly_prices_are_whole_utc_hours() -> None:
    dataset = next(d for d in DATASETS if d.name == "btc_usd_hourly")

    stamps = [
        datetime.fromisoformat(r["datetime_utc"].replace("Z", "+00:00")) for r in offline_dataset_rows(dataset=dataset)
    ]

    assert all(s.minute == 0 and s.second == 0 and s.utcoffset() == timedelta(0) for s in stamps)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(stamps))


def test_offline_provenance_ships_beside_the_data() -> None:
    dataset = DATASETS[0]

    assert (offline_dataset_path(dataset=dataset).parent / "PROVENANCE.md").is_file()
