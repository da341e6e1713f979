"""The calculator in headless Chromium: the form, the projection chart with payback and halving, the comparison."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from analytics.services.history_load import history_load
from calculator.models import CalculationHistory
from tests.browser import chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("miner_catalogue")]

_DATASETS = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  return chart.data.datasets.map((d) => [d.label, d.data.length]);
}"""
_MARKER_LINES = (
    """(id) => Chart.getChart(document.getElementById(id)).options.plugins.markerLines.lines.map((l) => l.label)"""
)


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, live_server: LiveServer) -> Iterator[Page]:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    history_load()
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 900})


def test_calculation_draws_cumulative_profit_with_payback_and_halving(live_server: LiveServer, page: Page) -> None:
    hosts: set[str] = set()
    errors: list[str] = []
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/calculator")

    # Scenario details appear only for the scenario that uses them.
    assert page.locator("[name=difficulty_trend_months]").is_hidden()
    page.select_option("[name=difficulty_scenario]", "trend")
    assert page.locator("[name=difficulty_trend_months]").is_visible()
    page.select_option("[name=miner_model_id]", label=page.locator("option", has_text="Antminer S21 XP ·").inner_text())
    assert page.locator("[name=hashrate_ths]").get_attribute("placeholder") == "270 (model)"
    page.fill("[name=electricity_usd_per_kwh]", "0.03")
    page.fill("[name=hardware_cost_usd]", "1200")
    page.fill("[name=horizon_days]", "1200")
    page.click("#calculator-form button[type=submit]")
    page.wait_for_selector("#projection-chart")
    page.wait_for_load_state("networkidle")

    row = CalculationHistory.objects.get()
    assert row.results["projection"]["payback_on"] is not None
    datasets = dict(page.evaluate(_DATASETS, "projection-chart"))
    assert datasets["Cumulative profit"] > 100
    assert datasets["Payback"] == 1
    assert datasets["Hardware cost"] == 2
    assert page.evaluate(_MARKER_LINES, "projection-chart") == ["Halving"]
    assert page.locator("[data-payback-on]").inner_text() == row.results["projection"]["payback_on"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "calculator.png"), full_page=True)
    assert errors == []
    assert hosts == {urlsplit(live_server.url).hostname}


def test_comparison_draws_one_net_position_line_per_model(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/calculator/compare")
    for slot, name in enumerate(("Antminer S21 XP ·", "Antminer S19 XP ·", "AvalonMiner 1366 ·")):
        label = page.locator(f"[name=model_{slot}] option", has_text=name).inner_text()
        page.select_option(f"[name=model_{slot}]", label=label)
        page.fill(f"[name=hardware_cost_usd_{slot}]", str(1000 * (slot + 2)))
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-chart")

    labels = [label for label, _ in page.evaluate(_DATASETS, "compare-chart")]
    assert labels == ["Bitmain Antminer S21 XP", "Bitmain Antminer S19 XP", "Canaan AvalonMiner 1366", "Break-even"]
    assert page.locator("[data-compare-row]").count() == 3
    page.screenshot(path=str(ARTIFACTS / "calculator-compare.png"), full_page=True)
