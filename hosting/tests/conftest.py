"""Fixtures for tests that talk to the fleet emulator over real loopback sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from hosting.emulator.faults import FaultSchedule
from hosting.emulator.spec import build_fleet_spec, single_model_fleet
from hosting.emulator.testing import RunningFleet, fleet_base_address


class FleetFactory(Protocol):
    def __call__(
        self,
        count: int = ...,
        seed: int = ...,
        model_key: str | None = ...,
        http: bool = ...,
        schedule: FaultSchedule | None = ...,
    ) -> RunningFleet: ...


@pytest.fixture
def emulated_fleet() -> Iterator[FleetFactory]:
    """`emulated_fleet(count=10, seed=1, model_key=None, http=False)` starts a fleet; all stop at teardown."""
    started: list[RunningFleet] = []

    def start(
        count: int = 10,
        seed: int = 1,
        model_key: str | None = None,
        http: bool = False,
        schedule: FaultSchedule | None = None,
    ) -> RunningFleet:
        base = fleet_base_address()
        spec = (
            build_fleet_spec(count, seed, base)
            if model_key is None
            else single_model_fleet(model_key, count, seed, base)
        )
        fleet = RunningFleet(spec, http=http, schedule=schedule)
        started.append(fleet)
        return fleet

    yield start
    for fleet in started:
        fleet.stop()
