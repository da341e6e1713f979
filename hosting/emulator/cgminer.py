"""The CGMiner RPC wire protocol shared by every personality: request forms, `+` joins, reply framing.

See the protocol notes (protocol README "The CGMiner RPC protocol on one page"): JSON requests start with `{`,
text requests are `command|parameter` used byte for byte, joined commands answer one slot per command,
every reply is followed by one NUL byte and the connection is closed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hosting.emulator.jsonfmt import Glued, JsonValue, Style, encode, plain
from hosting.emulator.miner import EmulatedMiner, Reading

MAX_REQUEST_BYTES = 4095  # api.c reads once, at most this much (protocol README "How the server reads")


@dataclass(frozen=True)
class Request:
    json_mode: bool
    command: str | None  # None when the JSON had no "command"
    parameter: str | None = None
    body: Mapping[str, object] = field(default_factory=dict)  # the whole JSON object
    invalid_json: bool = False


@dataclass(frozen=True)
class Status:
    letter: str  # S success, I info, W warning, E error, F fatal
    code: int
    msg: str


@dataclass(frozen=True)
class Reply:
    status: Status
    section: str | None = None
    items: Sequence[JsonValue] = ()
    glue_first: bool = False  # S9 bmminer prints `}{` between the first two STATS objects (Q2)
    text_header: bool = False  # text mode starts the section with its name (`SUMMARY,...`)


@dataclass(frozen=True)
class BareReply:
    """A reply without the STATUS list: `{"STATUS":"BYE"}`, Whatsminer's string STATUS, encrypted."""

    body: Mapping[str, JsonValue]


AnyReply = Reply | BareReply


@dataclass(frozen=True)
class Context:
    miner: EmulatedMiner
    now: float

    def reading(self) -> Reading:
        return self.miner.reading(self.now)


class Personality(Protocol):
    style: Style
    joins: bool  # API 3.1+ accepts `a+b`

    def description(self, ctx: Context) -> str: ...

    def when(self, ctx: Context) -> int: ...

    def intercept(self, request: Request, ctx: Context) -> AnyReply | None:
        """Answer requests that are not plain cgminer commands (Whatsminer `cmd`/`enc`); None otherwise."""
        ...

    def command(self, name: str) -> Callable[[str | None, Context], AnyReply] | None: ...

    def joinable(self, name: str) -> bool: ...

    def unknown(self, name: str, ctx: Context) -> AnyReply: ...


def parse_request(data: bytes) -> Request:
    if data.startswith(b"{"):
        try:
            # Some clients end a JSON request with a NUL or a newline; the JSON parser never minded.
            body = json.loads(data.rstrip(b"\x00").decode("utf-8", errors="replace"))
        except ValueError:
            return Request(json_mode=True, command=None, invalid_json=True)
        if not isinstance(body, dict):
            return Request(json_mode=True, command=None, invalid_json=True)
        command = body.get("command")
        parameter = body.get("parameter")
        return Request(
            json_mode=True,
            command=command if isinstance(command, str) else None,
            # api.c turns numeric parameters into text before use
            parameter=None if parameter is None else str(parameter),
            body=body,
        )
    # Text mode uses the bytes as they are: a trailing newline stays part of the command (Q18).
    text = data.decode("utf-8", errors="replace")
    command, sep, parameter = text.partition("|")
    return Request(json_mode=False, command=command, parameter=parameter if sep else None)


def error(code: int, msg: str) -> Reply:
    return Reply(Status("E", code, msg))


INVALID_COMMAND = error(14, "Invalid command")


def access_denied(name: str) -> Reply:
    return error(45, f"Access denied to '{name}' command")


def dispatch(request: Request, personality: Personality, ctx: Context) -> list[tuple[str, AnyReply]] | AnyReply:
    """The reply to one request: a single reply, or (command, reply) slots for a joined request."""
    special = personality.intercept(request, ctx)
    if special is not None:
        return special
    if request.invalid_json:
        return error(23, "Invalid JSON")
    if request.command is None:
        return error(24, "Missing JSON 'command'")
    name = request.command
    if "+" in name and personality.joins:
        slots: list[tuple[str, AnyReply]] = []
        seen: set[str] = set()
        for part in name.split("+"):
            if not part or part in seen:  # empty names are ignored and duplicates dropped (api.c)
                continue
            seen.add(part)
            handler = personality.command(part)
            if handler is None:
                slots.append((part, personality.unknown(part, ctx)))
            elif not personality.joinable(part):
                slots.append((part, access_denied(part)))
            else:
                slots.append((part, handler(None, ctx)))
        return slots
    handler = personality.command(name)
    if handler is None:
        return personality.unknown(name, ctx)
    return handler(request.parameter, ctx)


# ---------------------------------------------------------------- rendering


def _reply_object(reply: AnyReply, personality: Personality, ctx: Context) -> dict[str, JsonValue]:
    if isinstance(reply, BareReply):
        return dict(reply.body)
    obj: dict[str, JsonValue] = {
        "STATUS": [
            {
                "STATUS": reply.status.letter,
                "When": personality.when(ctx),
                "Code": reply.status.code,
                "Msg": reply.status.msg,
                "Description": personality.description(ctx),
            }
        ]
    }
    if reply.section is not None:
        obj[reply.section] = Glued(reply.items) if reply.glue_first else list(reply.items)
    obj["id"] = 1
    return obj


def _text_reply(reply: AnyReply, personality: Personality, ctx: Context) -> str:
    if isinstance(reply, BareReply):
        return ",".join(f"{k}={plain(v)}" for k, v in reply.body.items()) + "|"
    status = reply.status
    parts = [
        f"STATUS={status.letter},When={personality.when(ctx)},Code={status.code},"
        f"Msg={status.msg},Description={personality.description(ctx)}|"
    ]
    for item in reply.items:
        if isinstance(item, Mapping):
            fields = ",".join(f"{k}={plain(v)}" for k, v in item.items())
            parts.append(f"{reply.section},{fields}|" if reply.text_header else f"{fields}|")
        else:
            parts.append(f"{reply.section}={plain(item)}|")
    return "".join(parts)


def render(
    result: list[tuple[str, AnyReply]] | AnyReply,
    request: Request,
    personality: Personality,
    ctx: Context,
) -> bytes:
    """The bytes on the wire: the reply and one trailing NUL (api.c sends strlen+1, quirks.md Q1)."""
    if isinstance(result, list):
        if request.json_mode:
            joined: dict[str, JsonValue] = {name: [_reply_object(r, personality, ctx)] for name, r in result}
            joined["id"] = 1
            text = encode(joined, personality.style)
        else:
            text = "".join(f"CMD={name}|" + _text_reply(r, personality, ctx) for name, r in result)
    elif request.json_mode or not isinstance(result, Reply):
        text = encode(_reply_object(result, personality, ctx), personality.style)
    else:
        text = _text_reply(result, personality, ctx)
    return text.encode("utf-8") + b"\x00"


def respond(data: bytes, personality: Personality, ctx: Context) -> bytes:
    request = parse_request(data)
    return render(dispatch(request, personality, ctx), request, personality, ctx)


# ---------------------------------------------------------------- helpers shared by personalities


def percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0
