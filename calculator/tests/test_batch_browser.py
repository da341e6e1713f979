"""The batch pages in headless Chromium: a refused file, a fleet built on the page, and a batch followed from
its progress bar to its sorted results. Screenshots go to the temporary directory for a person to look at."""

import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import FilePayload, Page
from pytest_django.live_server_helper import LiveServer

from analytics.services.history_load import history_load
from calculator.models import CalculationBatch, CalculationBatchSource, MinerModel
from calculator.services.batch_compute import calculation_batch_create, calculation_batch_run
from calculator.services.batch_files import batch_file_read
from calculator.tests.factories import MinerModelFactory
from mining_platform.core.models import User
from tests.browser import chromium

SHOTS = Path(tempfile.gettempdir())
SETTINGS = {"horizon_days": "365", "difficulty_growth_pct_per_month": "0", "price_scenario": "flat"}
CATALOGUE = [
    ("Bitmain", "Antminer S21", "200", 3500),
    ("Bitmain", "Antminer S19 Pro", "110", 3250),
    ("Bitmain", "Antminer S19j Pro", "104", 3068),
    ("MicroBT", "Whatsminer M50S", "126", 3276),
    ("MicroBT", "Whatsminer M60S", "186", 3441),
    ("Canaan", "AvalonMiner 1366", "130", 3250),
    ("Bitmain", "Antminer S9", "13.5", 1323),
]


@pytest.fixture
def catalogue(transactional_db: None) -> list[MinerModel]:
    """The shipped market history and a catalogue (a transactional test starts from a flush)."""
    history_load()
    return [
        MinerModelFactory.create(
            make=make,
            model=model,
            hashrate_ths=Decimal(ths),
            power_w=watts,
            efficiency_j_per_th=(Decimal(watts) / Decimal(ths)).quantize(Decimal("0.01")),
        )
        for make, model, ths, watts in CATALOGUE
    ]


def _session(user: User) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


def _fleet_csv(models: list[MinerModel], rows: int) -> bytes:
    lines = [
        "label,model,hashrate_ths,power_w,quantity,electricity_usd_per_kwh,pool_fee_pct,uptime_pct,hardware_cost_usd"
    ]
    for index in range(rows):
        price = ("0.035", "0.045", "0.06", "0.075")[index % 4]
        if index % 5 == 4:
            lines.append(
                f"Quote {index + 1},,{150 + index % 60},{3300 + index % 200},{index % 20 + 5},{price},2,97,2900"
            )
        else:
            model = models[index % len(models)]
            cost = 150 if model.model == "Antminer S9" else int(model.hashrate_ths * 8)
            lines.append(
                f"Hall {index // 50 + 1} rack {index % 50 + 1},{model.make} {model.model},,,{index % 30 + 10},{price},2,97,{cost}"
            )
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_batch_pages_in_chromium_from_a_refused_file_to_sorted_results(
    live_server: LiveServer, catalogue: list[MinerModel], client_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    bad = (
        b"label,model,quantity,electricity_usd_per_kwh,uptime_pct\n"
        b"Hall 1,Bitmain Antminer S21,40,0.05,97\n"
        b"Hall 2,Antminer S12,10,0.05,97\n"
        b'Hall 3,Bitmain Antminer S19 Pro,ten,"0,05",97\n'
        b"Hall 4,Bitmain Antminer S19 Pro,12,0.05,120\n"
    )
    table = batch_file_read(name="north-site.csv", content=_fleet_csv(catalogue, 640), max_rows=100_000)
    queued = calculation_batch_create(
        user=client_user,
        name="north-site.csv",
        source=CalculationBatchSource.FILE,
        table=table,
        scenario_data=SETTINGS,
        now=timezone.now(),
    )

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": _session(client_user), "url": live_server.url}]
        )
        page: Page = context.new_page()

        page.goto(f"{live_server.url}/calculator/batch")
        page.set_input_files("#batch-file", files=FilePayload(name="fleet.csv", mimeType="text/csv", buffer=bad))
        page.click("[data-submit=file]")
        page.wait_for_selector("#batch-problems")
        problems = page.locator("#batch-problems tbody tr").all_inner_texts()
        page.screenshot(path=str(SHOTS / "calculator_batch_errors.png"), full_page=True)

        page.click("#tab-page")
        first = page.locator("[data-fleet-row]").nth(0)
        first.locator("[name=fleet-label]").fill("Hall A")
        first.locator("[data-fleet-model]").select_option(label="Antminer S21 · 200 TH/s")
        spec_placeholder = first.locator("[name=fleet-hashrate_ths]").get_attribute("placeholder")
        first.locator("[name=fleet-quantity]").fill("40")
        first.locator("[name=fleet-electricity_usd_per_kwh]").fill("0.05")
        page.click("[data-fleet-add]")
        second = page.locator("[data-fleet-row]").nth(1)
        carried = second.locator("[name=fleet-electricity_usd_per_kwh]").input_value()
        second.locator("[name=fleet-label]").fill("Reseller quote")
        second.locator("[name=fleet-hashrate_ths]").fill("190")
        second.locator("[name=fleet-power_w]").fill("3420")
        second.locator("[name=fleet-quantity]").fill("25")
        page.screenshot(path=str(SHOTS / "calculator_batch_fleet.png"))
        page.click("[data-submit=page]")  # computed at once: tasks run eagerly in tests
        page.wait_for_selector("#fleet-totals")
        fleet_rows = page.locator("#batch-rows tbody tr").count()

        page.goto(f"{live_server.url}/calculator/batch/{queued.pk}")
        waiting_bar = page.locator("[data-batch-bar]").inner_text()
        page.screenshot(path=str(SHOTS / "calculator_batch_progress.png"), full_page=True)
        calculation_batch_run(batch_id=queued.pk)  # the worker's part
        page.wait_for_selector("#fleet-totals", timeout=15_000)  # the poll saw it end and reloaded
        page.click("[data-sort-key=profit_day]")
        page.click("[data-sort-key=profit_day]")  # a second click: most profitable first
        page.wait_for_selector("#batch-rows[data-sort='-profit_day']")
        profits = page.locator("#batch-rows tbody [data-cell=profit]").all_inner_texts()
        page.screenshot(path=str(SHOTS / "calculator_batch_results.png"))
        page.screenshot(path=str(SHOTS / "calculator_batch_results_full.png"), full_page=True)
        page.locator("#batch-rows tfoot").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "calculator_batch_results_total.png"))

    assert [line.split("\t")[:2] for line in problems] == [
        ["row 3", "model"],
        ["row 4", "quantity"],
        ["row 4", "electricity_usd_per_kwh"],
        ["row 5", "uptime_pct"],
    ]
    assert spec_placeholder == "200"
    assert carried == "0.05"
    assert fleet_rows == 2
    assert waiting_bar == "0%"
    values = [Decimal(text.split("\n")[0].replace("$", "").replace(",", "")) for text in profits]
    assert values == sorted(values, reverse=True)
    assert len(values) == 100  # the first page of 640 rows
    assert CalculationBatch.objects.filter(user=client_user).count() == 2
