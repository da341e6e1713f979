"""Excel export of the market and network series, read back with openpyxl."""

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime

import openpyxl
import pytest
from django.utils import timezone
from pytest_django import DjangoDbBlocker
from pytest_django.fixtures import DjangoAssertNumQueries
from rest_framework.test import APIClient

from analytics.exports import EXPORT_SERIES, XLSX_CONTENT_TYPE, export_dataset_get, export_workbook_render
from analytics.models import DifficultyAdjustment, Forecast, NetworkStats, PriceCandle
from analytics.offline_data import DATASETS, offline_dataset_rows
from analytics.services.history_load import history_load
from mining_platform.core.choices import ApiScope
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

pytestmark = pytest.mark.django_db

EXPORT = "/analytics/export.xlsx"


def _shipped(name: str) -> list[dict[str, str]]:
    return list(offline_dataset_rows(dataset=next(d for d in DATASETS if d.name == name)))


@pytest.fixture(scope="module", autouse=True)
def shipped_history(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """The shipped candles and network history, loaded once for this module and removed after."""
    with django_db_blocker.unblock():
        history_load()
    yield
    with django_db_blocker.unblock():
        for model in (PriceCandle, NetworkStats, DifficultyAdjustment):
            model.objects.all().delete()


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _wall(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A UTC moment as an Excel cell holds it: naive, in UTC wall time."""
    return datetime(year, month, day, hour, tzinfo=UTC).replace(tzinfo=None)


def _book(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def test_export_of_daily_candles_has_a_header_with_units_and_typed_cells(client_user: User) -> None:
    shipped = {row["date"]: row for row in _shipped("btc_usd_daily")}

    response = _as(client_user).get(f"{EXPORT}?series=btc_usd_1d&start=2024-01-01&end=2024-01-08")

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Content-Disposition"] == 'attachment; filename="btc_usd_1d_20240101_20240108.xlsx"'
    book = _book(response.content)
    assert book.sheetnames == ["BTC-USD daily"]
    sheet = book["BTC-USD daily"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Day (UTC)", "Open (USD)", "High (USD)", "Low (USD)", "Close (USD)", "Volume (BTC)")
    assert len(rows) == 1 + 7
    first = sheet["A2"]
    assert first.is_date
    assert first.number_format == "yyyy-mm-dd"
    # Excel keeps a date as a day serial; openpyxl reads it back as that midnight.
    assert first.value == _wall(2024, 1, 1)
    day = shipped["2024-01-01"]
    assert rows[1][1:] == (
        float(day["open"]),
        float(day["high"]),
        float(day["low"]),
        float(day["close"]),
        float(day["volume_btc"]),
    )
    # Numbers, not text (a whole number reads back as an int).
    assert [cell.data_type for cell in sheet[2][1:]] == ["n"] * 5


def test_export_of_hourly_candles_keeps_the_hour_in_utc(host_user: User) -> None:
    hours = _shipped("btc_usd_hourly")

    response = _as(host_user).get(f"{EXPORT}?series=btc_usd_1h&start=2025-11-22T20:00:00Z&end=2025-11-23T00:00:00Z")

    sheet = _book(response.content)["BTC-USD hourly"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Hour start (UTC)"
    assert [row[0] for row in rows[1:]] == [_wall(2025, 11, 22, h) for h in (20, 21, 22, 23)]
    assert sheet["A2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert rows[-1][4] == float(hours[-1]["close"])


def test_export_puts_each_series_on_its_own_sheet_in_the_order_asked(host_user: User) -> None:
    retargets = [row for row in _shipped("btc_difficulty_adjustments") if row["start_date"].startswith("2024")]

    response = _as(host_user).get(
        f"{EXPORT}?series=difficulty_adjustments&series=network_stats&start=2024-01-01&end=2025-01-01"
    )

    book = _book(response.content)
    assert book.sheetnames == ["Difficulty adjustments", "Network"]
    adjustments = list(book["Difficulty adjustments"].iter_rows(values_only=True))
    assert adjustments[0] == ("Height", "Start time (UTC)", "Bits (hex)", "Difficulty")
    assert [row[0] for row in adjustments[1:]] == [int(row["height"]) for row in retargets]
    assert all(isinstance(row[0], int) and isinstance(row[1], datetime) for row in adjustments[1:])
    assert adjustments[1][2] == retargets[0]["bits"]
    network = list(book["Network"].iter_rows(values_only=True))
    assert network[0][:3] == ("Recorded at (UTC)", "Difficulty", "Hash rate (TH/s)")
    assert len(network) == 1 + 366  # 2024 was a leap year
    assert network[1][0] == _wall(2024, 1, 1)


def test_export_of_forecasts_has_one_row_per_day_ahead(host_user: User) -> None:
    Forecast.objects.create(
        target="btc_usd",
        made_at=datetime(2025, 11, 23, 6, tzinfo=UTC),
        history_end=date(2025, 11, 22),
        order="(1,1,0)",
        criterion_value=-1.0,
        horizon_days=2,
        confidence=0.9,
        points=[
            {"date": "2025-11-23", "mean": 85000.5, "lower": 80000.0, "upper": 90000.0},
            {"date": "2025-11-24", "mean": 85100.0, "lower": 78000.0, "upper": 92000.0},
        ],
    )

    response = _as(host_user).get(f"{EXPORT}?series=forecasts_btc_usd")

    rows = list(_book(response.content)["Forecasts BTC-USD"].iter_rows(values_only=True))
    assert rows[0][:4] == ("Day (UTC)", "Mean (USD)", "Lower bound (USD)", "Upper bound (USD)")
    assert rows[1] == (
        _wall(2025, 11, 23),
        85000.5,
        80000.0,
        90000.0,
        0.9,
        _wall(2025, 11, 22),
        "(1,1,0)",
        _wall(2025, 11, 23, 6),
    )
    assert len(rows) == 3


def test_the_renderer_runs_no_queries(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    dataset = export_dataset_get(
        series=list(EXPORT_SERIES), start=datetime(2025, 10, 1, tzinfo=UTC), end=datetime(2025, 11, 1, tzinfo=UTC)
    )

    with django_assert_num_queries(0):
        content = export_workbook_render(dataset=dataset)

    assert _book(content).sheetnames == [s.title for s in EXPORT_SERIES.values()]


def test_export_refuses_an_unknown_series_naming_the_parameter(host_user: User) -> None:
    response = _as(host_user).get(f"{EXPORT}?series=btc_usd_1d&series=eth_usd_1d")

    assert response.status_code == 400
    body = response.json()["error"]
    assert list(body["fields"]) == ["series"]
    assert "eth_usd_1d" in body["fields"]["series"][0]


def test_export_refuses_a_request_without_a_series(host_user: User) -> None:
    response = _as(host_user).get(f"{EXPORT}?start=2024-01-01")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["series"]


def test_export_refuses_a_range_that_ends_before_it_starts(host_user: User) -> None:
    response = _as(host_user).get(f"{EXPORT}?series=btc_usd_1d&start=2024-02-01&end=2024-01-01")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"end": ["must be after start"]}


def test_export_refuses_a_start_that_is_not_a_date(host_user: User) -> None:
    response = _as(host_user).get(f"{EXPORT}?series=btc_usd_1d&start=yesterday")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["start"]


def test_export_dataset_refuses_unknown_series_before_reading_anything(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with django_assert_num_queries(0), pytest.raises(InvalidInputError) as excinfo:
        export_dataset_get(series=["btc_usd_1d", "nope"], start=None, end=None)

    assert "nope" in excinfo.value.fields["series"][0]


def test_export_is_refused_to_anonymous_callers() -> None:
    response = APIClient().get(f"{EXPORT}?series=btc_usd_1d")

    assert response.status_code in (401, 403)


def test_export_takes_an_api_key_with_market_read_only(host_user: User) -> None:
    now = timezone.now()
    reader = api_key_issue(owner=host_user, name="sheets", scopes=[ApiScope.MARKET_READ], expires_at=None, now=now)
    other = api_key_issue(owner=host_user, name="other", scopes=[ApiScope.MINERS_READ], expires_at=None, now=now)
    url = f"{EXPORT}?series=btc_usd_1d&start=2024-01-01&end=2024-01-03"

    granted = APIClient().get(url, HTTP_AUTHORIZATION=f"Api-Key {reader.raw_key}")
    refused = APIClient().get(url, HTTP_AUTHORIZATION=f"Api-Key {other.raw_key}")

    assert granted.status_code == 200
    assert len(list(_book(granted.content)["BTC-USD daily"].iter_rows())) == 3
    assert refused.status_code == 403
