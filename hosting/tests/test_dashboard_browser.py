"""The host dashboard in headless Chromium against the real ASGI server and the fleet emulator: a change made
in the emulator shows after the next collection without a reload, an alert appears and is acknowledged by
clicking, and the page recovers from a server restart with what was collected while it was down."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from hosting.choices import AlertKind, AlertStatus, MinerStatus
from hosting.emulator.faults import Fault, FaultKind
from hosting.models import Alert, Miner, MinerTelemetry, Site
from hosting.services.alerts import alerts_evaluate_site
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect
from hosting.tests.conftest import FleetFactory
from hosting.tests.factories import SiteFactory
from hosting.tests.test_curtailment_pages import make_plan
from mining_platform.core.models import User
from tests.browser import chromium
from tests.support.asgi_server import AsgiServer

T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("miner_catalogue")]
FAST_POLLS = {
    "TELEMETRY_CONNECT_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_READ_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_POLL_CONCURRENCY": 50,
}
WAIT_MS = 15_000
# Every value the badge takes, in order (the page sets it; the test reads the history).
_WATCH_BADGE = """() => {
  window.__liveStates = [document.querySelector('[data-live-state]').dataset.liveState];
  new MutationObserver(() => {
    const state = document.querySelector('[data-live-state]').dataset.liveState;
    if (window.__liveStates[window.__liveStates.length - 1] !== state) { window.__liveStates.push(state); }
  }).observe(document.querySelector('[data-live-state]'), { attributes: true });
}"""
_CELL_COLOR = "(id) => getComputedStyle(document.querySelector(`.cell[data-miner='${id}']`)).backgroundColor"
_POINTS = "Chart.getChart(document.getElementById('chart-hashrate')).data.datasets[0].data.length"


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(800)  # past the cells' colour fade and the figures' highlight
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _session(user: User) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


def _off_loop(work: Callable[[], T]) -> T:
    """Run `work` on a thread of its own: the poller's asyncio loop and the publisher's async_to_sync
    cannot run on this thread while Playwright's sync API keeps its loop turning here."""

    def run() -> T:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _collect(site_id: int) -> datetime:
    """One collection run stamped now (its delta goes out when it commits)."""
    now = timezone.now()
    _off_loop(lambda: telemetry_collect(site_id=site_id, now=now))
    return now


def _evaluate_alerts(site_id: int) -> None:
    _off_loop(lambda: alerts_evaluate_site(site_id=site_id, now=timezone.now()))


def _wait_live(page: Page, server: AsgiServer, timeout_ms: int = WAIT_MS) -> None:
    """Wait for the badge to say the socket is live; on failure, show what the server logged."""
    try:
        page.wait_for_selector("[data-live-state=open]", timeout=timeout_ms)
    except PlaywrightTimeoutError as error:
        raise AssertionError(f"the page never went live; server log:\n{server.log_tail()}") from error


def _figure(page: Page, selector: str) -> float:
    return float(page.locator(selector).first.inner_text().replace(",", ""))


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@pytest.fixture
def collect() -> Iterator[None]:
    with override_settings(**FAST_POLLS):
        yield


