"""Parsing real captured replies of each firmware into one normalised reading."""

from pathlib import Path

import pytest

from hosting.choices import Firmware
from hosting.clients.cgminer import JsonObject, joined_slot, parse_reply, rpc_status, rpc_status_ok
from hosting.clients.readings import bracket_fields, dash_list, reading_parse

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> JsonObject:
    data = parse_reply((SAMPLES / name).read_bytes())
    assert data is not None, name
    return data


def test_dash_lists_keep_negative_readings_apart_from_separators() -> None:
    assert dash_list("2--1-20-22") == [2, -1, 20, 22]
    assert dash_list("-8--11-10-12") == [-8, -11, 10, 12]
    assert dash_list("0-0-0-0") == [0, 0, 0, 0]


def test_glued_s9_stats_parse_after_repair_and_keep_the_model_newline() -> None:
    data = sample("antminer_s9_bmminer_stats.txt")

    stats = data["STATS"]

    assert isinstance(stats, list)
    assert stats[0]["Type"] == "Antminer S9\nV1.3.58"
    assert stats[1]["ID"] == "BC50"


def test_antminer_s9_reading_uses_slots_six_to_eight_and_drops_the_broken_sensor() -> None:
    reading = reading_parse(
        firmware=Firmware.ANTMINER_STOCK, replies={"stats": sample("antminer_s9_bmminer_stats.txt")}
    )

    assert reading.hashrate_ths == pytest.approx(13.88381)
    assert reading.chip_temp_max_c == 75
    assert reading.board_temp_max_c == 62  # temp2_7 reads -83: a broken sensor, not a reading
    assert (reading.fan_rpm_min, reading.fan_rpm_max) == (2400, 3720)
    assert reading.boards_alive == 3
    assert reading.is_sleeping is False


def test_antminer_s19_reading_reads_dash_joined_sensor_lists() -> None:
    reading = reading_parse(firmware=Firmware.ANTMINER_STOCK, replies={"stats": sample("antminer_s19pro_stats.json")})

    assert reading.hashrate_ths == pytest.approx(110.78679)
    assert reading.hashrate_avg_ths == pytest.approx(111.73011)
    assert reading.board_temp_max_c == 22
    assert reading.chip_temp_max_c == 27
    assert (reading.fan_rpm_min, reading.fan_rpm_max) == (5040, 5520)
    assert reading.boards_alive == 3


def test_antminer_in_sleep_mode_254_reads_as_sleeping() -> None:
    reading = reading_parse(
        firmware=Firmware.ANTMINER_STOCK, replies={"stats": sample("antminer_t17plus_sleeping_stats.json")}
    )

    assert reading.is_sleeping is True
    assert reading.hashrate_ths == 0


def test_braiins_reading_takes_temperatures_fans_and_power_from_their_own_commands() -> None:
    replies = {
        "summary": sample("braiins_os_s9_summary.json"),
        "temps": sample("braiins_os_s9_temps.json"),
        "fans": sample("braiins_os_s9_fans.json"),
        "tunerstatus": sample("braiins_os_tunerstatus.json"),
    }

    reading = reading_parse(firmware=Firmware.BRAIINS_OS, replies=replies)

    assert reading.hashrate_ths == pytest.approx(15.740915842676325)
    assert reading.hashrate_avg_ths == pytest.approx(11.988299650652435)
    assert reading.board_temp_max_c == 75
    assert reading.chip_temp_max_c is None  # Braiins reports Chip 0.0: no chip sensor
    assert (reading.fan_rpm_min, reading.fan_rpm_max) == (2820, 3780)  # two absent fan slots read 0
    assert reading.power_w == 1419
    assert (reading.accepted_shares, reading.hardware_errors, reading.elapsed_s) == (153, 186, 3680)


def test_whatsminer_reading_uses_summary_power_and_the_hottest_board() -> None:
    replies = {"summary": sample("whatsminer_m31s_summary.json"), "edevs": sample("whatsminer_m31s_edevs.json")}

    reading = reading_parse(firmware=Firmware.WHATSMINER, replies=replies)

    assert reading.hashrate_ths == pytest.approx(92.76828894)
    assert reading.hashrate_avg_ths == pytest.approx(76.71860438)
    assert reading.power_w == 3553
    assert reading.board_temp_max_c == 72
    assert reading.chip_temp_max_c == 93
    assert reading.boards_alive == 3
    assert (reading.accepted_shares, reading.rejected_shares, reading.elapsed_s) == (2296, 1, 33102)


def test_avalon_reading_comes_from_the_bracket_string() -> None:
    reading = reading_parse(firmware=Firmware.AVALON, replies={"estats": sample("avalon_1566_stats.json")})

    assert reading.hashrate_ths == pytest.approx(199.24107)
    assert reading.power_w == 3731
    assert reading.board_temp_max_c == 78
    assert (reading.fan_rpm_min, reading.fan_rpm_max) == (4275, 4282)
    assert reading.boards_alive == 3
    assert reading.is_sleeping is False


def test_avalon_joined_reply_is_split_into_its_commands() -> None:
    data = sample("avalon_1047_multicommand_pools_summary_stats.json")
    replies = {"summary": joined_slot(data, "summary"), "stats": joined_slot(data, "stats")}

    reading = reading_parse(firmware=Firmware.AVALON, replies={k: v for k, v in replies.items() if v})

    assert reading.hashrate_ths == pytest.approx(32.24741681)  # MHS 30s: Avalon logs every 30 s
    assert reading.elapsed_s == 155
    assert reading.accepted_shares == 6


def test_bracket_fields_keep_commas_and_spaces_inside_values() -> None:
    fields = bracket_fields("SYSTEMSTATU[Work: In Work, Hash Board: 3 ] Temp[31] PS[0 1209 1187 297 3526]")

    assert fields == {"SYSTEMSTATU": "Work: In Work, Hash Board: 3", "Temp": "31", "PS": "0 1209 1187 297 3526"}


def test_status_is_read_from_a_list_an_object_or_a_bare_string() -> None:
    invalid = sample("cgminer_error_invalid_command_raw.txt")
    token_reply = sample("whatsminer_status_btmineroff.json")

    assert rpc_status(invalid) == ("E", 14, "Invalid command")
    assert rpc_status_ok(token_reply)
    assert rpc_status({"STATUS": "BYE", "id": 1})[0] == "BYE"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a":1,}\x00', {"a": 1}),
        (b'{"t":nan,"u":2}', {"t": None, "u": 2}),
        (b'{"v":"x""temp0":5}', {"v": "x", "temp0": 5}),
        (b'{"s":"line\nbreak"}', {"s": "line\nbreak"}),
    ],
)
def test_known_broken_json_is_repaired(raw: bytes, expected: JsonObject) -> None:
    assert parse_reply(raw) == expected


def test_text_that_is_not_json_stays_unparsed() -> None:
    assert parse_reply(b"STATUS=S,When=1|SUMMARY,Elapsed=1|") is None
    assert parse_reply(b'{"STATUS":[{"STATUS":"S"') is None
