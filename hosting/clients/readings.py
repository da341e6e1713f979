"""From firmware replies to one normalised reading: TH/s, watts, degrees C, RPM, share counters.

Every firmware spells its figures its own way (commands.md section 0, quirks.md Q4-Q10, Q20); this
module hides that. Every field is optional because firmwares add and drop fields freely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hosting.choices import Firmware

JsonObject = Mapping[str, object]

# Temperatures outside this range are placeholders or broken sensors (-273, -83, 0; quirks.md Q7).
_TEMP_MIN_C, _TEMP_MAX_C = -30.0, 150.0
_RATE_KEY = re.compile(r"^(MHS|GHS) ?(\d+)s$")
_BRACKET = re.compile(r"(\w+)\[([^\]]*)\]")


@dataclass(frozen=True, slots=True)
class MinerReading:
    """One poll's figures in the platform's units."""

    hashrate_ths: float | None = None
    hashrate_avg_ths: float | None = None
    power_w: int | None = None
    board_temp_max_c: float | None = None
    chip_temp_max_c: float | None = None
    fan_rpm_min: int | None = None
    fan_rpm_max: int | None = None
    boards_alive: int | None = None
    accepted_shares: int | None = None
    rejected_shares: int | None = None
    hardware_errors: int | None = None
    elapsed_s: int | None = None
    is_sleeping: bool | None = None


@dataclass(frozen=True)
class PollPlan:
    """The read commands one poll sends to a firmware, joined with `+` where it accepts joins (Q13)."""

    commands: tuple[str, ...]
    joins: bool = True


POLL_PLANS: Mapping[str, PollPlan] = {
    Firmware.ANTMINER_STOCK: PollPlan(("summary", "stats")),
    Firmware.BRAIINS_OS: PollPlan(("summary", "temps", "fans", "tunerstatus")),
    Firmware.WHATSMINER: PollPlan(("summary", "edevs")),
    Firmware.AVALON: PollPlan(("summary", "estats")),
    Firmware.LUXOS: PollPlan(("summary", "temps", "fans", "power")),
}


# ------------------------------------------------------------------ value helpers


def to_float(value: object) -> float | None:
    """Numbers arrive as numbers, padded strings (`"  5.0000"`) or `""` (quirks.md Q4)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def to_int(value: object) -> int | None:
    number = to_float(value)
    return None if number is None else int(number)


def _temp(value: object) -> float | None:
    number = to_float(value)
    if number is None or number == 0 or not _TEMP_MIN_C <= number <= _TEMP_MAX_C:
        return None
    return number


def dash_list(text: str) -> list[int]:
    """`"2--1-20-22"` is 2, -1, 20, 22: an empty part marks the next number negative (quirks.md Q7)."""
    numbers: list[int] = []
    negative = False
    for part in text.split("-"):
        if part == "":
            negative = True
            continue
        try:
            number = int(part.strip())
        except ValueError:
            negative = False
            continue
        numbers.append(-number if negative else number)
        negative = False
    return numbers


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _fans(rpms: Sequence[int], expected: int | None) -> tuple[int | None, int | None]:
    """(min, max) RPM. A fan the firmware says is fitted but reads 0 has stopped: min is then 0."""
    spinning = [r for r in rpms if r > 0]
    if not rpms and not expected:
        return None, None
    if expected is not None and len(spinning) < expected:
        return 0, max(rpms, default=0)
    if not spinning:
        return 0, 0
    return min(spinning), max(spinning)


def _first(section: object) -> JsonObject:
    if isinstance(section, list) and section and isinstance(section[0], Mapping):
        return section[0]
    return {}


def _items(section: object) -> list[JsonObject]:
    return [item for item in section if isinstance(item, Mapping)] if isinstance(section, list) else []


def hashrate_ths(obj: JsonObject) -> tuple[float | None, float | None]:
    """(current, average) TH/s from `MHS 5s`/`MHS 30s`/`GHS 5s` and `MHS av`/`GHS av` (quirks.md Q5)."""
    current = None
    for key, value in obj.items():
        match = _RATE_KEY.match(key)
        if match:
            number = to_float(value)
            if number is not None:
                current = number / (1e6 if match.group(1) == "MHS" else 1e3)
                break
    average = None
    for key, scale in (("MHS av", 1e6), ("GHS av", 1e3)):
        number = to_float(obj.get(key))
        if number is not None:
            average = number / scale
            break
    return current, average


def _shares(summary: JsonObject) -> dict[str, int | None]:
    return {
        "accepted_shares": to_int(summary.get("Accepted")),
        "rejected_shares": to_int(summary.get("Rejected")),
        "hardware_errors": to_int(summary.get("Hardware Errors")),
        "elapsed_s": to_int(summary.get("Elapsed")),
    }


