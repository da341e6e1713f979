"""Canaan AvalonMiner controllers: cgminer 4.11.1 with `MM ID` bracket strings (quirks.md Q10).

Shapes follow `avalon_1566_*`, `avalon_1047_multicommand_*` and the A10 manual's text examples: the clock
in `When` and `Last Share Time` counts from boot (Q8), `devs` carries a -273 placeholder temperature, the
real telemetry sits in the `MM ID0` string of `stats`/`estats`. Control is `ascset|0,...` (commands.md
2.5); the server answers one request at a time per miner, as Canaan's manual asks of its clients.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from hosting.emulator import rng
from hosting.emulator.catalog import ModelSpec
from hosting.emulator.cgminer import AnyReply, BareReply, Context, Reply, Status, error, percent
from hosting.emulator.firmware.base import BasePersonality, Handler
from hosting.emulator.firmware.common import pool_figures
from hosting.emulator.jsonfmt import JsonValue, fixed2, fixed4, fixed6, fixed8
from hosting.emulator.miner import Reading

CGMINER_VERSION = "4.11.1"
_DESCRIPTION = f"cgminer {CGMINER_VERSION}"
CHIP_SPREAD_C = 12  # PVT_T: the hottest chip of a board reads MTmax, the others up to this much less


@dataclass(frozen=True)
class _Identity:
    prod: str  # `PROD`: what pyasic and tools read the model from
    model: str
    hwtype: str
    swtype: str
    version: str  # firmware build, also the tail of `Ver[...]` in the MM string
    core: str  # chip type in `Core[...]`


# A1566 from the avalon_1566_version sample; the A1246 build string follows the same pattern.
_IDENTITIES: dict[str, _Identity] = {
    "avalon-a1566": _Identity(
        "AvalonMiner 15-194", "15-194", "MM4v2_X3", "MM319", "24102401_25462b2_9ddf522", "A3197S"
    ),
    "avalon-a1246": _Identity("AvalonMiner 1246", "1246", "MM3v2_X3", "MM314", "21042001_4ec6bb0_61407fa", "A3201"),
}
# `worklevel` steps as pyasic sets them (0 low, 1 medium, 2 high): the share of nominal power allowed.
_WORKLEVEL_SHARE = {0: 0.8, 1: 0.9, 2: 1.0}


_PVT_STRINGS: dict[tuple[str, int, int], str] = {}


@functools.cache
def _chip_offsets(model_key: str, boards: int, chips: int) -> tuple[tuple[int, ...], ...]:
    """How far below its board's hottest chip each chip sits (the first is the hottest)."""
    seed = rng.text_key(model_key)
    return tuple(
        tuple(0 if c == 0 else rng.mix(seed, 0x9C7, b, c) % CHIP_SPREAD_C for c in range(chips)) for b in range(boards)
    )


@functools.cache
def _static(model: ModelSpec, part: str) -> str:
    """The groups of the MM string that stay put while a unit runs, built once per model.

    PLL counters, frequency steps (`SFn`, `ATABDn`), per-chip voltages and nonce counts, CRC counters and
    the factory and auto-tune option strings, empty ones included (`FACOPTS0[]`, Q10).
    """
    boards, chips, seed = range(model.boards), model.chips_per_board, rng.text_key(model.key)
    steps = " ".join(str(model.frequency_mhz - 45 + 15 * k) for k in range(4))
    if part == "pll":
        return " ".join(
            f"PLL{b}[" + " ".join(str(1500 + rng.mix(seed, 0x911, b, k) % 3000) for k in range(4)) + "]" for b in boards
        )
    if part == "frequencies":
        return " ".join(f"SF{b}[{steps}]" for b in boards)
    if part == "chips":
        volts = [
            f"PVT_V{b}[" + " ".join(str(280 + rng.mix(seed, 0x707, b, c) % 15) for c in range(chips)) + "]"
            for b in boards
        ]
        nonces = [
            f"MW{b}[" + " ".join(str(10 + rng.mix(seed, 0x3A7, b, c) % 20) for c in range(chips)) + "]" for b in boards
        ]
        zeros = " ".join("0" for _ in boards)
        options = [
            f"ATAOPTS{b}[--avalon10-freq {steps.replace(' ', ':')} --avalon10-voltage-level 1188 --hash-asic {chips}]"
            for b in boards
        ]
        return " ".join(
            [
                *volts,
                "MW[" + " ".join(str(238000 + 61 * b) for b in boards) + "]",
                *nonces,
                f"CRC[{zeros}]",
                f"COMCRC[{zeros}]",
                *(f"FACOPTS{b}[]" for b in boards),
                *options,
                "ADJ[1]",
                f"COP[{zeros}]",
            ]
        )
    return " ".join(f"ATABD{b}[{steps}]" for b in boards)


