"""The seeded fault schedule and the fleet spec are pure functions of their seeds."""

from __future__ import annotations

import pytest

from hosting.emulator.clock import ManualClock
from hosting.emulator.faults import FaultKind, FaultPlan, FaultSchedule, parse_fault_plans
from hosting.emulator.spec import build_fleet_spec
from hosting.emulator.testing import RunningFleet, fleet_base_address
from hosting.tests.emulator.wire import exchange

SEEDS = tuple(range(1000, 3000))


def _faulty(schedule: FaultSchedule, at: float) -> dict[int, set[FaultKind]]:
    return {pos: {f.kind for f in faults} for pos, faults in schedule.active(SEEDS, at).items()}


def test_schedule_is_deterministic_per_seed() -> None:
    plans = parse_fault_plans("hung=0.05,offline=0.02", duration_s=600)
    moments = [100.0 * k for k in range(72)]

    def run(seed: int) -> list[dict[int, set[FaultKind]]]:
        schedule = FaultSchedule(seed, plans, epoch=0.0)
        return [_faulty(schedule, t) for t in moments]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_schedule_keeps_the_planned_share_in_episodes_of_the_planned_length() -> None:
    plan = FaultPlan(FaultKind.HUNG, fraction=0.1, duration_s=300.0)
    schedule = FaultSchedule(3, (plan,), epoch=0.0)
    shares = []
    runs: dict[int, list[int]] = {}  # miner -> lengths of its faulty runs, in 10 s steps
    previous: set[int] = set()
    for step in range(720):  # two hours on a 10 s grid
        now = set(schedule.active(SEEDS, step * 10.0))
        shares.append(len(now) / len(SEEDS))
        for position in now:
            if position in previous:
                runs[position][-1] += 1
            else:
                runs.setdefault(position, []).append(1)
        previous = now
    assert 0.08 < sum(shares) / len(shares) < 0.12
    assert max(shares) < 0.15  # staggered phases: the fleet never flips all at once
    inner = [n for lengths in runs.values() for n in lengths[1:-1]]  # runs cut by the window's ends left out
    assert inner
    assert all(n % 30 == 0 for n in inner)  # whole slots of 300 s
    assert schedule.active(SEEDS, -1.0) == {}


def test_fault_plans_are_parsed_and_bad_ones_named() -> None:
    plans = parse_fault_plans("hung=0.01, offline=0.02,", duration_s=60)
    assert [(p.kind, p.fraction, p.duration_s) for p in plans] == [
        (FaultKind.HUNG, 0.01, 60),
        (FaultKind.OFFLINE, 0.02, 60),
    ]
    with pytest.raises(ValueError, match="unknown fault 'smoke'"):
        parse_fault_plans("smoke=0.1")
    with pytest.raises(ValueError, match="must be in"):
        parse_fault_plans("hung=2")


def test_fleet_spec_is_deterministic_and_mixes_personalities() -> None:
    a = build_fleet_spec(300, 11, "127.1.0.1")
    assert a == build_fleet_spec(300, 11, "127.1.0.1")
    assert a != build_fleet_spec(300, 12, "127.1.0.1")
    assert {m.personality.value for m in a} == {"antminer_stock", "antminer_legacy", "braiins", "whatsminer", "avalon"}
    assert len({m.address for m in a}) == 300
    assert all(not m.address.endswith((".0", ".255")) for m in a)
    with pytest.raises(ValueError, match=r"not in 127\.0\.0\.0/8"):
        build_fleet_spec(3, 1, "10.0.0.1")


def test_running_fleet_applies_the_schedule_and_offline_miners_refuse() -> None:
    clock = ManualClock(start=10_000.0)
    spec = build_fleet_spec(40, 21, fleet_base_address())
    plans = (FaultPlan(FaultKind.OFFLINE, fraction=0.25, duration_s=3600.0),)
    schedule = FaultSchedule(21, plans, epoch=10_000.0)
    expected = set(schedule.active([m.seed for m in spec], 10_000.0))
    assert expected
    with RunningFleet(spec, schedule=schedule, clock=clock) as fleet:
        offline = {n for n, address in enumerate(fleet.addresses) if "offline" in fleet.truth(address).faults}
        assert offline == expected
        down = fleet.addresses[min(offline)]
        with pytest.raises(ConnectionRefusedError):
            exchange(down, b'{"command":"summary"}')
        clock.advance(3600.0)  # every miner's slot has turned: each draws again
        fleet.apply_schedule()
        now_offline = {n for n, address in enumerate(fleet.addresses) if "offline" in fleet.truth(address).faults}
        assert now_offline == set(schedule.active([m.seed for m in spec], 13_600.0))
        back = offline - now_offline
        assert back
        assert exchange(fleet.addresses[min(back)], b'{"command":"summary"}').endswith(b"\x00")
