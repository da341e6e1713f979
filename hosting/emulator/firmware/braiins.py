"""Braiins OS (BOSminer / BOSer): sorted keys, unrounded MH/s doubles, temps/fans/tunerstatus extensions.

Shapes follow the `braiins_os_*` samples; pause/resume as documented (commands.md 2.3). BOSer on S19/S21
also serves a gRPC API on 50051 that the emulator does not implement.
"""

from __future__ import annotations

from collections.abc import Mapping

from hosting.emulator.catalog import ModelSpec
from hosting.emulator.cgminer import Context, Reply, Status, percent
from hosting.emulator.firmware.base import BasePersonality, Handler
from hosting.emulator.firmware.common import pool_figures
from hosting.emulator.jsonfmt import JsonValue
from hosting.emulator.miner import Reading

# (version key, version value, Description, LuCI bos/info version); from the samples where they exist.
_IDENTITY: dict[str, tuple[str, str, str, str]] = {
    "braiins-s9": ("BOSminer+", "0.2.0-36c56a9363", "BOSminer+ 0.2.0-36c56a9363", "2020-07-30-0-36c56a93-20.07-plus"),
    "braiins-s17-pro": (
        "BOSminer",
        "bosminer-plus-am2-s17 0.6.0-fe72abe5",
        "BOSminer bosminer-plus-am2-s17 0.6.0-fe72abe5",
        "2021-01-08-0-fe72abe5-21.01-plus",
    ),
    "braiins-s19j-pro": (
        "BOSer",
        "boser-buildroot 0.1.0-0ce150e9",
        "BOSer boser-buildroot 0.1.0-0ce150e9",
        "2023-05-24-0-0ce150e9-23.04-plus",
    ),
}


