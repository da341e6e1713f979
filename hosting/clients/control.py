"""Control transports: how each firmware is told to start, stop, reboot or take a power target.

Braiins OS and Avalon take their commands on the CGMiner RPC port (commands.md 2.3, 2.5). Antminer stock
firmware is controlled through its web CGI and Whatsminer through btminer's encrypted privileged API
(commands.md 2.2, 2.6); for those two we use pyasic, the library fleet tools maintain for them.

Every call returns a ControlResult holding the miner's answer as text. Failures are results, never
exceptions, so a batch goes on for the other miners. No ORM here: the service decides and records.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pyasic.errors import APIError  # type: ignore[import-untyped]  # pyasic ships no type information
from pyasic.miners.backends import AntminerModern, BTMinerV2  # type: ignore[import-untyped]  # as above

from hosting.choices import Firmware, MinerAction, PollOutcome
from hosting.clients.cgminer import RpcResult, rpc_command, rpc_status, rpc_status_ok

logger = logging.getLogger(__name__)

# The answer kept in the operation log; real replies to control commands are a few hundred bytes.
ANSWER_MAX_CHARS = 4000


class ControlOutcome(enum.StrEnum):
    """How one control command ended: a poll outcome when the miner could not be reached, or these."""

    OK = "ok"
    REFUSED = PollOutcome.REFUSED.value
    CONNECT_TIMEOUT = PollOutcome.CONNECT_TIMEOUT.value
    READ_TIMEOUT = PollOutcome.READ_TIMEOUT.value
    RESET = PollOutcome.RESET.value
    EMPTY = PollOutcome.EMPTY.value
    TRUNCATED = PollOutcome.TRUNCATED.value
    GARBAGE = PollOutcome.GARBAGE.value
    REJECTED = "rejected"  # the miner answered and said no
    UNSUPPORTED = "unsupported"  # the firmware has no such command over a protocol we speak
    TIMEOUT = "timeout"  # the whole command ran past its deadline
    ERROR = "error"  # anything else, described in the answer


@dataclass(frozen=True)
class ControlTarget:
    host: str
    port: int  # CGMiner RPC port (4028)
    firmware: str  # a hosting.choices.Firmware value
    web_port: int = 80  # Antminer web CGI


@dataclass(frozen=True)
class ControlCredentials:
    """Factory defaults unless the farm changed them (commands.md 2.2, 2.6)."""

    antminer_web_user: str = "root"
    antminer_web_password: str = "root"  # noqa: S105  # Bitmain's published default, not a secret
    whatsminer_password: str = "admin"  # noqa: S105  # MicroBT's published default, not a secret


@dataclass(frozen=True)
class ControlTimeouts:
    connect_s: float = 2.0
    read_s: float = 5.0
    deadline_s: float = 20.0  # the whole command, however many requests it takes


@dataclass(frozen=True)
class ControlResult:
    outcome: str  # a ControlOutcome value
    answer: str  # what the miner said, as text (or why nothing was said)
    seconds: float

    @property
    def ok(self) -> bool:
        return self.outcome == ControlOutcome.OK


@dataclass(frozen=True)
class _Said:
    outcome: ControlOutcome | str
    answer: str


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _unsupported(firmware: str, action: str, why: str) -> _Said:
    return _Said(ControlOutcome.UNSUPPORTED, f"{Firmware(firmware).label} cannot {action} here: {why}")


def _from_rpc(result: RpcResult) -> _Said:
    """An RPC reply judged by its STATUS letter, whatever shape STATUS has (quirks.md Q21)."""
    if result.data is None:
        return _Said(result.outcome, result.error or _text(result.raw))
    outcome = ControlOutcome.OK if rpc_status_ok(result.data) else ControlOutcome.REJECTED
    return _Said(outcome, _text(result.raw))


# Braiins OS, RPC


async def _braiins(target: ControlTarget, action: str, power_w: int | None, timeouts: ControlTimeouts) -> _Said:
    # pause/resume are BOSminer extensions answering S/204 and S/205 (braiins_os_pause/resume samples).
    # Reboot and power target live in the gRPC Public API on port 50051 (commands.md 2.3), not on 4028.
    command = {MinerAction.STOP: "pause", MinerAction.START: "resume"}.get(MinerAction(action))
    if command is None:
        return _unsupported(target.firmware, action, "Braiins OS takes it only through its gRPC API (port 50051)")
    return _from_rpc(
        await rpc_command(
            target.host, target.port, command, connect_timeout=timeouts.connect_s, read_timeout=timeouts.read_s
        )
    )


# Avalon, RPC


async def _avalon(target: ControlTarget, action: str, power_w: int | None, timeouts: ControlTimeouts) -> _Said:
    # Everything goes through `ascset|0,...` (commands.md 2.5). softoff/softon take "1:<unix time>" for
    # when to act; "now" is what an operator means. The exact syntax is only weakly evidenced.
    stamp = int(time.time())
    parameter = {
        MinerAction.STOP: f"0,softoff,1:{stamp}",
        MinerAction.START: f"0,softon,1:{stamp}",
        MinerAction.REBOOT: "0,reboot,0",
    }.get(MinerAction(action))
    if parameter is None:
        return _unsupported(target.firmware, action, "Avalon firmware has work levels, not a power target in watts")
    return _from_rpc(
        await rpc_command(
            target.host,
            target.port,
            "ascset",
            parameter,
            connect_timeout=timeouts.connect_s,
            read_timeout=timeouts.read_s,
        )
    )


# Whatsminer, pyasic, encrypted API v2


async def _whatsminer(
    target: ControlTarget, action: str, power_w: int | None, timeouts: ControlTimeouts, credentials: ControlCredentials
) -> _Said:
    # A plain `status` first: pyasic waits long on a silent miner and turns a refused connection into
    # a KeyError, while our client names the fault and keeps to our timeouts (quirks.md Q16).
    probe = await rpc_command(
        target.host, target.port, "status", connect_timeout=timeouts.connect_s, read_timeout=timeouts.read_s
    )
    if probe.data is None:
        return _Said(probe.outcome, probe.error or _text(probe.raw))
    miner = BTMinerV2(target.host)
    miner.rpc.port = target.port
    miner.rpc.pwd = credentials.whatsminer_password
    # pyasic's stop_mining() and friends return only a bool; the log keeps the miner's answer, so we
    # call the same pyasic requests one level down.
    try:
        if action == MinerAction.STOP:
            # respbefore: answer first, then cut the hashboards, or the reply is lost (commands.md 2.6)
            reply = await miner.rpc.power_off(respbefore=True)
        elif action == MinerAction.START:
            reply = await miner.rpc.power_on()
        elif action == MinerAction.REBOOT:
            reply = await miner.rpc.reboot(timeout=int(timeouts.read_s))
        else:
            # adjust_power_limit restarts btminer to apply the limit (commands.md 2.6)
            reply = await miner.rpc.adjust_power_limit(power_w)
    except APIError as exc:
        return _Said(ControlOutcome.REJECTED, str(exc))
    if not isinstance(reply, Mapping) or not reply:
        # pyasic answers {} when the reply never came (reboot) or the connection failed.
        return _Said(ControlOutcome.EMPTY, "no answer to the privileged command")
    letter, _code, _msg = rpc_status(reply)
    return _Said(ControlOutcome.OK if letter in ("S", "I") else ControlOutcome.REJECTED, _text(dict(reply)))


# Antminer stock, pyasic, web CGI


def _web_failure(reply: object) -> _Said | None:
    """pyasic's Antminer web client reports HTTP failures as {"success": False, "message": ...}."""
    if isinstance(reply, Mapping) and reply.get("success") is False:
        message = str(reply.get("message", ""))
        lowered = message.lower()
        if "refused" in lowered or "all connection attempts failed" in lowered:
            return _Said(ControlOutcome.REFUSED, message)
        if "timeout" in lowered or "timed out" in lowered:
            return _Said(ControlOutcome.READ_TIMEOUT, message)
        if "decode json" in lowered:
            return _Said(ControlOutcome.GARBAGE, message)
        return _Said(ControlOutcome.ERROR, message or "web interface failed")
    if not isinstance(reply, Mapping):
        return _Said(ControlOutcome.GARBAGE, _text(reply))
    return None


