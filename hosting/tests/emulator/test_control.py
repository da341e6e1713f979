"""Control commands change the emulated miner itself: asleep means no hashrate and standby power."""

from __future__ import annotations

import json

import httpx
import pytest

from hosting.emulator.catalog import MODELS
from hosting.emulator.clock import ManualClock
from hosting.emulator.miner import WAKE_RAMP_S
from hosting.emulator.spec import single_model_fleet
from hosting.emulator.testing import RunningFleet, fleet_base_address
from hosting.emulator.web import WEB_PASSWORD, WEB_USER
from hosting.tests.conftest import FleetFactory
from hosting.tests.emulator.wire import exchange, rpc


def test_sleep_drops_hashrate_to_zero_and_power_to_standby_then_wake_ramps_back() -> None:
    clock = ManualClock()
    spec = single_model_fleet("antminer-s21", 1, 5, fleet_base_address())
    with RunningFleet(spec, clock=clock) as fleet:
        address = fleet.addresses[0]
        fleet.sleep(address)
        asleep = fleet.truth(address)
        assert not asleep.mining
        assert asleep.hashrate_ths == 0.0
        assert asleep.power_w == MODELS["antminer-s21"].standby_w
        assert rpc(address, "summary")["SUMMARY"][0]["GHS 5s"] == 0.0
        fleet.wake(address)
        clock.advance(WAKE_RAMP_S / 2)
        ramping = fleet.truth(address)
        clock.advance(WAKE_RAMP_S)
        awake = fleet.truth(address)
        assert ramping.mining
        assert 0.3 * awake.hashrate_ths < ramping.hashrate_ths < 0.7 * awake.hashrate_ths
        assert awake.hashrate_ths > 0.9 * MODELS["antminer-s21"].nominal_ths
        assert awake.elapsed_s < 2 * WAKE_RAMP_S  # bmminer started again on wake (Q8)


def test_braiins_pause_and_resume(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s9")
    address = fleet.addresses[0]
    paused = rpc(address, "pause")
    assert paused["PAUSE"] == [True]
    assert paused["STATUS"][0]["Code"] == 204
    truth = fleet.truth(address)
    assert not truth.mining
    assert truth.power_w == MODELS["braiins-s9"].standby_w
    assert all(d["MHS 5s"] == 0 for d in rpc(address, "devs")["DEVS"])
    assert rpc(address, "resume")["RESUME"] == [True]
    assert fleet.truth(address).mining


def test_avalon_softoff_shows_idle_and_softon_resumes(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    address = fleet.addresses[0]
    reply = rpc(address, "ascset", "0,softoff,1:1735689605")
    assert "success" in reply["STATUS"][0]["Msg"]
    mm = rpc(address, "estats")["STATS"][0]["MM ID0"]
    assert "SoftOFF[1]" in mm
    assert "SYSTEMSTATU[Work: In Idle, Hash Board: 3 ]" in mm
    assert fleet.truth(address).power_w == MODELS["avalon-a1566"].standby_w
    assert "success" in rpc(address, "ascset", "0,softon,1:1735689605")["STATUS"][0]["Msg"]
    assert fleet.truth(address).mining


def test_avalon_hashpower_off_holds_until_reboot(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1246")
    address = fleet.addresses[0]
    reply = rpc(address, "ascset", "0,hashpower,0")
    assert reply["STATUS"][0]["Msg"] == "ASC 0 set info: Power off hash now ..."
    rpc(address, "ascset", "0,softon")
    assert not fleet.truth(address).mining  # only a reboot powers the boards (commands.md 2.5)
    assert "SoftOFF[0]" in rpc(address, "estats")["STATS"][0]["MM ID0"]
    assert rpc(address, "ascset", "0,reboot,0")["STATUS"][0]["Code"] == 119
    truth = fleet.truth(address)
    assert truth.mining
    assert truth.uptime_s < 5


def test_avalon_worklevel_sets_the_power_limit(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    address = fleet.addresses[0]
    assert rpc(address, "ascset", "0,worklevel,set,0")["STATUS"][0]["Msg"] == "ASC 0 set OK"
    nominal = MODELS["avalon-a1566"].nominal_w
    assert fleet.truth(address).power_limit_w == int(nominal * 0.8)
    assert f"MPO[{int(nominal * 0.8)}]" in rpc(address, "estats")["STATS"][0]["MM ID0"]


def test_avalon_restart_answers_restart_and_resets_elapsed(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    address = fleet.addresses[0]
    assert json.loads(exchange(address, b'{"command":"restart"}')[:-1]) == {"STATUS": "RESTART", "id": 1}
    assert fleet.truth(address).elapsed_s < 5


def test_whatsminer_write_without_encryption_is_refused(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m50")
    address = fleet.addresses[0]
    reply = json.loads(exchange(address, b'{"cmd":"power_off"}')[:-1])
    assert (reply["STATUS"], reply["Code"], reply["Msg"]) == ("E", 45, "can't access write cmd")
    assert fleet.truth(address).mining


def test_antminer_cgi_sleep_and_wake_behind_digest_auth(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19j-pro", http=True)
    address = fleet.addresses[0]
    base = f"http://{address}/cgi-bin"
    assert httpx.get(f"{base}/get_miner_conf.cgi").status_code == 401
    auth = httpx.DigestAuth(WEB_USER, WEB_PASSWORD)
    with httpx.Client(auth=auth, timeout=5) as client:
        assert client.get(f"{base}/get_miner_conf.cgi").json()["bitmain-work-mode"] == "0"
        reply = client.post(f"{base}/set_miner_conf.cgi", json={"miner-mode": 1, "freq-level": "100"})
        assert reply.json()["code"] == "M000"
        assert client.get(f"{base}/get_miner_conf.cgi").json()["bitmain-work-mode"] == "1"
        truth = fleet.truth(address)
        assert not truth.mining
        assert truth.power_w == MODELS["antminer-s19j-pro"].standby_w
        client.post(f"{base}/set_miner_conf.cgi", json={"miner-mode": "0"})  # the string form (pyasic #49)
        assert fleet.truth(address).mining
        wrong = httpx.get(f"{base}/get_miner_conf.cgi", auth=httpx.DigestAuth(WEB_USER, "nope"))
        assert wrong.status_code == 401


def test_control_api_lists_truth_sets_faults_and_sleeps() -> None:
    spec = single_model_fleet("whatsminer-m30s", 3, 9, fleet_base_address())
    control = f"{spec.first_address}:4029"
    with RunningFleet(spec, control=control) as fleet, httpx.Client(base_url=f"http://{control}") as api:
        address = fleet.addresses[1]
        miners = api.get("/miners").json()["miners"]
        assert [m["address"] for m in miners] == list(fleet.addresses)
        assert miners[1]["hashrate_ths"] == pytest.approx(fleet.truth(address).hashrate_ths, rel=0.05)
        set_fault = api.post(f"/miners/{address}/faults", json={"kind": "fan_failure", "fan": 1})
        assert set_fault.json()["faults"] == ["fan_failure"]
        assert fleet.truth(address).fans_rpm[1] == 0
        assert api.post(f"/miners/{address}/faults", json={"kind": "smoke"}).status_code == 400
        cleared = api.delete(f"/miners/{address}/faults", params={"kind": "fan_failure"})
        assert cleared.json()["faults"] == []
        assert api.post(f"/miners/{address}/sleep").json()["mining"] is False
        assert not fleet.truth(address).mining
        assert api.post(f"/miners/{address}/wake").json()["mining"] is True
        assert api.get("/miners/127.0.0.9").status_code == 404
