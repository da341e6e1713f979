"""pyasic, the field's own library, pointed at each emulated personality: identification, data, control.

pyasic talks RPC on 4028 and HTTP on 80 as it would to real units; every figure it reads is compared
with what the emulator knows to be true. Not covered: Braiins BOSer (S19 and later on Braiins OS 23+),
whose pyasic driver reads hashboards, fans and power over gRPC on port 50051, which the emulator does
not serve; and BOSminer's `config`, which pyasic reads over SSH.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pyasic  # type: ignore[import-untyped]  # pyasic ships no type information
import pytest
from pyasic.miners.data import DataOptions  # type: ignore[import-untyped]  # as above

from hosting.emulator.catalog import MODELS
from hosting.emulator.miner import MinerTruth
from hosting.tests.conftest import FleetFactory


@dataclass(frozen=True)
class Case:
    model_key: str
    make: str
    model: str
    firmware: str
    reads_power: bool  # stock Bitmain firmware reports no power (commands.md section 0)
    temp_is_chip: bool  # pyasic's Avalon driver puts the hottest chip (MTmax) in the board temperature
    reads_chip_temp: bool  # BOSminer on the S9 has no chip sensor (Chip 0.0)
    controls: bool  # pyasic's driver can stop and resume this firmware


CASES = [
    Case("antminer-s19-pro", "AntMiner", "S19 Pro", "Stock", False, False, True, True),
    Case("antminer-s9", "AntMiner", "S9", "Stock", False, False, True, False),
    Case("braiins-s17-pro", "AntMiner", "S17 Pro", "BOS+", True, False, True, True),
    Case("braiins-s9", "AntMiner", "S9", "BOS+", True, False, False, True),
    Case("whatsminer-m30s-pp", "WhatsMiner", "M30S++ VH40", "Stock", True, False, True, True),
    Case("avalon-a1566", "AvalonMiner", "Avalon 1566", "Stock", True, True, True, True),
    Case("avalon-a1246", "AvalonMiner", "Avalon 1246", "Stock", True, True, True, False),
]


async def _identify_and_read(address: str, *, braiins: bool) -> tuple[Any, Any]:
    miner = await pyasic.get_miner(address)
    assert miner is not None
    # BOSminer's config comes over SSH, which the emulator does not serve; everything else is read.
    data = await miner.get_data(exclude=[DataOptions.CONFIG] if braiins else None)
    return miner, data


def _board_temps(truth: MinerTruth, case: Case) -> tuple[float, ...]:
    return truth.chip_temps_c if case.temp_is_chip else truth.board_temps_c


@pytest.mark.parametrize("case", CASES, ids=[c.model_key for c in CASES])
def test_pyasic_identifies_and_reads_the_truth(emulated_fleet: FleetFactory, case: Case) -> None:
    fleet = emulated_fleet(count=1, model_key=case.model_key, http=True)
    address = fleet.addresses[0]
    miner, data = asyncio.run(_identify_and_read(address, braiins="braiins" in case.model_key))
    truth = fleet.truth(address)

    assert (str(miner.make), str(miner.raw_model), str(miner.firmware)) == (case.make, case.model, case.firmware)
    assert float(data.hashrate) == pytest.approx(truth.hashrate_ths, rel=0.05)  # 5 s/1 m windows carry noise
    boards = data.hashboards
    assert len(boards) == MODELS[case.model_key].boards
    assert [round(b.temp) for b in boards] == pytest.approx([round(t) for t in _board_temps(truth, case)], abs=1.5)
    if case.reads_chip_temp:
        assert [b.chip_temp for b in boards] == pytest.approx(truth.chip_temps_c, abs=1.5)
    assert [float(b.hashrate) for b in boards] == pytest.approx(truth.board_hashrates_ths, rel=0.05)
    assert [f.speed for f in data.fans] == pytest.approx(truth.fans_rpm, rel=0.03)
    if case.reads_power:
        assert data.wattage == pytest.approx(truth.power_w, rel=0.01)
    assert data.uptime == pytest.approx(truth.elapsed_s, abs=5)


async def _stop(address: str) -> bool:
    miner = await pyasic.get_miner(address)
    assert miner is not None
    return bool(await miner.stop_mining())


async def _resume(address: str) -> bool:
    miner = await pyasic.get_miner(address)
    assert miner is not None
    return bool(await miner.resume_mining())


@pytest.mark.parametrize("case", [c for c in CASES if c.controls], ids=[c.model_key for c in CASES if c.controls])
def test_pyasic_stop_and_resume_switch_the_emulated_miner(emulated_fleet: FleetFactory, case: Case) -> None:
    # Antminer through the web CGI, Braiins with pause/resume, Whatsminer through the encrypted
    # privileged API (get_token, AES envelope), Avalon with ascset softoff/softon.
    fleet = emulated_fleet(count=1, model_key=case.model_key, http=True)
    address = fleet.addresses[0]
    assert asyncio.run(_stop(address))
    asleep = fleet.truth(address)
    assert not asleep.mining
    assert asleep.hashrate_ths == 0.0
    assert asleep.power_w == MODELS[case.model_key].standby_w
    assert asyncio.run(_resume(address))
    assert fleet.truth(address).mining


async def _limit(address: str, watts: int) -> bool:
    miner = await pyasic.get_miner(address)
    assert miner is not None
    return bool(await miner.set_power_limit(watts))


def test_pyasic_whatsminer_power_limit_goes_through_the_encrypted_api(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m50", http=False)
    address = fleet.addresses[0]
    assert asyncio.run(_limit(address, 2800))
    truth = fleet.truth(address)
    assert truth.power_limit_w == 2800
    assert truth.elapsed_s < 5  # adjust_power_limit restarts btminer (commands.md 2.6)
