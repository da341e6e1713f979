"""What every cgminer-derived personality shares: a command table, access control, unknown commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hosting.emulator.catalog import ModelSpec
from hosting.emulator.cgminer import INVALID_COMMAND, AnyReply, Context, Request, access_denied
from hosting.emulator.jsonfmt import COMPACT, Style

Handler = Callable[[str | None, Context], AnyReply]

# Every command the reference api.c knows (cmds[] table). A known command outside the client's access
# group answers E/45 "Access denied"; a name that is not in the table answers E/14 (protocol README table).
CGMINER_COMMANDS = frozenset(
    {
        "version", "config", "summary", "pools", "devs", "edevs", "pga", "pgacount", "pgaenable",
        "pgadisable", "pgaidentify", "pgaset", "asc", "asccount", "ascenable", "ascdisable",
        "ascidentify", "ascset", "switchpool", "enablepool", "disablepool", "addpool", "removepool",
        "poolpriority", "poolquota", "save", "quit", "restart", "privileged", "notify", "devdetails",
        "stats", "estats", "check", "failover-only", "coin", "debug", "setconfig", "usbstats", "zero",
        "hotplug", "lcd", "lockstats",
    }
)  # fmt: skip


class BasePersonality:
    style: Style = COMPACT
    joins = True

    def __init__(self, model: ModelSpec) -> None:
        self.model = model
        self._commands: Mapping[str, Handler] = self.commands()
        self._unjoinable: frozenset[str] = frozenset()

    def commands(self) -> Mapping[str, Handler]:
        raise NotImplementedError

    def description(self, ctx: Context) -> str:
        raise NotImplementedError

    def when(self, ctx: Context) -> int:
        return int(ctx.now)

    def intercept(self, request: Request, ctx: Context) -> AnyReply | None:
        return None

    def command(self, name: str) -> Handler | None:
        return self._commands.get(name)

    def joinable(self, name: str) -> bool:
        return name not in self._unjoinable

    def unknown(self, name: str, ctx: Context) -> AnyReply:
        return INVALID_COMMAND


class ReadGroupPersonality(BasePersonality):
    """Firmware whose API port serves only a read group; other known commands are denied (Q17)."""

    def unknown(self, name: str, ctx: Context) -> AnyReply:
        return access_denied(name) if name in CGMINER_COMMANDS else INVALID_COMMAND
