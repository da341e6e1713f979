"""The host operations dashboard and the /main landing: who may open them, the figures on known data,
the rack map, the alert feed and its acknowledgement, the curtailment state, and the empty states."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from hosting.choices import (
    AlertKind,
    AlertStatus,
    CurtailmentAction,
    CurtailmentSource,
    CurtailmentStatus,
    CurtailmentStep,
    CurtailmentStrategy,
    CurtailmentTargetKind,
    MinerStatus,
)
from hosting.live.scopes import live_scope_authorize
from hosting.live.snapshots import live_snapshot
from hosting.models import Alert, CurtailmentPlan, CurtailmentPlanMiner, Miner, MinerLatest, Site
from hosting.page_selectors_dashboard import host_dashboard
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.models import User

PAGE = "/hosting/dashboard"


def _as(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _miner(
    site: Site,
    *,
    rack: str,
    position: str,
    status: str,
    now: datetime,
    outcome: str | None = "ok",
    hashrate: float | None = None,
    power_w: int | None = None,
    chip_c: float | None = None,
    sleeping: bool = False,
    nominal_power_w: int = 3250,
) -> Miner:
    miner = MinerFactory.create(site=site, rack=rack, position=position, status=status, nominal_power_w=nominal_power_w)
    if outcome is not None:
        MinerLatest.objects.create(
            miner=miner,
            recorded_at=now,
            outcome=outcome,
            hashrate_ths=hashrate,
            power_w=power_w,
            chip_temp_max_c=chip_c,
            is_sleeping=sleeping,
        )
    return miner


@dataclass(frozen=True)
class Hall:
    site: Site
    hashing: Miner  # R1/2, 100 TH/s at 3000 W, 70 °C
    hot: Miner  # R1/10, stock firmware (no power figure), 88 °C
    asleep: Miner  # R1/1, asleep
    offline: Miner  # R2/1
    parked: Miner  # R2/2, maintenance
    unpolled: Miner  # no rack, never polled
    curtailed: Miner  # R10/1, off under a running plan
    plan: CurtailmentPlan


def _plan(site: Site, miner: Miner, *, now: datetime) -> CurtailmentPlan:
    plan = CurtailmentPlan.objects.create(
        site=site,
        target_kind=CurtailmentTargetKind.SHED_KW,
        target_value=Decimal("3"),
        strategy=CurtailmentStrategy.OPTIMAL,
        status=CurtailmentStatus.EXECUTED,
        source=CurtailmentSource.PAGE,
        scheduled_start=now - timedelta(minutes=20),
        executed_at=now - timedelta(minutes=20),
        recover_at=now + timedelta(minutes=40),
        created_at=now - timedelta(minutes=30),
        planned_shed_kw=Decimal("3.2"),
        measured_shed_kw=Decimal("3.1"),
        ramp_kw_per_minute=Decimal("50"),
    )
    CurtailmentPlanMiner.objects.create(
        plan=plan,
        miner=miner,
        action=CurtailmentAction.OFF,
        planned_power_change_w=-3200,
        planned_hashrate_change_ths=Decimal("-95"),
        command_step=CurtailmentStep.CONFIRMED,
    )
    return plan


@pytest.fixture
def hall(db: None) -> Hall:
    now = timezone.now()
    site = SiteFactory.create(name="North Farm", power_capacity_kw=Decimal("40"), max_temp_c=Decimal("85"))
    curtailed = _miner(
        site,
        rack="R10",
        position="1",
        status=MinerStatus.STOPPED,
        now=now,
        hashrate=0.0,
        power_w=15,
        chip_c=45.0,
        sleeping=True,
    )
    return Hall(
        site=site,
        hashing=_miner(
            site, rack="R1", position="2", status=MinerStatus.ONLINE, now=now, hashrate=100.0, power_w=3000, chip_c=70.0
        ),
        hot=_miner(
            site,
            rack="R1",
            position="10",
            status=MinerStatus.ONLINE,
            now=now,
            hashrate=110.0,
            power_w=None,
            chip_c=88.0,
        ),
        asleep=_miner(
            site,
            rack="R1",
            position="1",
            status=MinerStatus.STOPPED,
            now=now,
            hashrate=0.0,
            power_w=20,
            chip_c=40.0,
            sleeping=True,
        ),
        offline=_miner(site, rack="R2", position="1", status=MinerStatus.OFFLINE, now=now, outcome="refused"),
        parked=_miner(
            site,
            rack="R2",
            position="2",
            status=MinerStatus.MAINTENANCE,
            now=now,
            hashrate=90.0,
            power_w=3100,
            chip_c=80.0,
        ),
        unpolled=_miner(site, rack="", position="", status=MinerStatus.UNKNOWN, now=now, outcome=None),
        curtailed=curtailed,
        plan=_plan(site, curtailed, now=now),
    )


# --- Who may open what ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_sends_anonymous_visitors_to_sign_in() -> None:
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/hosting/dashboard"


@pytest.mark.django_db
def test_dashboard_refuses_a_client(client_user: User) -> None:
    response = _as(client_user).get(PAGE)

    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.HOST])
def test_dashboard_opens_for_operators(role: Role, role_users: dict[str, User], hall: Hall) -> None:
    response = _as(role_users[role]).get(PAGE)

    assert response.status_code == 200
    assert response.context["site"] == hall.site
    assert 'data-live-state="connecting"' in response.text


@pytest.mark.django_db
def test_main_sends_anonymous_visitors_to_sign_in_and_back_to_main() -> None:
    response = Client().get("/main")

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/main"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "target"),
    [
        (Role.OWNER, "/hosting/dashboard"),
        (Role.ADMIN, "/hosting/dashboard"),
        (Role.HOST, "/hosting/dashboard"),
        (Role.CLIENT, "/hosting/client/dashboard"),
    ],
)
def test_main_lands_each_role_on_its_own_dashboard(role: Role, target: str, role_users: dict[str, User]) -> None:
    response = _as(role_users[role]).get("/main")

    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_navigation_lists_the_dashboard_first_for_every_role(role: Role, role_users: dict[str, User]) -> None:
    response = _as(role_users[role]).get("/")

    links = response.text.split('class="navbar-nav')[1].split("</ul>")[0]
    assert links.index('href="/main"') < links.index("nav-item", links.index("nav-item") + 1)
    assert "Dashboard" in links


@pytest.mark.django_db
def test_navigation_has_no_dashboard_for_anonymous_visitors() -> None:
    response = Client().get("/")

    assert 'href="/main"' not in response.text.split('class="navbar-nav')[1].split("</ul>")[0]


# --- Figures on known data ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_summary_adds_up_the_miners_that_answered(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    dashboard = response.context["dashboard"]
    summary = dashboard.summary
    # Hashing 100 + 110 + the parked miner's last 90 TH/s; power as reported: 3000 + 20 + 3100 + 15 W, and
    # the stock-firmware miner, which reports none, at its nominal 3250 W.
    assert summary["hashrate_ths"] == pytest.approx(300.0)
    assert summary["power_kw"] == pytest.approx(9.385)
    assert summary["efficiency_j_th"] == pytest.approx(31.28)
    assert dashboard.load_pct == pytest.approx(9.385 / 40 * 100)
    counts = [summary[name] for name in ("miners", "online", "offline", "sleeping", "curtailed", "maintenance")]
    assert counts == [7, 2, 1, 2, 1, 1]
    assert summary["unknown"] == 1


@pytest.mark.django_db
def test_dashboard_figures_are_the_sites_live_snapshot(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    snapshot = live_snapshot(scope=live_scope_authorize(user_id=host_user.pk, kind="site", scope_id=hall.site.pk))
    dashboard = response.context["dashboard"]
    assert dashboard.summary == snapshot.payload["summary"]
    assert sorted(cell.row["id"] for rack in dashboard.racks for cell in rack.cells) == sorted(
        row["id"] for row in snapshot.payload["miners"]
    )
    assert response.context["live_config"] == {
        "site_id": hall.site.pk,
        "seq": snapshot.seq,
        "max_temp_c": 85.0,
        "default_range": "6h",
    }


@pytest.mark.django_db
def test_dashboard_renders_the_figures(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    body = response.text
    assert '<span data-figure="hashrate_ths">300.0</span>' in body
    assert '<span data-figure="power_kw">9.4</span>' in body
    assert '<span data-figure="efficiency_j_th">31.3</span>' in body
    assert '<span data-figure="load_pct">23</span>' in body
    assert 'style="width: 23%"' in body
    assert '<span data-count="online">2</span>' in body
    assert '<span data-count="miners">7</span>' in body
    for name, count in (("offline", 1), ("sleeping", 2), ("curtailed", 1), ("maintenance", 1), ("unknown", 1)):
        assert f'<span data-count="{name}">{count}</span>' in body


@pytest.mark.django_db
def test_rack_map_groups_miners_by_rack_in_position_order_and_links_each_to_its_page(
    host_user: User, hall: Hall
) -> None:
    response = _as(host_user).get(PAGE)

    racks = response.context["dashboard"].racks
    assert [rack.name for rack in racks] == ["R1", "R2", "R10", "Unracked"]
    assert [cell.id for cell in racks[0].cells] == [hall.asleep.pk, hall.hashing.pk, hall.hot.pk]
    assert f'href="/hosting/miners/{hall.hot.pk}" data-miner="{hall.hot.pk}"' in response.text


@pytest.mark.django_db
def test_rack_map_cells_carry_their_status_and_temperature_band(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    cells = {cell.id: cell for rack in response.context["dashboard"].racks for cell in rack.cells}
    expected = {
        hall.hashing.pk: ("online", "normal"),
        hall.hot.pk: ("online", "hot"),
        hall.asleep.pk: ("sleeping", "cool"),
        hall.offline.pk: ("offline", "none"),
        hall.parked.pk: ("maintenance", "none"),  # its 80 °C is from before it was parked
        hall.unpolled.pk: ("unknown", "none"),
        hall.curtailed.pk: ("curtailed", "cool"),
    }
    assert {pk: (cell.state, cell.temp_band) for pk, cell in cells.items()} == expected
    assert f'data-miner="{hall.hot.pk}" data-state="online" data-band="hot"' in response.text
    assert f"R1/10 · {hall.hot.ip} · " in cells[hall.hot.pk].title


@pytest.mark.django_db
def test_dashboard_queries_stay_bounded(
    host_user: User, hall: Hall, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    browser = _as(host_user)
    for index in range(30):
        MinerFactory.create(site=hall.site, rack="R3", position=str(index + 1))

    with django_assert_max_num_queries(12):  # a fixed number, whatever the miner count
        response = browser.get(PAGE)

    assert response.context["dashboard"].summary["miners"] == 37


# --- Sites ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_defaults_to_the_first_site_by_name_and_picks_another_by_id(host_user: User, hall: Hall) -> None:
    first = SiteFactory.create(name="Alpha Hall")
    browser = _as(host_user)

    default = browser.get(PAGE)
    picked = browser.get(PAGE, {"site": hall.site.pk})

    assert default.context["site"] == first
    assert picked.context["site"] == hall.site
    assert f'<option value="{hall.site.pk}" selected>North Farm</option>' in picked.text


@pytest.mark.django_db
def test_dashboard_answers_404_for_a_site_that_does_not_exist(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE, {"site": hall.site.pk + 1000})

    assert response.status_code == 404


@pytest.mark.django_db
def test_dashboard_without_sites_says_where_to_add_one(admin_user: User) -> None:
    admin_user.is_staff = True
    admin_user.save()

    response = _as(admin_user).get(PAGE)

    assert 'data-empty="sites"' in response.text
    assert 'href="/admin/hosting/site/add/"' in response.text
    assert "dashboard-config" not in response.text


@pytest.mark.django_db
def test_dashboard_of_a_site_without_miners_says_where_to_add_them(host_user: User) -> None:
    site = SiteFactory.create(name="Empty Hall")

    response = _as(host_user).get(PAGE)

    assert response.context["site"] == site
    assert 'data-empty="miners"' in response.text
    assert "No miners at Empty Hall yet" in response.text
    assert 'id="rack-map"' not in response.text
    assert 'id="kpis"' not in response.text


# --- Alerts ---------------------------------------------------------------------------------------------


def _alert(miner: Miner, *, kind: str, status: str, opened_at: datetime) -> Alert:
    return Alert.objects.create(
        site=miner.site,
        miner=miner,
        kind=kind,
        status=status,
        message=f"{kind} on {miner.ip}",
        opened_at=opened_at,
        acknowledged_at=opened_at if status == AlertStatus.ACKNOWLEDGED else None,
        resolved_at=opened_at if status == AlertStatus.RESOLVED else None,
    )


@pytest.mark.django_db
def test_alert_feed_lists_open_and_acknowledged_alerts_of_the_site_newest_first(host_user: User, hall: Hall) -> None:
    now = timezone.now()
    older = _alert(
        hall.hot, kind=AlertKind.CHIP_TEMP_HIGH, status=AlertStatus.OPEN, opened_at=now - timedelta(minutes=10)
    )
    newer = _alert(
        hall.offline, kind=AlertKind.OFFLINE, status=AlertStatus.ACKNOWLEDGED, opened_at=now - timedelta(minutes=5)
    )
    _alert(hall.hashing, kind=AlertKind.FAN_STOPPED, status=AlertStatus.RESOLVED, opened_at=now)
    _alert(MinerFactory.create(), kind=AlertKind.OFFLINE, status=AlertStatus.OPEN, opened_at=now)

    response = _as(host_user).get(PAGE, {"site": hall.site.pk})

    dashboard = response.context["dashboard"]
    assert [alert.id for alert in dashboard.alerts] == [newer.pk, older.pk]
    assert dashboard.open_alerts == 1
    assert response.text.count("data-ack=") == 1
    assert f'data-ack="{older.pk}"' in response.text


@pytest.mark.django_db
def test_alert_feed_says_when_nothing_is_open(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    assert 'class="card-body text-center small text-body-secondary" data-empty="alerts"' in response.text


@pytest.fixture
def open_alert(hall: Hall) -> Alert:
    return _alert(hall.hot, kind=AlertKind.CHIP_TEMP_HIGH, status=AlertStatus.OPEN, opened_at=timezone.now())


def _ack_url(alert: Alert) -> str:
    return f"/hosting/alerts/{alert.pk}/acknowledge"


@pytest.mark.django_db
def test_acknowledge_marks_an_open_alert_and_answers_it_in_json(host_user: User, open_alert: Alert) -> None:
    response = _as(host_user).post(_ack_url(open_alert))

    assert response.status_code == 200
    body = response.json()["alert"]
    assert (body["id"], body["status"], body["kind"]) == (open_alert.pk, "acknowledged", "chip_temp_high")
    assert body["acknowledged_at"] is not None
    open_alert.refresh_from_db()
    assert (open_alert.status, open_alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, host_user)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED])
def test_acknowledge_refuses_an_alert_that_is_not_open(host_user: User, hall: Hall, status: str) -> None:
    alert = _alert(hall.hot, kind=AlertKind.CHIP_TEMP_HIGH, status=status, opened_at=timezone.now())

    response = _as(host_user).post(_ack_url(alert))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert f"is {status}; only open alerts can be acknowledged" in response.json()["error"]["message"]
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == (status, None)


@pytest.mark.django_db
def test_acknowledge_answers_404_for_an_alert_that_does_not_exist(host_user: User) -> None:
    response = _as(host_user).post("/hosting/alerts/999999/acknowledge")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_acknowledge_refuses_a_client(client_user: User, open_alert: Alert) -> None:
    response = _as(client_user).post(_ack_url(open_alert))

    assert response.status_code == 403
    open_alert.refresh_from_db()
    assert open_alert.status == AlertStatus.OPEN


@pytest.mark.django_db
def test_acknowledge_sends_anonymous_visitors_to_sign_in(open_alert: Alert) -> None:
    response = Client().post(_ack_url(open_alert))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")
    open_alert.refresh_from_db()
    assert open_alert.status == AlertStatus.OPEN


@pytest.mark.django_db
def test_acknowledge_requires_the_csrf_token(host_user: User, open_alert: Alert) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(host_user)

    response = browser.post(_ack_url(open_alert))

    assert response.status_code == 403
    open_alert.refresh_from_db()
    assert open_alert.status == AlertStatus.OPEN


@pytest.mark.django_db
def test_acknowledge_accepts_only_post(host_user: User, open_alert: Alert) -> None:
    response = _as(host_user).get(_ack_url(open_alert))

    assert response.status_code == 405


# --- Curtailment ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_shows_the_running_plan_with_planned_and_measured_shed(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    card = response.text.split('id="curtailment-card"')[1]
    assert f'href="/hosting/curtailment/{hall.plan.pk}"' in card
    assert 'data-plan-figure="planned">3.2 kW' in card
    assert "3.1 kW" in card.split('data-plan-figure="measured"')[1].split("</dd>")[0]
    assert f"{hall.plan.recover_at:%b} {hall.plan.recover_at.day}" in card


@pytest.mark.django_db
def test_dashboard_says_when_nothing_is_curtailed(host_user: User) -> None:
    site = SiteFactory.create(name="Quiet Farm")
    MinerFactory.create(site=site, rack="A", position="1")

    response = _as(host_user).get(PAGE)

    assert 'data-empty="curtailment"' in response.text
    assert response.context["dashboard"].curtailment.active == ()


@pytest.mark.django_db
def test_dashboard_matches_the_selector_for_the_same_site(host_user: User, hall: Hall) -> None:
    response = _as(host_user).get(PAGE)

    scope = live_scope_authorize(user_id=host_user.pk, kind="site", scope_id=hall.site.pk)
    expected = host_dashboard(scope=scope, site=hall.site, now=timezone.now())
    shown = response.context["dashboard"]
    assert shown.summary == expected.summary
    assert shown.racks == expected.racks
    assert shown.alerts == expected.alerts
