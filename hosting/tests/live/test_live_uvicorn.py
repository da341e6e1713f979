"""Through the real server: uvicorn in a child process, a websocket client, a collection in this process."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from hosting.services.telemetry_collect import telemetry_collect
from mining_platform.core.models import User
from tests.support.asgi_server import AsgiServer

from .conftest import FAST_POLLS, SharedSite, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _open(server: AsgiServer, user: User) -> ClientConnection:
    name, value = session_cookie(user)
    return connect(
        server.url.replace("http://", "ws://") + "/ws/hosting/live/",
        additional_headers={name.decode(): value.decode(), "Origin": server.url},
        open_timeout=10,
        max_size=None,
    )


def _ask(socket: Connection, message: dict[str, object]) -> dict[str, Any]:
    socket.send(json.dumps(message))
    return _next(socket)


def _next(socket: Connection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(socket.recv(timeout=15))
    return frame


@override_settings(**FAST_POLLS)
def test_a_collection_reaches_a_socket_on_uvicorn_and_a_reconnect_after_a_restart_resumes(
    asgi_server: AsgiServer, shared_site: Callable[..., SharedSite], host_user: User
) -> None:
    shared = shared_site(count=4, seed=55)
    site_id, subscribe = shared.site.pk, {"type": "subscribe", "scope": "site", "id": shared.site.pk}

    with _open(asgi_server, host_user) as socket:
        snapshot = _ask(socket, subscribe)
        telemetry_collect(site_id=site_id, now=NOW)
        delta = _next(socket)
        asgi_server.restart()
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=15)
    telemetry_collect(site_id=site_id, now=NOW + timedelta(minutes=1))  # while no page is connected
    with _open(asgi_server, host_user) as socket:
        resumed = _ask(socket, subscribe)

    assert (snapshot["type"], snapshot["seq"]) == ("live.snapshot", 0)
    assert (delta["type"], delta["key"], delta["seq"]) == ("live.delta", f"site:{site_id}", 1)
    assert sorted(row["id"] for row in delta["payload"]["miners"]) == sorted(shared.mine + shared.theirs)
    assert {row["recorded_at"] for row in delta["payload"]["miners"]} == {NOW.isoformat()}
    assert (resumed["type"], resumed["seq"]) == ("live.snapshot", 2)
    later = (NOW + timedelta(minutes=1)).isoformat()
    assert {row["recorded_at"] for row in resumed["payload"]["miners"]} == {later}
    assert resumed["payload"]["summary"]["recorded_at"] == later
