"""The client dashboard and the miner page in headless Chromium, against the real ASGI server and the fleet
emulator: a client sees only their own miners (on screen and in every websocket frame), a change made in
the emulator shows after the next collection without a reload, an alert reaches the miner page as it
opens, and the Stop button with its confirmation sleeps a miner, whose page then shows it sleeping and the
operation in its log."""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page

from analytics.services.history_load import history_load
from crm.models import Customer
from crm.tests.factories import CustomerFactory
from hosting.choices import MinerAction
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.testing import RunningFleet
from hosting.models import Miner, MinerOperation, Site
from hosting.services.alerts import alerts_evaluate_site
from hosting.services.fleet_register import fleet_register
from hosting.services.miner_control import miner_command
from hosting.services.telemetry_collect import telemetry_collect
from hosting.services.telemetry_ingest import telemetry_store
from hosting.services.telemetry_rollups import telemetry_rollup
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.conftest import FleetFactory
from mining_platform.core.choices import Role
from mining_platform.core.models import User
from mining_platform.core.tests.factories import UserFactory
from tests.browser import chromium
from tests.support.asgi_server import AsgiServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("miner_catalogue")]
FAST_POLLS = {
    "TELEMETRY_CONNECT_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_READ_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_POLL_CONCURRENCY": 50,
}
WAIT_MS = 15_000
_HISTORY_LOADED = "() => document.querySelector('[data-history]').dataset.loaded === 'yes'"
_MODAL_SHOWN = "() => getComputedStyle(document.getElementById('confirm-modal')).opacity === '1'"
_HASHRATE = (
    "(id) => Number(document.querySelector(`tr[data-miner-id='${id}'] [data-field=hashrate_ths]`).dataset.sortValue)"
)


@dataclass(frozen=True)
class Hall:
    """An emulated site shared by two customers: the first half of its miners Acme's, the rest Ridge's."""

    fleet: RunningFleet
    site: Site
    acme: Customer
    ridge: Customer
    mine: list[Miner]
    theirs: list[Miner]


def _hall(fleet: RunningFleet, acme: Customer, ridge: Customer) -> Hall:
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Client Hall").site_id)
    miners = list(Miner.objects.filter(site=site).order_by("pk"))
    half = len(miners) // 2
    Miner.objects.filter(pk__in=[m.pk for m in miners[:half]]).update(customer=acme)
    Miner.objects.filter(pk__in=[m.pk for m in miners[half:]]).update(customer=ridge)
    return Hall(fleet, site, acme, ridge, miners[:half], miners[half:])


def _past_hours(hall: Hall, *, hours: int = 6) -> None:
    """Polls every 5 minutes over the last hours (a dip in the middle) and their rollups, as the rollup
    task leaves them, so the charts and the month's figures have history before the first collection."""
    now = timezone.now()
    end = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    rows = []
    for step in range(hours * 12, 0, -1):
        at = end - timedelta(minutes=5 * step)
        dip = 0.6 if 30 <= step <= 40 else 1.0
        for index, miner in enumerate([*hall.mine, *hall.theirs]):
            ths = (100.0 + index + (step % 7)) * dip
            rows.append(
                TelemetryRow(
                    miner_id=miner.pk,
                    recorded_at=at,
                    site_id=hall.site.pk,
                    outcome="ok",
                    hashrate_ths=ths,
                    power_w=int(3000 * dip) + index * 10,
                    board_temp_max_c=60.0 + index,
                    chip_temp_max_c=70.0 + index,
                )
            )
    telemetry_store(rows=rows)
    telemetry_rollup(resolution="5m", start=end - timedelta(hours=hours), end=end)
    hour = end.replace(minute=0)
    telemetry_rollup(resolution="1h", start=hour - timedelta(hours=hours), end=hour)


def _shot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def _signed_in(context: BrowserContext, user: User, server: AsgiServer) -> None:
    browser = Client()
    browser.force_login(user)
    value = browser.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": value, "url": server.url}])


