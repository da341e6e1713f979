"""The curtailment page in headless Chromium: each site's state, the side-by-side preview, scheduling and
cancelling a plan through the confirmation dialog, and the site's power chart around a past event."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from analytics.services.history_load import history_load
from crm.tests.factories import CustomerFactory
from hosting.choices import CurtailmentStatus, Firmware
from hosting.models import CurtailmentPlan, Miner, Site
from hosting.services.telemetry_ingest import telemetry_store
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import SiteFactory
from hosting.tests.test_curtailment_pages import add_miner, make_plan
from mining_platform.core.models import User
from tests.browser import chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHOTS = (ARTIFACTS, Path("/tmp"))  # noqa: S108  # a copy where a person looking at the run finds it
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("miner_catalogue")]

# (firmware, watts, TH/s, customer): a hall of older and newer machines, two customers.
FLEET = [
    (Firmware.ANTMINER_STOCK, 3250, 95.0, "acme"),
    (Firmware.ANTMINER_STOCK, 3250, 90.0, "acme"),
    (Firmware.ANTMINER_STOCK, 3010, 86.0, "acme"),
    (Firmware.BRAIINS_OS, 3500, 200.0, "acme"),
    (Firmware.BRAIINS_OS, 3500, 196.0, "ridge"),
    (Firmware.BRAIINS_OS, 3300, 118.0, "ridge"),
    (Firmware.WHATSMINER, 3304, 118.0, "ridge"),
    (Firmware.WHATSMINER, 3276, 126.0, "ridge"),
    (Firmware.WHATSMINER, 3420, 100.0, None),
    (Firmware.AVALON, 3400, 112.0, None),
    (Firmware.AVALON, 3350, 104.0, None),
    (Firmware.LUXOS, 3250, 104.0, None),
]
_CHART = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.map((d) => [d.label, d.data.length]) : null;
}"""
_MARKERS = (
    """(id) => Chart.getChart(document.getElementById(id)).options.plugins.eventMarkers.markers.map((m) => m.kind)"""
)


def _shot(page: Page, name: str, *, full_page: bool = True) -> None:
    for folder in SHOTS:
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def _session(user: User) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


def _hall(now: datetime) -> tuple[Site, list[Miner]]:
    customers = {
        "acme": CustomerFactory.create(name="Acme Hashing", curtailment_priority=10),
        "ridge": CustomerFactory.create(name="Blue Ridge", curtailment_priority=100),
    }
    site = SiteFactory.create(name="North Farm", location="West Texas", power_capacity_kw=Decimal("48"))
    miners = [
        add_miner(
            site,
            power_w=watts,
            hashrate=ths,
            firmware=firmware,
            customer=customers[owner] if owner else None,
            rack="A1",
            position=f"{index + 1:02d}",
            now=now,
        )
        for index, (firmware, watts, ths, owner) in enumerate(FLEET)
    ]
    return site, miners


def _polls(
    site: Site, miners: list[Miner], *, start: datetime, end: datetime, off: dict[int, tuple[datetime, datetime]]
) -> list[TelemetryRow]:
    """One poll a minute per miner; a miner asleep over its (from, to) window draws 12 W."""
    rows = []
    at = start
    while at < end:
        for index, miner in enumerate(miners):
            window = off.get(miner.pk)
            asleep = window is not None and window[0] <= at < window[1]
            watts = FLEET[index][1]
            rows.append(
                TelemetryRow(
                    miner_id=miner.pk,
                    recorded_at=at,
                    site_id=site.pk,
                    outcome="ok",
                    hashrate_ths=0.0 if asleep else FLEET[index][2],
                    power_w=12 if asleep else watts + (index * 7 + at.minute * 13) % 40 - 20,
                    is_sleeping=asleep,
                )
            )
        at += timedelta(minutes=1)
    return rows


@dataclass(frozen=True)
class Staged:
    site: Site
    past: CurtailmentPlan
    running: CurtailmentPlan
    planned: CurtailmentPlan


def _stage(now: datetime) -> Staged:
    """A hall with a past event (and its telemetry), one running plan, one planned, and a quiet site."""
    site, miners = _hall(now)
    SiteFactory.create(name="South Hall", location="Quebec", power_capacity_kw=Decimal("20"))
    past_start, past_end = now - timedelta(hours=3), now - timedelta(hours=2)
    past = make_plan(
        site,
        kw="9",
        status=CurtailmentStatus.RECOVERED,
        executed_at=past_start,
        recovery_started_at=past_end,
        finished_at=past_end + timedelta(minutes=4),
        baseline_power_kw=Decimal("40.1"),
        measured_shed_kw=Decimal("9.4"),
        measured_hashrate_lost_ths=Decimal("271.0"),
        measured_at=past_start + timedelta(minutes=2),
    )
    CurtailmentPlan.objects.filter(pk=past.pk).update(scheduled_start=past_start, recover_at=past_end)
    running_start = now - timedelta(minutes=12)
    running = make_plan(
        site,
        kw="6",
        status=CurtailmentStatus.EXECUTED,
        executed_at=running_start,
        baseline_power_kw=Decimal("40.2"),
        measured_shed_kw=Decimal("5.8"),
        measured_at=running_start + timedelta(minutes=2),
    )
    CurtailmentPlan.objects.filter(pk=running.pk).update(
        scheduled_start=running_start, recover_at=now + timedelta(minutes=48)
    )
    planned = make_plan(site, kw="3")
    off = {pm.miner_id: (past_start, past_end) for pm in past.plan_miners.all()}
    off.update({pm.miner_id: (running_start, now + timedelta(hours=1)) for pm in running.plan_miners.all()})
    telemetry_store(rows=_polls(site, miners, start=past_start - timedelta(minutes=40), end=now, off=off))
    return Staged(site=site, past=past, running=running, planned=planned)


