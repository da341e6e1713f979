"""Loading the shipped history: counts, stored values, idempotence, and bad files rejected whole."""

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from analytics.models import DifficultyAdjustment, MarketSignal, NetworkStats, PriceCandle, TechnicalIndicator
from analytics.services.history_load import history_load
from mining_platform.core.errors import InvalidInputError

# Rows per file, from analytics/data/PROVENANCE.md.
DAILY_CANDLES, HOURLY_CANDLES, NETWORK_DAYS, RETARGETS = 3953, 2160, 4129, 469


def _table_counts() -> dict[str, int]:
    return {
        "candles_1d": PriceCandle.objects.filter(source="replay", interval="1d").count(),
        "candles_1h": PriceCandle.objects.filter(source="replay", interval="1h").count(),
        "network_stats": NetworkStats.objects.filter(source="replay").count(),
        "difficulty_adjustments": DifficultyAdjustment.objects.count(),
        "indicators": TechnicalIndicator.objects.count(),
        "signals": MarketSignal.objects.count(),
    }


@pytest.fixture
def data_copy(settings: Settings, tmp_path: Path) -> Path:
    """A writable copy of the shipped files, made the data directory for this test."""
    copy = tmp_path / "data"
    shutil.copytree(settings.MARKET_DATA_DIR, copy)
    settings.MARKET_DATA_DIR = copy
    return copy