def _sorted(item: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """BOSminer serialises its structs with keys in alphabetical order (braiins_os_* samples)."""
    return dict(sorted(item.items()))


class Braiins(BasePersonality):
    def __init__(self, model: ModelSpec) -> None:
        super().__init__(model)
        self.version_key, self.version_value, self._description, self.bos_info_version = _IDENTITY[model.key]
        self._unjoinable = frozenset({"pause", "resume"})

    def description(self, ctx: Context) -> str:
        return self._description

    def commands(self) -> Mapping[str, Handler]:
        return {
            "version": self.version,
            "summary": self.summary,
            "devs": self.devs,
            "edevs": self.devs,
            "pools": self.pools,
            "temps": self.temps,
            "fans": self.fans,
            "tempctrl": self.tempctrl,
            "tunerstatus": self.tunerstatus,
            "devdetails": self.devdetails,
            "pause": self.pause,
            "resume": self.resume,
        }

    def version(self, parameter: str | None, ctx: Context) -> Reply:
        name = self.version_key
        item = {"API": "3.7", name: self.version_value}
        return Reply(Status("S", 22, f"{name} versions"), "VERSION", [item], text_header=True)

    def summary(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        elapsed = max(r.elapsed_s, 1)
        diff1 = r.accepted * r.difficulty
        item: dict[str, JsonValue] = {
            "Accepted": r.accepted,
            "Best Share": r.best_share,
            "Device Hardware%": percent(r.hw_errors, diff1),
            "Device Rejected%": percent(r.rejected, r.accepted + r.rejected),
            "Difficulty Accepted": diff1,
            "Difficulty Rejected": r.rejected * r.difficulty,
            "Difficulty Stale": 0.0,
            "Discarded": 0,
            "Elapsed": r.elapsed_s,
            "Found Blocks": 0,
            "Get Failures": 0,
            "Getworks": r.elapsed_s // 30 + 1,
            "Hardware Errors": r.hw_errors,
            "Last getwork": int(r.now),
            "Local Work": int(r.work_gh * 1e9 / 4294967296.0 / 64),
            "MHS 15m": r.ghs_15m * 1000,
            "MHS 1m": r.ghs_1m * 1000,
            # A 24 h window that started before the process counts the time before as zero (sample).
            "MHS 24h": min(r.work_gh, r.ghs_avg * 86_400) / 86_400 * 1000,
            "MHS 5m": r.ghs_5m * 1000,
            "MHS 5s": r.ghs_5s * 1000,
            "MHS av": r.ghs_avg * 1000,
            "Network Blocks": 0,
            "Pool Rejected%": percent(r.rejected, r.accepted + r.rejected),
            "Pool Stale%": 0.0,
            "Rejected": r.rejected,
            "Remote Failures": 0,
            "Stale": 0,
            "Total MH": r.work_gh * 1000,
            "Utility": r.accepted / elapsed * 60,
            "Work Utility": diff1 / elapsed * 60,
        }
        return Reply(Status("S", 11, "Summary"), "SUMMARY", [item], text_header=True)

    def devs(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = []
        for b in r.boards:
            if not b.present:
                continue
            items.append(
                _sorted(
                    {
                        "ASC": len(items),
                        "Accepted": b.accepted,
                        "Device Elapsed": r.elapsed_s,
                        "Device Hardware%": percent(b.hw_errors, b.accepted * r.difficulty),
                        "Device Rejected%": percent(b.rejected, b.accepted + b.rejected),
                        "Diff1 Work": int(b.accepted * r.difficulty),
                        "Difficulty Accepted": b.accepted * r.difficulty,
                        "Difficulty Rejected": b.rejected * r.difficulty,
                        "Enabled": "Y",
                        "Hardware Error MHS 15m": 0.0,
                        "Hardware Errors": b.hw_errors,
                        "ID": b.chain_id,  # the hardware chain index: 6, 7, 8 on an S9
                        "Last Share Difficulty": r.difficulty,
                        "Last Share Pool": 0,
                        "Last Share Time": int(r.last_share_at),
                        "Last Valid Work": int(r.now),
                        "MHS 15m": b.ghs_15m * 1000,
                        "MHS 1m": b.ghs_1m * 1000,
                        "MHS 5m": b.ghs_5m * 1000,
                        "MHS 5s": b.ghs_5s * 1000,
                        "MHS av": b.ghs_avg * 1000,
                        "Name": "",
                        "Nominal MHS": b.ideal_ghs * 1000,
                        "Rejected": b.rejected,
                        "Status": "Alive",
                        "Temperature": 0.0,  # BOSminer reports temperatures only in `temps` (Q7)
                        "Total MH": b.work_gh * 1000,
                        "Utility": b.accepted / max(r.elapsed_s, 1) * 60,
                    }
                )
            )
        return Reply(Status("S", 9, f"{len(items)} ASC(s)"), "DEVS", items)

    def pools(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = []
        for p in pool_figures(ctx.miner.spec, r):
            host = p.url.split("//")[-1]
            items.append(
                _sorted(
                    {
                        "Accepted": p.accepted,
                        "AsicBoost": True,
                        "Bad Work": 0,
                        "Best Share": p.best_share,
                        "Current Block Height": 0,
                        "Current Block Version": 536870912 if p.getworks else 0,
                        "Diff1 Shares": p.diff1_shares,
                        "Difficulty Accepted": p.difficulty_accepted,
                        "Difficulty Rejected": p.difficulty_rejected,
                        "Difficulty Stale": 0.0,
                        "Discarded": 0,
                        "Get Failures": 0,
                        "Getworks": p.getworks,
                        "Has GBT": False,
                        "Has Stratum": True,
                        "Has Vmask": True,
                        "Last Share Difficulty": p.last_share_difficulty,
                        "Last Share Time": int(p.last_share_time),
                        "Long Poll": "N",
                        "POOL": p.position,
                        "Pool Rejected%": percent(p.rejected, p.accepted + p.rejected),
                        "Pool Stale%": 0.0,
                        "Priority": p.position,
                        "Proxy": "",
                        "Proxy Type": "",
                        "Quota": 1,
                        "Rejected": p.rejected,
                        "Remote Failures": 0,
                        "Stale": 0,
                        "Status": "Alive",
                        "Stratum Active": p.active,
                        "Stratum Difficulty": p.difficulty if p.active else 0.0,
                        "Stratum URL": host,
                        "URL": p.url,
                        "User": p.user,
                        "Work Difficulty": p.difficulty if p.active else 0.0,
                        "Works": p.works,
                    }
                )
            )
        return Reply(Status("S", 7, f"{len(items)} Pool(s)"), "POOLS", items)

    def temps(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        # The S9 has no chip sensor under BOSminer: Chip reads 0.0 (braiins_os_s9_temps sample).
        has_chip_sensor = self.model.chip_over_board_c > 0 and self.model.key != "braiins-s9"
        items: list[JsonValue] = [
            {
                "Board": round(b.board_temp_c, 1),
                "Chip": round(b.chip_temp_c, 1) if has_chip_sensor else 0.0,
                "ID": b.chain_id,
                "TEMP": position,
            }
            for position, b in enumerate(b for b in r.boards if b.present)
        ]
        return Reply(Status("S", 201, f"{len(items)} Temp(s)"), "TEMPS", items)

    def fans(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        rpms = list(r.fans_rpm) + [0] * (4 - len(r.fans_rpm))  # four slots, 0 RPM where no fan (Q7)
        items: list[JsonValue] = [{"FAN": n, "ID": n, "RPM": rpm, "Speed": r.fan_pct} for n, rpm in enumerate(rpms[:4])]
        return Reply(Status("S", 202, f"{len(items)} Fan(s)"), "FANS", items)

    def tempctrl(self, parameter: str | None, ctx: Context) -> Reply:
        item: dict[str, JsonValue] = {"Dangerous": 110, "Hot": 100, "Mode": "Automatic", "Target": 89}
        return Reply(Status("S", 200, "Temperature control"), "TEMPCTRL", [item])

    def _chain_power(self, r: Reading) -> int:
        return round(sum(b.power_w for b in r.boards))

    def tunerstatus(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        since = int(min(r.elapsed_s, 10_000))
        chains: list[JsonValue] = [
            {
                "ApproximatePowerConsumptionWatt": round(b.power_w),
                "HashchainIndex": b.chain_id,
                "Iteration": 0,
                "LoadedProfileCreatedOn": int(r.now) - r.elapsed_s,
                "PowerLimitWatt": round(r.power_limit_w / self.model.boards),
                "StageElapsed": since,
                "Status": "Stable",
                "TunerRunning": r.mining,
                "TuningElapsed": since,
            }
            for b in r.boards
            if b.present
        ]
        item: dict[str, JsonValue] = {
            "ApproximateChainPowerConsumption": self._chain_power(r),
            "ApproximateMinerPowerConsumption": round(r.power_w),
            "DynamicPowerScaling": "Disabled",
            "PowerLimit": r.power_limit_w,
            "TunerChainStatus": chains,
        }
        return Reply(Status("S", 203, "Tuner Status"), "TUNERSTATUS", [item])

    def devdetails(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = []
        for b in r.boards:
            if not b.present:
                continue
            items.append(
                {
                    "Chips": b.chips,
                    "Cores": b.chips * 114,
                    "DEVDETAILS": len(items),
                    "Device Path": "",
                    "Driver": "",
                    "Frequency": float(self.model.frequency_mhz * 1_000_000 + b.chain_id * 1009),
                    "ID": b.chain_id,
                    "Kernel": "",
                    "Model": f"Bitmain {self.model.name}",
                    "Name": f"Hash Chain {b.chain_id}",
                    "Voltage": 8.4 if self.model.key == "braiins-s9" else 13.6,
                }
            )
        return Reply(Status("S", 69, "Device Details"), "DEVDETAILS", items)

    def pause(self, parameter: str | None, ctx: Context) -> Reply:
        ctx.miner.sleep(ctx.now)
        return Reply(Status("S", 204, "Pause"), "PAUSE", [True])

    def resume(self, parameter: str | None, ctx: Context) -> Reply:
        ctx.miner.wake(ctx.now, restart_process=False)
        return Reply(Status("S", 205, "Resume"), "RESUME", [True])
