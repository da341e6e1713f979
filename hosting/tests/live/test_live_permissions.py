"""Who may watch what on /ws/hosting/live/, checked again on every subscribe."""

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from crm.models import Customer
from hosting.models import Miner, Site
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.consumers import CLOSE_UNAUTHENTICATED
from mining_platform.core.models import User

from .conftest import LiveSocket, live_headers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(customer: Customer, other_customer: Customer) -> dict[str, Any]:
    site = SiteFactory.create()
    return {
        "site": site,
        "mine": MinerFactory.create(site=site, customer=customer),
        "theirs": MinerFactory.create(site=site, customer=other_customer),
        "house": MinerFactory.create(site=site, customer=None),
        "customer": customer,
        "other_customer": other_customer,
    }


def _ask(user: User | None, messages: list[dict[str, object]]) -> list[dict[str, Any]]:
    """Open a live socket as `user`, send each message and collect the frame answering each."""

    headers = live_headers(user)

    async def scenario() -> list[dict[str, Any]]:
        socket = LiveSocket(headers)
        connected, code = await socket.open()
        if not connected:
            return [{"closed": code}]
        answers = [await socket.request(message) for message in messages]
        await socket.close()
        return answers

    return async_to_sync(scenario)()


def _subscribe(scope: str, scope_id: object) -> dict[str, object]:
    return {"type": "subscribe", "scope": scope, "id": scope_id}


def _target(fleet: dict[str, Any], name: str) -> object:
    value = fleet[name]
    return value.pk if isinstance(value, Site | Miner | Customer) else value


def test_anonymous_socket_is_closed_as_unauthenticated() -> None:
    answers = _ask(None, [])

    assert answers == [{"closed": CLOSE_UNAUTHENTICATED}]


def test_ping_is_answered_with_pong(host_user: User) -> None:
    answers = _ask(host_user, [{"type": "ping"}])

    assert answers == [{"type": "live.pong"}]


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.HOST])
@pytest.mark.parametrize(
    ("scope", "target", "key_prefix"),
    [
        ("site", "site", "site"),
        ("client", "customer", "client"),
        ("client", "other_customer", "client"),
        ("miner", "mine", "miner"),
        ("miner", "theirs", "miner"),
        ("miner", "house", "miner"),
    ],
)
def test_operators_may_watch_every_site_client_and_miner(
    role_users: dict[str, User], fleet: dict[str, Any], role: str, scope: str, target: str, key_prefix: str
) -> None:
    target_id = _target(fleet, target)

    [answer] = _ask(role_users[role], [_subscribe(scope, target_id)])

    assert answer["type"] == "live.snapshot"
    assert answer["key"] == f"{key_prefix}:{target_id}"
    assert set(answer["payload"]) == {"summary", "miners", "alerts"}


@pytest.mark.parametrize(
    ("scope", "target", "code"),
    [
        ("site", "site", "forbidden"),
        ("client", "other_customer", "forbidden"),
        ("miner", "theirs", "not_found"),
        ("miner", "house", "not_found"),
    ],
)
def test_a_client_may_not_watch_a_site_or_anything_of_another_customer(
    client_user: User, fleet: dict[str, Any], scope: str, target: str, code: str
) -> None:
    target_id = _target(fleet, target)

    [answer] = _ask(client_user, [_subscribe(scope, target_id)])

    assert answer["type"] == "live.error"
    assert answer["payload"]["code"] == code
    assert answer["payload"]["key"] == f"{scope}:{target_id}"


def test_a_client_watches_their_own_account_and_miners(client_user: User, fleet: dict[str, Any]) -> None:
    own_account, own_miner = _ask(client_user, [_subscribe("client", None), _subscribe("miner", fleet["mine"].pk)])

    assert own_account["type"] == "live.snapshot"
    assert own_account["key"] == f"client:{fleet['customer'].pk}"
    assert [row["id"] for row in own_account["payload"]["miners"]] == [fleet["mine"].pk]
    assert own_account["payload"]["summary"]["miners"] == 1
    assert own_miner["type"] == "live.snapshot"
    assert own_miner["key"] == f"miner:{fleet['mine'].pk}"
    assert [row["customer_id"] for row in own_miner["payload"]["miners"]] == [fleet["customer"].pk]


def test_a_site_snapshot_holds_every_miner_of_the_site(host_user: User, fleet: dict[str, Any]) -> None:
    [answer] = _ask(host_user, [_subscribe("site", fleet["site"].pk)])

    ids = sorted(row["id"] for row in answer["payload"]["miners"])
    assert ids == sorted(fleet[name].pk for name in ("mine", "theirs", "house"))
    assert answer["payload"]["summary"]["miners"] == 3
    assert answer["payload"]["summary"]["capacity_kw"] == float(fleet["site"].power_capacity_kw)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "subscribe", "scope": "rack", "id": 1}, "bad_request"),
        ({"type": "subscribe", "scope": "site", "id": "three"}, "bad_request"),
        ({"type": "subscribe", "scope": "client", "id": None}, "bad_request"),  # operators name the customer
        ({"type": "subscribe", "scope": "site", "id": 999_999}, "not_found"),
        ({"type": "reboot"}, "bad_request"),
    ],
)
def test_bad_requests_get_an_error_frame_and_the_socket_stays_open(
    host_user: User, fleet: dict[str, Any], message: dict[str, object], code: str
) -> None:
    error, pong = _ask(host_user, [message, {"type": "ping"}])

    assert error["type"] == "live.error"
    assert error["payload"]["code"] == code
    assert pong == {"type": "live.pong"}


def _resubscribe_after(user: User, change: Any, first: dict[str, object], second: dict[str, object]) -> list[Any]:
    headers = live_headers(user)

    async def scenario() -> list[Any]:
        socket = LiveSocket(headers)
        await socket.open()
        before = await socket.request(first)
        await sync_to_async(change)()
        after = await socket.request(second)
        await socket.close()
        return [before, after]

    return async_to_sync(scenario)()


def test_a_deactivated_user_is_refused_at_the_next_subscribe(host_user: User, fleet: dict[str, Any]) -> None:
    site_id = fleet["site"].pk

    before, after = _resubscribe_after(
        host_user,
        lambda: User.objects.filter(pk=host_user.pk).update(is_active=False),
        _subscribe("site", site_id),
        {"type": "resync", "scope": "site", "id": site_id},
    )

    assert before["type"] == "live.snapshot"
    assert after["type"] == "live.error"
    assert after["payload"]["code"] == "forbidden"


def test_a_user_whose_role_changed_loses_operator_scopes_at_the_next_subscribe(
    host_user: User, fleet: dict[str, Any]
) -> None:
    customer = fleet["customer"]

    before, after = _resubscribe_after(
        host_user,
        lambda: User.objects.filter(pk=host_user.pk).update(role=Role.CLIENT, customer=customer),
        _subscribe("miner", fleet["theirs"].pk),
        _subscribe("miner", fleet["theirs"].pk),
    )

    assert before["type"] == "live.snapshot"
    assert after["payload"]["code"] == "not_found"
