"""Bitmain stock firmware: bmminer 2.0.0 on the S9 and the S19-era `cgminer 1.0.0` build.

The RPC port serves only the read group `stats:pools:devs:summary:version` (api-groups in the
get_miner_conf sample); control goes through the web CGI (`hosting/emulator/web.py`, commands.md 2.2).
Field names and types follow `antminer_s9_bmminer_*`, `antminer_s19*` and `antminer_l3plus_*` samples.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from hosting.emulator import rng
from hosting.emulator.catalog import ModelSpec
from hosting.emulator.cgminer import Context, Reply, Status, percent
from hosting.emulator.firmware.base import Handler, ReadGroupPersonality
from hosting.emulator.firmware.common import chip_string, pool_figures, short_difficulty, since_text
from hosting.emulator.jsonfmt import SPACED, JsonValue, fixed, fixed2, fixed4, fixed6
from hosting.emulator.miner import BoardReading, Reading

# Build identity per model: (Miner build, CompileTime). Miner 49.0.1.3 / Oct 2020 is the S19 Pro sample.
_S19_BUILDS: dict[str, tuple[str, str]] = {
    "antminer-s19-pro": ("49.0.1.3", "Wed Oct 21 10:18:10 CST 2020"),
    "antminer-s19j-pro": ("49.0.1.3", "Fri Dec 11 11:15:40 CST 2020"),
    "antminer-s19-xp": ("49.0.1.3", "Mon Nov 21 16:43:16 CST 2022"),
    "antminer-s21": ("49.0.1.3", "Thu Nov 30 14:21:05 CST 2023"),
}
_S9_BUILD = ("30.0.1.3", "Wed Jul 31 16:18:27 CST 2019")


# Per-slot key names ("temp_pcb3", "chain_rate7", ...), spelled once rather than on every request.
_KEYS: dict[str, tuple[str, ...]] = {
    prefix: tuple(f"{prefix}{n}" for n in range(17))
    for prefix in (
        "fan", "temp", "temp2_", "temp3_", "temp_pcb", "temp_chip", "temp_pic", "chain_acn", "chain_acs",
        "chain_hw", "chain_rate", "chain_rateideal", "freq", "freq_avg", "chain_xtime", "chain_offside_",
        "chain_opencore_",
    )
}  # fmt: skip


@functools.cache
def _xtimes(slot: int, chips: int) -> str:
    """`chain_xtimeN`, one entry per chip; the same on every unit, so built once per board slot."""
    return "{" + ",".join(f"X{c}={55 + rng.mix(0x7173, slot, c) % 7}" for c in range(chips)) + "}"


def _miner_id(model_seed: int) -> str:
    return f"{rng.mix(model_seed, 0x1D) & 0xFFFFFFFFFFFFFFFF:016x}"


class _Antminer(ReadGroupPersonality):
    def commands(self) -> Mapping[str, Handler]:
        return {
            "version": self.version,
            "summary": self.summary,
            "stats": self.stats,
            "pools": self.pools,
            "devs": self.devs,
        }

    # Subclasses spell the figures their firmware's way.
    def version(self, parameter: str | None, ctx: Context) -> Reply:
        raise NotImplementedError

    def summary(self, parameter: str | None, ctx: Context) -> Reply:
        raise NotImplementedError

    def stats(self, parameter: str | None, ctx: Context) -> Reply:
        raise NotImplementedError

    def pools(self, parameter: str | None, ctx: Context) -> Reply:
        raise NotImplementedError

    def _num(self, value: float, places: int) -> JsonValue:
        """S9-era api.c prints doubles with fixed decimals; S19-era jansson prints shortest floats."""
        raise NotImplementedError

    def devs(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = []
        for b in r.boards:
            if not b.present:
                continue
            items.append(
                {
                    "ASC": len(items),
                    "Name": "BTM_SOC",
                    "ID": len(items),
                    "Enabled": "Y",
                    "Status": "Alive",
                    "Temperature": self._num(b.board_temp_c, 2),
                    "MHS av": self._num(b.ghs_avg * 1000, 2),
                    "MHS 5s": self._num(b.ghs_5s * 1000, 2),
                    "MHS 1m": self._num(b.ghs_1m * 1000, 2),
                    "MHS 5m": self._num(b.ghs_5m * 1000, 2),
                    "MHS 15m": self._num(b.ghs_15m * 1000, 2),
                    "Accepted": b.accepted,
                    "Rejected": b.rejected,
                    "Hardware Errors": b.hw_errors,
                    "Utility": self._num(b.accepted / max(r.elapsed_s, 1) * 60, 2),
                    "Last Share Pool": 0,
                    "Last Share Time": int(r.last_share_at),
                    "Total MH": self._num(b.work_gh * 1000, 4),
                    "Diff1 Work": int(b.accepted * r.difficulty),
                    "Difficulty Accepted": self._num(b.accepted * r.difficulty, 8),
                    "Difficulty Rejected": self._num(b.rejected * r.difficulty, 8),
                    "Last Share Difficulty": self._num(r.difficulty, 8),
                    "Last Valid Work": int(r.now),
                    "Device Hardware%": self._num(percent(b.hw_errors, b.accepted * r.difficulty), 4),
                    "Device Rejected%": self._num(percent(b.rejected, b.accepted + b.rejected), 4),
                    "Device Elapsed": r.elapsed_s,
                }
            )
        return Reply(Status("S", 9, f"{len(items)} ASC(s)"), "DEVS", items)

    def _summary_fields(self, r: Reading, ghs_5s: JsonValue) -> dict[str, JsonValue]:
        elapsed = max(r.elapsed_s, 1)
        diff1 = r.accepted * r.difficulty
        return {
            "Elapsed": r.elapsed_s,
            "GHS 5s": ghs_5s,
            "GHS av": self._num(r.ghs_avg, 2),
            "Found Blocks": 0,
            "Getworks": r.elapsed_s // 30 + 1,
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Hardware Errors": r.hw_errors,
            "Utility": self._num(r.accepted / elapsed * 60, 2),
            "Discarded": r.elapsed_s // 3,
            "Stale": r.rejected // 50,
            "Get Failures": 0,
            "Local Work": int(r.work_gh * 1e9 / 4294967296.0 / 64),
            "Remote Failures": 0,
            "Network Blocks": r.elapsed_s // 600,
            "Total MH": self._num(r.work_gh * 1000, 4),
            "Work Utility": self._num(diff1 / elapsed * 60, 2),
            "Difficulty Accepted": self._num(diff1, 8),
            "Difficulty Rejected": self._num(r.rejected * r.difficulty, 8),
            "Difficulty Stale": self._num(0.0, 8),
            "Best Share": r.best_share,
            "Device Hardware%": self._num(percent(r.hw_errors, diff1), 4),
            "Device Rejected%": self._num(percent(r.rejected, r.accepted + r.rejected), 4),
            "Pool Rejected%": self._num(percent(r.rejected, r.accepted + r.rejected), 4),
            "Pool Stale%": self._num(0.0, 4),
            "Last getwork": int(r.now),
        }

    def _pool_items(self, ctx: Context, stale_key: str) -> list[JsonValue]:
        r = ctx.reading()
        items: list[JsonValue] = []
        for p in pool_figures(ctx.miner.spec, r):
            total = p.accepted + p.rejected
            items.append(
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
                    "Discarded": p.discarded,
                    "Stale": p.stale,
                    "Get Failures": 0,
                    "Remote Failures": 0,
                    "User": p.user,
                    # H:MM:SS since the last share, "0" when none (quirks.md Q8)
                    "Last Share Time": since_text(r.now - p.last_share_time) if p.last_share_time else "0",
                    "Diff": short_difficulty(p.difficulty) if p.active else "",
                    "Diff1 Shares": p.diff1_shares,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": self._num(p.difficulty_accepted, 8),
                    "Difficulty Rejected": self._num(p.difficulty_rejected, 8),
                    "Difficulty Stale": self._num(0.0, 8),
                    "Last Share Difficulty": self._num(p.last_share_difficulty, 8),
                    "Has Stratum": True,
                    "Stratum Active": p.active,
                    "Stratum URL": p.url.split("//")[-1].split(":")[0] if p.active else "",
                    "Has GBT": False,
                    "Best Share": self._best_share(p.best_share),
                    "Pool Rejected%": self._num(percent(p.rejected, total), 4),
                    stale_key: self._num(0.0, 4),
                }
            )
        return items

    def _best_share(self, value: int) -> JsonValue:
        return value


class AntminerStock(_Antminer):
    """S19/S21-era stock firmware: jansson output (`", "` separators, plain floats, Q19)."""

    style = SPACED

    def __init__(self, model: ModelSpec) -> None:
        super().__init__(model)
        self.build, self.compile_time = _S19_BUILDS.get(model.key, _S19_BUILDS["antminer-s19-pro"])

    def description(self, ctx: Context) -> str:
        return "cgminer 1.0.0"

    def _num(self, value: float, places: int) -> JsonValue:
        return round(value, min(places, 4))

    def _best_share(self, value: int) -> JsonValue:
        return float(value)

    def _version_object(self) -> dict[str, JsonValue]:
        return {"BMMiner": "1.0.0", "Miner": self.build, "CompileTime": self.compile_time, "Type": self.model.name}

    def version(self, parameter: str | None, ctx: Context) -> Reply:
        item: dict[str, JsonValue] = {
            "BMMiner": "1.0.0",
            "API": "3.1",
            "Miner": self.build,
            "CompileTime": self.compile_time,
            "Type": self.model.name,
        }
        return Reply(Status("S", 22, "CGMiner versions"), "VERSION", [item], text_header=True)

    def summary(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        return Reply(
            Status("S", 11, "Summary"), "SUMMARY", [self._summary_fields(r, round(r.ghs_5s, 2))], text_header=True
        )

    def pools(self, parameter: str | None, ctx: Context) -> Reply:
        items = self._pool_items(ctx, "Pool Stale%%")  # sic: S19 firmware doubles the % (quirks.md Q6)
        return Reply(Status("S", 7, f"{len(items)} Pool(s)"), "POOLS", items)

    def stats(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        miner = ctx.miner
        asleep = not r.mining
        slots = range(1, 5)  # bmminer prints four chain slots; a 3-board unit leaves slot 4 empty
        by_chain = {b.chain_id: b for b in r.boards}
        s: dict[str, JsonValue] = {
            "STATS": 0,
            "ID": "BTM_SOC0",
            "Elapsed": r.elapsed_s,
            "Calls": 0,
            "Wait": 0,
            "Max": 0,
            "Min": 99999999,
            "GHS 5s": round(r.ghs_5s, 2),
            "GHS av": round(r.ghs_avg, 2),
            "rate_30m": round(r.ghs_15m, 2),
            # Mode 2 is what S19 firmware prints both mining and asleep (antminer_s19*_stats samples);
            # the CGI's bitmain-work-mode is the authority on sleep (commands.md 2.2).
            "Mode": 2,
            "miner_count": sum(1 for b in r.boards if b.present),
            "frequency": self.model.frequency_mhz,
            "fan_num": self.model.fans,
        }
        for f, rpm in enumerate(r.fans_rpm, start=1):
            s[_KEYS["fan"][f]] = rpm
        present = [b for b in r.boards if b.present]
        quads = {b.chain_id: _sensor_quads(b, asleep=asleep) for b in present}
        s["temp_num"] = len(present)
        for chain, (pcb, chip, _) in quads.items():
            s[_KEYS["temp"][chain]] = max(pcb)
            s[_KEYS["temp2_"][chain]] = max(chip)
        for position, kind in enumerate(("temp_pcb", "temp_chip", "temp_pic")):
            for slot in slots:
                quad = quads.get(slot)
                # four sensors joined with "-", negatives included: "2--1-20-22" (quirks.md Q7)
                s[_KEYS[kind][slot]] = "0-0-0-0" if quad is None else "-".join(map(str, quad[position]))
        s["total_rateideal"] = round(r.ideal_ghs, 1)
        s["rate_unit"] = "GH"
        s["total_freqavg"] = 0 if asleep else self.model.frequency_mhz
        s["total_acn"] = sum(b.chips for b in r.boards)
        s["total rate"] = round(r.ghs_avg, 2)  # sic: a space on S19 (quirks.md Q6)
        s["temp_max"] = 0
        s["no_matching_work"] = r.hw_errors
        live = {slot: by_chain[slot] for slot in slots if slot in by_chain and by_chain[slot].present}
        for slot in slots:
            board = by_chain.get(slot)
            s[_KEYS["chain_acn"][slot]] = board.chips if board else 0
        for slot in slots:
            board = live.get(slot)
            s[_KEYS["chain_acs"][slot]] = chip_string(board.chips, 3, healthy=not asleep) if board else ""
        for slot in slots:
            board = live.get(slot)
            s[_KEYS["chain_hw"][slot]] = board.hw_errors if board else 0
        for slot in slots:
            board = live.get(slot)
            s[_KEYS["chain_rate"][slot]] = f"{board.ghs_5s:.2f}" if board else ""
        for slot in slots:
            s[_KEYS["freq"][slot]] = self.model.frequency_mhz if slot in live else 0
        s["miner_version"] = self.build
        s["miner_id"] = _miner_id(miner.spec.seed)
        return Reply(Status("S", 70, "CGMiner stats"), "STATS", [self._version_object(), s])


def _sensor_quads(b: BoardReading, *, asleep: bool) -> tuple[list[int], list[int], list[int]]:
    """PCB, chip and PIC sensor quadruples: inlet pair then outlet pair (antminer_s19pro_stats sample)."""
    inlet, outlet = b.inlet_temp_c, b.outlet_temp_c
    pcb = [round(inlet - 1), round(inlet + 1), round(outlet - 1), round(outlet + 1)]
    over = 0 if asleep else round(b.chip_temp_c - b.board_temp_c)
    chip = [t + over for t in pcb]
    pic = [t - 10 for t in pcb]
    return pcb, chip, pic


class AntminerLegacy(_Antminer):
    """S9 bmminer 2.0.0: fixed-decimal output, `GHS 5s` as a string, `}{` in stats (Q2, Q4, Q7)."""

    def description(self, ctx: Context) -> str:
        return "bmminer 1.0.0"

    def _num(self, value: float, places: int) -> JsonValue:
        return fixed(value, places)

    def _version_object(self) -> dict[str, JsonValue]:
        # Plain "Antminer S9": some units decorate it ("Antminer S9\nV1.3.58", Q11), which stops
        # pyasic from recognising the model, so the emulator keeps the undecorated form.
        return {"BMMiner": "2.0.0", "Miner": _S9_BUILD[0], "CompileTime": _S9_BUILD[1], "Type": self.model.name}

    def version(self, parameter: str | None, ctx: Context) -> Reply:
        item: dict[str, JsonValue] = {
            "BMMiner": "2.0.0",
            "API": "3.1",
            "Miner": _S9_BUILD[0],
            "CompileTime": _S9_BUILD[1],
            "Type": self.model.name,
            "VER": "200215",
        }
        return Reply(Status("S", 22, "BMMiner versions"), "VERSION", [item], text_header=True)

    def summary(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        fields = self._summary_fields(r, f"{r.ghs_5s:.2f}")  # a string on the S9 (quirks.md Q4)
        return Reply(Status("S", 11, "Summary"), "SUMMARY", [fields], text_header=True)

    def pools(self, parameter: str | None, ctx: Context) -> Reply:
        items = self._pool_items(ctx, "Pool Stale%")
        return Reply(Status("S", 7, f"{len(items)} Pool(s)"), "POOLS", items)

    def stats(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        slots = range(1, 17)  # the S9 prints sixteen slots; its boards sit in 6, 7, 8 (Q7)
        by_chain = {b.chain_id: b for b in r.boards if b.present}
        s: dict[str, JsonValue] = {
            "STATS": 0,
            "ID": "BC50",
            "Elapsed": r.elapsed_s,
            "Calls": 0,
            "Wait": fixed6(0.0),
            "Max": fixed6(0.0),
            "Min": fixed6(99999999.0),
            "GHS 5s": f"{r.ghs_5s:.2f}",
            "GHS av": fixed2(r.ghs_avg),
            "miner_count": len(by_chain),
            "frequency": self.model.frequency_mhz,
            "fan_num": self.model.fans,
        }
        # The S9's two fans report in positions 5 and 6 of eight (antminer_s9_bmminer_stats sample).
        fans = dict(zip((5, 6), r.fans_rpm, strict=False))
        for f in range(1, 9):
            s[_KEYS["fan"][f]] = fans.get(f, 0)
        s["temp_num"] = len(by_chain)
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["temp"][slot]] = round(b.chip_temp_c) if b else 0
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["temp2_"][slot]] = round(b.board_temp_c) if b else 0
        for slot in slots:
            s[_KEYS["temp3_"][slot]] = 0
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["freq_avg"][slot]] = fixed2(self.model.frequency_mhz + (slot % 3) if b else 0.0)
        s["total_rateideal"] = fixed2(r.ideal_ghs)
        s["total_freqavg"] = fixed2(float(self.model.frequency_mhz) if by_chain else 0.0)
        s["total_acn"] = sum(b.chips for b in by_chain.values())
        s["total_rate"] = fixed2(r.ghs_5s)
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["chain_rateideal"][slot]] = fixed2(b.ideal_ghs if b else 0.0)
        s["temp_max"] = max((round(b.board_temp_c) for b in by_chain.values()), default=0)
        s["Device Hardware%"] = fixed4(percent(r.hw_errors, r.accepted * r.difficulty))
        s["no_matching_work"] = r.hw_errors
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["chain_acn"][slot]] = b.chips if b else 0
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["chain_acs"][slot]] = chip_string(b.chips, 8, healthy=r.mining) if b else ""
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["chain_hw"][slot]] = b.hw_errors if b else 0
        for slot in slots:
            b = by_chain.get(slot)
            s[_KEYS["chain_rate"][slot]] = f"{b.ghs_5s:.2f}" if b else ""
        for slot, b in sorted(by_chain.items()):
            s[_KEYS["chain_xtime"][slot]] = _xtimes(slot, b.chips)
        for slot in sorted(by_chain):
            s[_KEYS["chain_offside_"][slot]] = "0"
        for slot in sorted(by_chain):
            s[_KEYS["chain_opencore_"][slot]] = "0"
        s["miner_version"] = _S9_BUILD[0]
        return Reply(Status("S", 70, "BMMiner stats"), "STATS", [self._version_object(), s], glue_first=True)
