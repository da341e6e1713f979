"""Faults a miner can be put into, and the seeded schedule that puts miners into them over time."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hosting.emulator import rng


class FaultKind(enum.StrEnum):
    # Network behaviour (quirks.md Q15, Q16)
    OFFLINE = "offline"  # stop listening: connections are refused, as while bmminer restarts
    HUNG = "hung"  # accept, read the request, never answer
    SLOW = "slow"  # answer after `delay_s`
    GARBAGE = "garbage"  # answer bytes that are not JSON
    TRUNCATED = "truncated"  # answer the first part of the real reply, no NUL, then close
    DRIBBLE = "dribble"  # the whole reply, in small chunks with pauses between them (quirks.md Q14)
    # Hardware behaviour, visible in the readings
    OVERHEAT = "overheat"  # cooling cannot keep up: board and chip temperatures climb
    BOARD_LOST = "board_lost"  # one hashboard drops out: its share of hashrate and power is gone
    FAN_FAILURE = "fan_failure"  # one fan stops; the others run flat out and the boards run hotter


NETWORK_FAULTS = frozenset(
    {FaultKind.OFFLINE, FaultKind.HUNG, FaultKind.SLOW, FaultKind.GARBAGE, FaultKind.TRUNCATED, FaultKind.DRIBBLE}
)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    delay_s: float = 3.0  # SLOW
    board: int | None = None  # BOARD_LOST: 0-based board position, default the last board
    fan: int = 0  # FAN_FAILURE: 0-based fan position
    keep_fraction: float = 0.5  # TRUNCATED: share of the reply that gets out
    chunk_bytes: int = 64  # DRIBBLE: bytes per write
    chunk_delay_s: float = 0.02  # DRIBBLE: pause between writes

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "delay_s": self.delay_s,
            "board": self.board,
            "fan": self.fan,
            "keep_fraction": self.keep_fraction,
            "chunk_bytes": self.chunk_bytes,
            "chunk_delay_s": self.chunk_delay_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Fault:
        """Parse the admin interface's JSON form; raises ValueError naming the bad field."""
        kind = FaultKind(str(data.get("kind")))
        delay = data.get("delay_s", 3.0)
        board = data.get("board")
        fan = data.get("fan", 0)
        keep = data.get("keep_fraction", 0.5)
        chunk = data.get("chunk_bytes", 64)
        chunk_delay = data.get("chunk_delay_s", 0.02)
        if not isinstance(delay, int | float) or delay < 0:
            raise ValueError("delay_s must be a non-negative number")
        if board is not None and (not isinstance(board, int) or board < 0):
            raise ValueError("board must be a non-negative integer")
        if not isinstance(fan, int) or fan < 0:
            raise ValueError("fan must be a non-negative integer")
        if not isinstance(keep, int | float) or not 0 <= keep < 1:
            raise ValueError("keep_fraction must be in [0, 1)")
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError("chunk_bytes must be a positive integer")
        if not isinstance(chunk_delay, int | float) or chunk_delay < 0:
            raise ValueError("chunk_delay_s must be a non-negative number")
        return cls(kind, float(delay), board, fan, float(keep), chunk, float(chunk_delay))


@dataclass(frozen=True)
class FaultPlan:
    """At any moment about `fraction` of the fleet has `kind`; each episode lasts `duration_s` (or a run of them).

    Each miner's time is cut into slots of `duration_s`, shifted by a seeded phase so the fleet does not
    change all at once; in each slot the miner draws whether it is faulty.
    """

    kind: FaultKind
    fraction: float
    duration_s: float = 600.0


def parse_fault_plans(text: str, duration_s: float = 600.0) -> tuple[FaultPlan, ...]:
    """Parse `hung=0.01,offline=0.02` (share of the fleet in each fault at any moment)."""
    if duration_s <= 0:
        raise ValueError("a fault must last a positive number of seconds")
    plans = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault plan {part!r} is not kind=fraction")
        try:
            kind = FaultKind(name.strip())
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"unknown fault {name!r}; known: {known}") from None
        fraction = float(value)
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction for {name} must be in [0, 1]")
        plans.append(FaultPlan(kind, fraction, duration_s))
    return tuple(plans)


@dataclass(frozen=True)
class FaultSchedule:
    """Which scheduled faults are active at a time is a pure function of (seed, miner seeds, time)."""

    seed: int
    plans: tuple[FaultPlan, ...]
    epoch: float  # the schedule's time zero (fleet start)
    # Per (plan, fleet): each miner's phase, and its last (slot, faulty) draw, so that a tick over
    # 10,000 miners hashes only those whose slot has just turned.
    _phases: dict[tuple[int, int], list[float]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _draws: dict[tuple[int, int], list[tuple[int, bool]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def active(self, miner_seeds: Sequence[int], now: float) -> dict[int, frozenset[Fault]]:
        """Miner position -> faults the schedule has on it at `now` (miners without any are left out)."""
        elapsed = now - self.epoch
        if elapsed < 0:
            return {}
        fleet_key = hash(tuple(miner_seeds))
        result: dict[int, set[Fault]] = {}
        for plan_no, plan in enumerate(self.plans):
            if plan.fraction <= 0:
                continue
            key = (plan_no, fleet_key)
            phases = self._phases.get(key)
            if phases is None:
                phases = self._phases[key] = [
                    rng.uniform(self.seed, plan_no, s, 0xF4A5E) * plan.duration_s for s in miner_seeds
                ]
                self._draws[key] = [(-1, False)] * len(miner_seeds)
            draws = self._draws[key]
            fault = Fault(plan.kind)
            for position, phase in enumerate(phases):
                slot = int((elapsed + phase) // plan.duration_s)
                last_slot, faulty = draws[position]
                if slot != last_slot:
                    faulty = rng.uniform(self.seed, plan_no, slot, miner_seeds[position]) < plan.fraction
                    draws[position] = (slot, faulty)
                if faulty:
                    result.setdefault(position, set()).add(fault)
        return {position: frozenset(faults) for position, faults in result.items()}
