"""Network and hardware faults, set at run time, as a client on a real socket meets them."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from hosting.emulator.clock import ManualClock
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.miner import OVERHEAT_RISE_C
from hosting.emulator.spec import RPC_PORT, single_model_fleet
from hosting.emulator.testing import RunningFleet, fleet_base_address
from hosting.tests.conftest import FleetFactory
from hosting.tests.emulator.wire import exchange, reads, rpc

SUMMARY = b'{"command":"summary"}'


def test_offline_miner_refuses_connections_until_cleared(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=2, model_key="antminer-s19-pro")
    down, up = fleet.addresses
    fleet.set_fault(down, Fault(FaultKind.OFFLINE))
    with pytest.raises(ConnectionRefusedError):
        exchange(down, SUMMARY)
    assert rpc(up, "summary")["STATUS"][0]["STATUS"] == "S"
    fleet.clear_fault(down, FaultKind.OFFLINE)
    assert rpc(down, "summary")["STATUS"][0]["STATUS"] == "S"


def test_hung_miner_accepts_reads_and_never_answers(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=2, model_key="whatsminer-m50")
    hung, fine = fleet.addresses
    fleet.set_fault(hung, Fault(FaultKind.HUNG))
    with socket.create_connection((hung, RPC_PORT), timeout=0.3) as sock:  # the kernel accepts
        sock.sendall(SUMMARY)
        with pytest.raises(TimeoutError):
            sock.recv(1024)
    assert rpc(fine, "summary")["SUMMARY"][0]["Power"] > 0  # its neighbour is not held up
    fleet.clear_fault(hung)
    assert rpc(hung, "summary")["STATUS"][0]["STATUS"] == "S"


def test_slow_miner_answers_in_full_after_its_delay(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s9")
    address = fleet.addresses[0]
    fleet.set_fault(address, Fault(FaultKind.SLOW, delay_s=0.3))
    started = time.monotonic()
    raw = exchange(address, SUMMARY)
    assert time.monotonic() - started >= 0.3
    assert json.loads(raw[:-1])["SUMMARY"][0]["MHS 5s"] > 0


def test_garbage_reply_is_not_json(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s9")
    address = fleet.addresses[0]
    fleet.set_fault(address, Fault(FaultKind.GARBAGE))
    raw = exchange(address, SUMMARY)
    assert raw
    with pytest.raises(UnicodeDecodeError):  # high bytes: not even text
        raw.rstrip(b"\x00").decode()


def test_truncated_reply_is_the_start_of_the_real_one_without_nul(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    address = fleet.addresses[0]
    whole = exchange(address, b'{"command":"estats"}')
    fleet.set_fault(address, Fault(FaultKind.TRUNCATED, keep_fraction=0.4))
    cut = exchange(address, b'{"command":"estats"}')
    assert not cut.endswith(b"\x00")
    assert abs(len(cut) - 0.4 * len(whole)) < 0.05 * len(whole)
    assert cut[:20] == whole[:20]
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut)


def test_dribbled_reply_arrives_in_pieces_and_whole(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-pro")
    address = fleet.addresses[0]
    fleet.set_fault(address, Fault(FaultKind.DRIBBLE, chunk_bytes=200, chunk_delay_s=0.005))
    chunks = reads(address, b'{"command":"stats"}')
    raw = b"".join(chunks)
    assert len(chunks) >= len(raw) // 200 // 2  # many small reads, not one
    assert raw.endswith(b"\x00")
    assert json.loads(raw[:-1])["STATS"][1]["ID"] == "BTM_SOC0"


def test_requests_to_a_busy_miner_wait_their_turn(emulated_fleet: FleetFactory) -> None:
    # cgminer's API is one thread: a second client waits while the first reply is being slow.
    fleet = emulated_fleet(count=1, model_key="avalon-a1246")
    address = fleet.addresses[0]
    fleet.set_fault(address, Fault(FaultKind.SLOW, delay_s=0.25))
    finished: list[float] = []
    started = time.monotonic()

    def poll() -> None:
        exchange(address, SUMMARY)
        finished.append(time.monotonic() - started)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(finished) >= 0.5


def test_board_lost_takes_its_share_of_hashrate_and_power(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s17-pro")
    address = fleet.addresses[0]
    before = fleet.truth(address)
    fleet.set_fault(address, Fault(FaultKind.BOARD_LOST, board=1))
    after = fleet.truth(address)
    assert after.board_hashrates_ths[1] == 0.0
    assert after.hashrate_ths == pytest.approx(before.hashrate_ths - before.board_hashrates_ths[1], rel=0.01)
    assert after.power_w < before.power_w * 0.75
    assert [d["ID"] for d in rpc(address, "devs")["DEVS"]] == [1, 3]  # chain 2 is gone from devs
    assert after.faults == ("board_lost",)


def test_fan_failure_stops_one_fan_and_runs_the_rest_flat_out(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s19j-pro")
    address = fleet.addresses[0]
    fleet.set_fault(address, Fault(FaultKind.FAN_FAILURE, fan=2))
    truth = fleet.truth(address)
    assert truth.fans_rpm[2] == 0
    assert all(rpm > 5000 for n, rpm in enumerate(truth.fans_rpm) if n != 2)
    fans = rpc(address, "fans")["FANS"]
    assert [f["RPM"] for f in fans] == list(truth.fans_rpm)
    assert {f["Speed"] for f in fans} == {100}


def test_overheat_drives_board_temperatures_up_over_minutes() -> None:
    clock = ManualClock()
    spec = single_model_fleet("whatsminer-m30s-pp", 1, 3, fleet_base_address())
    with RunningFleet(spec, clock=clock) as fleet:
        address = fleet.addresses[0]
        cool = fleet.truth(address)
        fleet.set_fault(address, Fault(FaultKind.OVERHEAT))
        clock.advance(900)  # several thermal time constants
        hot = fleet.truth(address)
        rise = [h - c for h, c in zip(hot.board_temps_c, cool.board_temps_c, strict=True)]
        assert all(OVERHEAT_RISE_C * 0.9 < r < OVERHEAT_RISE_C * 1.3 for r in rise)
        reported = rpc(address, "summary")["SUMMARY"][0]
        assert float(reported["Temperature"]) == pytest.approx(max(hot.board_temps_c), abs=0.01)
        assert int(reported["Fan Speed In"]) == hot.fans_rpm[0]
        errors = rpc(address, "get_error_code")["Msg"]["error_code"]
        assert any("360" in entry for entry in errors)
