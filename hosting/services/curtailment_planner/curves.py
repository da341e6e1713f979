"""Hashrate versus power: what a miner still hashes when its firmware holds it to a lower power target.

Where the shape comes from. An ASIC's power is mostly the chips' dynamic power, P = C * V**2 * f, and
its hashrate is proportional to the clock f. Firmware that takes a power target lowers the clock and,
while the chips stay stable, the supply voltage with it, so power falls faster than hashrate: a miner
turned down is more efficient (J/TH) than at stock settings. We write that as

    power fraction = fixed_share + (1 - fixed_share) * s * v**2,   v = 1 - voltage_slope * (1 - s)

where s is the clock (hashrate) fraction, v the voltage fraction, `voltage_slope` how much of a clock
cut the firmware can also take off the voltage (0: voltage fixed, power linear in clock; 1: voltage
proportional to clock, power cubic), and `fixed_share` the part of the draw that does not follow the
chips (fans, control board, PSU losses).

The parameters per firmware below are engineering assumptions, not measurements: with them a miner
held to 60 % of its power still hashes at 70-75 %, an efficiency gain of 14-20 %, the size of gain that
tuning firmware is known for when underclocking. The levels stop at 60 % because below roughly that the
chips reach their minimum stable voltage and further cuts lose hashrate in proportion. A curve measured
on the fleet (hashrate read back from telemetry at each power target) should replace these when there
is one: `PowerCurve` takes any points.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from hosting.choices import Firmware
from mining_platform.core.errors import InvalidInputError

# The power targets offered besides off, as fractions of the miner's current draw.
DEFAULT_POWER_FRACTIONS = (0.9, 0.8, 0.7, 0.6)


@dataclass(frozen=True, kw_only=True)
class PowerCurve:
    """Hashrate fraction at each offered power fraction, highest power first."""

    name: str
    points: tuple[tuple[float, float], ...]  # (power fraction, hashrate fraction)
    source: str = ""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.points:
            problems.append("needs at least one (power fraction, hashrate fraction) point")
        previous_power, previous_hashrate = 1.0, 1.0
        for power_fraction, hashrate_fraction in self.points:
            if not 0.0 < power_fraction < previous_power:
                problems.append("power fractions must lie in (0, 1) and fall strictly from point to point")
                break
            if not 0.0 < hashrate_fraction <= previous_hashrate:
                problems.append("hashrate fractions must lie in (0, 1] and never rise as power falls")
                break
            previous_power, previous_hashrate = power_fraction, hashrate_fraction
        if problems:
            raise InvalidInputError(fields={"points": problems})


def _clock_fraction(power_fraction: float, *, voltage_slope: float, fixed_share: float) -> float:
    """The clock fraction s whose power is `power_fraction` under the model above (bisection)."""

    def power_at(s: float) -> float:
        voltage = 1.0 - voltage_slope * (1.0 - s)
        return fixed_share + (1.0 - fixed_share) * s * voltage * voltage

    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if power_at(middle) < power_fraction:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def dvfs_curve(
    *,
    name: str,
    voltage_slope: float,
    fixed_share: float,
    power_fractions: Sequence[float] = DEFAULT_POWER_FRACTIONS,
    source: str = "",
) -> PowerCurve:
    """A curve from the clock-and-voltage scaling model in this module's docstring."""
    if not 0.0 <= voltage_slope <= 1.0:
        raise InvalidInputError(fields={"voltage_slope": ["must lie in [0, 1]"]})
    if not 0.0 <= fixed_share < 1.0:
        raise InvalidInputError(fields={"fixed_share": ["must lie in [0, 1)"]})
    points = tuple(
        (
            fraction,
            round(_clock_fraction(fraction, voltage_slope=voltage_slope, fixed_share=fixed_share), 4),
        )
        for fraction in power_fractions
    )
    return PowerCurve(name=name, points=points, source=source)


# Braiins OS tunes each chip's clock and lowers the board voltage with it (its autotuner), so most of a
# clock cut also comes off the voltage.
BRAIINS_OS_CURVE = dvfs_curve(
    name="braiins_os",
    voltage_slope=0.5,
    fixed_share=0.05,
    source="clock and voltage scaling model; per-chip autotuning lowers voltage with clock",
)
# Whatsminer's power limit lowers the clock with board-wide voltage steps: less voltage headroom is used.
WHATSMINER_CURVE = dvfs_curve(
    name="whatsminer",
    voltage_slope=0.4,
    fixed_share=0.05,
    source="clock and voltage scaling model; board-level voltage steps",
)
# Any other firmware that accepts a power target: assume less voltage scaling, so less gain.
GENERIC_CURVE = dvfs_curve(
    name="generic",
    voltage_slope=0.3,
    fixed_share=0.05,
    source="clock and voltage scaling model; conservative voltage scaling",
)

# Firmware whose power target in watts the platform can set (commands.md 2.6: Whatsminer
# adjust_power_limit). Braiins OS takes one (2.3, SetPowerTarget) only over gRPC, which the control client
# does not speak yet, so its curve is kept for when it does but not offered. Stock Antminer has only work
# modes, Avalon only work levels, and LuxOS takes profiles rather than watts: they are turned off.
_CURVES: dict[str, PowerCurve] = {
    Firmware.WHATSMINER.value: WHATSMINER_CURVE,
}
# Firmware with a sleep (hashboards off, control board and fans on) that wakes without a reboot
# (commands.md 2.2 work mode 1, 2.3 pause, 2.4 curtail sleep, 2.5 softoff, 2.6 power_off keeps the
# control board up). Sleep is preferred to cutting power: the miner keeps reporting and wakes on command.
SLEEP_FIRMWARE = frozenset(
    {
        Firmware.ANTMINER_STOCK.value,
        Firmware.BRAIINS_OS.value,
        Firmware.LUXOS.value,
        Firmware.AVALON.value,
        Firmware.WHATSMINER.value,
    }
)


def power_curve_for(*, firmware: str) -> PowerCurve | None:
    """The curve used for miners on `firmware`, or None when it takes no power target in watts."""
    return _CURVES.get(firmware)


def supports_sleep(*, firmware: str) -> bool:
    """Whether `firmware` can stop hashing while staying reachable (preferred to a hard power-off)."""
    return firmware in SLEEP_FIRMWARE
