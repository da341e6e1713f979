"""Batch operations from the device list (page, task, progress) and the back office's control actions."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from calculator.tests.factories import MinerModelFactory
from hosting.choices import AlertKind, AlertStatus, MinerStatus, PollOutcome
from hosting.emulator.catalog import MODELS
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.testing import RunningFleet
from hosting.models import Alert, Miner, MinerLatest, MinerOperation
from hosting.services.fleet_register import FIRMWARE_OF
from hosting.services.miner_batch import miner_batch_create, miner_batch_run
from hosting.services.miner_control import REQUESTED
from hosting.tests.conftest import FleetFactory
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.models import User
from tests.browser import chromium
from tests.support.celery_worker import private_worker as celery_private_worker

ARTIFACTS = settings.BASE_DIR / "test-artifacts"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _as(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def register(fleet: RunningFleet, **fields: object) -> list[Miner]:
    """Miner rows for every miner of an emulated fleet (racks A1, A2, ... in address order)."""
    miners = []
    for index, spec in enumerate(fleet.spec):
        model = MODELS[spec.model_key]
        miners.append(
            MinerFactory.create(
                ip=spec.address,
                firmware=FIRMWARE_OF[model.personality],
                rack=f"A{index + 1}",
                position="1",
                miner_model=MinerModelFactory.create(
                    make=model.make,
                    model=model.name,
                    hashrate_ths=Decimal(str(model.nominal_ths)),
                    power_w=model.nominal_w,
                ),
                nominal_hashrate_ths=Decimal(str(model.nominal_ths)),
                nominal_power_w=model.nominal_w,
                status=MinerStatus.ONLINE,
                **fields,
            )
        )
    return miners


def _batch_id(response: object) -> str:
    location = getattr(response, "headers", {})["Location"]
    assert urlsplit(location).path == "/hosting/host/devices/batch"
    return str(parse_qs(urlsplit(location).query)["id"][0])


@pytest.fixture
def whatsminers(emulated_fleet: FleetFactory) -> tuple[RunningFleet, list[Miner]]:
    fleet = emulated_fleet(count=3, model_key="whatsminer-m50")
    return fleet, register(fleet)


# ---------------------------------------------------------------- the device list and the batch route


@pytest.mark.django_db
def test_device_list_offers_a_checkbox_per_miner_and_the_batch_form(host_user: User) -> None:
    miner = MinerFactory.create()

    page = _as(host_user).get("/hosting/host/devices?status=unknown").text

    assert f'name="miner" value="{miner.pk}" form="batch-form"' in page
    assert 'action="/hosting/host/devices/batch"' in page
    assert '<input type="hidden" name="filter" value="status=unknown">' in page


@pytest.mark.django_db
def test_batch_stops_the_ticked_miners_and_records_a_hung_one_without_holding_up_the_rest(
    whatsminers: tuple[RunningFleet, list[Miner]],
    host_user: User,
    settings: Settings,
    django_capture_on_commit_callbacks: object,
) -> None:
    settings.MINER_CONTROL_READ_TIMEOUT_SECONDS = 1.0
    fleet, miners = whatsminers
    hung = miners[0]
    fleet.set_fault(hung.ip, Fault(FaultKind.HUNG))

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]  # the task runs eagerly
        response = _as(host_user).post(
            "/hosting/host/devices/batch",
            {"scope": "selected", "miner": [m.pk for m in miners], "action": "stop", "filter": ""},
        )

    rows = {op.miner_id: op for op in MinerOperation.objects.filter(parameters__batch=_batch_id(response))}
    statuses = dict(Miner.objects.values_list("pk", "status"))
    answered = [rows[m.pk] for m in miners[1:]]
    assert response.status_code == 302
    assert [op.outcome for op in answered] == ["ok", "ok"]
    assert rows[hung.pk].outcome == "read_timeout"
    assert [fleet.truth(m.ip).mining for m in miners] == [True, False, False]
    assert [statuses[m.pk] for m in miners] == [MinerStatus.ONLINE, MinerStatus.STOPPED, MinerStatus.STOPPED]
    # The answering miners were done before the silent one timed out: they did not wait for it.
    assert all(op.finished_at is not None and op.finished_at < rows[hung.pk].finished_at for op in answered)  # type: ignore[operator]


@pytest.mark.django_db
def test_batch_with_the_filter_scope_acts_on_every_miner_the_filter_matches(
    emulated_fleet: FleetFactory, host_user: User, django_capture_on_commit_callbacks: object
) -> None:
    braiins = emulated_fleet(count=2, model_key="braiins-s19j-pro")
    whatsminer = emulated_fleet(count=1, model_key="whatsminer-m50")
    chosen, left = register(braiins), register(whatsminer)

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = _as(host_user).post(
            "/hosting/host/devices/batch", {"scope": "filter", "action": "stop", "filter": "firmware=braiins_os"}
        )

    operations = MinerOperation.objects.filter(parameters__batch=_batch_id(response))
    assert sorted(operations.values_list("miner_id", flat=True)) == sorted(m.pk for m in chosen)
    assert set(operations.values_list("outcome", flat=True)) == {"ok"}
    assert [braiins.truth(m.ip).mining for m in chosen] == [False, False]
    assert whatsminer.truth(left[0].ip).mining


@pytest.mark.django_db
def test_batch_refuses_a_filter_it_cannot_read_rather_than_widen_it(host_user: User) -> None:
    MinerFactory.create_batch(2)

    response = _as(host_user).post(
        "/hosting/host/devices/batch", {"scope": "filter", "action": "stop", "filter": "status=bogus"}
    )

    assert response.headers["Location"] == "/hosting/host/devices?status=bogus"
    assert "filter is not valid" in str(next(iter(get_messages(response.wsgi_request))))
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_batch_power_target_needs_watts_and_writes_nothing_without_them(host_user: User) -> None:
    miner = MinerFactory.create()
    browser = _as(host_user)

    response = browser.post(
        "/hosting/host/devices/batch",
        {"scope": "selected", "miner": [miner.pk], "action": "power_target", "filter": "site=1"},
    )

    assert response.headers["Location"] == "/hosting/host/devices?site=1"
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["A power target needs the watts."]
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_batch_without_a_ticked_miner_says_so_and_writes_nothing(host_user: User) -> None:
    MinerFactory.create()

    response = _as(host_user).post("/hosting/host/devices/batch", {"scope": "selected", "action": "stop"})

    assert response.headers["Location"] == "/hosting/host/devices"
    assert "Tick at least one miner" in str(next(iter(get_messages(response.wsgi_request))))
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_batch_route_refuses_clients_and_sends_visitors_to_sign_in(client_user: User) -> None:
    miner = MinerFactory.create(customer=client_user.customer)
    form = {"scope": "selected", "miner": [miner.pk], "action": "stop"}

    as_client = _as(client_user).post("/hosting/host/devices/batch", form)
    as_visitor = Client().post("/hosting/host/devices/batch", form)
    status = _as(client_user).get("/hosting/host/devices/batch/status?id=x")

    assert (as_client.status_code, status.status_code) == (403, 403)
    assert as_visitor.status_code == 302
    assert as_visitor.headers["Location"].startswith("/accounts/login/")
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_batch_status_reports_counts_and_answers_404_for_an_unknown_batch(host_user: User) -> None:
    miners = MinerFactory.create_batch(3)
    batch = miner_batch_create(
        miner_ids=[m.pk for m in miners], action="start", parameters={}, requested_by=host_user, now=NOW
    )
    MinerOperation.objects.filter(miner=miners[0]).update(outcome="ok", finished_at=NOW)
    MinerOperation.objects.filter(miner=miners[1]).update(outcome="refused", finished_at=NOW)
    browser = _as(host_user)

    status = browser.get(f"/hosting/host/devices/batch/status?id={batch.batch_id}").json()
    unknown = browser.get("/hosting/host/devices/batch/status?id=feedface")

    assert status == {
        "batch": batch.batch_id,
        "action": "start",
        "total": 3,
        "done": 2,
        "ok": 1,
        "failed": 1,
        "percent": 67,
        "finished": False,
    }
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_batch_page_lists_each_miners_result_and_the_recent_batches(
    host_user: User, django_assert_max_num_queries: object
) -> None:
    miners = MinerFactory.create_batch(2, rack="R7")
    batch = miner_batch_create(
        miner_ids=[m.pk for m in miners], action="stop", parameters={}, requested_by=host_user, now=NOW
    )
    MinerOperation.objects.filter(miner=miners[0]).update(outcome="ok", response='{"Msg":"Pause"}', finished_at=NOW)
    browser = _as(host_user)

    with django_assert_max_num_queries(8):  # type: ignore[operator]
        one = browser.get(f"/hosting/host/devices/batch?id={batch.batch_id}")
    recent = browser.get("/hosting/host/devices/batch")
    missing = browser.get("/hosting/host/devices/batch?id=feedface")

    assert [op.outcome for op in one.context["progress"].operations] == ["ok", REQUESTED]
    assert "{&quot;Msg&quot;:&quot;Pause&quot;}" in one.text
    assert 'style="width: 50%"' in one.text
    assert [b.batch_id for b in recent.context["recent"]] == [batch.batch_id]
    assert missing.status_code == 404


# ---------------------------------------------------------------- a real worker


@pytest.fixture
def private_worker() -> Iterator[str]:
    with celery_private_worker(task="hosting.miner_batch", name="miner-batch") as queue:
        yield queue


@pytest.mark.django_db(transaction=True)
def test_batch_runs_on_a_real_worker_and_the_status_endpoint_follows_it(
    whatsminers: tuple[RunningFleet, list[Miner]], host_user: User, private_worker: str
) -> None:
    fleet, miners = whatsminers
    browser = _as(host_user)

    response = browser.post(
        "/hosting/host/devices/batch", {"scope": "selected", "miner": [m.pk for m in miners], "action": "stop"}
    )
    batch_id = _batch_id(response)
    status: dict[str, object] = {}
    deadline = time.monotonic() + 30
    while not status.get("finished") and time.monotonic() < deadline:
        status = browser.get(f"/hosting/host/devices/batch/status?id={batch_id}").json()
        time.sleep(0.1)

    assert (status["finished"], status["ok"], status["failed"]) == (True, 3, 0)
    assert [fleet.truth(m.ip).mining for m in miners] == [False, False, False]


# ---------------------------------------------------------------- back office


@pytest.mark.django_db
def test_admin_stop_action_stops_the_selected_miners_and_reports_each(
    whatsminers: tuple[RunningFleet, list[Miner]], owner_user: User
) -> None:
    fleet, miners = whatsminers
    fleet.set_fault(miners[2].ip, Fault(FaultKind.OFFLINE))

    response = _as(owner_user).post(
        "/admin/hosting/miner/",
        {"action": "stop_miners", "_selected_action": [m.pk for m in miners]},
        follow=True,
    )

    shown = [str(m) for m in response.context["messages"]]
    assert shown[0].startswith("Stop / sleep sent to 3 miner(s): 2 done, 1 failed.")
    assert sorted(line.split(": ")[1].split(" ")[0] for line in shown[1:]) == ["ok", "ok", "refused"]
    assert [fleet.truth(m.ip).mining for m in miners[:2]] == [False, False]
    assert MinerOperation.objects.filter(requested_by=owner_user).count() == 3


@pytest.mark.django_db
def test_admin_miner_list_shows_the_latest_reading(owner_user: User) -> None:
    miner = MinerFactory.create()
    MinerLatest.objects.create(
        miner=miner, recorded_at=NOW, outcome=PollOutcome.OK, hashrate_ths=109.46, power_w=3251, chip_temp_max_c=71.6
    )

    page = _as(owner_user).get("/admin/hosting/miner/").text

    assert "109.5" in page
    assert "3251" in page
    assert "2026-11-23 10:00:00" in page


@pytest.mark.django_db
def test_admin_acknowledge_action_acknowledges_open_alerts_through_the_service(owner_user: User) -> None:
    miner = MinerFactory.create()
    alert = Alert.objects.create(
        site=miner.site, miner=miner, kind=AlertKind.OFFLINE, message="down", opened_at=timezone.now()
    )

    browser = _as(owner_user)

    listed = browser.get("/admin/hosting/alert/?status__exact=open")
    browser.post("/admin/hosting/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()

    assert [a.pk for a in listed.context["cl"].result_list] == [alert.pk]
    assert (alert.status, alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, owner_user)


@pytest.mark.django_db
def test_admin_operation_log_is_searchable_and_read_only(owner_user: User) -> None:
    site = SiteFactory.create()
    wanted, other = MinerFactory.create(site=site, ip="127.9.9.9"), MinerFactory.create(site=site)
    for miner in (wanted, other):
        MinerOperation.objects.create(miner=miner, action="stop", requested_at=NOW, outcome="ok", response="done")
    browser = _as(owner_user)

    found = browser.get("/admin/hosting/mineroperation/?q=127.9.9.9")
    add = browser.get("/admin/hosting/mineroperation/add/")

    assert [op.miner_id for op in found.context["cl"].result_list] == [wanted.pk]
    assert add.status_code == 403


# ---------------------------------------------------------------- the pages in Chromium


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_batch_page_in_chromium_follows_a_running_batch_to_its_results(
    live_server: LiveServer, emulated_fleet: FleetFactory, host_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    braiins, whatsminer = (
        emulated_fleet(count=4, model_key="braiins-s19j-pro"),
        emulated_fleet(count=3, model_key="whatsminer-m50"),
    )
    miners = register(braiins, site=SiteFactory.create(name="North hall")) + register(whatsminer)
    braiins.set_fault(miners[1].ip, Fault(FaultKind.OFFLINE))
    batch = miner_batch_create(
        miner_ids=[m.pk for m in miners], action="stop", parameters={}, requested_by=host_user, now=timezone.now()
    )
    # Half the answers are in when the operator opens the page.
    MinerOperation.objects.filter(miner__in=miners[4:]).update(outcome="ok", response="{}", finished_at=timezone.now())
    ARTIFACTS.mkdir(exist_ok=True)

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": _session(host_user), "url": live_server.url}]
        )
        page: Page = context.new_page()
        page.goto(f"{live_server.url}/hosting/host/devices")
        page.check(f'input[name="miner"][value="{miners[0].pk}"]')
        page.check(f'input[name="miner"][value="{miners[2].pk}"]')
        selected = page.locator("[data-selected-count]").inner_text()
        page.screenshot(path=str(ARTIFACTS / "device_list_batch.png"), full_page=True)
        page.goto(f"{live_server.url}/hosting/host/devices/batch?id={batch.batch_id}")
        running_bar = page.locator("[data-batch-bar]").inner_text()
        page.screenshot(path=str(ARTIFACTS / "device_batch_running.png"), full_page=True)
        miner_batch_run(batch_id=batch.batch_id, now=timezone.now())  # the worker's part
        page.wait_for_selector("text=Finished", timeout=15_000)  # the poll saw it end and reloaded
        page.screenshot(path=str(ARTIFACTS / "device_batch_finished.png"), full_page=True)
        outcomes = page.locator("#batch-results tbody tr td:nth-child(4)").all_inner_texts()

    assert selected == "2"
    assert running_bar == "43%"
    assert sorted(o.strip() for o in outcomes) == ["ok"] * 6 + ["refused"]


def _session(user: User) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value
