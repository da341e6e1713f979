"""CGMiner RPC over TCP: one request per connection, the reply read until NUL or EOF, parsed tolerantly.

Protocol notes: README "The CGMiner RPC protocol on one page" and quirks.md. The transport is an
asyncio Protocol rather than streams because the poller opens thousands of these connections a second.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from hosting.choices import PollOutcome

JsonObject = dict[str, object]

# A client that never stops reading can be fed forever; real replies are at most tens of kilobytes.
MAX_REPLY_BYTES = 1 << 20


@dataclass(frozen=True)
class RpcResult:
    """How one request ended, and the reply when there was a usable one."""

    outcome: str  # a PollOutcome value
    data: JsonObject | None  # parsed JSON, quirks repaired; None unless outcome is ok
    raw: bytes  # as received, trailing NUL stripped
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == PollOutcome.OK


class _Stream(Protocol):
    """What the protocol uses of its transport (uvloop's transports do not subclass asyncio's)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class _OneShot(asyncio.Protocol):
    """Writes the request once (the server reads a single recv, README), collects until NUL or close."""

    def __init__(self, request: bytes, done: asyncio.Future[tuple[bytes, bool, str]]) -> None:
        self._request = request
        self._done = done
        self._chunks: list[bytes] = []
        self._size = 0
        self.transport: _Stream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not isinstance(): a runtime Protocol check costs more than the rest of the connection setup.
        stream: _Stream = transport  # type: ignore[assignment]  # TCP transports (asyncio's, uvloop's) are streams
        self.transport = stream
        stream.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if b"\x00" in data:
            self._finish(complete=True, error="")
        elif self._size > MAX_REPLY_BYTES:
            self._finish(complete=False, error="reply too long")

    def eof_received(self) -> bool | None:
        self._finish(complete=False, error="")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(complete=False, error="" if exc is None else f"{type(exc).__name__}: {exc}")

    def _finish(self, *, complete: bool, error: str) -> None:
        if not self._done.done():
            self._done.set_result((b"".join(self._chunks), complete, error))
        if self.transport is not None:
            self.transport.close()


@functools.lru_cache(maxsize=256)
def encode_request(command: str, parameter: str | None = None) -> bytes:
    """JSON requests only: text replies break on firmware data with commas (quirks.md Q18)."""
    body: dict[str, str] = {"command": command}
    if parameter is not None:
        body["parameter"] = parameter
    return json.dumps(body, separators=(",", ":")).encode()


async def rpc_request(
    host: str, port: int, request: bytes, *, connect_timeout: float = 2.0, read_timeout: float = 5.0
) -> RpcResult:
    """Send one raw request and classify how it ended; never raises for network faults."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    done: asyncio.Future[tuple[bytes, bool, str]] = loop.create_future()
    protocol = _OneShot(request, done)

    def result(outcome: str, raw: bytes = b"", data: JsonObject | None = None, error: str = "") -> RpcResult:
        return RpcResult(outcome, data, raw, time.perf_counter() - started, error)

    connected = False
    try:
        # One deadline moved once (connect, then read): cheaper than two timeout scopes per miner.
        async with asyncio.timeout(connect_timeout) as deadline:
            await loop.create_connection(lambda: protocol, host, port)
            connected = True
            deadline.reschedule(loop.time() + read_timeout)
            raw, complete, error = await done
    except TimeoutError:
        if not connected:
            return result(PollOutcome.CONNECT_TIMEOUT, error=f"no connection within {connect_timeout}s")
        if protocol.transport is not None:
            protocol.transport.abort()
        return result(PollOutcome.READ_TIMEOUT, error=f"no reply within {read_timeout}s")
    except ConnectionRefusedError as exc:
        return result(PollOutcome.REFUSED, error=str(exc))
    except OSError as exc:
        return result(PollOutcome.RESET, error=str(exc))
    raw = raw.split(b"\x00", 1)[0] if complete else raw
    if not raw:
        # Accepted then closed with zero bytes: the address is not in api-allow (quirks.md Q17).
        return result(PollOutcome.RESET if error else PollOutcome.EMPTY, error=error or "closed without a reply")
    data = parse_reply(raw)
    if data is None:
        # EOF without NUL and without a parseable object is a cut reply (quirks.md Q15).
        outcome = PollOutcome.GARBAGE if complete else PollOutcome.TRUNCATED
        return result(outcome, raw, error=error or "reply is not a JSON object")
    return result(PollOutcome.OK, raw, data)


async def rpc_command(
    host: str,
    port: int,
    command: str,
    parameter: str | None = None,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> RpcResult:
    """One JSON command (or several joined with `+`) to one miner."""
    return await rpc_request(
        host,
        port,
        encode_request(command, parameter),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


# Repairs for JSON that firmwares emit broken (quirks.md); each is tried only after a plain parse fails.
_REPAIRS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\}\s*\{"), "},{"),  # S9 bmminer `stats` glues two objects (Q2)
    (re.compile(r":\s*-?(?:nan|inf)\b", re.IGNORECASE), ":null"),  # Avalon/btminer bare nan/inf (Q10)
    (re.compile(r",\s*([}\]])"), r"\1"),  # btminer trailing commas (Q9)
    (re.compile(r'""(?=[A-Za-z_][\w ]*":)'), '","'),  # btminer missing comma before a key (Q9)
)


def parse_reply(raw: bytes) -> JsonObject | None:
    """The reply as a JSON object, or None when it is not one even after the known repairs."""
    text = raw.decode("utf-8", errors="replace").strip().rstrip("\x00")
    if text.startswith(","):  # a reply that starts with `,"id":1}`, attributed to Avalon (Q10)
        text = text.lstrip(",")
    for attempt in range(len(_REPAIRS) + 1):
        if attempt:
            pattern, replacement = _REPAIRS[attempt - 1]
            text = pattern.sub(replacement, text)
        try:
            # strict=False accepts raw newlines inside strings (btminer, Q9; `Type` values, Q11)
            value = json.loads(text, strict=False)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def rpc_status(data: Mapping[str, object]) -> tuple[str, int | None, str]:
    """(letter, code, message) of a reply, whether STATUS is a list, an object or a bare string (Q21)."""
    status = data.get("STATUS")
    if isinstance(status, list) and status and isinstance(status[0], Mapping):
        status = status[0]
    if isinstance(status, Mapping):
        code = status.get("Code")
        msg = status.get("Msg")
        letter = status.get("STATUS")
        if isinstance(letter, str):
            return (
                letter,
                code if isinstance(code, int) else None,
                msg if isinstance(msg, str) else json.dumps(msg),
            )
    if isinstance(status, str):
        code = data.get("Code")
        msg = data.get("Msg")
        return status, code if isinstance(code, int) else None, msg if isinstance(msg, str) else json.dumps(msg)
    return "", None, ""


def rpc_status_ok(data: Mapping[str, object]) -> bool:
    """S (success) and I (informational) both mean the command was taken (README status letters)."""
    return rpc_status(data)[0] in ("S", "I")


def joined_slot(data: Mapping[str, object], command: str) -> JsonObject | None:
    """One command's reply out of a joined (`a+b`) reply: `{"a": [{...}], "b": [{...}], "id": 1}`."""
    slot = data.get(command)
    if isinstance(slot, list) and slot and isinstance(slot[0], dict):
        return slot[0]
    return None
