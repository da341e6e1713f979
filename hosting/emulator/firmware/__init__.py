"""One module per firmware personality; `personality_for` picks the RPC personality for a model."""

from __future__ import annotations

from hosting.emulator.catalog import ModelSpec
from hosting.emulator.catalog import Personality as Kind
from hosting.emulator.cgminer import Personality
from hosting.emulator.firmware.antminer import AntminerLegacy, AntminerStock
from hosting.emulator.firmware.avalon import Avalon
from hosting.emulator.firmware.braiins import Braiins
from hosting.emulator.firmware.whatsminer import Whatsminer


def personality_for(model: ModelSpec) -> Personality:
    """A fresh personality for one miner: some keep per-miner settings (tokens, work modes)."""
    if model.personality is Kind.ANTMINER_STOCK:
        return AntminerStock(model)
    if model.personality is Kind.ANTMINER_LEGACY:
        return AntminerLegacy(model)
    if model.personality is Kind.BRAIINS:
        return Braiins(model)
    if model.personality is Kind.WHATSMINER:
        return Whatsminer(model)
    return Avalon(model)