async def _antminer(target: ControlTarget, action: str, power_w: int | None, credentials: ControlCredentials) -> _Said:
    if action == MinerAction.POWER_TARGET:
        return _unsupported(
            target.firmware, action, "stock firmware has work modes (normal, sleep, low power), no watt target"
        )
    miner = AntminerModern(target.host)
    miner.web.port = target.web_port
    miner.web.username = credentials.antminer_web_user
    miner.web.pwd = credentials.antminer_web_password
    before = await miner.web.get_miner_conf()
    failed = _web_failure(before)
    if failed is not None:
        return failed
    if action == MinerAction.REBOOT:
        reply = await miner.web.reboot()
        return _web_failure(reply) or _Said(ControlOutcome.OK, _text(reply))
    if "bitmain-work-mode" not in before:
        return _unsupported(target.firmware, action, "this web interface has no work mode (pre-S17 firmware)")
    # pyasic sends the sleep / normal work mode through set_miner_conf.cgi; its reply is not kept by
    # pyasic, so the mode read back afterwards is the answer (the CGI is the authority, commands.md 2.2).
    if action == MinerAction.STOP:
        await miner.stop_mining()
        wanted = "1"
    else:
        await miner.resume_mining()
        wanted = "0"
    after = await miner.web.get_miner_conf()
    failed = _web_failure(after)
    if failed is not None:
        return failed
    mode = str(after.get("bitmain-work-mode", ""))
    answer = json.dumps({"bitmain-work-mode": mode})
    return _Said(ControlOutcome.OK if mode == wanted else ControlOutcome.REJECTED, answer)


