"""Curtailment over REST: who may call each route, plans made, previewed, cancelled and ended early, the
trigger that starts one at once (against emulated miners), and the demand-response request."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks
from rest_framework.test import APIClient

from hosting.choices import CurtailmentSource, CurtailmentStatus, CurtailmentStep
from hosting.emulator.testing import RunningFleet
from hosting.models import CurtailmentPlan, Site
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect
from hosting.tests.conftest import FleetFactory
from hosting.tests.test_curtailment_pages import farm, make_plan
from mining_platform.core.choices import ApiScope, Role
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

PLANS = "/api/v1/hosting/curtailment/plans/"
PREVIEW = "/api/v1/hosting/curtailment/preview/"
DEMAND = "/api/v1/hosting/curtailment/demand-response/"
TRIGGER = "/hosting/curtailment/trigger"
STRATEGIES = ["performance_priority", "optimal", "partial", "customer_aware"]


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _with_key(owner: User, scopes: list[str]) -> APIClient:
    issued = api_key_issue(owner=owner, name="integration", scopes=scopes, expires_at=None, now=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    return client


def _plan_body(at: Site, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "site": at.pk,
        "target_kind": "shed_kw",
        "target_value": "7",
        "strategy": "optimal",
        "starts_at": (timezone.now() + timedelta(hours=1)).isoformat(),
        "duration_minutes": 60,
    }
    body.update(changes)
    return body


def _demand(at: Site, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "site": at.pk,
        "request_id": "grid-4711",
        "target_kw": "7",
        "deadline": (timezone.now() + timedelta(minutes=30)).isoformat(),
        "start": (timezone.now() + timedelta(minutes=10)).isoformat(),
        "duration_minutes": 60,
    }
    body.update(changes)
    return body


# --- Who may call what --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_plan_list_refuses_anonymous_callers_and_clients(client_user: User) -> None:
    site, _miners = farm()
    make_plan(site)

    anonymous = APIClient().get(PLANS)
    client = _as(client_user).get(PLANS)

    assert anonymous.status_code == 401
    assert client.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.HOST])
def test_plan_list_shows_operators_every_plan_with_its_counts(
    role: Role, role_users: dict[str, User], django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    site, _miners = farm()
    plans = [make_plan(site, kw="3"), make_plan(site, kw="3"), make_plan(site, kw="3")]
    api = _as(role_users[role])

    with django_assert_max_num_queries(6):
        response = api.get(PLANS)

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 3
    assert {p["id"] for p in body["results"]} == {p.pk for p in plans}
    assert {p["miner_count"] for p in body["results"]} == {1}
    assert "miners" not in body["results"][0]


@pytest.mark.django_db
def test_plan_list_filters_by_site_and_status(host_user: User) -> None:
    north, _ = farm("North")
    south, _ = farm("South")
    make_plan(north, kw="3")
    wanted = make_plan(south, kw="3", status=CurtailmentStatus.EXECUTED)
    make_plan(south, kw="3")

    response = _as(host_user).get(PLANS, {"site": str(south.pk), "status": "executed"})

    assert [p["id"] for p in response.json()["results"]] == [wanted.pk]


@pytest.mark.django_db
def test_plan_detail_lists_its_miners(host_user: User) -> None:
    site, miners = farm()
    plan = make_plan(site, kw="7")

    response = _as(host_user).get(f"{PLANS}{plan.pk}/")

    body = response.json()
    assert response.status_code == 200
    assert body["planned_shed_kw"] == "7.000"
    assert {m["address"] for m in body["miners"]} == {f"{miners[0].ip}:4028", f"{miners[1].ip}:4028"}
    assert {m["command_step"] for m in body["miners"]} == {"planned"}


@pytest.mark.django_db
def test_plan_detail_of_an_unknown_plan_is_404(host_user: User) -> None:
    response = _as(host_user).get(f"{PLANS}999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_read_key_lists_plans_but_cannot_create_one(host_user: User) -> None:
    site, _miners = farm()
    reader = _with_key(host_user, [ApiScope.MINERS_READ])

    listed = reader.get(PLANS)
    created = reader.post(PLANS, _plan_body(site), format="json")

    assert listed.status_code == 200
    assert created.status_code == 403
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_a_key_without_miners_read_cannot_list_plans(host_user: User) -> None:
    response = _with_key(host_user, [ApiScope.TELEMETRY_READ]).get(PLANS)

    assert response.status_code == 403


# --- Create, preview, cancel, recover now -------------------------------------------------------------


@pytest.mark.django_db
def test_a_control_key_creates_a_plan_recorded_as_from_the_api_with_its_key(host_user: User) -> None:
    site, _miners = farm()
    issued = api_key_issue(
        owner=host_user, name="ems", scopes=[ApiScope.MINERS_CONTROL], expires_at=None, now=timezone.now()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    start = timezone.now() + timedelta(hours=1)

    response = client.post(PLANS, _plan_body(site, starts_at=start.isoformat(), strategy="partial"), format="json")

    body = response.json()
    plan = CurtailmentPlan.objects.get()
    assert response.status_code == 201
    assert body["id"] == plan.pk
    assert (plan.source, plan.status, plan.strategy) == (CurtailmentSource.API, "pending", "partial")
    assert (plan.created_by, plan.api_key) == (host_user, issued.api_key)
    assert plan.recover_at - plan.scheduled_start == timedelta(minutes=60)
    assert body["api_key"] == issued.api_key.prefix
    assert len(body["miners"]) == plan.plan_miners.count() > 0


@pytest.mark.django_db
def test_create_names_the_bad_field_and_stores_nothing(host_user: User) -> None:
    site, _miners = farm()
    start = timezone.now() + timedelta(hours=1)

    bad_value = _as(host_user).post(PLANS, _plan_body(site, target_value="0"), format="json")
    both_ends = _as(host_user).post(
        PLANS, _plan_body(site, recover_at=(start + timedelta(hours=1)).isoformat()), format="json"
    )
    backwards = _as(host_user).post(
        PLANS,
        _plan_body(site, duration_minutes=None, recover_at=(start - timedelta(hours=2)).isoformat()),
        format="json",
    )

    assert bad_value.status_code == 400
    assert "target_value" in bad_value.json()["error"]["fields"]
    assert both_ends.status_code == 400
    assert "recover_at" in both_ends.json()["error"]["fields"]
    assert backwards.status_code == 400
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_create_at_an_unknown_site_is_404(host_user: User) -> None:
    site, _miners = farm()

    response = _as(host_user).post(PLANS, _plan_body(site, site=999_999), format="json")

    assert response.status_code == 404
    assert response.json()["error"]["fields"] == {"site": ["no such site"]}


@pytest.mark.django_db
def test_preview_answers_every_strategy_with_its_miners_and_stores_nothing(host_user: User) -> None:
    site, miners = farm()

    response = _with_key(host_user, [ApiScope.MINERS_READ]).post(
        PREVIEW, {"site": site.pk, "target_kind": "shed_kw", "target_value": "7"}, format="json"
    )

    body = response.json()
    assert response.status_code == 200
    assert [r["strategy"] for r in body["results"]] == STRATEGIES
    optimal = body["results"][1]
    assert optimal["shed_kw"] == 7.0
    assert optimal["hashrate_lost_ths"] == 120.0  # the 50 and 70 TH/s miners
    assert optimal["target_met"] is True
    assert optimal["lower_bound_ths"] is not None
    assert {m["miner"] for m in optimal["miners"]} == {miners[0].pk, miners[1].pk}
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_cancel_ends_a_pending_plan_and_refuses_a_running_one(host_user: User) -> None:
    site, _miners = farm()
    pending = make_plan(site, kw="3")
    running = make_plan(site, kw="3", status=CurtailmentStatus.EXECUTED, executed_at=timezone.now())
    api = _as(host_user)

    cancelled = api.post(f"{PLANS}{pending.pk}/cancel/")
    refused = api.post(f"{PLANS}{running.pk}/cancel/")

    pending.refresh_from_db()
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == pending.status == CurtailmentStatus.CANCELLED
    assert set(pending.plan_miners.values_list("command_step", flat=True)) == {CurtailmentStep.SKIPPED}
    assert refused.status_code == 400
    assert "status" in refused.json()["error"]["fields"]
    running.refresh_from_db()
    assert running.status == CurtailmentStatus.EXECUTED


@pytest.mark.django_db
def test_recover_now_brings_a_running_plans_recovery_forward(host_user: User) -> None:
    site, _miners = farm()
    running = make_plan(
        site,
        kw="3",
        status=CurtailmentStatus.EXECUTED,
        scheduled_start=timezone.now() - timedelta(minutes=10),
        executed_at=timezone.now() - timedelta(minutes=10),
    )
    pending = make_plan(site, kw="3")
    before = timezone.now()

    ended = _with_key(host_user, [ApiScope.MINERS_CONTROL]).post(f"{PLANS}{running.pk}/recover-now/")
    refused = _as(host_user).post(f"{PLANS}{pending.pk}/recover-now/")

    running.refresh_from_db()
    assert ended.status_code == 200
    assert before <= running.recover_at <= timezone.now()
    assert "Recovery asked for now" in running.note
    assert refused.status_code == 400
    pending.refresh_from_db()
    assert pending.status == CurtailmentStatus.PENDING


@pytest.mark.django_db
def test_plan_commands_refuse_a_read_key_and_a_client(host_user: User, client_user: User) -> None:
    site, _miners = farm()
    plan = make_plan(site, kw="3")

    by_reader = _with_key(host_user, [ApiScope.MINERS_READ]).post(f"{PLANS}{plan.pk}/cancel/")
    by_client = _as(client_user).post(f"{PLANS}{plan.pk}/cancel/")

    assert (by_reader.status_code, by_client.status_code) == (403, 403)
    plan.refresh_from_db()
    assert plan.status == CurtailmentStatus.PENDING


@pytest.mark.django_db
def test_cancel_and_recover_now_from_the_page_report_back(host_user: User) -> None:
    site, _miners = farm()
    pending = make_plan(site, kw="3")
    running = make_plan(site, kw="3", status=CurtailmentStatus.EXECUTED, executed_at=timezone.now())
    page = Client()
    page.force_login(host_user)

    cancelled = page.post(f"/hosting/curtailment/{pending.pk}/cancel", follow=True)
    refused = page.post(f"/hosting/curtailment/{running.pk}/cancel", follow=True)
    ended = page.post(
        f"/hosting/curtailment/{running.pk}/recover-now", {"next": f"/hosting/curtailment/{running.pk}"}, follow=True
    )

    assert f"Plan {pending.pk} at {site.name} is cancelled" in cancelled.content.decode()
    assert f"Plan {running.pk} was not cancelled" in refused.content.decode()
    assert ended.redirect_chain[-1][0] == f"/hosting/curtailment/{running.pk}"
    assert f"Plan {running.pk} at {site.name} is ending" in ended.content.decode()
    pending.refresh_from_db()
    assert pending.status == CurtailmentStatus.CANCELLED


# --- The trigger, against emulated miners ---------------------------------------------------------------


@pytest.fixture
def live_site(emulated_fleet: FleetFactory) -> tuple[Site, RunningFleet]:
    """Four emulated Whatsminers, registered and polled once, so the planner has fresh readings."""
    fleet = emulated_fleet(count=4, seed=5, model_key="whatsminer-m50")
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Live hall").site_id)
    telemetry_collect(site_id=site.pk, now=timezone.now())
    return site, fleet


def _mining(fleet: RunningFleet) -> list[bool]:
    return [fleet.truth(address).mining for address in fleet.addresses]


@pytest.mark.django_db
def test_trigger_starts_a_plan_now_and_the_executor_stops_its_miners(
    live_site: tuple[Site, RunningFleet],
    host_user: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    site, fleet = live_site
    api = _with_key(host_user, [ApiScope.MINERS_CONTROL])
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            TRIGGER,
            {"site": site.pk, "target_kind": "miners", "target_value": "2", "duration_minutes": 30},
            format="json",
        )

    plan = CurtailmentPlan.objects.get()
    assert response.status_code == 201
    assert response.json()["id"] == plan.pk
    assert plan.source == CurtailmentSource.API
    assert before <= plan.scheduled_start <= timezone.now()
    assert plan.recover_at == plan.scheduled_start + timedelta(minutes=30)
    # The executor ran as soon as the plan was committed: two miners asleep, two still hashing.
    assert plan.status == CurtailmentStatus.EXECUTED
    assert sorted(_mining(fleet)) == [False, False, True, True]
    assert set(plan.plan_miners.values_list("command_step", flat=True)) == {CurtailmentStep.ACKNOWLEDGED}


@pytest.mark.django_db
def test_trigger_from_the_page_form_goes_back_to_the_page(
    live_site: tuple[Site, RunningFleet],
    host_user: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    site, fleet = live_site
    page = Client()
    page.force_login(host_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(
            TRIGGER,
            {
                "site": site.pk,
                "target_kind": "miners",
                "target_value": "1",
                "strategy": "optimal",
                "start": "now",
                "end": "duration",
                "duration_minutes": "20",
            },
            HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8",
        )

    plan = CurtailmentPlan.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/hosting/curtailment#plan-{plan.pk}"
    assert plan.source == CurtailmentSource.PAGE
    assert plan.created_by == host_user
    assert plan.status == CurtailmentStatus.EXECUTED
    assert sorted(_mining(fleet)) == [False, True, True, True]


@pytest.mark.django_db
def test_trigger_from_the_page_form_needs_the_pages_csrf_token(host_user: User) -> None:
    site, _miners = farm()
    page = Client(enforce_csrf_checks=True)
    page.force_login(host_user)
    page.get("/hosting/curtailment")
    form = {"site": site.pk, "target_kind": "shed_kw", "target_value": "3", "duration_minutes": "20"}
    accept = "text/html,*/*;q=0.8"

    forged = page.post(TRIGGER, form, HTTP_ACCEPT=accept)
    genuine = page.post(TRIGGER, {**form, "csrfmiddlewaretoken": page.cookies["csrftoken"].value}, HTTP_ACCEPT=accept)

    assert forged.status_code == 403
    assert genuine.status_code == 302
    assert CurtailmentPlan.objects.count() == 1


@pytest.mark.django_db
def test_trigger_from_the_page_with_a_bad_target_says_why_and_stores_nothing(host_user: User) -> None:
    site, _miners = farm()
    page = Client()
    page.force_login(host_user)

    response = page.post(
        TRIGGER,
        {"site": site.pk, "target_kind": "shed_kw", "target_value": "-4", "duration_minutes": "20"},
        HTTP_ACCEPT="text/html,*/*;q=0.8",
        follow=True,
    )

    assert "The plan was not started." in response.content.decode()
    assert "target_value" in response.content.decode()
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_trigger_refuses_a_read_key_and_a_client(host_user: User, client_user: User) -> None:
    site, _miners = farm()
    body = {"site": site.pk, "target_kind": "shed_kw", "target_value": "3", "duration_minutes": 20}

    by_reader = _with_key(host_user, [ApiScope.MINERS_READ]).post(TRIGGER, body, format="json")
    by_client = _as(client_user).post(TRIGGER, body, format="json")
    anonymous = APIClient().post(TRIGGER, body, format="json")

    assert (by_reader.status_code, by_client.status_code, anonymous.status_code) == (403, 403, 401)
    assert not CurtailmentPlan.objects.exists()


# --- Demand response ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demand_response_plans_the_shed_for_the_aggregators_request(host_user: User) -> None:
    site, _miners = farm()
    aggregator = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST])
    deadline = timezone.now() + timedelta(minutes=30)

    response = aggregator.post(DEMAND, _demand(site, deadline=deadline.isoformat()), format="json")

    body = response.json()
    plan = CurtailmentPlan.objects.get()
    assert response.status_code == 201
    assert body["created"] is True
    assert (plan.source, plan.external_ref, plan.deadline) == (CurtailmentSource.DEMAND_RESPONSE, "grid-4711", deadline)
    assert plan.created_by == host_user
    assert body["plan"]["id"] == plan.pk
    assert body["plan"]["planned_shed_kw"] == "7.000"
    assert body["target_met"] is True
    assert body["can_meet_by_deadline"] is True
    assert body["reasons"] == []


@pytest.mark.django_db
def test_demand_response_without_a_start_starts_now(host_user: User) -> None:
    site, _miners = farm()
    request = _demand(site)
    del request["start"]
    before = timezone.now()

    response = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST]).post(DEMAND, request, format="json")

    plan = CurtailmentPlan.objects.get()
    assert response.status_code == 201
    assert before <= plan.scheduled_start <= timezone.now()
    assert plan.recover_at == plan.scheduled_start + timedelta(minutes=60)
    assert response.json()["can_meet_by_deadline"] is True


@pytest.mark.django_db
def test_demand_response_says_when_the_site_cannot_shed_enough(host_user: User) -> None:
    site, _miners = farm()  # six 3.5 kW miners: 21 kW at most

    response = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST]).post(
        DEMAND, _demand(site, target_kw="30"), format="json"
    )

    body = response.json()
    assert response.status_code == 201
    assert body["target_met"] is False
    assert body["can_meet_by_deadline"] is False
    assert body["plan"]["planned_shed_kw"] == "21.000"
    assert "21 kW of the 30 kW asked" in body["reasons"][0]


@pytest.mark.django_db
def test_demand_response_says_when_the_deadline_comes_before_the_shed_can_be_confirmed(host_user: User) -> None:
    site, _miners = farm()
    start = timezone.now() + timedelta(minutes=10)

    response = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST]).post(
        DEMAND,
        _demand(site, start=start.isoformat(), deadline=(start + timedelta(seconds=30)).isoformat()),
        format="json",
    )

    body = response.json()
    assert response.status_code == 201
    assert body["target_met"] is True
    assert body["can_meet_by_deadline"] is False
    assert "after the deadline" in body["reasons"][0]


@pytest.mark.django_db
def test_demand_response_repeated_with_the_same_request_id_answers_the_same_plan(host_user: User) -> None:
    site, _miners = farm()
    aggregator = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST])
    request = _demand(site)

    first = aggregator.post(DEMAND, request, format="json")
    again = aggregator.post(DEMAND, request, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert again.json()["plan"]["id"] == first.json()["plan"]["id"]
    assert CurtailmentPlan.objects.count() == 1


@pytest.mark.django_db
def test_demand_response_refuses_a_request_id_reused_with_other_figures(host_user: User) -> None:
    site, _miners = farm()
    aggregator = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST])
    aggregator.post(DEMAND, _demand(site), format="json")

    response = aggregator.post(DEMAND, _demand(site, target_kw="10"), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "demand_response_request_reused"
    assert CurtailmentPlan.objects.count() == 1


@pytest.mark.django_db
def test_demand_response_refuses_keys_without_the_scope_and_signed_in_users(host_user: User) -> None:
    site, _miners = farm()

    control_key = _with_key(host_user, [ApiScope.MINERS_CONTROL]).post(DEMAND, _demand(site), format="json")
    signed_in = _as(host_user).post(DEMAND, _demand(site), format="json")

    assert (control_key.status_code, signed_in.status_code) == (403, 403)
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db
def test_demand_response_refuses_a_clients_key_even_with_the_scope(client_user: User) -> None:
    site, _miners = farm()

    response = _with_key(client_user, [ApiScope.CURTAILMENT_REQUEST]).post(DEMAND, _demand(site), format="json")

    assert response.status_code == 403
    assert not CurtailmentPlan.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("miner_catalogue")
def test_demand_response_racing_repeats_make_one_plan(host_user: User) -> None:
    site, _miners = farm()
    issued = api_key_issue(
        owner=host_user, name="agg", scopes=[ApiScope.CURTAILMENT_REQUEST], expires_at=None, now=timezone.now()
    )
    request = _demand(site, request_id="race-1")

    def post() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
        try:
            return client.post(DEMAND, request, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = sorted(pool.map(lambda _: post(), range(4)))

    assert codes == [200, 200, 200, 201]
    assert CurtailmentPlan.objects.filter(external_ref="race-1").count() == 1


# --- The schema -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_describes_every_curtailment_endpoint() -> None:
    out = StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)

    schema = out.getvalue()
    for path in (
        '"/api/v1/hosting/curtailment/plans/"',
        '"/api/v1/hosting/curtailment/plans/{id}/"',
        '"/api/v1/hosting/curtailment/plans/{id}/cancel/"',
        '"/api/v1/hosting/curtailment/plans/{id}/recover-now/"',
        '"/api/v1/hosting/curtailment/preview/"',
        '"/api/v1/hosting/curtailment/demand-response/"',
        '"/hosting/curtailment/trigger"',
    ):
        assert path in schema
    assert '"DemandResponseAnswer"' in schema
    assert '"CurtailmentStatusEnum"' in schema
