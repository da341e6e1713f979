"""Batches end to end: upload or fleet, the task, progress, results equal to single calculations, sorting,
exports, resuming after a lost worker, who may see what, and a 10,000-row file."""

import csv
import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse, HttpResponseBase
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks

from calculator.models import (
    CalculationBatch,
    CalculationBatchRow,
    CalculationBatchSource,
    CalculationBatchStatus,
    CalculationHistory,
    MinerModel,
)
from calculator.services.batch_compute import CHUNK_ROWS, calculation_batch_create, calculation_batch_run
from calculator.services.batch_export import BEYOND_HORIZON, NEVER
from calculator.services.batch_files import batch_file_read
from calculator.services.batch_validation import batch_rows_validate
from calculator.services.calculation import calculation_run
from calculator.templatetags.calculator_format import usd
from mining_platform.core.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_history")]

BATCH = "/calculator/batch"
SETTINGS = {
    "horizon_days": "365",
    "difficulty_scenario": "value",
    "difficulty_growth_pct_per_month": "0",
    "price_scenario": "flat",
}
HEADER = [
    "label",
    "model",
    "hashrate_ths",
    "power_w",
    "quantity",
    "electricity_usd_per_kwh",
    "pool_fee_pct",
    "uptime_pct",
    "hardware_cost_usd",
    "hosting_fee_usd_per_month",
    "hosting_fee_usd_per_kwh",
    "curtailment_hours_per_month",
]
# A profitable catalogue row, a custom row with every optional field, a loss (payback never), and a row
# whose custom hashrate overrides its model's.
ROWS: list[list[object]] = [
    ["S21 hall", "Bitmain Antminer S21", "", "", "40", "0.055", "2", "97", "3800", "", "", ""],
    ["Reseller quote", "", "190", "3420", "25", "0.065", "1.5", "98", "3100", "35", "0.004", "12"],
    ["Old S9s", "Bitmain Antminer S9", "", "", "30", "0.09", "2", "95", "50", "", "", ""],
    ["Tuned S19 Pro", "Antminer S19 Pro", "121.5", "3400", "10", "0.05", "", "", "1900", "", "", "30"],
    ["Cheap power", "bitmain antminer s21", "", "", "5", "0.03", "", "", "600", "", "", ""],
]