# ------------------------------------------------------------------ per firmware


def _antminer(replies: Mapping[str, JsonObject]) -> MinerReading:
    summary = _first(replies.get("summary", {}).get("SUMMARY"))
    stats_items = _items(replies.get("stats", {}).get("STATS"))
    # The first STATS object is the version block; the miner's figures are in the next one (Q2).
    stats = next((s for s in stats_items if "ID" in s or "fan_num" in s), {})
    current, average = hashrate_ths(summary)
    if current is None:
        current, average = hashrate_ths(stats)
    # S17/S19-era firmware (the ones with `temp_pcbN` sensor lists) puts the board in `tempN` and the chip in
    # `temp2_N`; the S9's bmminer has them the other way round, as pyasic's bmminer parser reads them.
    modern = "temp_pcb1" in stats
    board_temps: list[float | None] = []
    chip_temps: list[float | None] = []
    fans: list[int] = []
    chains_alive = 0
    # One pass over the keys: sixteen slots of six families, most of them zero (quirks.md Q7).
    for key, value in stats.items():
        if not key.startswith(("temp", "fan", "chain_acn")) or value == 0:
            continue
        if key.startswith("fan") and key[3:].isdigit():
            if (rpm := to_int(value)) is not None:
                fans.append(rpm)
        elif key.startswith("chain_acn"):
            chains_alive += 1 if (to_int(value) or 0) > 0 else 0
        elif key.startswith(("temp_pcb", "temp_chip")) and isinstance(value, str):
            target = board_temps if key.startswith("temp_pcb") else chip_temps
            target.extend(_temp(v) for v in dash_list(value))
        elif key.startswith("temp2_") and key[6:].isdigit():
            (chip_temps if modern else board_temps).append(_temp(value))
        elif key[4:].isdigit():
            (board_temps if modern else chip_temps).append(_temp(value))
    # Fans that read 0 were skipped above; the firmware's fan count tells whether one has stopped.
    fan_min, fan_max = _fans(fans, to_int(stats.get("fan_num")))
    mode = to_int(stats.get("Mode"))
    return MinerReading(
        hashrate_ths=current,
        hashrate_avg_ths=average,
        board_temp_max_c=_max(board_temps),
        chip_temp_max_c=_max(chip_temps),
        fan_rpm_min=fan_min,
        fan_rpm_max=fan_max,
        boards_alive=chains_alive if stats else None,
        # Mode 254 is the sleep flag of S17/T17 firmware; S19 only shows zero rates (quirks.md Q20).
        is_sleeping=mode == 254 or (current is not None and current == 0),
        **_shares(summary),
    )


def _braiins(replies: Mapping[str, JsonObject]) -> MinerReading:
    summary = _first(replies.get("summary", {}).get("SUMMARY"))
    temps = _items(replies.get("temps", {}).get("TEMPS"))
    fans = [rpm for f in _items(replies.get("fans", {}).get("FANS")) if (rpm := to_int(f.get("RPM"))) is not None]
    tuner = _first(replies.get("tunerstatus", {}).get("TUNERSTATUS"))
    current, average = hashrate_ths(summary)
    # `fans` lists four slots and absent fans read 0 (quirks.md Q7), so zeros cannot mean "stopped" here.
    fan_min, fan_max = _fans(fans, None)
    return MinerReading(
        hashrate_ths=current,
        hashrate_avg_ths=average,
        power_w=to_int(tuner.get("ApproximateMinerPowerConsumption")),
        board_temp_max_c=_max(_temp(t.get("Board")) for t in temps),
        chip_temp_max_c=_max(_temp(t.get("Chip")) for t in temps),
        fan_rpm_min=fan_min,
        fan_rpm_max=fan_max,
        boards_alive=sum(1 for t in temps if _temp(t.get("Board")) is not None) if temps else None,
        is_sleeping=current is not None and current == 0,
        **_shares(summary),
    )


def _whatsminer(replies: Mapping[str, JsonObject]) -> MinerReading:
    summary = _first(replies.get("summary", {}).get("SUMMARY"))
    boards = _items(replies.get("edevs", {}).get("DEVS"))
    current, average = hashrate_ths(summary)
    fans = [rpm for key in ("Fan Speed In", "Fan Speed Out") if (rpm := to_int(summary.get(key))) is not None]
    # A mining M31S capture reads `Fan Speed Out` 0, so a zero here is not proof of a stopped fan.
    fan_min, fan_max = _fans(fans, None)
    alive = [b for b in boards if str(b.get("Status", "Alive")) == "Alive" and (to_float(b.get("MHS av")) or 0) > 0]
    return MinerReading(
        hashrate_ths=current,
        hashrate_avg_ths=average,
        power_w=to_int(summary.get("Power", summary.get("Power_RT"))),
        board_temp_max_c=_max([_temp(summary.get("Temperature")), *(_temp(b.get("Temperature")) for b in boards)]),
        chip_temp_max_c=_max([_temp(summary.get("Chip Temp Max")), *(_temp(b.get("Chip Temp Max")) for b in boards)]),
        fan_rpm_min=fan_min,
        fan_rpm_max=fan_max,
        boards_alive=len(alive) if boards else None,
        is_sleeping=current is not None and current == 0,
        **_shares(summary),
    )


