"""Control routes and the telemetry list: who may call them, and what they answer, against live miners."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Customer
from hosting.choices import Firmware, MinerStatus
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.testing import RunningFleet
from hosting.models import Miner, MinerOperation
from hosting.services.telemetry_ingest import telemetry_store
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.conftest import FleetFactory
from hosting.tests.factories import MinerFactory
from mining_platform.core.choices import ApiScope, Role
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

# route suffix -> request body; the Whatsminer personality carries out all four.
ROUTES = {"start": {}, "shutdown": {}, "reboot": {}, "power-target": {"power_w": 3000}}


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _with_key(owner: User, scopes: list[str]) -> tuple[APIClient, int]:
    issued = api_key_issue(owner=owner, name="integration", scopes=scopes, expires_at=None, now=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    return client, issued.api_key.pk


def _url(miner_id: int, route: str) -> str:
    return f"/hosting/api/miner/{miner_id}/{route}"


@pytest.fixture
def whatsminer(emulated_fleet: FleetFactory) -> RunningFleet:
    return emulated_fleet(count=1, model_key="whatsminer-m50")


@pytest.fixture
def live_miner(whatsminer: RunningFleet, customer: Customer) -> Miner:
    """A client's Whatsminer, served by the emulator."""
    return MinerFactory.create(
        ip=whatsminer.addresses[0],
        firmware=Firmware.WHATSMINER,
        customer=customer,
        nominal_hashrate_ths=Decimal("118"),
        nominal_power_w=3304,
        status=MinerStatus.ONLINE,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("route", list(ROUTES))
def test_control_route_refuses_anonymous_callers(route: str, live_miner: Miner) -> None:
    response = APIClient().post(_url(live_miner.pk, route), ROUTES[route], format="json")

    assert response.status_code == 401
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("route", list(ROUTES))
def test_control_route_refuses_a_client_on_their_own_miner_and_on_anothers_alike(
    route: str, live_miner: Miner, client_user: User, other_customer: Customer
) -> None:
    theirs = MinerFactory.create(customer=other_customer)
    api = _as(client_user)

    own = api.post(_url(live_miner.pk, route), ROUTES[route], format="json")
    other = api.post(_url(theirs.pk, route), ROUTES[route], format="json")

    # Same answer for both, so a client learns nothing about other customers' miners.
    assert (own.status_code, other.status_code) == (403, 403)
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.HOST])
@pytest.mark.parametrize("route", list(ROUTES))
def test_control_route_lets_operators_control_any_customers_miner(
    route: str, role: Role, live_miner: Miner, role_users: dict[str, User]
) -> None:
    response = _as(role_users[role]).post(_url(live_miner.pk, route), ROUTES[route], format="json")

    body = response.json()
    assert response.status_code == 200
    assert (body["miner"], body["outcome"], body["requested_by"]) == (live_miner.pk, "ok", role_users[role].email)
    assert '"API command OK"' in body["response"]
    assert MinerOperation.objects.get().requested_by == role_users[role]