def _set_cell(path: Path, *, line: int, column: str, value: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.django_db
def test_load_market_history_command_run_twice_adds_nothing_the_second_time() -> None:
    first, second = StringIO(), StringIO()

    call_command("load_market_history", stdout=first)
    after_first = _table_counts()
    call_command("load_market_history", stdout=second)

    assert after_first["candles_1d"] == DAILY_CANDLES
    assert after_first["candles_1h"] == HOURLY_CANDLES
    assert after_first["network_stats"] == NETWORK_DAYS
    assert after_first["difficulty_adjustments"] == RETARGETS
    assert after_first["indicators"] == DAILY_CANDLES + HOURLY_CANDLES
    assert after_first["signals"] > 0
    assert f"candles_1d: {DAILY_CANDLES} rows, {DAILY_CANDLES} new, 0 updated" in first.getvalue()
    assert f"difficulty_adjustments: {RETARGETS} rows, {RETARGETS} new, 0 updated" in first.getvalue()
    assert _table_counts() == after_first
    assert f"candles_1h: {HOURLY_CANDLES} rows, 0 new, {HOURLY_CANDLES} updated" in second.getvalue()
    assert "Market history loaded: 0 new rows." in second.getvalue()


@pytest.mark.django_db
def test_history_load_stores_candles_as_shipped_at_utc_period_starts() -> None:
    history_load()

    first_day = PriceCandle.objects.get(source="replay", interval="1d", open_time=datetime(2014, 11, 28, tzinfo=UTC))
    last_hour = PriceCandle.objects.get(
        source="replay", interval="1h", open_time=datetime(2025, 11, 22, 23, tzinfo=UTC)
    )

    assert (first_day.open, first_day.high, first_day.low, first_day.close) == (
        Decimal("363.59"),
        Decimal("381.34"),
        Decimal("360.57"),
        Decimal("376.28"),
    )
    assert first_day.volume_btc == Decimal("8617.15")
    assert last_hour.close == Decimal("84696.98")
    assert last_hour.volume_btc == Decimal("867.92")


@pytest.mark.django_db
def test_history_load_stores_network_days_with_their_gaps_and_fees_to_the_satoshi() -> None:
    history_load()

    first = NetworkStats.objects.get(source="replay", recorded_at=datetime(2015, 1, 1, tzinfo=UTC))
    noisy_fee = NetworkStats.objects.get(source="replay", recorded_at=datetime(2022, 8, 21, tzinfo=UTC))
    last = NetworkStats.objects.get(source="replay", recorded_at=datetime(2026, 4, 21, tzinfo=UTC))

    assert first.difficulty == Decimal("40640955016.5765")
    assert first.hashrate_ths == pytest.approx(335365.290092025, rel=1e-15)
    assert first.fees_btc_per_day == Decimal("8.05416484")
    # Shipped as 7.9226078700000055 (float noise of the export): stored at satoshi precision.
    assert noisy_fee.fees_btc_per_day == Decimal("7.92260787")
    assert last.difficulty == Decimal("135594876535256.5000")
    assert last.hashrate_ths is None
    assert last.fees_btc_per_day is None


@pytest.mark.django_db
def test_history_load_dates_retargets_by_header_time_or_by_their_first_day() -> None:
    history_load()

    from_header = DifficultyAdjustment.objects.get(height=878976)
    from_daily_series = DifficultyAdjustment.objects.get(height=945504)

    assert from_header.start_time == datetime(2025, 1, 12, 20, 1, 51, tzinfo=UTC)
    assert from_header.bits == "17028c61"
    assert from_header.difficulty == Decimal("110451907374649.5200")
    assert from_daily_series.start_time == datetime(2026, 4, 17, tzinfo=UTC)
    assert DifficultyAdjustment.objects.get(height=32256).difficulty == Decimal("1.1829")


@pytest.mark.django_db
def test_history_load_updates_a_changed_row_in_place_on_a_rerun(data_copy: Path) -> None:
    history_load()
    _set_cell(data_copy / "btc_usd_daily.csv", line=3954, column="close", value="112030.0")

    result = history_load()

    candle = PriceCandle.objects.get(source="replay", interval="1d", open_time=datetime(2025, 9, 23, tzinfo=UTC))
    assert candle.close == Decimal("112030.00")
    assert result.created == 0
    assert PriceCandle.objects.filter(source="replay", interval="1d").count() == DAILY_CANDLES


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "line", "column", "value", "message"),
    [
        ("btc_usd_hourly_last90d.csv", 100, "close", "abc", "is not a number ('abc')"),
        ("btc_usd_hourly_last90d.csv", 7, "low", "999999", "999999.00 is above the open or close"),
        (
            "btc_usd_hourly_last90d.csv",
            8,
            "datetime_utc",
            "2025-08-25T07:30:00Z",
            "07:30:00 is not the start of an hour",
        ),
        ("btc_difficulty_daily.csv", 4130, "difficulty", "", "is empty"),
        ("btc_difficulty_daily.csv", 12, "fees_btc", "-1", "must not be negative, not -1.00000000"),
        ("btc_difficulty_adjustments.csv", 5, "height", "8065", "must be a positive multiple of 2016 ('8065')"),
        ("btc_usd_daily.csv", 40, "date", "2015-02-30", "is not a YYYY-MM-DD date ('2015-02-30')"),
        ("btc_usd_daily.csv", 41, "high", "1e20", "has more than 16 digits before the point"),
    ],
)
def test_history_load_rejects_a_bad_cell_naming_file_line_and_column_and_writes_nothing(
    data_copy: Path, filename: str, line: int, column: str, value: str, message: str
) -> None:
    _set_cell(data_copy / filename, line=line, column=column, value=value)

    with pytest.raises(InvalidInputError) as excinfo:
        history_load()

    where = f"{filename}:{line}.{column}"
    assert list(excinfo.value.fields) == [where]
    assert message in excinfo.value.fields[where][0]
    assert where in excinfo.value.message
    assert set(_table_counts().values()) == {0}


@pytest.mark.django_db
def test_load_market_history_command_reports_bad_rows_as_a_command_error(data_copy: Path) -> None:
    _set_cell(data_copy / "btc_usd_daily.csv", line=2, column="close", value="-5")

    with pytest.raises(CommandError, match=r"btc_usd_daily\.csv:2\.close: must be positive, not -5\.00"):
        call_command("load_market_history", stdout=StringIO())

    assert set(_table_counts().values()) == {0}


@pytest.mark.django_db
def test_load_market_history_dry_run_checks_every_row_and_writes_nothing() -> None:
    out = StringIO()

    call_command("load_market_history", "--dry-run", stdout=out)

    assert f"network_stats: {NETWORK_DAYS} rows, 0 new, 0 updated" in out.getvalue()
    assert "nothing was written" in out.getvalue()
    assert set(_table_counts().values()) == {0}


def test_history_files_are_read_from_the_configured_directory() -> None:
    assert (Path(settings.MARKET_DATA_DIR) / "btc_usd_daily.csv").is_file()
