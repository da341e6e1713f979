"""Identification: which make, model and firmware answers at an address, as pyasic recognises it.

pyasic probes the web interface (ports 80/443) and the CGMiner RPC port (4028) the way fleet tools
do, picks its driver for what answered, and through that driver we read the serial number, MAC address
and hostname where the firmware gives them out without extra set-up. Its strings are translated into
the platform's names here: makers as the catalogue spells them, catalogue model names, Firmware values.

Every call ends within its deadline and never raises for miner faults. No ORM here: the service matches
the catalogue and records the result.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pyasic  # type: ignore[import-untyped]  # pyasic ships no type information

from hosting.choices import Firmware
from hosting.clients.control import ControlCredentials

logger = logging.getLogger(__name__)

# pyasic's names for the makers whose models the catalogue lists, and the catalogue's.
MAKE_OF: dict[str, str] = {"AntMiner": "Bitmain", "WhatsMiner": "MicroBT", "AvalonMiner": "Canaan"}
# pyasic says "Stock" for every maker's own firmware; which one it is follows from the maker.
STOCK_FIRMWARE_OF: dict[str, Firmware] = {
    "AntMiner": Firmware.ANTMINER_STOCK,
    "WhatsMiner": Firmware.WHATSMINER,
    "AvalonMiner": Firmware.AVALON,
}
# Third-party firmwares the platform polls and controls; pyasic also knows others (VNish, ePIC, Hive,
# MaraFW) that have no Firmware choice here yet, and those identify with firmware None.
OTHER_FIRMWARE_OF: dict[str, Firmware] = {"BOS+": Firmware.BRAIINS_OS, "LuxOS": Firmware.LUXOS}
# MicroBT suffixes the hashboard generation to the model ("M30S++ VH40"); the catalogue lists the model.
_WHATSMINER_BOARD_SUFFIX = re.compile(r"\s+V[A-Z]*\d+$", re.IGNORECASE)
# Field sizes of the Miner row and the log: a firmware that sends more is cut, not refused.
_TEXT_MAX_CHARS = 100


@dataclass(frozen=True)
class IdentifyTimeouts:
    deadline_s: float = 20.0  # the whole identification, every request included
    read_s: float = 5.0  # each optional read (serial, MAC, hostname) after the miner is recognised


@dataclass(frozen=True)
class MinerIdentity:
    """What answered at an address, in the platform's terms, with pyasic's own strings beside them."""

    make: str | None  # "Bitmain", "MicroBT", "Canaan"; pyasic's name for makers the catalogue lacks
    model: str | None  # the catalogue's name ("Antminer S19 Pro"); None when pyasic named no model
    firmware: str | None  # a hosting.choices.Firmware value; None for a firmware the platform lacks
    serial: str | None
    mac: str | None
    hostname: str | None
    firmware_version: str | None
    raw_make: str | None  # as pyasic gave them: "AntMiner", "M30S++ VH40", "BOS+"
    raw_model: str | None
    raw_firmware: str | None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:_TEXT_MAX_CHARS] or None


def catalogue_model_name(*, raw_make: str | None, raw_model: str | None) -> str | None:
    """The catalogue's name for a model pyasic reports ("S19 Pro" from an AntMiner: "Antminer S19 Pro")."""
    if raw_model is None:
        return None
    if raw_make == "AntMiner":
        return raw_model if raw_model.lower().startswith("antminer") else f"Antminer {raw_model}"
    if raw_make == "WhatsMiner":
        return f"Whatsminer {_WHATSMINER_BOARD_SUFFIX.sub('', raw_model)}"
    if raw_make == "AvalonMiner":
        # pyasic: "Avalon 1566"; Canaan's catalogue name: "AvalonMiner 1566"
        return f"AvalonMiner {raw_model.removeprefix('Avalon').strip()}"
    return raw_model


def firmware_of(*, raw_make: str | None, raw_firmware: str | None) -> str | None:
    """The Firmware value for pyasic's firmware name, or None when the platform has no such choice."""
    if raw_firmware == "Stock":
        stock = STOCK_FIRMWARE_OF.get(raw_make or "")
        return None if stock is None else stock.value
    other = OTHER_FIRMWARE_OF.get(raw_firmware or "")
    return None if other is None else other.value