def test_curtailment_page_previews_schedules_cancels_and_charts_an_event(
    live_server: LiveServer, host_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    history_load()  # the shipped market history: the preview prices the revenue lost
    now = timezone.now().replace(second=0, microsecond=0)
    staged = _stage(now)
    site, past, running, planned = staged.site, staged.past, staged.running, staged.planned
    hosts: set[str] = set()
    errors: list[str] = []

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": _session(host_user), "url": live_server.url}]
        )
        page = context.new_page()
        page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

        page.goto(f"{live_server.url}/hosting/curtailment")
        page.wait_for_load_state("networkidle")
        # Each site: its draw now and its plans; the running plan can be ended, the planned one cancelled.
        assert page.locator(f"[data-site='{site.pk}'] [data-site-power]").inner_text() != "0.0"
        assert page.locator(f"#plan-{running.pk} [data-action=recover-now]").is_visible()
        assert page.locator(f"#plan-{planned.pk} [data-action=cancel]").is_visible()
        assert page.locator("[data-empty=active]").count() == 1  # the quiet site
        assert page.locator("[data-prices-link]").count() == 1
        # The start and recovery times show only for the choice that needs them.
        assert page.locator("input[name=starts_at]").is_hidden()
        _shot(page, "curtailment")

        # The past event's power chart, drawn when its row is opened.
        page.click(f"[data-chart-toggle='{past.pk}']")
        page.wait_for_function(
            f"() => document.getElementById('power-chart-{past.pk}') && Chart.getChart(document.getElementById('power-chart-{past.pk}'))"
        )
        datasets = dict(page.evaluate(_CHART, f"power-chart-{past.pk}"))
        assert datasets["Site power"] > 100  # one point a minute over 30 min + 1 h + 30 min
        assert datasets["Target"] == 2
        assert page.evaluate(_MARKERS, f"power-chart-{past.pk}") == ["start", "recovery", "recovered"]
        page.locator(f"#chart-row-{past.pk}").scroll_into_view_if_needed()
        _shot(page, "curtailment_event_chart", full_page=False)

        # A plan for later: every strategy side by side before anything is stored.
        page.select_option("[name=site]", str(site.pk))
        page.fill("[name=target_value]", "10")
        page.check("input[name=start][value=later]")
        assert page.locator("input[name=starts_at]").is_visible()
        page.fill("input[name=starts_at]", (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
        page.fill("input[name=duration_minutes]", "90")
        page.click("[data-preview-button]")
        page.wait_for_selector("#preview-table")
        columns = page.locator("#preview-table thead th[data-strategy]")
        assert columns.count() == 4
        assert page.locator("[data-best]").count() == 1
        assert "$" in page.locator("[data-figure=revenue_lost]").nth(1).inner_text()
        page.click("[data-miners-toggle=optimal]")
        page.wait_for_selector("[data-miners=optimal]", state="visible")
        listed = page.locator("[data-miners=optimal] li").count()
        assert listed >= 3
        _shot(page, "curtailment_preview")

        # Schedule the optimal plan: the dialog asks first.
        before = CurtailmentPlan.objects.count()
        page.click("[data-start=optimal]")
        page.wait_for_selector("#confirm-modal.show")
        # The fade-in over, so the screenshot shows the dialog rather than its half-drawn frame.
        page.wait_for_function("() => getComputedStyle(document.getElementById('confirm-modal')).opacity === '1'")
        assert "Schedule" in page.locator("[data-confirm-ok]").inner_text()
        _shot(page, "curtailment_confirm", full_page=False)
        page.click("[data-confirm-ok]")
        page.wait_for_selector(".alert-success")
        created = CurtailmentPlan.objects.order_by("-id").first()
        assert created is not None
        assert CurtailmentPlan.objects.count() == before + 1
        assert (created.status, created.strategy, created.source) == ("pending", "optimal", "page")
        assert created.plan_miners.count() == listed
        assert page.locator(f"#plan-{created.pk}").is_visible()

        # Cancel the plan made earlier; dismissing the dialog first leaves it alone.
        page.click(f"#plan-{planned.pk} [data-action=cancel]")
        page.wait_for_selector("#confirm-modal.show")
        page.click("#confirm-modal [data-bs-dismiss=modal].btn")
        page.wait_for_selector("#confirm-modal", state="hidden")
        planned.refresh_from_db()
        assert planned.status == CurtailmentStatus.PENDING
        page.click(f"#plan-{planned.pk} [data-action=cancel]")
        page.wait_for_selector("#confirm-modal.show")
        page.click("[data-confirm-ok]")
        page.wait_for_selector(".alert-success")
        planned.refresh_from_db()
        assert planned.status == CurtailmentStatus.CANCELLED
        assert page.locator(f"#history-table #plan-{planned.pk}").is_visible()
        _shot(page, "curtailment_after")

        # The running plan's own page: its figures, its live chart and its miners.
        page.goto(f"{live_server.url}/hosting/curtailment/{running.pk}")
        page.wait_for_function(f"() => Chart.getChart(document.getElementById('power-chart-{running.pk}'))")
        assert page.locator("#plan-miners tbody tr").count() == running.plan_miners.count()
        _shot(page, "curtailment_plan")

    assert errors == []
    assert hosts == {urlsplit(live_server.url).hostname}