@pytest.mark.usefixtures("collect")
def test_dashboard_follows_the_emulator_live_acknowledges_alerts_and_recovers_after_a_restart(
    asgi_server: AsgiServer,
    emulated_fleet: FleetFactory,
    host_user: User,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    fleet = emulated_fleet(count=24, seed=21)
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Emulated hall").site_id)
    Site.objects.filter(pk=site.pk).update(offline_after_failures=1)  # one refused poll marks it offline
    _collect(site.pk)
    empty_site = SiteFactory.create(name="Zeta hall")  # after "Emulated hall": not the default
    plan = _off_loop(lambda: make_plan(site, kw="6"))  # planned for half an hour from now
    victim = Miner.objects.get(site=site, ip=fleet.addresses[0])
    sleeper = Miner.objects.get(site=site, ip=fleet.addresses[1])
    errors: list[str] = []
    hosts: set[str] = set()

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": _session(host_user), "url": asgi_server.url}])
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))

    page.goto(f"{asgi_server.url}/main")
    assert urlsplit(page.url).path == "/hosting/dashboard"
    _wait_live(page, asgi_server)
    page.evaluate(_WATCH_BADGE)
    page.wait_for_function("() => Chart.getChart(document.getElementById('chart-hashrate'))", timeout=WAIT_MS)
    cell = page.locator(f".cell[data-miner='{victim.pk}']")
    assert cell.get_attribute("data-state") == "online"
    assert cell.get_attribute("href") == f"/hosting/miners/{victim.pk}"
    assert page.locator(".cell").count() == 24
    assert page.locator("[data-count=online]").first.inner_text() == "24"
    hashrate_before = _figure(page, "[data-figure=hashrate_ths]")
    points_before = page.evaluate(f"() => {_POINTS}")
    assert points_before >= 1
    page.wait_for_timeout(600)  # past the cells' colour fade
    temp_color = page.evaluate(_CELL_COLOR, victim.pk)
    assert page.locator(f"#curtailment-card [data-plan='{plan.pk}'] a").get_attribute("href") == (
        f"/hosting/curtailment/{plan.pk}"
    )
    _shot(page, "dashboard_live")

    # The emulator takes one miner off the network and puts another to sleep; the next run shows both.
    fleet.set_fault(fleet.addresses[0], Fault(FaultKind.OFFLINE))
    fleet.sleep(fleet.addresses[1])
    _collect(site.pk)

    page.wait_for_function(
        f"() => document.querySelector(\".cell[data-miner='{victim.pk}']\").dataset.state === 'offline'",
        timeout=WAIT_MS,
    )
    page.wait_for_function(
        f"() => document.querySelector(\".cell[data-miner='{sleeper.pk}']\").dataset.state === 'sleeping'",
        timeout=WAIT_MS,
    )
    assert page.locator("[data-count=online]").first.inner_text() == "22"
    assert page.locator("[data-count=offline]").first.inner_text() == "1"
    assert page.locator("[data-count=sleeping]").first.inner_text() == "1"
    assert _figure(page, "[data-figure=hashrate_ths]") < hashrate_before
    page.wait_for_function(  # the temperature view marks it too
        f"() => ({_CELL_COLOR})({victim.pk}) !== '{temp_color}'", timeout=WAIT_MS
    )
    page.wait_for_function(f"() => {_POINTS} === {points_before + 1}", timeout=WAIT_MS)  # the run's point
    page.click("label[for=color-by-status]")
    # Cells fade to their new colour: wait for the end of the fade.
    page.wait_for_function(f"() => ({_CELL_COLOR})({victim.pk}) === 'rgb(220, 53, 69)'", timeout=WAIT_MS)  # red
    page.wait_for_function(f"() => ({_CELL_COLOR})({sleeper.pk}) === 'rgb(13, 202, 240)'", timeout=WAIT_MS)  # cyan
    assert page.locator("[data-legend=status]").is_visible()
    assert "offline" in (cell.get_attribute("title") or "")

    # The alert run opens an offline alert: it lands in the feed and is acknowledged with a click.
    _evaluate_alerts(site.pk)
    alert = Alert.objects.get(miner=victim, kind=AlertKind.OFFLINE)
    item = page.locator(f".alert-item[data-alert='{alert.pk}']")
    item.wait_for(timeout=WAIT_MS)
    assert item.get_attribute("data-status") == "open"
    opened = Alert.objects.filter(site=site, status=AlertStatus.OPEN).count()  # the emulator's hot ones too
    page.wait_for_function(
        f"() => document.querySelectorAll('.alert-item[data-status=open]').length === {opened}", timeout=WAIT_MS
    )
    assert page.locator("[data-count=alerts-open]").inner_text() == str(opened)
    assert page.locator("[data-empty=alerts]").is_hidden()
    _shot(page, "dashboard_alert")
    item.locator("[data-ack]").click()
    page.wait_for_selector(f".alert-item[data-alert='{alert.pk}'][data-status=acknowledged]", timeout=WAIT_MS)
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, host_user)
    assert item.locator("[data-ack]").count() == 0
    assert page.locator("[data-count=alerts-open]").inner_text() == str(opened - 1)
    assert "acknowledged" in item.locator("[data-alert-status]").inner_text()

    # The server goes down: the badge says so; a run made meanwhile shows once the page is back.
    asgi_server.stop()
    page.wait_for_selector("[data-live-state=reconnecting]", timeout=WAIT_MS)
    reconnecting_text = page.locator("[data-live-state]").inner_text()
    _shot(page, "dashboard_reconnecting")
    fleet.clear_fault(fleet.addresses[0])
    fleet.wake(fleet.addresses[1])
    down_run = _collect(site.pk)
    assert Miner.objects.get(pk=victim.pk).status == MinerStatus.ONLINE
    asgi_server.start()

    _wait_live(page, asgi_server, 30_000)
    page.wait_for_function(
        f"() => document.querySelector(\".cell[data-miner='{victim.pk}']\").dataset.state === 'online'",
        timeout=WAIT_MS,
    )
    states = page.evaluate("() => window.__liveStates")
    assert "reconnecting" in states
    assert states[-1] == "open"
    assert states.index("reconnecting") < len(states) - 1
    assert reconnecting_text.startswith("Reconnecting")
    assert page.locator("[data-count=offline]").first.inner_text() == "0"
    online_now = Miner.objects.filter(site=site, status=MinerStatus.ONLINE).count()
    assert page.locator("[data-count=online]").first.inner_text() == str(online_now)
    page.wait_for_function(f"() => {_POINTS} === {points_before + 2}", timeout=WAIT_MS)  # reloaded on resync
    assert MinerTelemetry.objects.filter(miner_id=victim.pk, recorded_at=down_run, outcome="ok").exists()
    page.click("label[for=color-by-temp]")
    _shot(page, "dashboard_reconnected")

    # Another range asks the series endpoint again; the caption says what the points are.
    page.click("[data-range='24h']")
    page.wait_for_function(
        "() => document.querySelector('[data-chart-caption]').textContent.includes('last 24h')", timeout=WAIT_MS
    )
    assert page.locator("[data-range='24h']").get_attribute("aria-pressed") == "true"
    assert page.evaluate(f"() => {_POINTS}") >= 1

    # The picker opens another site: one without miners says where to add them.
    page.select_option("#site-picker", str(empty_site.pk))
    page.wait_for_url(f"**/hosting/dashboard?site={empty_site.pk}", timeout=WAIT_MS)
    assert page.locator("[data-empty=miners]").is_visible()
    assert "No miners at Zeta hall yet" in page.locator("[data-empty=miners]").inner_text()
    _shot(page, "dashboard_empty")

    # On a phone the cards stack and the map keeps its cells.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{asgi_server.url}/hosting/dashboard?site={site.pk}")
    _wait_live(page, asgi_server)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    _shot(page, "dashboard_phone")

    context.close()
    # Chromium logs each refused reconnect while the server was down; nothing else may have gone wrong.
    assert [e for e in errors if "ERR_CONNECTION_REFUSED" not in e] == []
    assert any("/ws/hosting/live/" in e for e in errors)
    assert hosts == {urlsplit(asgi_server.url).hostname}
