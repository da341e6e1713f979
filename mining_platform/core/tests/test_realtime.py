"""The /ws/ route on the real Redis channel layer: who may connect, and what reaches them."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from mining_platform.asgi import application
from mining_platform.core.choices import ApiScope
from mining_platform.core.consumers import CLOSE_UNAUTHENTICATED
from mining_platform.core.models import User
from mining_platform.core.realtime import user_group
from mining_platform.core.services.api_keys import api_key_issue

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER_ORIGIN = (b"origin", b"http://localhost")


def _session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode()


def _frames_after_connect(
    headers: list[tuple[bytes, bytes]], *, send: dict[str, object] | None = None
) -> dict[str, object]:
    """Connects, optionally sends one message, and returns what the server said."""

    async def scenario() -> dict[str, object]:
        communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
        connected, code = await communicator.connect(timeout=5)
        result: dict[str, object] = {"connected": connected, "code": code}
        if connected:
            result["welcome"] = await communicator.receive_json_from(timeout=5)
            if send is not None:
                await communicator.send_json_to(send)
                result["reply"] = await communicator.receive_json_from(timeout=5)
            await communicator.disconnect()
        return result

    return async_to_sync(scenario)()


def test_anonymous_websocket_is_closed_as_unauthenticated() -> None:
    result = _frames_after_connect([BROWSER_ORIGIN])

    assert result["connected"] is False
    assert result["code"] == CLOSE_UNAUTHENTICATED


def test_signed_in_browser_connects_and_gets_answers(host_user: User) -> None:
    result = _frames_after_connect([BROWSER_ORIGIN, _session_cookie(host_user)], send={"type": "ping"})

    assert result["welcome"] == {"type": "core.welcome", "payload": {"user_id": host_user.pk, "role": "host"}}
    assert result["reply"] == {"type": "core.pong", "payload": {}}


def test_browser_from_a_foreign_origin_is_refused(host_user: User) -> None:
    result = _frames_after_connect([(b"origin", b"http://evil.example"), _session_cookie(host_user)])

    assert result["connected"] is False


def test_machine_with_an_api_key_connects_without_an_origin(host_user: User) -> None:
    issued = api_key_issue(
        owner=host_user, name="ws", scopes=[ApiScope.TELEMETRY_READ], expires_at=None, now=timezone.now()
    )

    result = _frames_after_connect([(b"authorization", f"Api-Key {issued.raw_key}".encode())])

    assert result["connected"] is True
    assert result["welcome"] == {"type": "core.welcome", "payload": {"user_id": host_user.pk, "role": "host"}}


def test_machine_with_a_bad_api_key_is_closed(host_user: User) -> None:
    result = _frames_after_connect([(b"authorization", b"Api-Key mpk_nope_nope")])

    assert result["code"] == CLOSE_UNAUTHENTICATED


def test_group_message_for_a_user_reaches_their_open_socket(host_user: User) -> None:
    cookie = _session_cookie(host_user)

    async def scenario() -> dict[str, object]:
        communicator = WebsocketCommunicator(application, "/ws/", headers=[BROWSER_ORIGIN, cookie])
        await communicator.connect(timeout=5)
        await communicator.receive_json_from(timeout=5)
        layer = get_channel_layer()
        assert layer is not None
        await layer.group_send(
            user_group(host_user.pk), {"type": "core.notify", "payload": {"text": "miner 7 offline"}}
        )
        frame = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return frame  # type: ignore[no-any-return]

    frame = async_to_sync(scenario)()

    assert frame == {"type": "core.notify", "payload": {"text": "miner 7 offline"}}


def test_unknown_message_gets_an_error_frame_and_the_socket_stays_open(host_user: User) -> None:
    result = _frames_after_connect([BROWSER_ORIGIN, _session_cookie(host_user)], send={"type": "reboot-everything"})

    reply = result["reply"]
    assert isinstance(reply, dict)
    assert reply["type"] == "core.error"
    assert reply["payload"]["code"] == "unknown_message"