async def _dispatch(
    target: ControlTarget,
    action: str,
    power_w: int | None,
    timeouts: ControlTimeouts,
    credentials: ControlCredentials,
) -> _Said:
    firmware = target.firmware
    if firmware == Firmware.BRAIINS_OS:
        return await _braiins(target, action, power_w, timeouts)
    if firmware == Firmware.AVALON:
        return await _avalon(target, action, power_w, timeouts)
    if firmware == Firmware.WHATSMINER:
        return await _whatsminer(target, action, power_w, timeouts, credentials)
    if firmware == Firmware.ANTMINER_STOCK:
        return await _antminer(target, action, power_w, credentials)
    # LuxOS needs a session around every write (quirks.md Q22); not wired yet.
    return _unsupported(firmware, action, "control of this firmware is not implemented")


async def control_send(
    *,
    target: ControlTarget,
    action: str,
    power_w: int | None = None,
    timeouts: ControlTimeouts | None = None,
    credentials: ControlCredentials | None = None,
) -> ControlResult:
    """Send one control command to one miner and say how it went; never raises for miner faults."""
    timeouts = timeouts or ControlTimeouts()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeouts.deadline_s):
            said = await _dispatch(target, action, power_w, timeouts, credentials or ControlCredentials())
    except TimeoutError:
        said = _Said(ControlOutcome.TIMEOUT, f"no result within {timeouts.deadline_s:g}s")
    except ConnectionRefusedError as exc:
        said = _Said(ControlOutcome.REFUSED, str(exc))
    except Exception as exc:  # pyasic surfaces dead miners as assorted errors; each one is a recorded result
        logger.warning("Miner control failed: host=%s action=%s", target.host, action, exc_info=True)
        said = _Said(ControlOutcome.ERROR, f"{type(exc).__name__}: {exc}")
    return ControlResult(
        outcome=str(said.outcome), answer=said.answer[:ANSWER_MAX_CHARS], seconds=time.perf_counter() - started
    )