def _as(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _csv_bytes(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        # Numbers as Excel numbers, as a spreadsheet user types them.
        sheet.append([_excel(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _excel(value: object) -> object:
    if value == "":
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return value
    return int(number) if number == number.to_integral_value() else float(number)


@dataclass(frozen=True)
class Answer:
    status: int
    html: str
    location: str


def _answer(response: HttpResponseBase) -> Answer:
    content = response.content if isinstance(response, HttpResponse) else b""
    return Answer(response.status_code, content.decode(), response.headers.get("Location", ""))


def _upload(
    browser: Client, name: str, content: bytes, capture: DjangoCaptureOnCommitCallbacks, **fields: str
) -> Answer:
    with capture(execute=True):  # the task runs eagerly once the batch commits
        response = browser.post(
            BATCH, {**SETTINGS, **fields, "source": "file", "file": SimpleUploadedFile(name, content)}
        )
    return _answer(response)


def _batch_of(answer: Answer) -> CalculationBatch:
    assert answer.location.startswith(f"{BATCH}/"), (answer.status, answer.html[-2000:])
    return CalculationBatch.objects.get(pk=int(answer.location.rsplit("/", 1)[1]))


def _single(row: list[object], user: User, scenario: Mapping[str, str] = SETTINGS) -> CalculationHistory:
    """The same row through the single calculation, as the calculator page runs it."""
    data: dict[str, object] = dict(scenario)
    for name, value in zip(HEADER, row, strict=True):
        if name in ("label", "model") or value == "":
            continue
        data[name] = int(str(value)) if name == "quantity" else Decimal(str(value))
    if row[1]:
        name = str(row[1]).lower()
        data["miner_model_id"] = next(
            m.pk for m in MinerModel.objects.all() if name in (f"{m.make} {m.model}".lower(), m.model.lower())
        )
    return calculation_run(data=data, user=user, now=timezone.now())


def _assert_same_figures(stored: CalculationBatchRow, single: Mapping[str, object]) -> None:
    results: dict[str, object] = dict(single)
    for period in ("day", "month"):
        figures = results[f"per_{period}"]
        assert isinstance(figures, dict)
        for name in ("revenue_usd", "revenue_btc", "cost_usd", "cost_btc", "profit_usd", "profit_btc"):
            assert str(getattr(stored, f"{name}_per_{period}")) == figures[name], (stored.label, period, name)
    for name in (
        "efficiency_j_per_th",
        "break_even_electricity_usd_per_kwh",
        "payback_days",
        "total_hardware_cost_usd",
    ):
        value = getattr(stored, name)
        assert (None if value is None else str(value)) == results[name], (stored.label, name)
    projection = results["projection"]
    assert isinstance(projection, dict)
    assert (None if stored.payback_on is None else stored.payback_on.isoformat()) == projection["payback_on"]
    assert str(stored.projected_profit_usd) == projection["cumulative_profit_usd"]


# ---------------------------------------------------------------- uploads compute and match the single calculation


def test_csv_upload_computes_every_row_equal_to_the_single_calculation(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    response = _upload(_as(client_user), "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks)

    batch = _batch_of(response)
    rows = list(batch.rows.order_by("position"))
    assert (batch.status, batch.total, batch.done, batch.source) == ("done", 5, 5, "file")
    assert batch.name == "fleet.csv"
    assert [(r.source_row, r.label) for r in rows] == [
        (2, "S21 hall"),
        (3, "Reseller quote"),
        (4, "Old S9s"),
        (5, "Tuned S19 Pro"),
        (6, "Cheap power"),
    ]
    for stored, row in zip(rows, ROWS, strict=True):
        _assert_same_figures(stored, _single(row, client_user).results)
    old_s9s = rows[2]
    assert (old_s9s.payback_days, old_s9s.payback_on) == (None, None)
    assert old_s9s.profit_usd_per_day < 0
    assert (rows[3].hashrate_ths, rows[3].model_name) == (Decimal("121.5"), "Bitmain Antminer S19 Pro")
    assert rows[4].payback_on is not None


def test_payback_dates_follow_the_chosen_scenario_as_the_single_calculation_does(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    scenario = {
        "horizon_days": "730",
        "difficulty_scenario": "value",
        "difficulty_growth_pct_per_month": "1.5",
        "price_scenario": "growth",
        "price_growth_pct_per_month": "2",
    }

    response = _upload(_as(client_user), "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks, **scenario)

    batch = _batch_of(response)
    assert batch.scenario["horizon_days"] == 730
    assert batch.scenario["price_path"]["kind"] == "growth"
    for stored, row in zip(batch.rows.order_by("position"), ROWS, strict=True):
        _assert_same_figures(stored, _single(row, client_user, scenario).results)


def test_xlsx_upload_gives_the_same_figures_as_the_same_rows_in_csv(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    browser = _as(client_user)

    from_csv = _batch_of(_upload(browser, "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))
    from_xlsx = _batch_of(_upload(browser, "fleet.xlsx", _xlsx_bytes(ROWS), django_capture_on_commit_callbacks))

    figures = [f.name for f in CalculationBatchRow._meta.get_fields() if f.name not in ("id", "batch")]
    assert from_xlsx.status == "done"
    assert list(from_xlsx.rows.order_by("position").values(*figures)) == list(
        from_csv.rows.order_by("position").values(*figures)
    )


def test_fleet_totals_sum_the_rows_and_give_the_fleets_efficiency_break_even_and_payback(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    batch = _batch_of(_upload(_as(client_user), "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))

    rows = list(batch.rows.all())
    totals = batch.totals
    profit = sum(r.profit_usd_per_day for r in rows)
    hardware = sum(r.total_hardware_cost_usd for r in rows)
    assert Decimal(totals["profit_usd_per_day"]) == profit
    assert Decimal(totals["revenue_btc_per_month"]) == sum(r.revenue_btc_per_month for r in rows)
    assert totals["units"] == 110
    assert totals["rows_paying_back"] == 4
    assert totals["rows_paying_back_in_horizon"] == 1
    assert Decimal(totals["efficiency_j_per_th"]) == pytest.approx(
        sum(r.total_power_w for r in rows) / sum(r.total_hashrate_ths for r in rows), abs=Decimal("1e-8")
    )
    assert Decimal(totals["payback_days"]) == pytest.approx(hardware / profit, abs=Decimal("1e-8"))
    # At the fleet's break-even price every row's electricity swapped for it nets the fleet 0.
    break_even = Decimal(totals["break_even_electricity_usd_per_kwh"])
    fleet_profit = sum(
        r.profit_usd_per_day + r.energy_kwh_per_day * (r.electricity_usd_per_kwh - break_even) for r in rows
    )
    assert abs(fleet_profit) < Decimal("0.0001")


def test_a_fleet_built_on_the_page_goes_through_the_same_service(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    s21 = MinerModel.objects.get(model="Antminer S21")
    fleet = {
        "fleet-label": ["Hall A", "", "Quote"],
        "fleet-model": [str(s21.pk), "", ""],
        "fleet-hashrate_ths": ["", "", "190"],
        "fleet-power_w": ["", "", "3420"],
        "fleet-quantity": ["40", "", "25"],
        "fleet-electricity_usd_per_kwh": ["0.055", "", "0.065"],
        "fleet-uptime_pct": ["97", "", ""],
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = _as(client_user).post(BATCH, {**SETTINGS, **fleet, "source": "page"})

    batch = _batch_of(_answer(response))
    assert (batch.source, batch.status, batch.name) == (CalculationBatchSource.PAGE, "done", "Fleet built on the page")
    assert list(batch.rows.order_by("position").values_list("source_row", "miner_model_id", "quantity")) == [
        (1, s21.pk, 40),
        (3, None, 25),
    ]


# ---------------------------------------------------------------- refusals


def test_a_file_with_bad_rows_is_refused_whole_listing_each_row_and_column(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    bad: list[list[object]] = [
        *ROWS,
        ["", "Antminer S99", "", "", "1", "0.05", "", "", "", "", "", ""],
        ["", "", "100", "3000", "x", "0.05", "", "", "", "", "", ""],
    ]

    response = _upload(_as(client_user), "fleet.csv", _csv_bytes(bad), django_capture_on_commit_callbacks)

    html = response.html
    assert response.status == 400
    assert "2 problems in 2 rows; nothing was computed." in html
    assert 'data-problem-row="7" data-problem-column="model"' in html
    assert 'data-problem-row="8" data-problem-column="quantity"' in html
    assert "Is not in the catalogue" in html
    assert not CalculationBatch.objects.exists()
    assert not CalculationBatchRow.objects.exists()


def test_the_problem_list_is_capped_and_says_how_many_more(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    bad: list[list[object]] = [["", "Antminer S9", "", "", "x", "0.05", "", "", "", "", "", ""]] * 150

    response = _upload(_as(client_user), "fleet.csv", _csv_bytes(bad), django_capture_on_commit_callbacks)

    html = response.html
    assert html.count("data-problem-row=") == 100
    assert "…and 50 more problems not listed here." in html


def test_a_wrong_file_type_and_a_missing_file_are_named(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    browser = _as(client_user)

    wrong = _upload(browser, "fleet.pdf", b"%PDF-1.4", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        missing = browser.post(BATCH, {**SETTINGS, "source": "file"})

    assert "Upload a .csv or .xlsx file, not .pdf." in wrong.html
    assert "Choose a .csv or .xlsx file to upload" in missing.content.decode()
    assert (wrong.status, missing.status_code) == (400, 400)
    assert not CalculationBatch.objects.exists()


def test_bad_projection_settings_show_under_their_fields_and_nothing_is_stored(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    response = _upload(
        _as(client_user),
        "fleet.csv",
        _csv_bytes(ROWS),
        django_capture_on_commit_callbacks,
        horizon_days="0",
    )

    html = response.html
    assert response.status == 400
    assert 'data-error-for="horizon_days">Horizon (days) must be 1 or more.<' in html
    assert not CalculationBatch.objects.exists()


def test_a_bad_fleet_row_is_marked_in_its_cell_and_the_rows_are_kept(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    fleet = {"fleet-model": ["", ""], "fleet-hashrate_ths": ["100", "abc"], "fleet-power_w": ["3000", "3000"]}
    fleet |= {"fleet-quantity": ["2", "1"], "fleet-electricity_usd_per_kwh": ["0.05", "0.05"]}

    with django_capture_on_commit_callbacks(execute=True):
        response = _as(client_user).post(BATCH, {**SETTINGS, **fleet, "source": "page"})

    html = response.content.decode()
    assert response.status_code == 400
    assert 'name="fleet-hashrate_ths" value="abc"' in html
    assert 'is-invalid" name="fleet-hashrate_ths" value="abc"' in html
    assert '<div class="invalid-feedback">Must be a number</div>' in html
    assert not CalculationBatch.objects.exists()


# ---------------------------------------------------------------- progress, resuming, failing


def _created(user: User, rows: Sequence[Sequence[object]] = ROWS) -> CalculationBatch:
    table = batch_file_read(name="fleet.csv", content=_csv_bytes(rows), max_rows=100_000)
    return calculation_batch_create(
        user=user,
        name="fleet.csv",
        source=CalculationBatchSource.FILE,
        table=table,
        scenario_data=SETTINGS,
        now=timezone.now(),
    )


def test_status_endpoint_follows_a_batch_from_queued_to_done(client_user: User) -> None:
    batch = _created(client_user)
    browser = _as(client_user)

    queued = browser.get(f"{BATCH}/{batch.pk}/status").json()
    page = browser.get(f"{BATCH}/{batch.pk}").content.decode()
    calculation_batch_run(batch_id=batch.pk)
    done = browser.get(f"{BATCH}/{batch.pk}/status").json()

    assert queued == {
        "batch": batch.pk,
        "status": "queued",
        "total": 5,
        "done": 0,
        "percent": 0,
        "finished": False,
        "error": "",
    }
    assert 'id="batch-progress"' in page
    assert 'id="batch-rows"' not in page
    assert done == {
        "batch": batch.pk,
        "status": "done",
        "total": 5,
        "done": 5,
        "percent": 100,
        "finished": True,
        "error": "",
    }


def test_a_batch_left_by_a_killed_worker_shows_as_running_and_a_rerun_completes_it_identically(
    client_user: User,
) -> None:
    rows = [[f"r{i}", *ROWS[i % len(ROWS)][1:]] for i in range(CHUNK_ROWS + 7)]
    clean = _created(client_user, rows)
    clean = calculation_batch_run(batch_id=clean.pk)
    crashed = _created(client_user, rows)
    # What a worker killed during the second chunk leaves: the first chunk and its count committed together,
    # the second chunk's transaction rolled back, the status still running.
    first_chunk = list(clean.rows.order_by("position")[:CHUNK_ROWS])
    for row in first_chunk:
        row.pk, row.batch_id = None, crashed.pk
    CalculationBatchRow.objects.bulk_create(first_chunk)
    CalculationBatch.objects.filter(pk=crashed.pk).update(status="running", done=CHUNK_ROWS, started_at=timezone.now())
    browser = _as(client_user)

    page = browser.get(f"{BATCH}/{crashed.pk}").content.decode()
    export = browser.get(f"{BATCH}/{crashed.pk}/export.csv")
    calculation_batch_run(batch_id=crashed.pk)
    crashed.refresh_from_db()

    assert 'id="batch-progress"' in page
    assert 'id="fleet-totals"' not in page
    assert export.status_code == 409
    assert (crashed.status, crashed.done, crashed.rows.count()) == ("done", CHUNK_ROWS + 7, CHUNK_ROWS + 7)
    figures = [f.name for f in CalculationBatchRow._meta.get_fields() if f.name not in ("id", "batch")]
    assert list(crashed.rows.order_by("position").values(*figures)) == list(
        clean.rows.order_by("position").values(*figures)
    )
    assert crashed.totals == clean.totals


def test_a_rerun_of_a_finished_batch_changes_nothing(client_user: User) -> None:
    batch = _created(client_user)
    calculation_batch_run(batch_id=batch.pk)
    finished = CalculationBatch.objects.get(pk=batch.pk)

    calculation_batch_run(batch_id=batch.pk, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))

    again = CalculationBatch.objects.get(pk=batch.pk)
    assert (again.finished_at, again.totals, again.rows.count()) == (finished.finished_at, finished.totals, 5)


def test_a_batch_whose_stored_market_cannot_be_used_fails_with_its_reason(client_user: User) -> None:
    batch = _created(client_user)
    CalculationBatch.objects.filter(pk=batch.pk).update(
        market={**batch.market, "difficulty": {**batch.market["difficulty"], "value": "-1"}}
    )

    result = calculation_batch_run(batch_id=batch.pk)

    page = _as(client_user).get(f"{BATCH}/{batch.pk}").content.decode()
    assert result.status == CalculationBatchStatus.FAILED
    assert "difficulty" in result.error
    assert not result.rows.exists()
    assert "data-batch-error" in page


# ---------------------------------------------------------------- the results page and sorting


def _sorted_labels(browser: Client, batch: CalculationBatch, sort: str) -> list[str]:
    response = browser.get(f"{BATCH}/{batch.pk}?sort={sort}")
    return [row.label for row in response.context["page"].object_list]


def test_results_sort_by_any_column_either_way_with_never_as_the_longest_payback(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    browser = _as(client_user)
    batch = _batch_of(_upload(browser, "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))
    by_profit = sorted(batch.rows.all(), key=lambda r: r.profit_usd_per_day)
    by_payback = sorted((r for r in batch.rows.all() if r.payback_days is not None), key=lambda r: r.payback_days or 0)

    assert _sorted_labels(browser, batch, "profit_day") == [r.label for r in by_profit]
    assert _sorted_labels(browser, batch, "-profit_day") == [r.label for r in reversed(by_profit)]
    assert _sorted_labels(browser, batch, "payback") == [*(r.label for r in by_payback), "Old S9s"]
    assert _sorted_labels(browser, batch, "-payback")[0] == "Old S9s"
    assert _sorted_labels(browser, batch, "label") == sorted(str(r[0]) for r in ROWS)
    assert _sorted_labels(browser, batch, "nonsense") == [str(r[0]) for r in ROWS]


def test_results_page_shows_totals_market_sources_and_sort_links(
    client_user: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    browser = _as(client_user)
    batch = _batch_of(_upload(browser, "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))

    with django_assert_max_num_queries(8):
        html = browser.get(f"{BATCH}/{batch.pk}?sort=-profit_day").content.decode()

    assert 'data-total="payback"' in html
    # A click on the sorted column turns the order around; on another column, sorts by it going up.
    assert '<a href="?sort=profit_day&amp;period=day" data-sort-key="profit_day">' in html
    assert '<a href="?sort=payback&amp;period=day" data-sort-key="payback">' in html
    assert 'href="?sort=-profit_month&amp;period=month" data-period="month"' in html
    for figure in ("btc_price_usd", "difficulty", "block_height", "fees_per_block_btc"):
        assert f'data-market-figure="{figure}"' in html
    assert batch.market["btc_price_usd"]["source"] in html
    assert html.count('<tr data-row="') == 6  # five rows and the fleet total
    assert ">never<" in html


def test_results_show_monthly_figures_when_asked_sorting_by_the_months_columns(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    browser = _as(client_user)
    batch = _batch_of(_upload(browser, "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))
    s21 = batch.rows.get(label="S21 hall")

    html = browser.get(f"{BATCH}/{batch.pk}?sort=-profit_month&period=month").content.decode()

    assert (
        f'data-cell="profit">{usd(s21.profit_usd_per_month)}<span class="btc">{s21.profit_btc_per_month}</span>' in html
    )
    assert f'data-total-cell="profit">{usd(batch.totals["profit_usd_per_month"])}<' in html
    assert '<a href="?sort=profit_month&amp;period=month" data-sort-key="profit_month">' in html
    assert 'href="?sort=-profit_day&amp;period=day" data-period="day"' in html


def test_results_are_paged_keeping_the_sort(client_user: User) -> None:
    rows = [
        [f"r{i:03d}", "Bitmain Antminer S19", "", "", str(i + 1), "0.05", "", "", "", "", "", ""] for i in range(150)
    ]
    batch = _created(client_user, rows)
    calculation_batch_run(batch_id=batch.pk)

    second = _as(client_user).get(f"{BATCH}/{batch.pk}?sort=-quantity&page=2")

    labels = [row.label for row in second.context["page"].object_list]
    assert labels[0] == "r049"
    assert len(labels) == 50
    assert 'href="?sort=-quantity&amp;period=day&amp;page=1"' in second.content.decode()


# ---------------------------------------------------------------- exports


def test_csv_export_holds_the_rows_the_fleet_total_and_the_market(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    browser = _as(client_user)
    batch = _batch_of(_upload(browser, "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))

    response = browser.get(f"{BATCH}/{batch.pk}/export.csv?sort=-profit_day")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="calculator_batch_{batch.pk}_')
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = lines[0]
    rows = [dict(zip(header, line, strict=True)) for line in lines[1:6]]
    stored = {r.label: r for r in batch.rows.all()}
    assert header[:13] == ["row", *HEADER]
    assert [r["label"] for r in rows] == [r.label for r in sorted(stored.values(), key=lambda r: -r.profit_usd_per_day)]
    s21 = next(r for r in rows if r["label"] == "S21 hall")
    assert s21["Profit per month (USD)"] == str(stored["S21 hall"].profit_usd_per_month)
    assert s21["Revenue per day (BTC)"] == str(stored["S21 hall"].revenue_btc_per_day)
    old_s9s = next(r for r in rows if r["label"] == "Old S9s")
    assert (old_s9s["Payback (days)"], old_s9s["Projected payback date"]) == (NEVER, BEYOND_HORIZON)
    cheap = next(r for r in rows if r["label"] == "Cheap power")
    assert cheap["Projected payback date"] == str(stored["Cheap power"].payback_on)
    assert lines[6] == []
    total = dict(zip(header, lines[7], strict=True))
    assert (total["row"], total["quantity"]) == ("Fleet total", "110")
    assert total["Profit per day (USD)"] == batch.totals["profit_usd_per_day"]
    assert lines[9][0] == "Market figure"
    market = {line[0]: line for line in lines[10:]}
    assert market["BTC price (USD)"][1] == batch.market["btc_price_usd"]["value"]
    assert market["Network difficulty"][2] == batch.market["difficulty"]["source"]
    assert market["Block height"][1] == str(batch.market["block_height"]["value"])
    assert float(market["Fees per block (BTC)"][3]) == pytest.approx(batch.market["fees_per_block_btc"]["age_seconds"])
    assert market["Horizon (days)"][1] == "365"


def test_xlsx_export_reads_back_with_typed_cells_the_total_and_a_market_sheet(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    browser = _as(client_user)
    batch = _batch_of(_upload(browser, "fleet.csv", _csv_bytes(ROWS), django_capture_on_commit_callbacks))

    response = browser.get(f"{BATCH}/{batch.pk}/export.xlsx")

    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Results", "Market"]
    lines = list(book["Results"].iter_rows(values_only=True))
    header = lines[0]
    first = dict(zip(header, lines[1], strict=True))
    stored = batch.rows.get(position=0)
    assert (first["row"], first["label"], first["model"], first["quantity"]) == (
        2,
        "S21 hall",
        "Bitmain Antminer S21",
        40,
    )
    assert first["Profit per day (USD)"] == pytest.approx(float(stored.profit_usd_per_day), abs=1e-8)
    assert first["Revenue per month (BTC)"] == pytest.approx(float(stored.revenue_btc_per_month), abs=1e-12)
    cheap = dict(zip(header, lines[5], strict=True))
    payback_on = batch.rows.get(position=4).payback_on
    assert payback_on is not None
    assert cheap["Projected payback date"] == datetime.combine(payback_on, datetime.min.time())
    assert dict(zip(header, lines[3], strict=True))["Payback (days)"] == NEVER
    assert all(cell is None for cell in lines[6])
    total = dict(zip(header, lines[7], strict=True))
    assert total["row"] == "Fleet total"
    assert total["Profit per month (USD)"] == pytest.approx(float(batch.totals["profit_usd_per_month"]))
    assert book["Results"].cell(row=2, column=header.index("Profit per day (USD)") + 1).number_format == "#,##0.00"
    market = {line[0]: line for line in book["Market"].iter_rows(values_only=True)}
    assert market["BTC price (USD)"][1] == batch.market["btc_price_usd"]["value"]
    assert market["Network difficulty"][2] == batch.market["difficulty"]["source"]


def test_exports_keep_a_label_that_looks_like_a_formula_as_text(client_user: User) -> None:
    rows: list[list[object]] = [
        ['=HYPERLINK("http://x","y")', "Antminer S9", "", "", "1", "0.05", "", "", "", "", "", ""]
    ]
    batch = _created(client_user, rows)
    calculation_batch_run(batch_id=batch.pk)
    browser = _as(client_user)

    as_csv = browser.get(f"{BATCH}/{batch.pk}/export.csv").content.decode("utf-8-sig")
    book = openpyxl.load_workbook(io.BytesIO(browser.get(f"{BATCH}/{batch.pk}/export.xlsx").content))

    assert list(csv.reader(io.StringIO(as_csv)))[1][1] == '\'=HYPERLINK("http://x","y")'
    label = book["Results"]["B2"]
    assert (label.value, label.data_type) == ('=HYPERLINK("http://x","y")', "s")


def test_the_templates_hold_the_header_and_two_rows_that_pass_the_check(client_user: User) -> None:
    browser = _as(client_user)

    as_csv = browser.get(f"{BATCH}/template.csv")
    as_xlsx = browser.get(f"{BATCH}/template.xlsx")

    csv_rows = batch_rows_validate(table=batch_file_read(name="t.csv", content=as_csv.content, max_rows=10))
    xlsx_rows = batch_rows_validate(table=batch_file_read(name="t.xlsx", content=as_xlsx.content, max_rows=10))
    assert as_csv.content.decode("utf-8-sig").splitlines()[0] == ",".join(HEADER)
    assert [(r.row, r.miner_model_id is not None) for r in csv_rows] == [(2, True), (3, False)]
    assert [r.setup for r in xlsx_rows] == [r.setup for r in csv_rows]
    assert openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).sheetnames == ["Fleet", "Columns"]


# ---------------------------------------------------------------- who may see what


def test_visitors_are_sent_to_sign_in_from_every_batch_route(client_user: User) -> None:
    batch = _created(client_user)
    visitor = Client()

    responses = [
        visitor.get(BATCH),
        visitor.post(BATCH, {"source": "file"}),
        visitor.get(f"{BATCH}/{batch.pk}"),
        visitor.get(f"{BATCH}/{batch.pk}/status"),
        visitor.get(f"{BATCH}/{batch.pk}/export.csv"),
        visitor.get(f"{BATCH}/template.xlsx"),
    ]

    assert {r.status_code for r in responses} == {302}
    assert all(r.headers["Location"].startswith("/accounts/login/") for r in responses)
    assert CalculationBatch.objects.count() == 1


def test_a_user_cannot_see_another_users_batch(client_user: User, host_user: User) -> None:
    batch = _created(client_user)
    calculation_batch_run(batch_id=batch.pk)
    other = _as(host_user)

    responses = [
        other.get(f"{BATCH}/{batch.pk}"),
        other.get(f"{BATCH}/{batch.pk}/status"),
        other.get(f"{BATCH}/{batch.pk}/export.csv"),
        other.get(f"{BATCH}/{batch.pk}/export.xlsx"),
        other.get(f"{BATCH}/{batch.pk + 1000}"),
    ]
    listed = other.get(BATCH).context["recent"]
    own = _as(client_user).get(BATCH).context["recent"]

    assert [r.status_code for r in responses] == [404] * 5
    assert responses[1].json()["error"]["code"] == "not_found"
    assert (listed, [b.pk for b in own]) == ([], [batch.pk])


# ---------------------------------------------------------------- size


def test_a_ten_thousand_row_file_is_computed(
    client_user: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    models = list(MinerModel.objects.values_list("make", "model"))
    # A fixed seed: the same realistic mix every run (not a secret).
    rng = random.Random(6)  # noqa: S311
    rows: list[list[object]] = []
    for index in range(10_000):
        price = f"0.0{rng.randint(30, 90)}"
        if index % 4:
            make, model = models[index % len(models)]
            rows.append(
                [
                    f"rack {index}",
                    f"{make} {model}",
                    "",
                    "",
                    rng.randint(1, 200),
                    price,
                    "2",
                    "97",
                    rng.choice([0, 1500, 3200]),
                    "",
                    "",
                    "",
                ]
            )
        else:
            rows.append(
                [
                    f"custom {index}",
                    "",
                    rng.randint(90, 250),
                    rng.randint(2800, 3600),
                    rng.randint(1, 50),
                    price,
                    "",
                    "",
                    "2500",
                    "",
                    "",
                    "",
                ]
            )

    response = _upload(_as(client_user), "big.csv", _csv_bytes(rows), django_capture_on_commit_callbacks)

    batch = _batch_of(response)
    assert (batch.status, batch.total, batch.done, batch.rows.count()) == ("done", 10_000, 10_000, 10_000)
    assert batch.totals["rows"] == 10_000
    assert batch.totals["units"] == sum(int(str(r[4])) for r in rows)
    last = batch.rows.get(position=9_999)
    assert (last.source_row, last.label) == (10_001, "rack 9999")
