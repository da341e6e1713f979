"""Live dashboard fixtures: an emulated site shared by two customers, and websockets signed in as a user."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from crm.models import Customer
from hosting.emulator.testing import RunningFleet
from hosting.models import Miner, Site
from hosting.services.fleet_register import fleet_register
from hosting.tests.conftest import FleetFactory
from mining_platform.asgi import application
from mining_platform.core.models import User

LIVE_PATH = "/ws/hosting/live/"
BROWSER_ORIGIN = (b"origin", b"http://localhost")
FAST_POLLS = {
    "TELEMETRY_CONNECT_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_READ_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_POLL_CONCURRENCY": 50,
}


def session_cookie(user: User) -> tuple[bytes, bytes]:
    """The Cookie header of a browser signed in as `user`."""
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode()


def live_headers(user: User | None) -> list[tuple[bytes, bytes]]:
    """Handshake headers of a browser signed in as `user` (anonymous for None); call outside the loop."""
    return [BROWSER_ORIGIN] if user is None else [BROWSER_ORIGIN, session_cookie(user)]


class LiveSocket:
    """A websocket on /ws/hosting/live/ that keeps every frame it received."""

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.communicator = WebsocketCommunicator(application, LIVE_PATH, headers=headers)
        self.frames: list[dict[str, Any]] = []

    async def open(self) -> tuple[bool, int | None]:
        connected, code = await self.communicator.connect(timeout=10)
        return bool(connected), code

    async def send(self, message: dict[str, object]) -> None:
        await self.communicator.send_json_to(message)

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        frame: dict[str, Any] = await self.communicator.receive_json_from(timeout=timeout)
        self.frames.append(frame)
        return frame

    async def request(self, message: dict[str, object]) -> dict[str, Any]:
        """Send one message and return the frame that answers it."""
        await self.send(message)
        return await self.receive()

    async def quiet(self, timeout: float = 0.5) -> bool:
        """True when nothing more arrives within `timeout`."""
        return bool(await self.communicator.receive_nothing(timeout=timeout))

    async def close(self) -> None:
        await self.communicator.disconnect()


@dataclass(frozen=True)
class SharedSite:
    """An emulated site whose miners belong half to one customer, half to another."""

    fleet: RunningFleet
    site: Site
    customer: Customer
    other_customer: Customer
    mine: list[int]  # miner ids of `customer`
    theirs: list[int]  # miner ids of `other_customer`


@pytest.fixture
def shared_site(
    emulated_fleet: FleetFactory, miner_catalogue: None, customer: Customer, other_customer: Customer
) -> Callable[..., SharedSite]:
    def build(count: int = 6, seed: int = 41, model_key: str | None = None) -> SharedSite:
        fleet = emulated_fleet(count=count, seed=seed, model_key=model_key)
        site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name=f"Shared hall {seed}").site_id)
        ids = list(Miner.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
        mine, theirs = ids[: count // 2], ids[count // 2 :]
        Miner.objects.filter(pk__in=mine).update(customer=customer)
        Miner.objects.filter(pk__in=theirs).update(customer=other_customer)
        return SharedSite(fleet, site, customer, other_customer, mine, theirs)

    return build
