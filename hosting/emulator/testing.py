"""Run an emulated fleet inside a test process: its event loop turns in a background thread.

    with RunningFleet(build_fleet_spec(20, seed=1, base="127.150.3.1")) as fleet:
        fleet.set_fault(fleet.addresses[0], Fault(FaultKind.HUNG))
        ... poll fleet.addresses over real sockets ...
        assert fleet.truth(fleet.addresses[1]).mining

Every method is called from the test's thread and waits until the loop has done the work, so a fault
set here is in force for the very next connection.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from hosting.emulator.clock import Clock
from hosting.emulator.control import start_control
from hosting.emulator.faults import Fault, FaultKind, FaultSchedule
from hosting.emulator.fleet import Fleet
from hosting.emulator.miner import MinerTruth
from hosting.emulator.server import FleetServer, new_event_loop, raise_fd_limit
from hosting.emulator.spec import FleetSpec

T = TypeVar("T")
_CALL_TIMEOUT_S = 30.0
_fleet_counter = itertools.count()


def fleet_base_address() -> str:
    """A first address for a test fleet that no other test process running now can be using.

    The second octet comes from the process id (127.100-199.x.y), the third from the pid and a counter,
    so each fleet a process starts gets its own /24 (up to four at once) and two processes collide only
    if their pids agree modulo 6,400.
    """
    pid = os.getpid()
    third = ((pid // 100) % 64) * 4 + next(_fleet_counter) % 4
    return f"127.{100 + pid % 100}.{third}.1"


class RunningFleet:
    """A started fleet server for tests; stop it with `stop()` or by leaving the `with` block."""

    def __init__(
        self,
        spec: FleetSpec,
        *,
        http: bool = False,
        schedule: FaultSchedule | None = None,
        clock: Clock | None = None,
        control: str | None = None,
    ) -> None:
        raise_fd_limit()
        self.spec = spec
        self.addresses: tuple[str, ...] = tuple(m.address for m in spec)
        self.fleet = Fleet(spec, clock=clock, schedule=schedule)
        self.server = FleetServer(self.fleet, http=http)
        self.control = control  # host:port of the JSON control API, when one is asked for
        self._control_runner: web.AppRunner | None = None
        self._loop = new_event_loop()
        self._ready = threading.Event()
        self._stopped = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"emulated-fleet-{spec.first_address}", daemon=True)
        self._thread.start()
        self._ready.wait(_CALL_TIMEOUT_S)
        error = self._startup_error()
        if error is not None:
            self._thread.join(_CALL_TIMEOUT_S)
            raise error

    def _startup_error(self) -> BaseException | None:
        return self._error  # set by the loop's thread when the server could not start

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except Exception as exc:  # noqa: BLE001 -- handed to the constructor, raised in the test's thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._stop())
            self._loop.close()

    async def _start(self) -> None:
        await self.server.start()
        if self.control is not None:
            self._control_runner = await start_control(self.server, self.control)

    async def _stop(self) -> None:
        if self._control_runner is not None:
            await self._control_runner.cleanup()
        await self.server.stop()

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the fleet's loop and wait for its result (the fleet is only touched there)."""
        if self._stopped:
            raise RuntimeError("the fleet is stopped")

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(_CALL_TIMEOUT_S)

    # ------------------------------------------------------------ the API tests use

    def set_fault(self, address: str, fault: Fault) -> None:
        self._call(lambda: self.server.set_fault(address, fault))

    def clear_fault(self, address: str, kind: FaultKind | None = None) -> None:
        self._call(lambda: self.server.clear_fault(address, kind))

    def truth(self, address: str) -> MinerTruth:
        return self._call(lambda: self.fleet.truth(address))

    def truths(self) -> list[MinerTruth]:
        return self._call(self.fleet.truths)

    def sleep(self, address: str) -> None:
        self._call(lambda: self.fleet.sleep(address))

    def wake(self, address: str) -> None:
        self._call(lambda: self.fleet.wake(address))

    def set_allow(self, address: str, networks: Sequence[str] | None) -> None:
        """Limit which client addresses the miner's API lets in (None: everyone)."""
        self._call(lambda: self.fleet.set_allow(address, networks))

    def apply_schedule(self) -> None:
        """Bring the seeded schedule's faults up to date now rather than at the next tick."""
        self._call(lambda: self.server.apply_schedule())

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CALL_TIMEOUT_S)

    def __enter__(self) -> RunningFleet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