def _off_loop(work: Callable[[], object]) -> None:
    """Run `work` on a thread of its own: the poller's event loop (and the publisher's async_to_sync)
    cannot run on this thread while Playwright's sync API keeps a loop turning here."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def _collect(site: Site) -> None:
    """One collection stamped now; its delta goes out when it commits."""
    _off_loop(lambda: telemetry_collect(site_id=site.pk, now=timezone.now()))


@override_settings(**FAST_POLLS)
def test_client_sees_only_their_own_miners_live_and_a_change_in_the_emulator_after_the_next_collection(
    asgi_server: AsgiServer,
    emulated_fleet: FleetFactory,
    customer: Customer,
    other_customer: Customer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    history_load()  # the shipped network history: the month's BTC estimate is priced from it
    hall = _hall(emulated_fleet(count=6, seed=81, model_key="braiins-s19j-pro"), customer, other_customer)
    client_user = UserFactory.create(role=Role.CLIENT, customer=customer)
    _past_hours(hall)
    _collect(hall.site)
    frames: list[str] = []
    errors: list[str] = []

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        _signed_in(context, client_user, asgi_server)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
        page.goto(f"{asgi_server.url}/hosting/client/dashboard")
        page.wait_for_selector("[data-live-state=open]", timeout=WAIT_MS)
        page.wait_for_function(_HISTORY_LOADED)
        shown = page.eval_on_selector_all("tr[data-miner-id]", "rows => rows.map(r => Number(r.dataset.minerId))")
        changed = hall.mine[0]
        before = page.evaluate(_HASHRATE, changed.pk)
        estimate = page.inner_text("[data-figure=btc_estimate]")
        day_points = int(page.get_attribute("[data-history]", "data-points") or 0)
        _shot(page, "client_dashboard")
        page.click("[data-range-button='6h']")
        page.wait_for_function(_HISTORY_LOADED)
        raw_points = int(page.get_attribute("[data-history]", "data-points") or 0)

        # A hashboard drops out in the emulator: the next collection shows it without a reload.
        hall.fleet.set_fault(changed.ip, Fault(FaultKind.BOARD_LOST))
        page.evaluate("() => { window.__sameDocument = true; }")
        _collect(hall.site)
        page.wait_for_function("() => Number(document.getElementById('client-dashboard').dataset.deltas) >= 1")
        after = page.evaluate(_HASHRATE, changed.pk)
        assert page.evaluate("() => window.__sameDocument") is True
        page.click("th[data-sort=hashrate_ths]")
        first_after_sort = page.eval_on_selector("tbody tr[data-miner-id]", "row => Number(row.dataset.minerId)")
        _shot(page, "client_dashboard_after_collection")
        context.close()

        # A client whose miners are not installed yet is told what will show.
        newcomer = UserFactory.create(role=Role.CLIENT, customer=CustomerFactory.create(name="Newcomer Mining"))
        empty_context = browser.new_context(viewport={"width": 1360, "height": 700})
        _signed_in(empty_context, newcomer, asgi_server)
        empty_page = empty_context.new_page()
        empty_page.goto(f"{asgi_server.url}/hosting/client/dashboard")
        empty_shown = empty_page.locator("[data-empty=miners]").is_visible()
        _shot(empty_page, "client_dashboard_empty")
        empty_context.close()

    mine, theirs = {m.pk for m in hall.mine}, {m.pk for m in hall.theirs}
    assert sorted(shown) == sorted(mine)
    assert empty_shown
    # 24 h: the 5-minute rollups of six hours and the bucket of the first collection; 6 h: every run in
    # the window (the oldest hand-made one may fall just before it) and the collection.
    assert day_points >= 6 * 12
    assert raw_points >= 6 * 12 - 1
    assert estimate.endswith("BTC")
    assert float(estimate.removesuffix("BTC")) > 0
    assert after < before * 0.8  # one of three boards gone
    assert first_after_sort == changed.pk  # sorted by TH/s, ascending: the miner that lost a board first
    # Every frame the client's socket carried holds only Acme's miners; Ridge's never appear.
    parsed = [json.loads(frame) for frame in frames]
    rows = [row for frame in parsed for row in frame.get("payload", {}).get("miners", [])]
    assert {frame["type"] for frame in parsed} >= {"live.snapshot", "live.delta"}
    assert rows
    assert {row["id"] for row in rows} <= mine
    assert {row["customer_id"] for row in rows} == {customer.pk}
    assert not any(miner.ip in frame for miner in hall.theirs for frame in frames)
    assert not any(f'"miner_id": {pk},' in frame or f'"miner_id":{pk},' in frame for pk in theirs for frame in frames)
    assert errors == []


@override_settings(**FAST_POLLS)
def test_miner_page_stop_button_with_its_confirmation_sleeps_the_miner_and_the_page_follows(
    asgi_server: AsgiServer,
    emulated_fleet: FleetFactory,
    customer: Customer,
    other_customer: Customer,
    host_user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    hall = _hall(emulated_fleet(count=2, seed=82, model_key="braiins-s19j-pro"), customer, other_customer)
    miner = hall.mine[0]
    _past_hours(hall)
    _collect(hall.site)
    errors: list[str] = []

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1360, "height": 1000})
        _signed_in(context, host_user, asgi_server)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{asgi_server.url}/hosting/miners/{miner.pk}")
        page.wait_for_selector("[data-live-state=open]", timeout=WAIT_MS)
        page.wait_for_function(_HISTORY_LOADED)
        assert page.get_attribute("#miner-detail", "data-status") in (None, "online")
        page.evaluate("() => { window.__sameDocument = true; }")

        # A hashboard drops out in the emulator: after the next collection the alert evaluation opens a
        # low-hashrate alert, which reaches the page from its live.alerts frame.
        hall.fleet.set_fault(miner.ip, Fault(FaultKind.BOARD_LOST))
        _collect(hall.site)
        _off_loop(lambda: alerts_evaluate_site(site_id=hall.site.pk, now=timezone.now()))
        page.wait_for_selector("[data-alert-list] [data-alert-status=open]", timeout=WAIT_MS)
        alert_text = page.inner_text("[data-alert-list]")
        hashrate = float(page.inner_text("[data-reading=hashrate_ths]"))
        hall.fleet.clear_fault(miner.ip)
        _shot(page, "miner_detail_live")

        # The dialog asks first; cancelling sends nothing.
        page.click("[data-control=shutdown]")
        page.wait_for_selector("#confirm-modal.show")
        page.click("#confirm-modal .modal-footer [data-bs-dismiss=modal]")
        page.wait_for_selector("#confirm-modal", state="hidden")
        sent_after_cancel = MinerOperation.objects.filter(miner=miner).count()
        page.click("[data-control=shutdown]")
        page.wait_for_selector("#confirm-modal.show")
        page.wait_for_function(_MODAL_SHOWN)  # the fade-in is over, for the screenshot
        assert "Stop" in page.inner_text("#confirm-modal [data-confirm-text]")
        _shot(page, "miner_detail_confirm", full_page=False)
        page.click("[data-confirm-ok]")
        page.wait_for_selector("[data-operation-list] tr[data-op-action=stop][data-op-outcome=ok]", timeout=WAIT_MS)
        asleep_in_emulator = not hall.fleet.truth(miner.ip).mining

        # The next collection finds it asleep; the page shows it without a reload.
        _collect(hall.site)
        page.wait_for_selector("#miner-detail[data-status=sleeping]", timeout=WAIT_MS)
        # The dialog's closing fades out; its backdrop must then be gone for good, not left over the page.
        page.wait_for_selector(".modal-backdrop", state="detached")
        scroll_locked = page.evaluate("() => document.body.classList.contains('modal-open')")
        overflow_px = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        badge = page.inner_text("[data-reading=status]")
        log_rows = page.locator("[data-operation-list] tr").count()
        _shot(page, "miner_detail_stopped")

        # A command sent elsewhere (the API, a batch) reaches the log from its live.operation frames.
        _off_loop(
            lambda: miner_command(
                miner_id=miner.pk, action=MinerAction.START, parameters={}, requested_by=host_user, now=timezone.now()
            )
        )
        page.wait_for_selector("[data-operation-list] tr[data-op-action=start][data-op-outcome=ok]", timeout=WAIT_MS)
        newest_first = page.eval_on_selector_all(
            "[data-operation-list] tr", "rows => rows.map(r => r.dataset.opAction)"
        )
        same_document = page.evaluate("() => window.__sameDocument")
        context.close()

    assert "Hashrate below nominal" in alert_text
    assert hashrate < 104 * 0.8  # two boards of three, below the site's 80 % of nominal
    assert sent_after_cancel == 0
    assert asleep_in_emulator
    assert "Sleeping" in badge
    assert scroll_locked is False  # the dialog closed for good
    assert overflow_px <= 0  # nothing wider than the window
    assert log_rows == 1
    assert newest_first == ["start", "stop"]
    assert same_document is True
    operation = MinerOperation.objects.get(miner=miner, action=MinerAction.STOP)
    assert (operation.outcome, operation.requested_by) == ("ok", host_user)
    assert errors == []