def bracket_fields(text: str) -> dict[str, str]:
    """Avalon `MM ID0` strings: `Key[value]` groups, values may hold spaces and commas (quirks.md Q10)."""
    return {key: value.strip() for key, value in _BRACKET.findall(text)}


def _numbers(text: str | None) -> list[float]:
    if not text:
        return []
    return [n for part in text.replace("%", "").split() if (n := to_float(part)) is not None]


def _avalon(replies: Mapping[str, JsonObject]) -> MinerReading:
    summary = _first(replies.get("summary", {}).get("SUMMARY"))
    stats_section = replies.get("estats", replies.get("stats", {})).get("STATS")
    modules = [
        bracket_fields(value)
        for item in _items(stats_section)
        for key, value in item.items()
        if key.startswith("MM ID") and isinstance(value, str)
    ]
    current, average = hashrate_ths(summary)
    if current is None and modules:
        current = sum(to_float(m.get("GHSspd")) or 0.0 for m in modules) / 1e3
    power = 0
    board_temps: list[float | None] = []
    fans: list[int] = []
    boards_alive = 0
    sleeping = False
    for module in modules:
        supply = _numbers(module.get("PS"))
        wall = to_int(module.get("WALLPOWER"))
        # PS[err vctrl vhash current power vset ...]: the fifth number is the power (commands.md stats).
        power += wall if wall is not None else (int(supply[4]) if len(supply) > 4 else 0)
        board_temps.extend(_temp(t) for t in _numbers(module.get("MTmax")))
        board_temps.append(_temp(module.get("TMax")))
        fans.extend(int(to_float(v) or 0) for k, v in module.items() if re.fullmatch(r"Fan\d+", k))
        boards_alive += sum(1 for rate in _numbers(module.get("MGHS")) if rate > 0)
        sleeping = sleeping or module.get("SoftOFF") == "1" or "In Idle" in module.get("SYSTEMSTATU", "")
    fan_min, fan_max = _fans(fans, len(fans))
    return MinerReading(
        hashrate_ths=current,
        hashrate_avg_ths=average,
        power_w=power if modules else None,
        board_temp_max_c=_max(board_temps),
        # The hottest module temperature is the chip figure Avalon exposes (MTmax per board, TMax overall).
        chip_temp_max_c=_max(board_temps),
        fan_rpm_min=fan_min,
        fan_rpm_max=fan_max,
        boards_alive=boards_alive if modules else None,
        is_sleeping=sleeping or (current is not None and current == 0),
        **_shares(summary),
    )


def _luxos(replies: Mapping[str, JsonObject]) -> MinerReading:
    summary = _first(replies.get("summary", {}).get("SUMMARY"))
    temps = _items(replies.get("temps", {}).get("TEMPS"))
    fans = [rpm for f in _items(replies.get("fans", {}).get("FANS")) if (rpm := to_int(f.get("RPM"))) is not None]
    power = _first(replies.get("power", {}).get("POWER"))
    current, average = hashrate_ths(summary)
    board_keys = ("Board", "TopLeft", "TopRight", "BottomLeft", "BottomRight")
    fan_min, fan_max = _fans(fans, len(fans))
    return MinerReading(
        hashrate_ths=current,
        hashrate_avg_ths=average,
        power_w=to_int(power.get("Watts")),
        board_temp_max_c=_max(_temp(t.get(k)) for t in temps for k in board_keys),
        chip_temp_max_c=_max(_temp(t.get("Chip")) for t in temps),
        fan_rpm_min=fan_min,
        fan_rpm_max=fan_max,
        boards_alive=len(temps) if temps else None,
        is_sleeping=current is not None and current == 0,
        **_shares(summary),
    )


_PARSERS = {
    Firmware.ANTMINER_STOCK: _antminer,
    Firmware.BRAIINS_OS: _braiins,
    Firmware.WHATSMINER: _whatsminer,
    Firmware.AVALON: _avalon,
    Firmware.LUXOS: _luxos,
}


def reading_parse(*, firmware: str, replies: Mapping[str, JsonObject]) -> MinerReading:
    """The normalised reading from one reply per read command (`{"summary": {...}, "stats": {...}}`)."""
    return _PARSERS[Firmware(firmware)](replies)