def _pct(value: float) -> str:
    return f"{value:.3f}%"


class Avalon(BasePersonality):
    """One Avalon controller's API; holds the settings its `ascset` commands change."""

    def __init__(self, model: ModelSpec) -> None:
        super().__init__(model)
        self.identity = _IDENTITIES[model.key]
        self._unjoinable = frozenset({"ascset", "restart"})
        self.workmode = 1
        self.worklevel = 2

    def description(self, ctx: Context) -> str:
        return _DESCRIPTION

    def when(self, ctx: Context) -> int:
        return self._boot_clock(ctx, ctx.now)

    @staticmethod
    def _boot_clock(ctx: Context, at: float) -> int:
        """Avalon controllers count time from boot, in `When` and in share times alike (Q8)."""
        return max(0, int(at - ctx.miner.booted_at)) if at else 0

    def commands(self) -> Mapping[str, Handler]:
        return {
            "version": self.version,
            "summary": self.summary,
            "pools": self.pools,
            "devs": self.devs,
            "edevs": self.devs,
            "stats": self.stats,
            "estats": self.estats,
            "asccount": self.asccount,
            "ascset": self.ascset,
            "restart": self.restart,
        }

    # ------------------------------------------------------------ reads

    def version(self, parameter: str | None, ctx: Context) -> Reply:
        spec, ident = ctx.miner.spec, self.identity
        item: dict[str, JsonValue] = {
            "CGMiner": CGMINER_VERSION,
            "API": "3.7",
            "STM8": "20.08.01",
            "PROD": ident.prod,
            "MODEL": ident.model,
            "HWTYPE": ident.hwtype,
            "SWTYPE": ident.swtype,
            "VERSION": ident.version,
            "LOADER": "d0d779de.00",
            "DNA": self._dna(spec.seed),
            "MAC": spec.mac.replace(":", "").lower(),
            "UPAPI": "2",
        }
        return Reply(Status("S", 22, "CGMiner versions"), "VERSION", [item], text_header=True)

    def summary(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        elapsed = max(r.elapsed_s, 1)
        diff1 = r.accepted * r.difficulty
        item: dict[str, JsonValue] = {
            "Elapsed": r.elapsed_s,
            "MHS av": fixed2(r.ghs_avg * 1000),
            "MHS 30s": fixed2(r.ghs_5s * 1000),  # the log interval is 30 s on Avalon (Q5)
            "MHS 1m": fixed2(r.ghs_1m * 1000),
            "MHS 5m": fixed2(r.ghs_5m * 1000),
            "MHS 15m": fixed2(r.ghs_15m * 1000),
            "Found Blocks": 0,
            "Getworks": r.elapsed_s // 30 + 1,
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Hardware Errors": r.hw_errors,
            "Utility": fixed2(r.accepted / elapsed * 60),
            "Discarded": r.elapsed_s // 3,
            "Stale": 0,
            "Get Failures": 0,
            "Local Work": int(r.work_gh * 1e9 / 4294967296.0 / 64),
            "Remote Failures": 0,
            "Network Blocks": r.elapsed_s // 600,
            "Total MH": fixed4(r.work_gh * 1000),
            "Work Utility": fixed2(diff1 / elapsed * 60),
            "Difficulty Accepted": fixed8(diff1),
            "Difficulty Rejected": fixed8(r.rejected * r.difficulty),
            "Difficulty Stale": fixed8(0.0),
            "Best Share": r.best_share,
            "Device Hardware%": fixed4(percent(r.hw_errors, diff1)),
            "Device Rejected%": fixed4(percent(r.rejected, r.accepted + r.rejected)),
            "Pool Rejected%": fixed4(percent(r.rejected, r.accepted + r.rejected)),
            "Pool Stale%": fixed4(0.0),
            "Last getwork": 0,
        }
        return Reply(Status("S", 11, "Summary"), "SUMMARY", [item], text_header=True)

    def devs(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        diff1 = r.accepted * r.difficulty
        item: dict[str, JsonValue] = {
            "ASC": 0,
            "Name": "AVA10",
            "ID": 0,
            "Enabled": "Y",
            "Status": "Alive",
            "Temperature": fixed2(-273.0),  # placeholder; real temperatures are in estats (Q7)
            "MHS av": fixed2(r.ghs_avg * 1000),
            "MHS 30s": fixed2(r.ghs_5s * 1000),
            "MHS 1m": fixed2(r.ghs_1m * 1000),
            "MHS 5m": fixed2(r.ghs_5m * 1000),
            "MHS 15m": fixed2(r.ghs_15m * 1000),
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Hardware Errors": r.hw_errors,
            "Utility": fixed2(r.accepted / max(r.elapsed_s, 1) * 60),
            "Last Share Pool": 0,
            "Last Share Time": self._boot_clock(ctx, r.last_share_at),
            "Total MH": fixed4(r.work_gh * 1000),
            "Diff1 Work": int(diff1),
            "Difficulty Accepted": fixed8(diff1),
            "Difficulty Rejected": fixed8(r.rejected * r.difficulty),
            "Last Share Difficulty": fixed8(r.difficulty),
            "Last Valid Work": self._boot_clock(ctx, r.now),
            "Device Hardware%": fixed4(percent(r.hw_errors, diff1)),
            "Device Rejected%": fixed4(percent(r.rejected, r.accepted + r.rejected)),
            "Device Elapsed": r.elapsed_s,
        }
        return Reply(Status("S", 9, "1 ASC(s)"), "DEVS", [item])

    def pools(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = [
            {
                "POOL": p.position,
                "URL": p.url,
                "Status": "Alive",
                "Priority": p.position,
                "Quota": 1,
                "Long Poll": "N",
                "Getworks": p.getworks,
                "Accepted": p.accepted,
                "Rejected": p.rejected,
                "Works": p.works,
                "Discarded": 0,
                "Stale": 0,
                "Get Failures": 0,
                "Remote Failures": 0,
                "User": p.user,
                "Last Share Time": self._boot_clock(ctx, p.last_share_time),
                "Diff1 Shares": p.diff1_shares,
                "Proxy Type": "",
                "Proxy": "",
                "Difficulty Accepted": fixed8(p.difficulty_accepted),
                "Difficulty Rejected": fixed8(p.difficulty_rejected),
                "Difficulty Stale": fixed8(0.0),
                "Last Share Difficulty": fixed8(p.last_share_difficulty),
                "Work Difficulty": fixed8(p.difficulty if p.active else 0.0),
                "Has Stratum": True,
                "Stratum Active": p.active,
                "Stratum URL": p.url.split("//")[-1].split(":")[0] if p.active else "",
                "Stratum Difficulty": fixed8(p.difficulty if p.active else 0.0),
                "Has Vmask": True,
                "Has GBT": False,
                "Best Share": p.best_share,
                "Pool Rejected%": fixed4(percent(p.rejected, p.accepted + p.rejected)),
                "Pool Stale%": fixed4(0.0),
                "Bad Work": 0,
                "Current Block Height": p.block_height,
                "Current Block Version": 536870912,
            }
            for p in pool_figures(ctx.miner.spec, r)
        ]
        return Reply(Status("S", 7, f"{len(items)} Pool(s)"), "POOLS", items)

    def stats(self, parameter: str | None, ctx: Context) -> Reply:
        return self._stats(ctx, with_pools=True)

    def estats(self, parameter: str | None, ctx: Context) -> Reply:
        return self._stats(ctx, with_pools=False)  # estats leaves out the pool entries (commands.md)

    def _stats(self, ctx: Context, *, with_pools: bool) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = [
            {
                "STATS": 0,
                "ID": "AVA100",
                "Elapsed": r.elapsed_s,
                "Calls": 0,
                "Wait": fixed6(0.0),
                "Max": fixed6(0.0),
                "Min": fixed6(99999999.0),
                "MM ID0": self._mm_string(ctx, r),
                "MM Count": 1,
                "Smart Speed": 1,
                "Voltage Level Offset": 0,
                "Nonce Mask": 25,
            }
        ]
        if with_pools:
            items.extend(
                {
                    "STATS": p.position + 1,
                    "ID": f"POOL{p.position}",
                    "Elapsed": r.elapsed_s,
                    "Calls": 0,
                    "Wait": fixed6(0.0),
                    "Max": fixed6(0.0),
                    "Min": fixed6(99999999.0),
                    "Work Diff": fixed8(p.difficulty if p.active else 0.0),
                    "Times Sent": p.getworks,
                    "Times Recv": p.getworks + p.accepted,
                }
                for p in pool_figures(ctx.miner.spec, r)
            )
        return Reply(Status("S", 70, "CGMiner stats"), "STATS", items)

    def _mm_string(self, ctx: Context, r: Reading) -> str:
        """The `MM ID0` bracket string, built from the reading (Q10)."""
        spec, ident = ctx.miner.spec, self.identity
        hashing = r.mining
        present = [b for b in r.boards if b.present]
        offsets = _chip_offsets(self.model.key, self.model.boards, self.model.chips_per_board)
        chip_max = [round(b.chip_temp_c) if b.present else 0 for b in r.boards]
        chip_avg = [
            round(b.chip_temp_c - sum(offsets[b.position]) / len(offsets[b.position])) if b.present else 0
            for b in r.boards
        ]
        board_w = max(0.0, r.power_w - self.model.standby_w) * 0.945  # PSU output to the boards
        v_hash = 1188 if hashing else 0
        ps = [0, 1209, v_hash, round(board_w * 100 / v_hash) if v_hash else 0, round(board_w), v_hash, round(r.power_w)]
        dh = percent(r.hw_errors, r.accepted * r.difficulty)
        parts = [
            f"Ver[{ident.model}-{ident.version}]",
            f"DNA[{self._dna(spec.seed)}]",
            "MEMFREE[1392832.1381104]",
            "NETFAIL[0 0 0 0 0 0 0 0]",
            # The value has a comma and a trailing space, unescaped in text mode (Q10).
            f"SYSTEMSTATU[Work: {'In Work' if hashing else 'In Idle'}, Hash Board: {len(present)} ]",
            f"Elapsed[{r.elapsed_s}]",
            "BOOTBY[0x04.00000000]",
            f"LW[{int(r.work_gh * 1e9 / 4294967296.0 / 64)}]",
            "MH[" + " ".join("0" for _ in r.boards) + "]",
            "DHW[0]",
            f"HW[{r.hw_errors}]",
            f"DH[{_pct(dh)}]",
            f"Temp[{round(r.ambient_c)}]",
            f"TMax[{max(chip_max)}]",
            f"TAvg[{round(sum(chip_avg) / len(present)) if present else 0}]",
        ]
        parts += [f"Fan{n}[{rpm}]" for n, rpm in enumerate(r.fans_rpm, start=1)]
        parts += [
            f"FanR[{r.fan_pct}%]",
            f"Vo[{round(v_hash / 4)}]",
            "PS[" + " ".join(str(v) for v in ps) + "]",
            # A1047 (2020) prints six PS numbers and no WALLPOWER; the A12/A15 builds add both (Q10).
            f"WALLPOWER[{round(r.power_w)}]",
            _static(self.model, "pll"),
            f"GHSspd[{r.ghs_5s:.2f}]",
            f"DHspd[{_pct(dh)}]",
            f"GHSmm[{r.ideal_ghs:.2f}]",
            f"GHSavg[{r.ghs_avg:.2f}]",
            f"WU[{r.accepted * r.difficulty / max(r.elapsed_s, 1) * 60:.2f}]",
            f"Freq[{self.model.frequency_mhz if hashing else 0:.2f}]",
            f"Led[{1 if ctx.miner.led else 0}]",
            "MGHS[" + " ".join(f"{b.ghs_5s:.2f}" for b in r.boards) + "]",
            "MTmax[" + " ".join(str(t) for t in chip_max) + "]",
            "MTavg[" + " ".join(str(t) for t in chip_avg) + "]",
            "MVavg[" + " ".join("285.7" if b.present and hashing else "0.0" for b in r.boards) + "]",
            f"TA[{sum(b.chips for b in r.boards)}]",
            f"Core[{ident.core}]",
            "PING[131]",
            "POWS[0]",
            "EEPROM[" + " ".join("160" for _ in r.boards) + "]",
            "HASHS[" + " ".join("0" for _ in r.boards) + "]",
            "POOLS[0]",
            # Suspended with the controller up, as softoff leaves it; hashpower,0 shows as powered-off boards.
            f"SoftOFF[{1 if not hashing and not ctx.miner.hashpower_locked else 0}]",
            "ECHU[" + " ".join("0" if b.present else "512" for b in r.boards) + "]",
            "ECMM[0]",
            _static(self.model, "frequencies"),
        ]
        # Per-chip temperatures, three columns each (`PVT_T0[ 66  65 ...]`); a lost board has none.
        for b in present:
            parts.append(self._pvt_t(b.position, chip_max[b.position]))
        parts += [
            _static(self.model, "chips"),
            f"MPO[{r.power_limit_w}]",
            "MVL[87]",
            _static(self.model, "boards"),
            f"WORKMODE[{self.workmode}]",
        ]
        return " ".join(parts)

    def _pvt_t(self, board: int, top: int) -> str:
        """One board's chip temperatures (`PVT_T0[ 66  65 ...]`, three columns each).

        The spread of chips below the hottest one is the board design's, the same on every unit of a
        model, so the string depends only on (model, board, hottest chip) and is shared by the fleet.
        """
        key = (self.model.key, board, top)
        text = _PVT_STRINGS.get(key)
        if text is None:
            if len(_PVT_STRINGS) > 4096:
                _PVT_STRINGS.clear()
            offsets = _chip_offsets(self.model.key, self.model.boards, self.model.chips_per_board)[board]
            text = _PVT_STRINGS[key] = f"PVT_T{board}[" + " ".join(f"{top - o:3d}" for o in offsets) + "]"
        return text

    @staticmethod
    def _dna(seed: int) -> str:
        return f"0201{rng.mix(seed, 0xD4A) & 0xFFFFFFFFFFFF:012x}"

    def asccount(self, parameter: str | None, ctx: Context) -> Reply:
        return Reply(Status("S", 104, "ASC count"), "ASCS", [{"Count": 1}])

    # ------------------------------------------------------------ control

    def restart(self, parameter: str | None, ctx: Context) -> AnyReply:
        ctx.miner.restart(ctx.now, reboot=False)
        return BareReply({"STATUS": "RESTART", "id": 1})

    def ascset(self, parameter: str | None, ctx: Context) -> AnyReply:
        """`ascset|0,<option>[,<value>...]`: the controller's settings and power switches (commands.md 2.5)."""
        if not parameter:
            return error(15, "Missing device id parameter")
        device, _, rest = parameter.partition(",")
        if device.strip() != "0":
            return error(107, f"Invalid ASC id {device} - range is 0 - 0")
        option, _, value = rest.partition(",")
        option = option.strip().lower()
        miner, now = ctx.miner, ctx.now

        def info(text: str) -> Reply:
            return Reply(Status("I", 118, f"ASC 0 set info: {text}"))

        ok = Reply(Status("S", 119, "ASC 0 set OK"))
        if option == "softoff":
            # `softoff,1:<unix time>` suspends hashing at that moment (pyasic passes now + 5 s); the emulator
            # suspends at once. The controller, fans and API stay up (Q20).
            miner.sleep(now)
            return info(f"success softoff {value}".rstrip())
        if option == "softon":
            miner.wake(now, restart_process=False)
            return info(f"success softon {value}".rstrip())
        if option == "hashpower":
            if value == "":
                reading = ctx.reading()
                board_w = max(0.0, reading.power_w - self.model.standby_w) * 0.945
                v_hash = 1188 if reading.mining else 0
                current = round(board_w * 100 / v_hash) if v_hash else 0
                return info(f"PS[0 1209 {v_hash} {current} {round(board_w)} {v_hash}]")
            if value.strip() == "0":
                miner.hashpower_off(now)  # only a reboot powers the boards again (CAN)
                return info("Power off hash now ...")
            return error(120, "ASC 0 set failed: hashpower only takes 0; reboot to power the boards")
        if option == "workmode":
            if value.strip() in ("", "255"):
                return info(f"WORKMODE[{self.workmode}]")
            if value.strip() not in ("0", "1", "2"):
                return error(120, f"ASC 0 set failed: invalid workmode {value}")
            self.workmode = int(value)  # takes effect after a reboot on real units
            return info(f"WORKMODE[{self.workmode}]")
        if option == "worklevel":
            verb, _, level = value.partition(",")
            if verb.strip() in ("", "get"):
                return info(f"WORKLEVEL[{self.worklevel}]")
            if verb.strip() != "set" or level.strip() not in ("0", "1", "2"):
                return error(120, f"ASC 0 set failed: invalid worklevel {value}")
            self.worklevel = int(level)
            miner.set_power_limit(now, int(self.model.nominal_w * _WORKLEVEL_SHARE[self.worklevel]))
            return ok
        if option == "led":
            if value.strip() == "1-255":
                return info(f"LED[{1 if miner.led else 0}]")
            if value.strip() not in ("1-0", "1-1"):
                return error(120, f"ASC 0 set failed: invalid led {value}")
            miner.led = value.strip() == "1-1"
            return ok
        if option == "reboot":
            miner.restart(now, reboot=True)
            return ok
        return Reply(Status("W", 117, "ASC 0 does not support ascset"))