def _use_credentials(miner: object, credentials: ControlCredentials) -> None:
    """The farm's passwords instead of pyasic's factory defaults, for the drivers that need one."""
    make, firmware = str(getattr(miner, "make", "")), str(getattr(miner, "firmware", ""))
    web, rpc = getattr(miner, "web", None), getattr(miner, "rpc", None)
    # Stock Antminer firmware gives its serial number and MAC only behind the web CGI's digest auth.
    if make == "AntMiner" and firmware == "Stock" and web is not None:
        web.username = credentials.antminer_web_user
        web.pwd = credentials.antminer_web_password
    if make == "WhatsMiner" and rpc is not None:
        rpc.pwd = credentials.whatsminer_password


async def _optional(read: Callable[[], Awaitable[object]], *, seconds: float, host: str, what: str) -> str | None:
    """One extra read; a driver without it, a refused port (BOSer's gRPC) or a timeout gives None."""
    if seconds <= 0:
        return None
    try:
        async with asyncio.timeout(seconds):
            return _clean(await read())
    except Exception:  # pyasic surfaces missing data as assorted errors; the rest still counts
        logger.debug("Identification read failed: host=%s what=%s", host, what, exc_info=True)
        return None


async def _identify(host: str, timeouts: IdentifyTimeouts, credentials: ControlCredentials) -> MinerIdentity | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeouts.deadline_s
    async with asyncio.timeout_at(deadline):
        miner = await pyasic.get_miner(host)
    if miner is None:
        return None
    raw_make, raw_model, raw_firmware = (
        _clean(getattr(miner, name, None)) for name in ("make", "raw_model", "firmware")
    )
    _use_credentials(miner, credentials)

    def budget() -> float:
        return min(timeouts.read_s, deadline - loop.time())

    serial, mac, hostname, firmware_version = await asyncio.gather(
        _optional(miner.get_serial_number, seconds=budget(), host=host, what="serial"),
        _optional(miner.get_mac, seconds=budget(), host=host, what="mac"),
        _optional(miner.get_hostname, seconds=budget(), host=host, what="hostname"),
        _optional(miner.get_fw_ver, seconds=budget(), host=host, what="firmware_version"),
    )
    return MinerIdentity(
        make=None if raw_make is None else MAKE_OF.get(raw_make, raw_make),
        model=catalogue_model_name(raw_make=raw_make, raw_model=raw_model),
        firmware=firmware_of(raw_make=raw_make, raw_firmware=raw_firmware),
        serial=serial,
        mac=mac,
        hostname=hostname,
        firmware_version=firmware_version,
        raw_make=raw_make,
        raw_model=raw_model,
        raw_firmware=raw_firmware,
    )


async def miner_identity_read(
    host: str, *, timeouts: IdentifyTimeouts | None = None, credentials: ControlCredentials | None = None
) -> MinerIdentity | None:
    """Identify the miner at `host`; None when nothing pyasic recognises answered within the deadline."""
    timeouts = timeouts or IdentifyTimeouts()
    started = time.perf_counter()
    try:
        identity = await _identify(host, timeouts, credentials or ControlCredentials())
    except TimeoutError:
        logger.warning("Miner identification timed out: host=%s deadline_s=%s", host, timeouts.deadline_s)
        return None
    except Exception:  # a dead or odd miner is a recorded "not found", never a crash
        logger.warning("Miner identification failed: host=%s", host, exc_info=True)
        return None
    logger.debug(
        "Miner identified: host=%s make=%s model=%s seconds=%.2f",
        host,
        None if identity is None else identity.raw_make,
        None if identity is None else identity.raw_model,
        time.perf_counter() - started,
    )
    return identity


async def miner_identities_read(
    hosts: Sequence[str],
    *,
    concurrency: int,
    timeouts: IdentifyTimeouts | None = None,
    credentials: ControlCredentials | None = None,
) -> list[MinerIdentity | None]:
    """Identify many hosts, at most `concurrency` at once; results in the order of `hosts`."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(host: str) -> MinerIdentity | None:
        async with gate:
            return await miner_identity_read(host, timeouts=timeouts, credentials=credentials)

    return list(await asyncio.gather(*(one(host) for host in hosts)))
