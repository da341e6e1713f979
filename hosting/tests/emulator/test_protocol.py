"""The CGMiner RPC protocol as the emulator speaks it, on real loopback sockets."""

from __future__ import annotations

import json

import pytest

from hosting.tests.conftest import FleetFactory
from hosting.tests.emulator.wire import exchange, rpc


def test_reply_is_json_then_one_nul_then_close(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-pro")
    raw = exchange(fleet.addresses[0], b'{"command":"summary"}')
    assert raw.endswith(b"\x00")
    assert raw.count(b"\x00") == 1
    body = json.loads(raw[:-1])
    status = body["STATUS"][0]
    assert (status["STATUS"], status["Code"], status["Msg"]) == ("S", 11, "Summary")
    assert body["id"] == 1
    truth = fleet.truth(fleet.addresses[0])
    assert abs(body["SUMMARY"][0]["GHS 5s"] / 1000 - truth.hashrate_ths) < 0.1 * truth.hashrate_ths


def test_request_may_end_with_a_nul_or_newline_in_json_mode(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s9")
    raw = exchange(fleet.addresses[0], b'{"command":"version"}\n\x00')
    assert json.loads(raw[:-1])["VERSION"][0]["BOSminer+"] == "0.2.0-36c56a9363"


def test_text_request_gets_text_reply(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    raw = exchange(fleet.addresses[0], b"summary")
    text = raw[:-1].decode()
    assert raw.endswith(b"|\x00")
    assert text.startswith("STATUS=S,When=")
    assert "Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=" in text
    assert ",MHS 30s=" in text


def test_text_parameter_after_pipe(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1246")
    text = exchange(fleet.addresses[0], b"ascset|0,workmode,255")[:-1].decode()
    assert text.startswith("STATUS=I,")
    assert "Code=118,Msg=ASC 0 set info: WORKMODE[1]," in text


def test_text_request_with_trailing_newline_is_an_invalid_command(emulated_fleet: FleetFactory) -> None:
    # api.c keeps the newline as part of the command name (quirks.md Q18).
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    text = exchange(fleet.addresses[0], b"summary\n")[:-1].decode()
    assert text.startswith("STATUS=E,")
    assert "Code=14,Msg=Invalid command" in text


def test_joined_commands_answer_one_slot_each(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s17-pro")
    body = rpc(fleet.addresses[0], "summary+temps++summary+fans")  # duplicate and empty names dropped
    assert set(body) == {"summary", "temps", "fans", "id"}
    assert body["summary"][0]["STATUS"][0]["Code"] == 11
    assert body["temps"][0]["STATUS"][0]["Code"] == 201
    assert len(body["fans"][0]["FANS"]) == 4
    assert body["id"] == 1


def test_joined_privileged_command_is_denied_in_its_slot(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    body = rpc(fleet.addresses[0], "summary+ascset")
    assert body["summary"][0]["STATUS"][0]["STATUS"] == "S"
    assert body["ascset"][0]["STATUS"][0]["Code"] == 45
    assert fleet.truth(fleet.addresses[0]).mining


def test_joined_unknown_command_answers_e14_in_its_slot(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m50")
    body = rpc(fleet.addresses[0], "summary+bogus")
    assert body["summary"][0]["SUMMARY"][0]["Power"] > 0
    assert body["bogus"][0]["STATUS"][0]["Code"] == 14


def test_unknown_command_is_e14(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s9")
    status = rpc(fleet.addresses[0], "bogus")["STATUS"][0]
    assert (status["STATUS"], status["Code"], status["Msg"]) == ("E", 14, "Invalid command")


def test_bad_json_and_missing_command(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19j-pro")
    address = fleet.addresses[0]
    bad = json.loads(exchange(address, b'{"command":')[:-1])
    assert bad["STATUS"][0]["Code"] == 23
    missing = json.loads(exchange(address, b'{"cmd":"summary"}')[:-1])
    assert missing["STATUS"][0]["Code"] == 24


def test_whatsminer_takes_cmd_as_well_as_command(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m30s-pp")
    body = json.loads(exchange(fleet.addresses[0], b'{"cmd":"summary"}')[:-1])
    assert body["SUMMARY"][0]["Firmware Version"] == "'20210109.22.REL'"


def test_antminer_read_group_denies_privileged_commands_e45(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-pro")
    status = rpc(fleet.addresses[0], "restart")["STATUS"][0]
    assert (status["STATUS"], status["Code"]) == ("E", 45)
    assert status["Msg"] == "Access denied to 'restart' command"
    assert fleet.truth(fleet.addresses[0]).elapsed_s > 3600  # nothing restarted


def test_client_outside_api_allow_gets_zero_bytes(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-pro")
    address = fleet.addresses[0]
    fleet.set_allow(address, ["127.0.0.2/32"])
    assert exchange(address, b'{"command":"summary"}', source="127.0.0.1") == b""
    allowed = exchange(address, b'{"command":"summary"}', source="127.0.0.2")
    assert json.loads(allowed[:-1])["STATUS"][0]["STATUS"] == "S"


# ---------------------------------------------------------------- firmware quirks on the wire


def test_s9_stats_glues_the_first_two_objects(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s9")
    raw = exchange(fleet.addresses[0], b'{"command":"stats"}')
    assert b'"Type":"Antminer S9"}{"STATS":0,"ID":"BC50"' in raw  # quirks.md Q2
    stats = rpc(fleet.addresses[0], "stats")["STATS"][1]
    assert stats["chain_acn6"] == 63
    assert stats["chain_acn1"] == 0  # the S9's boards sit in slots 6-8 (Q7)
    assert isinstance(stats["GHS 5s"], str)  # a string on the S9 (Q4)


def test_s19_pools_spell_pool_stale_with_two_percent_signs(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-xp")
    raw = exchange(fleet.addresses[0], b'{"command":"pools"}')
    assert b'"Pool Stale%%": ' in raw  # Q6, with the S19's spaced separators (Q19)
    pool = json.loads(raw[:-1])["POOLS"][0]
    assert pool["Last Share Time"].count(":") == 2  # H:MM:SS since the last share (Q8)


def test_whatsminer_numbers_pools_from_one(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m30s")
    assert [p["POOL"] for p in rpc(fleet.addresses[0], "pools")["POOLS"]] == [1, 2, 3]


def test_avalon_clock_counts_from_boot_and_mm_string_carries_telemetry(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    address = fleet.addresses[0]
    body = rpc(address, "estats")
    truth = fleet.truth(address)
    assert abs(body["STATUS"][0]["When"] - truth.uptime_s) <= 2  # boot-relative, not Unix time (Q8)
    mm = body["STATS"][0]["MM ID0"]
    assert "SYSTEMSTATU[Work: In Work, Hash Board: 3 ]" in mm
    wall = int(mm.split("WALLPOWER[", 1)[1].split("]", 1)[0])
    assert wall == pytest.approx(truth.power_w, rel=0.02)
    assert "SoftOFF[0]" in mm
    assert len(body["STATS"]) == 1  # estats leaves out the pool entries
    assert len(rpc(address, "stats")["STATS"]) == 4


def test_braiins_sorts_keys_and_reports_temperatures_in_temps(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s17-pro")
    address = fleet.addresses[0]
    summary = rpc(address, "summary")["SUMMARY"][0]
    assert list(summary) == sorted(summary)
    assert {d["Temperature"] for d in rpc(address, "devs")["DEVS"]} == {0.0}
    temps = rpc(address, "temps")["TEMPS"]
    truth = fleet.truth(address)
    assert [t["Board"] for t in temps] == pytest.approx(truth.board_temps_c, abs=0.2)
