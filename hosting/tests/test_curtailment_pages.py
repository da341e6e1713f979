"""The curtailment page: who may open it, what it shows per site, the preview, plans made from it, and
the site's power around an event."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from hosting.choices import CurtailmentSource, CurtailmentStatus, Firmware, MinerStatus
from hosting.models import CurtailmentPlan, Miner, MinerLatest, Site
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create
from hosting.services.telemetry_ingest import telemetry_store
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.models import User

PAGE = "/hosting/curtailment"
STRATEGIES = ("performance_priority", "optimal", "partial", "customer_aware")


def add_miner(
    site: Site,
    *,
    power_w: int,
    hashrate: float,
    firmware: str = Firmware.BRAIINS_OS,
    age_s: float = 30,
    now: datetime | None = None,
    **fields: object,
) -> Miner:
    """An online miner with a fresh reading (what the planner plans on)."""
    miner = MinerFactory.create(
        site=site, firmware=firmware, status=fields.pop("status", MinerStatus.ONLINE), nominal_power_w=power_w, **fields
    )
    MinerLatest.objects.create(
        miner=miner,
        recorded_at=(now or timezone.now()) - timedelta(seconds=age_s),
        outcome="ok",
        hashrate_ths=hashrate,
        power_w=power_w,
        chip_temp_max_c=70.0,
        is_sleeping=False,
    )
    return miner


def farm(name: str = "North Farm") -> tuple[Site, list[Miner]]:
    """A site of six 3.5 kW miners from 50 to 150 TH/s, all reporting."""
    site = SiteFactory.create(name=name, location="Texas", power_capacity_kw=Decimal("40"))
    miners = [add_miner(site, power_w=3500, hashrate=float(h)) for h in (50, 70, 90, 110, 130, 150)]
    return site, miners


def make_plan(
    site: Site, *, kw: str = "7", status: str = CurtailmentStatus.PENDING, **fields: object
) -> CurtailmentPlan:
    """A plan made by the plan service, then moved to `status` as the executor would have left it."""
    now = timezone.now()
    plan = curtailment_plan_create(
        request=CurtailmentRequest(
            site=site,
            target_kind="shed_kw",
            target_value=Decimal(kw),
            strategy="optimal",
            starts_at=now + timedelta(minutes=30),
            recover_at=now + timedelta(hours=2),
            source=CurtailmentSource.PAGE,
        ),
        now=now,
    )
    if status != CurtailmentStatus.PENDING or fields:
        CurtailmentPlan.objects.filter(pk=plan.pk).update(status=status, **fields)
        plan.refresh_from_db()
    return plan


def _as(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _preview_query(site: Site, **changes: str) -> dict[str, str]:
    query = {
        "preview": "1",
        "site": str(site.pk),
        "target_kind": "shed_kw",
        "target_value": "7",
        "strategy": "optimal",
        "start": "now",
        "end": "duration",
        "duration_minutes": "90",
    }
    query.update(changes)
    return query


@pytest.mark.django_db
def test_curtailment_page_sends_anonymous_visitors_to_sign_in() -> None:
    response = Client().get(PAGE)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_curtailment_page_refuses_a_client(client_user: User) -> None:
    response = _as(client_user).get(PAGE)

    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.HOST])
def test_curtailment_page_opens_for_operators_and_is_in_their_navigation(
    role: Role, role_users: dict[str, User]
) -> None:
    response = _as(role_users[role]).get(PAGE)

    assert response.status_code == 200
    assert b'href="/hosting/curtailment"' in response.content
    assert "Curtailment" in response.content.decode()


@pytest.mark.django_db
def test_curtailment_page_without_sites_says_what_to_do_first(host_user: User) -> None:
    response = _as(host_user).get(PAGE)

    body = response.content.decode()
    assert 'data-empty="sites"' in body
    assert "Add a site and its miners in the back office" in body


@pytest.mark.django_db
def test_curtailment_page_shows_each_sites_draw_and_its_active_plans_with_their_actions(host_user: User) -> None:
    site, _miners = farm()
    quiet = SiteFactory.create(name="Quiet Farm")
    pending = make_plan(site, kw="3")
    running = make_plan(
        site,
        kw="3",
        status=CurtailmentStatus.EXECUTED,
        executed_at=timezone.now() - timedelta(minutes=5),
        measured_shed_kw=Decimal("2.4"),
    )

    response = _as(host_user).get(PAGE)

    body = response.content.decode()
    assert response.status_code == 200
    # Six reporting 3.5 kW miners: 21 kW now.
    assert f'data-site="{site.pk}"' in body
    assert "<strong data-site-power>21.0</strong>" in body
    assert f'action="/hosting/curtailment/{pending.pk}/cancel"' in body
    assert f'action="/hosting/curtailment/{pending.pk}/recover-now"' not in body
    assert f'action="/hosting/curtailment/{running.pk}/recover-now"' in body
    assert f'action="/hosting/curtailment/{running.pk}/cancel"' not in body
    # 2.4 kW measured of 3 asked falls short, and says so.
    assert "80" in body.split(f'id="plan-{running.pk}"')[1].split("</tr>")[0]
    assert f'data-site="{quiet.pk}"' in body
    assert body.count('data-empty="active"') == 1
    assert 'data-empty="history"' in body


@pytest.mark.django_db
def test_preview_shows_every_strategy_side_by_side_and_stores_nothing(host_user: User) -> None:
    site, miners = farm()

    response = _as(host_user).get(PAGE, _preview_query(site))

    body = response.content.decode()
    assert response.status_code == 200
    for strategy in STRATEGIES:
        assert f'data-strategy="{strategy}"' in body
        assert f'data-miners="{strategy}"' in body
        assert f'data-start="{strategy}"' in body
    # 7 kW from 3.5 kW miners: two of them; the optimal pick is the two least productive (50 + 70 TH/s).
    assert body.count('data-figure="shed_kw"><span class="fs-6 fw-semibold">7.0</span>') == 4
    optimal = body.split('data-miners="optimal"')[1].split("</ul>")[0]
    assert f"{miners[0].ip}:{miners[0].port}" in optimal
    assert f"{miners[1].ip}:{miners[1].port}" in optimal
    assert f"{miners[5].ip}:{miners[5].port}" not in optimal
    # Starting now posts to the trigger.
    assert 'action="/hosting/curtailment/trigger"' in body
    assert CurtailmentPlan.objects.count() == 0


@pytest.mark.django_db
def test_preview_with_a_target_of_nothing_names_the_field(host_user: User) -> None:
    site, _miners = farm()

    response = _as(host_user).get(PAGE, _preview_query(site, target_value="0"))

    assert response.status_code == 400
    assert 'data-error="target_value"' in response.content.decode()
    assert 'id="preview-table"' not in response.content.decode()


@pytest.mark.django_db
def test_preview_to_start_later_offers_to_schedule(host_user: User) -> None:
    site, _miners = farm()
    later = (timezone.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")

    response = _as(host_user).get(PAGE, _preview_query(site, start="later", starts_at=later))

    body = response.content.decode()
    assert 'action="/hosting/curtailment/plans"' in body
    assert f'name="starts_at" value="{later}"' in body


@pytest.mark.django_db
def test_plan_scheduled_from_the_page_is_pending_from_its_start_with_its_miners(host_user: User) -> None:
    site, _miners = farm()
    later = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)

    response = _as(host_user).post(
        f"{PAGE}/plans",
        {
            "site": site.pk,
            "target_kind": "shed_kw",
            "target_value": "7",
            "strategy": "performance_priority",
            "start": "later",
            "starts_at": later.strftime("%Y-%m-%dT%H:%M"),
            "end": "duration",
            "duration_minutes": "45",
        },
    )

    plan = CurtailmentPlan.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"{PAGE}#plan-{plan.pk}"
    assert (plan.status, plan.source, plan.strategy) == ("pending", "page", "performance_priority")
    assert plan.scheduled_start == later
    assert plan.recover_at == later + timedelta(minutes=45)
    assert plan.created_by == host_user
    assert plan.planned_shed_kw == Decimal("7.000")
    assert plan.plan_miners.count() == 2


@pytest.mark.django_db
def test_plan_with_its_recovery_before_its_start_names_the_field_and_stores_nothing(host_user: User) -> None:
    site, _miners = farm()
    start = timezone.now() + timedelta(hours=3)

    response = _as(host_user).post(
        f"{PAGE}/plans",
        {
            "site": site.pk,
            "target_kind": "shed_kw",
            "target_value": "7",
            "strategy": "optimal",
            "start": "later",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "end": "until",
            "recover_at": (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert response.status_code == 400
    assert 'data-error="recover_at"' in response.content.decode()
    assert "must be after the start" in response.content.decode()
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_plan_form_asks_for_the_start_time_when_starting_later(host_user: User) -> None:
    site, _miners = farm()

    response = _as(host_user).post(
        f"{PAGE}/plans",
        {
            "site": site.pk,
            "target_kind": "shed_kw",
            "target_value": "7",
            "strategy": "optimal",
            "start": "later",
            "end": "duration",
            "duration_minutes": "45",
        },
    )

    assert response.status_code == 400
    assert 'data-error="starts_at"' in response.content.decode()
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_plan_routes_refuse_a_client(client_user: User) -> None:
    site, _miners = farm()
    plan = make_plan(site)
    client = _as(client_user)

    responses = [
        client.post(f"{PAGE}/plans", {"site": site.pk, "target_kind": "shed_kw", "target_value": "7"}),
        client.post(f"{PAGE}/{plan.pk}/cancel"),
        client.post(f"{PAGE}/{plan.pk}/recover-now"),
        client.get(f"{PAGE}/{plan.pk}"),
        client.get(f"{PAGE}/{plan.pk}/power"),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert CurtailmentPlan.objects.get().status == CurtailmentStatus.PENDING


@pytest.mark.django_db
def test_history_lists_finished_plans_with_planned_and_measured_shed(host_user: User) -> None:
    site, _miners = farm()
    done = make_plan(
        site,
        status=CurtailmentStatus.RECOVERED,
        executed_at=timezone.now() - timedelta(hours=2),
        finished_at=timezone.now() - timedelta(hours=1),
        measured_shed_kw=Decimal("7.2"),
        measured_hashrate_lost_ths=Decimal("118.5"),
    )
    cancelled = make_plan(site, status=CurtailmentStatus.CANCELLED, finished_at=timezone.now())

    response = _as(host_user).get(PAGE)

    history = response.content.decode().split('id="history-table"')[1]
    done_row = history.split(f'id="plan-{done.pk}"')[1].split("</tr>")[0]
    assert "7.0 kW" in done_row  # planned
    assert "7.2 kW" in done_row  # measured
    assert "118.5" in done_row
    assert f'data-chart-toggle="{done.pk}"' in done_row
    cancelled_row = history.split(f'id="plan-{cancelled.pk}"')[1].split("</tr>")[0]
    assert "not measured" in cancelled_row
    assert "data-chart-toggle" not in cancelled_row


@pytest.mark.django_db
def test_plan_detail_lists_its_miners_before_the_plan_starts(host_user: User) -> None:
    site, miners = farm()
    plan = make_plan(site, kw="7")

    response = _as(host_user).get(f"{PAGE}/{plan.pk}")

    body = response.content.decode()
    assert response.status_code == 200
    rows = body.split('id="plan-miners"')[1].split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 2
    assert f"{miners[0].ip}:{miners[0].port}" in body
    assert 'data-empty="chart"' in body  # not started yet


@pytest.mark.django_db
def test_plan_detail_of_an_unknown_plan_is_404(host_user: User) -> None:
    assert _as(host_user).get(f"{PAGE}/999999").status_code == 404


def _poll(site: Site, miners: list[Miner], at: datetime, *, sleeping: set[int]) -> list[TelemetryRow]:
    return [
        TelemetryRow(
            miner_id=m.pk,
            recorded_at=at,
            site_id=site.pk,
            outcome="ok",
            hashrate_ths=0.0 if m.pk in sleeping else 100.0,
            power_w=15 if m.pk in sleeping else 3500,
            is_sleeping=m.pk in sleeping,
        )
        for m in miners
    ]


@pytest.mark.django_db
def test_power_chart_sums_the_sites_draw_per_minute_and_marks_start_and_recovery(host_user: User) -> None:
    site, miners = farm()
    now = timezone.now().replace(second=0, microsecond=0)
    start, recovery = now - timedelta(minutes=50), now - timedelta(minutes=20)
    plan = make_plan(
        site,
        status=CurtailmentStatus.RECOVERED,
        executed_at=start,
        recovery_started_at=recovery,
        finished_at=recovery + timedelta(minutes=2),
        baseline_power_kw=Decimal("21"),
    )
    CurtailmentPlan.objects.filter(pk=plan.pk).update(scheduled_start=start, recover_at=recovery)
    off = {miners[0].pk, miners[1].pk}
    rows: list[TelemetryRow] = []
    for minute in range(-80, 0):
        at = now + timedelta(minutes=minute, seconds=20)
        if minute == -60:
            continue  # a run that drifted past the minute: the previous reading carries over
        rows.extend(_poll(site, miners, at, sleeping=off if start <= at < recovery else set()))
    telemetry_store(rows=rows)

    response = _as(host_user).get(f"{PAGE}/{plan.pk}/power")

    data = response.json()
    assert response.status_code == 200
    assert data["resolution"] == "1m"
    assert [m["kind"] for m in data["markers"]] == ["start", "recovery", "recovered"]
    assert data["markers"][0]["at"] == int(start.timestamp() * 1000)
    # The window runs from 30 min before the start to now (the recovery plus 30 min is later than now).
    assert data["at"][0] == int((start - timedelta(minutes=30)).timestamp() * 1000)
    by_minute = dict(zip(data["at"], data["power_kw"], strict=True))
    before = int((start - timedelta(minutes=5)).timestamp() * 1000)
    during = int((start + timedelta(minutes=10)).timestamp() * 1000)
    skipped = int((now - timedelta(minutes=60)).timestamp() * 1000)
    assert by_minute[before] == 21.0
    assert by_minute[during] == pytest.approx(14.03)  # four at 3.5 kW, two asleep at 15 W
    assert by_minute[skipped] == 21.0
    assert data["baseline_kw"] == 21.0
    assert data["target_kw"] == 14.0


@pytest.mark.django_db
def test_curtailment_page_reads_a_bounded_number_of_queries_however_many_plans(
    host_user: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for name in ("North", "South", "East"):
        site, _miners = farm(name)
        make_plan(site, kw="3")
        make_plan(site, kw="3", status=CurtailmentStatus.EXECUTED, executed_at=timezone.now())
        make_plan(
            site, kw="3", status=CurtailmentStatus.RECOVERED, executed_at=timezone.now(), finished_at=timezone.now()
        )
    page = _as(host_user)

    with django_assert_max_num_queries(10):
        response = page.get(PAGE)

    assert response.status_code == 200
    assert response.content.decode().count('data-action="cancel"') == 3


@pytest.mark.django_db
def test_power_chart_adds_up_shards_polled_apart_even_when_a_run_slips_past_its_minute(host_user: User) -> None:
    site, miners = farm()
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=40)
    plan = make_plan(
        site, status=CurtailmentStatus.EXECUTED, executed_at=start, recovery_started_at=now - timedelta(minutes=5)
    )
    CurtailmentPlan.objects.filter(pk=plan.pk).update(scheduled_start=start, recover_at=now - timedelta(minutes=5))
    first, second = miners[:3], miners[3:]
    slipped = now - timedelta(minutes=45)
    rows: list[TelemetryRow] = []
    for minute in range(-75, 0):
        at = now + timedelta(minutes=minute)
        rows.extend(_poll(site, first, at + timedelta(seconds=10), sleeping=set()))
        if at == slipped:
            continue  # the second shard's run slipped into the next minute, which then has two
        rows.extend(_poll(site, second, at + timedelta(seconds=40), sleeping=set()))
        if at == slipped + timedelta(minutes=1):
            rows.extend(_poll(site, second, at + timedelta(seconds=2), sleeping=set()))
    telemetry_store(rows=rows)

    response = _as(host_user).get(f"{PAGE}/{plan.pk}/power")

    data = response.json()
    # Six 3.5 kW miners in every minute: none missing where a run slipped, none counted twice after.
    assert set(data["power_kw"]) == {21.0}
    assert set(data["miners"]) == {6}
    assert data["at"][0] == int((start - timedelta(minutes=30)).timestamp() * 1000)
    assert len(data["at"]) >= 70  # every minute from 30 min before the start to now
