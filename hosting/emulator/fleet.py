"""The emulated fleet's state: one node per miner (physics, firmware personality, faults), no sockets.

Every change goes through `Fleet` on the event loop's thread; the server and the control interface
only call it. Time is read in whole seconds: that is the unit of `When`, and a request that joins
several commands, or several requests in the same second, then share one computed reading.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from hosting.emulator import cgminer
from hosting.emulator.catalog import Personality as Kind
from hosting.emulator.cgminer import Context, Personality
from hosting.emulator.clock import Clock, SystemClock
from hosting.emulator.faults import Fault, FaultKind, FaultSchedule
from hosting.emulator.firmware import personality_for
from hosting.emulator.miner import EmulatedMiner, MinerTruth
from hosting.emulator.spec import FleetSpec, MinerSpec

# Personalities whose pyasic driver also talks HTTP on port 80 (stock CGI, Braiins LuCI).
WEB_PERSONALITIES = frozenset({Kind.ANTMINER_STOCK, Kind.BRAIINS})


class UnknownMinerError(KeyError):
    """No emulated miner at that address."""


@dataclass(eq=False)
class Node:
    """One emulated miner as the network sees it."""

    spec: MinerSpec
    miner: EmulatedMiner
    personality: Personality
    # Clients allowed to use the API (cgminer --api-allow); None lets everyone in. Others are accepted
    # and closed without a byte (protocol README, "Privileged vs read-only").
    allow: tuple[ipaddress.IPv4Network, ...] | None = None
    manual: set[FaultKind] = field(default_factory=set)  # faults set through the control interface
    scheduled: frozenset[FaultKind] = frozenset()  # faults the seeded schedule has on it now
    lock: asyncio.Lock | None = None  # made on the first slow reply: requests then queue like api.c's

    @property
    def address(self) -> str:
        return self.spec.address

    @property
    def offline(self) -> bool:
        return FaultKind.OFFLINE in self.miner.faults

    @property
    def serves_web(self) -> bool:
        return self.spec.personality in WEB_PERSONALITIES

    def allows(self, client: str) -> bool:
        if self.allow is None:
            return True
        ip = ipaddress.IPv4Address(client)
        return any(ip in network for network in self.allow)


class Fleet:
    def __init__(self, spec: FleetSpec, *, clock: Clock | None = None, schedule: FaultSchedule | None = None) -> None:
        self.spec = spec
        self.clock: Clock = clock or SystemClock()
        self.schedule = schedule
        now = self.now()
        self._order = [Node(m, EmulatedMiner.create(m, now), personality_for(m.model)) for m in spec]
        for node in self._order:
            node.miner.reading(now)  # draws each unit's constants now rather than on its first request
        self.nodes: dict[str, Node] = {node.address: node for node in self._order}
        self._seeds = tuple(m.seed for m in spec)

    def now(self) -> float:
        return float(int(self.clock.now()))

    def __iter__(self) -> Iterator[Node]:
        return iter(self._order)

    def node(self, address: str) -> Node:
        try:
            return self.nodes[address]
        except KeyError:
            raise UnknownMinerError(address) from None

    # ------------------------------------------------------------ the wire

    def respond(self, node: Node, request: bytes) -> bytes:
        """The reply bytes (with the trailing NUL) to one RPC request."""
        return cgminer.respond(request, node.personality, Context(node.miner, self.now()))

    # ------------------------------------------------------------ control

    def set_fault(self, address: str, fault: Fault) -> Node:
        node = self.node(address)
        node.manual.add(fault.kind)
        node.miner.set_fault(self.now(), fault)
        return node

    def clear_fault(self, address: str, kind: FaultKind | None = None) -> Node:
        node = self.node(address)
        if kind is None:
            node.manual.clear()
        else:
            node.manual.discard(kind)
        node.miner.clear_fault(self.now(), kind)
        return node

    def sleep(self, address: str) -> Node:
        """Hashboards off, as each firmware's own sleep command does; stays asleep across a reboot."""
        node = self.node(address)
        node.miner.work_mode = 1
        node.miner.sleep(self.now())
        return node

    def wake(self, address: str) -> Node:
        node = self.node(address)
        if node.miner.work_mode == 1:
            node.miner.work_mode = 0
        node.miner.hashpower_locked = False  # the operator's wake stands for the reboot Avalon needs
        node.miner.wake(self.now(), restart_process=node.spec.personality is not Kind.BRAIINS)
        return node

    def set_allow(self, address: str, networks: Sequence[str] | None) -> Node:
        node = self.node(address)
        node.allow = None if networks is None else tuple(ipaddress.IPv4Network(n) for n in networks)
        return node

    def truth(self, address: str) -> MinerTruth:
        return self.node(address).miner.truth(self.now())

    def truths(self) -> list[MinerTruth]:
        now = self.now()
        return [node.miner.truth(now) for node in self._order]

    # ------------------------------------------------------------ the seeded schedule

    def apply_schedule(self) -> list[Node]:
        """Bring scheduled faults up to date; returns the nodes whose faults changed."""
        if self.schedule is None:
            return []
        now = self.now()
        active = self.schedule.active(self._seeds, now)
        changed = []
        for position, node in enumerate(self._order):
            want = active.get(position, frozenset())
            kinds = frozenset(f.kind for f in want)
            if kinds == node.scheduled:
                continue
            for kind in node.scheduled - kinds:
                if kind not in node.manual:  # a fault an operator set outlives the schedule's window
                    node.miner.clear_fault(now, kind)
            for fault in want:
                if fault.kind not in node.miner.faults:
                    node.miner.set_fault(now, fault)
            node.scheduled = kinds
            changed.append(node)
        return changed
