"""GET /hosting/api/live/snapshot: the websocket snapshot over HTTP, with the same permissions."""

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Customer
from hosting.live.scopes import live_scope_authorize
from hosting.live.snapshots import live_snapshot
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.models import User

URL = reverse("hosting:live-snapshot")


@pytest.fixture
def fleet(customer: Customer, other_customer: Customer) -> dict[str, Any]:
    site = SiteFactory.create()
    return {
        "site": site,
        "mine": MinerFactory.create(site=site, customer=customer),
        "theirs": MinerFactory.create(site=site, customer=other_customer),
    }


def _get(user: User | None, **query: str | int) -> Any:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(URL, query)


@pytest.mark.django_db
def test_live_snapshot_sends_anonymous_callers_to_sign_in(fleet: dict[str, Any]) -> None:
    response = _get(None, scope="site", id=fleet["site"].pk)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.HOST])
def test_live_snapshot_gives_operators_the_same_payload_as_the_websocket(
    role_users: dict[str, User], fleet: dict[str, Any], role: str
) -> None:
    user = role_users[role]

    response = _get(user, scope="site", id=fleet["site"].pk)

    scope = live_scope_authorize(user_id=user.pk, kind="site", scope_id=fleet["site"].pk)
    assert response.status_code == 200
    assert response.json() == json.loads(live_snapshot(scope=scope).payload_json)
    assert sorted(row["id"] for row in response.json()["miners"]) == sorted([fleet["mine"].pk, fleet["theirs"].pk])
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"scope": "site", "id": "site"}, 403, "forbidden"),
        ({"scope": "client", "id": "other_customer"}, 403, "forbidden"),
        ({"scope": "miner", "id": "theirs"}, 404, "not_found"),
        ({"scope": "rack", "id": "site"}, 400, "bad_request"),
    ],
)
def test_live_snapshot_refuses_a_client_what_is_not_theirs(
    client_user: User, other_customer: Customer, fleet: dict[str, Any], query: dict[str, str], status: int, code: str
) -> None:
    target = {**fleet, "other_customer": other_customer}[query["id"]]

    response = _get(client_user, scope=query["scope"], id=target.pk)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@pytest.mark.django_db
def test_live_snapshot_gives_a_client_only_their_own_miners(client_user: User, fleet: dict[str, Any]) -> None:
    response = _get(client_user, scope="client")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["miners"]] == [fleet["mine"].pk]
    assert response.json()["summary"]["miners"] == 1
