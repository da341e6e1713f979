"""The miner models the emulator knows: vendor figures plus the hardware layout the firmwares report."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Personality(enum.StrEnum):
    """Firmware personalities; each answers with its own field names and quirks (protocol notes)."""

    ANTMINER_STOCK = "antminer_stock"  # Bitmain bmminer/cgminer 1.0.0, S19 era, web CGI on port 80
    ANTMINER_LEGACY = "antminer_legacy"  # Bitmain bmminer 2.0.0 on the S9 (quirks.md Q2, Q4, Q7)
    BRAIINS = "braiins"  # BOSminer / BOSer
    WHATSMINER = "whatsminer"  # MicroBT btminer, API v2
    AVALON = "avalon"  # Canaan cgminer 4.11.1 with MM ID bracket strings


@dataclass(frozen=True)
class ModelSpec:
    key: str
    make: str  # the vendor as operators name it
    name: str  # the model string the firmware reports (Antminer `Type`, pyasic model)
    personality: Personality
    nominal_ths: float
    nominal_w: int
    boards: int
    chips_per_board: int
    fans: int
    fan_max_rpm: int
    # Hardware chain numbers as the firmware prints them: an S9 reports its boards as chains 6, 7, 8
    # (quirks.md Q7); S19-era bmminer counts from 1; Whatsminer and Avalon from 0.
    chain_ids: tuple[int, ...]
    frequency_mhz: int
    board_rise_c: float  # board (PCB) temperature above ambient at full load
    chip_over_board_c: float
    standby_w: float  # control board and idle fans while the hashboards are off


_S19_CHAINS = (1, 2, 3)
_ZERO_CHAINS = (0, 1, 2)

# One row per model, kept on one line each so the table reads as a table.
# fmt: off
MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec("antminer-s19-pro", "Bitmain", "Antminer S19 Pro", Personality.ANTMINER_STOCK, 110.0, 3250, 3, 114, 4, 6000, _S19_CHAINS, 525, 38.0, 15.0, 9.0),
        ModelSpec("antminer-s19j-pro", "Bitmain", "Antminer S19j Pro", Personality.ANTMINER_STOCK, 104.0, 3068, 3, 126, 4, 6000, _S19_CHAINS, 525, 37.0, 15.0, 9.0),
        ModelSpec("antminer-s19-xp", "Bitmain", "Antminer S19 XP", Personality.ANTMINER_STOCK, 140.0, 3010, 3, 110, 4, 6000, _S19_CHAINS, 500, 36.0, 14.0, 9.0),
        ModelSpec("antminer-s21", "Bitmain", "Antminer S21", Personality.ANTMINER_STOCK, 200.0, 3500, 3, 108, 4, 6600, _S19_CHAINS, 490, 35.0, 14.0, 10.0),
        ModelSpec("antminer-s9", "Bitmain", "Antminer S9", Personality.ANTMINER_LEGACY, 13.5, 1323, 3, 63, 2, 6000, (6, 7, 8), 650, 36.0, 13.0, 6.0),
        ModelSpec("braiins-s9", "Bitmain", "Antminer S9", Personality.BRAIINS, 13.5, 1323, 3, 63, 2, 6000, (6, 7, 8), 650, 36.0, 13.0, 6.0),
        ModelSpec("braiins-s17-pro", "Bitmain", "Antminer S17 Pro", Personality.BRAIINS, 50.0, 1975, 3, 48, 4, 6000, _S19_CHAINS, 600, 40.0, 15.0, 8.0),
        ModelSpec("braiins-s19j-pro", "Bitmain", "Antminer S19j Pro", Personality.BRAIINS, 104.0, 3068, 3, 126, 4, 6000, _S19_CHAINS, 525, 37.0, 15.0, 9.0),
        ModelSpec("whatsminer-m30s-pp", "MicroBT", "M30S++", Personality.WHATSMINER, 112.0, 3472, 3, 70, 2, 7000, _ZERO_CHAINS, 600, 42.0, 12.0, 12.0),
        ModelSpec("whatsminer-m50", "MicroBT", "M50", Personality.WHATSMINER, 118.0, 3304, 3, 105, 2, 7000, _ZERO_CHAINS, 560, 40.0, 12.0, 12.0),
        ModelSpec("whatsminer-m30s", "MicroBT", "M30S", Personality.WHATSMINER, 88.0, 3344, 3, 105, 2, 7000, _ZERO_CHAINS, 620, 42.0, 10.0, 12.0),
        ModelSpec("avalon-a1246", "Canaan", "Avalon A1246", Personality.AVALON, 90.0, 3420, 3, 120, 4, 6000, _ZERO_CHAINS, 600, 40.0, 8.0, 15.0),
        ModelSpec("avalon-a1566", "Canaan", "Avalon A1566", Personality.AVALON, 185.0, 3420, 3, 160, 2, 6000, _ZERO_CHAINS, 340, 40.0, 8.0, 15.0),
    )
}
# fmt: on

# Share of each model in a generated fleet (personalities mixed by seed).
FLEET_MIX: tuple[tuple[str, float], ...] = (
    ("antminer-s19-pro", 0.12),
    ("antminer-s19j-pro", 0.12),
    ("antminer-s19-xp", 0.05),
    ("antminer-s21", 0.06),
    ("antminer-s9", 0.08),
    ("braiins-s9", 0.05),
    ("braiins-s17-pro", 0.04),
    ("braiins-s19j-pro", 0.08),
    ("whatsminer-m30s-pp", 0.10),
    ("whatsminer-m50", 0.08),
    ("whatsminer-m30s", 0.04),
    ("avalon-a1246", 0.10),
    ("avalon-a1566", 0.08),
)