@pytest.mark.django_db
def test_control_route_answers_404_for_a_miner_that_does_not_exist(host_user: User) -> None:
    response = _as(host_user).post(_url(999_999, "start"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("route", list(ROUTES))
def test_control_route_accepts_an_api_key_with_miners_control_and_logs_the_key(
    route: str, live_miner: Miner, host_user: User
) -> None:
    api, key_id = _with_key(host_user, [ApiScope.MINERS_CONTROL])

    response = api.post(_url(live_miner.pk, route), ROUTES[route], format="json")

    operation = MinerOperation.objects.get()
    assert response.status_code == 200
    assert (operation.api_key_id, operation.requested_by, operation.outcome) == (key_id, host_user, "ok")


@pytest.mark.django_db
@pytest.mark.parametrize("route", list(ROUTES))
def test_control_route_refuses_an_api_key_without_miners_control(
    route: str, live_miner: Miner, host_user: User
) -> None:
    api, _key_id = _with_key(host_user, [ApiScope.MINERS_READ, ApiScope.TELEMETRY_READ])

    response = api.post(_url(live_miner.pk, route), ROUTES[route], format="json")

    assert response.status_code == 403
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_control_route_refuses_a_clients_api_key_even_with_miners_control(live_miner: Miner, client_user: User) -> None:
    api, _key_id = _with_key(client_user, [ApiScope.MINERS_CONTROL])

    response = api.post(_url(live_miner.pk, "shutdown"))

    assert response.status_code == 403
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_shutdown_puts_the_miner_to_sleep_and_start_wakes_it(
    live_miner: Miner, host_user: User, whatsminer: RunningFleet
) -> None:
    api = _as(host_user)

    stopped = api.post(_url(live_miner.pk, "shutdown"))
    live_miner.refresh_from_db()
    asleep, status_when_asleep = whatsminer.truth(live_miner.ip), live_miner.status
    started = api.post(_url(live_miner.pk, "start"))
    live_miner.refresh_from_db()

    assert (stopped.status_code, started.status_code) == (200, 200)
    assert (asleep.mining, status_when_asleep) == (False, MinerStatus.STOPPED)
    assert (whatsminer.truth(live_miner.ip).mining, live_miner.status) == (True, MinerStatus.ONLINE)


@pytest.mark.django_db
def test_shutdown_of_an_offline_miner_answers_503_and_logs_the_failure(
    emulated_fleet: FleetFactory, host_user: User
) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s19j-pro")
    miner = MinerFactory.create(ip=fleet.addresses[0], firmware=Firmware.BRAIINS_OS, status=MinerStatus.ONLINE)
    fleet.set_fault(miner.ip, Fault(FaultKind.OFFLINE))

    response = _as(host_user).post(_url(miner.pk, "shutdown"))

    operation = MinerOperation.objects.get()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "miner_command_failed"
    assert f"operation {operation.pk}" in response.json()["error"]["message"]
    assert (operation.outcome, operation.requested_by) == ("refused", host_user)


@pytest.mark.django_db
def test_power_target_without_watts_is_refused_naming_the_field(live_miner: Miner, host_user: User) -> None:
    response = _as(host_user).post(_url(live_miner.pk, "power-target"), {}, format="json")

    assert response.status_code == 400
    assert "power_w" in response.json()["error"]["fields"]
    assert not MinerOperation.objects.exists()


# ---------------------------------------------------------------- telemetry list


@pytest.fixture
def stored_polls(customer: Customer, other_customer: Customer) -> tuple[Miner, Miner]:
    mine = MinerFactory.create(customer=customer)
    theirs = MinerFactory.create(customer=other_customer)
    now = timezone.now()
    rows = [
        TelemetryRow(miner_id=m.pk, recorded_at=now - timedelta(minutes=minutes), site_id=m.site_id, outcome=outcome)
        for m in (mine, theirs)
        for minutes, outcome in ((5, "ok"), (15, "read_timeout"), (180, "ok"))
    ]
    telemetry_store(rows=rows)
    return mine, theirs


@pytest.mark.django_db
def test_telemetry_list_shows_a_client_only_their_miners_polls_of_the_last_hour(
    client_user: User, stored_polls: tuple[Miner, Miner]
) -> None:
    mine, _theirs = stored_polls

    body = _as(client_user).get("/api/v1/hosting/telemetry/").json()

    assert body["count"] == 2
    assert {row["miner"] for row in body["results"]} == {mine.pk}
    assert [row["outcome"] for row in body["results"]] == ["ok", "read_timeout"]  # newest first


@pytest.mark.django_db
def test_telemetry_list_filters_by_miner_outcome_and_time_in_bounded_queries(
    host_user: User, stored_polls: tuple[Miner, Miner], django_assert_max_num_queries: object
) -> None:
    _mine, theirs = stored_polls
    since = (timezone.now() - timedelta(hours=4)).isoformat()
    api = _as(host_user)

    with django_assert_max_num_queries(5):  # type: ignore[operator]
        body = api.get(
            "/api/v1/hosting/telemetry/", {"miner": str(theirs.pk), "outcome": "ok", "recorded_after": since}
        )
    page = api.get("/api/v1/hosting/telemetry/", {"recorded_after": since, "limit": "2"}).json()

    assert [(r["miner"], r["outcome"]) for r in body.json()["results"]] == [(theirs.pk, "ok"), (theirs.pk, "ok")]
    assert (page["count"], len(page["results"]), page["next"] is not None) == (6, 2, True)


@pytest.mark.django_db
def test_telemetry_list_takes_an_api_key_with_telemetry_read_only(
    host_user: User, stored_polls: tuple[Miner, Miner]
) -> None:
    reader, _ = _with_key(host_user, [ApiScope.TELEMETRY_READ])
    controller, _ = _with_key(host_user, [ApiScope.MINERS_CONTROL])

    assert reader.get("/api/v1/hosting/telemetry/").json()["count"] == 4
    assert controller.get("/api/v1/hosting/telemetry/").status_code == 403
