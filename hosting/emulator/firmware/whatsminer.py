"""MicroBT Whatsminer btminer, API v2 (commands.md 2.6, quirks.md Q9).

cgminer-style reads answer with a STATUS list and Description "btminer" (whatsminer_m31s_* samples);
`get_*`, `status` and token replies carry STATUS as a string and an object in Msg, Description
"whatsminer v1.3". Writes are AES-encrypted with a token from `get_token`; pools number from 1.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from hosting.emulator import rng
from hosting.emulator.catalog import ModelSpec
from hosting.emulator.cgminer import INVALID_COMMAND, AnyReply, BareReply, Context, Reply, Request, Status, percent
from hosting.emulator.faults import FaultKind
from hosting.emulator.firmware.base import BasePersonality, Handler
from hosting.emulator.firmware.common import block_height, pool_figures
from hosting.emulator.jsonfmt import JsonValue, encode, fixed2, fixed4, fixed6, fixed8
from hosting.emulator.miner import Reading
from hosting.emulator.whatsminer_crypto import SALT_ALPHABET, crypt_hash, decrypt, encrypt

FIRMWARE_VERSION = "20210109.22.REL"  # the version in the whatsminer_status_btmineroff sample
API_VERSION = "2.0.5"
TOKEN_LIFETIME_S = 1800.0  # 30 minutes (vendor v2.0.5 page)
MAX_TOKENS = 32
_SPECIAL_DESCRIPTION = "whatsminer v1.3"
# devdetails `Model`; pyasic drops "_" and the last digit to find the class (M30S++VH40 -> M30S++VH40).
_DEVDETAILS_MODEL = {"whatsminer-m30s-pp": "M30S++VH40", "whatsminer-m50": "M50VH50", "whatsminer-m30s": "M30SVE10"}
_WRITE_COMMANDS = frozenset(
    {
        "power_off", "power_on", "restart_btminer", "reboot", "set_low_power", "set_normal_power",
        "set_high_power", "set_target_freq", "set_power_pct", "set_power_pct_v2", "adjust_power_limit",
        "update_pools", "set_led", "net_config", "update_pwd", "factory_reset", "set_temp_offset",
        "adjust_upfreq_speed", "set_poweroff_cool", "set_fan_zero_speed", "set_hostname",
        "enable_btminer_fast_boot", "disable_btminer_fast_boot", "enable_web_pools", "disable_web_pools",
        "pre_power_on",
    }
)  # fmt: skip
_SPECIAL_READS = frozenset({"get_version", "status", "get_miner_info", "get_psu", "get_error_code", "get_token"})


@dataclass
class _Tokens:
    """Signs handed out by get_token on one miner, with when they were issued."""

    issued: dict[str, float] = field(default_factory=dict)
    counter: int = 0

    def prune(self, now: float) -> None:
        for sign, at in list(self.issued.items()):
            if now - at > TOKEN_LIFETIME_S:
                del self.issued[sign]


class Whatsminer(BasePersonality):
    password = "admin"  # noqa: S105 -- pyasic's default; the write API counts as enabled
    write_api_enabled = True

    def __init__(self, model: ModelSpec) -> None:
        super().__init__(model)
        self._unjoinable = _SPECIAL_READS
        self._tokens = _Tokens()
        self.power_mode = "Normal"

    def description(self, ctx: Context) -> str:
        return "btminer"

    def commands(self) -> Mapping[str, Handler]:
        return {
            "version": self.version,
            "summary": self.summary,
            "devs": self.devs,
            "edevs": self.devs,
            "pools": self.pools,
            "devdetails": self.devdetails,
            "get_version": self.get_version,
            "status": self.status,
            "get_miner_info": self.get_miner_info,
            "get_psu": self.get_psu,
            "get_error_code": self.get_error_code,
            "get_token": self.get_token,
        }

    def _special(self, ctx: Context, code: int, msg: JsonValue, letter: str = "S") -> BareReply:
        return BareReply(
            {"STATUS": letter, "When": int(ctx.now), "Code": code, "Msg": msg, "Description": _SPECIAL_DESCRIPTION}
        )

    def unknown(self, name: str, ctx: Context) -> AnyReply:
        if name in _WRITE_COMMANDS:
            return self._special(ctx, 45, "can't access write cmd", "E")
        # Other names fall through to the cgminer api.c that btminer is built on: E/14 in a STATUS list.
        return INVALID_COMMAND

    def intercept(self, request: Request, ctx: Context) -> AnyReply | None:
        body = request.body
        if not request.json_mode or request.invalid_json:
            return None
        if "enc" in body:
            return self._privileged(body, ctx)
        cmd = body.get("cmd")
        if request.command is None and isinstance(cmd, str):
            # API 2.x takes {"cmd": ...} as well as {"command": ...} for reads (commands.md 2.6).
            handler = self.command(cmd)
            return handler(None, ctx) if handler is not None else self.unknown(cmd, ctx)
        return None

    # ------------------------------------------------------------ cgminer-style reads

    def version(self, parameter: str | None, ctx: Context) -> Reply:
        # api.c's own `version`, kept by btminer: the firmware shows itself only in Description,
        # which is where discovery tools look for "btminer" (commands.md, version section).
        item: dict[str, JsonValue] = {"CGMiner": "4.9.2", "API": "3.7"}
        return Reply(Status("S", 22, "CGMiner versions"), "VERSION", [item], text_header=True)

    def summary(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        elapsed = max(r.elapsed_s, 1)
        present = [b for b in r.boards if b.present]
        chip_temps = [b.chip_temp_c for b in present]
        fan_in, fan_out = [*r.fans_rpm, 0, 0][:2]
        item: dict[str, JsonValue] = {
            "Elapsed": r.elapsed_s,
            "MHS av": fixed2(r.ghs_avg * 1000),
            "MHS 5s": fixed2(r.ghs_5s * 1000),
            "MHS 1m": fixed2(r.ghs_1m * 1000),
            "MHS 5m": fixed2(r.ghs_5m * 1000),
            "MHS 15m": fixed2(r.ghs_15m * 1000),
            "HS RT": fixed2(r.ghs_1m * 1000),
            "Found Blocks": 0,
            "Getworks": r.elapsed_s // 30 + 1,
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Hardware Errors": 0,
            "Utility": fixed2(r.accepted / elapsed * 60),
            "Discarded": 0,
            "Stale": 0,
            "Get Failures": 0,
            "Local Work": int(r.work_gh * 1e9 / 4294967296.0 / 16),
            "Remote Failures": 0,
            "Network Blocks": r.elapsed_s // 600,
            "Total MH": fixed4(r.work_gh * 1000),
            "Work Utility": fixed2(0.0),
            "Difficulty Accepted": fixed8(r.accepted * r.difficulty),
            "Difficulty Rejected": fixed8(r.rejected * r.difficulty),
            "Difficulty Stale": fixed8(0.0),
            "Best Share": r.best_share,
            "Temperature": fixed2(max((b.board_temp_c for b in present), default=0.0)),
            "freq_avg": self.model.frequency_mhz if r.mining else 0,
            "Fan Speed In": fan_in,
            "Fan Speed Out": fan_out,
            "Voltage": 1206 if r.mining else 0,
            "Power": round(r.power_w),
            "Power_RT": round(r.power_w),
            "Power Rate": fixed2(r.power_w / (r.ghs / 1000) if r.ghs else 0.0),
            "Device Hardware%": fixed4(0.0),
            "Device Rejected%": fixed4(percent(r.rejected, r.accepted + r.rejected)),
            "Pool Rejected%": fixed4(percent(r.rejected, r.accepted + r.rejected)),
            "Pool Stale%": fixed4(0.0),
            "Last getwork": 0,
            "Uptime": r.uptime_s,
            "Chip Data": "HPJA05-20070601 BINV02-193005F",
            "Power Current": fixed6(r.power_w / 12.6),
            "Power Fanspeed": _psu_fan(r),
            "Security Mode": 0,
            "Liquid Cooling": False,
            "Hash Stable": r.mining,
            "Hash Stable Cost Seconds": r.elapsed_s,
            "Hash Deviation%": fixed4(percent(r.ghs_5s - r.ghs, r.ghs)),
            "Target Freq": self.model.frequency_mhz,
            "Target MHS": int(r.ideal_ghs * 1000 * min(1.0, r.power_limit_w / self.model.nominal_w)),
            "Env Temp": fixed2(r.ambient_c),
            "Power Mode": self.power_mode,
            "Firmware Version": f"'{FIRMWARE_VERSION}'",  # literal quotes in the value (quirks.md Q9)
            "CB Platform": "ALLWINNER_H6OS",
            "CB Version": "V10",
            "MAC": ctx.miner.spec.mac,
            "Factory GHS": int(r.ideal_ghs),
            "Power Limit": r.power_limit_w,
            "Power Voltage Input": fixed2(229.5),
            "Power Current Input": fixed2(r.power_w / 229.5),
            "Chip Temp Min": fixed2(min(chip_temps, default=0.0) - 8.0 if chip_temps else 0.0),
            "Chip Temp Max": fixed2(max(chip_temps, default=0.0) + 6.0 if chip_temps else 0.0),
            "Chip Temp Avg": fixed2(sum(chip_temps) / len(chip_temps) if chip_temps else 0.0),
            "Debug": "",
        }
        return Reply(Status("S", 11, "Summary"), "SUMMARY", [item], text_header=True)

    def devs(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        seed = ctx.miner.spec.seed
        fan_in, fan_out = [*r.fans_rpm, 0, 0][:2]
        items: list[JsonValue] = []
        for b in r.boards:
            if not b.present:
                continue
            items.append(
                {
                    "ASC": b.position,
                    "Name": "SM",
                    "ID": b.position,
                    "Slot": b.position,
                    "Enabled": "Y",
                    "Status": "Alive",
                    "Temperature": fixed2(b.board_temp_c),
                    "Chip Frequency": self.model.frequency_mhz if r.mining else 0,
                    "Fan Speed In": fan_in,
                    "Fan Speed Out": fan_out,
                    "MHS av": fixed2(b.ghs_avg * 1000),
                    "MHS 5s": fixed2(b.ghs_5s * 1000),
                    "MHS 1m": fixed2(b.ghs_1m * 1000),
                    "MHS 5m": fixed2(b.ghs_5m * 1000),
                    "MHS 15m": fixed2(b.ghs_15m * 1000),
                    "Accepted": b.accepted,
                    "Rejected": b.rejected,
                    "Hardware Errors": 0,
                    "Utility": fixed2(b.accepted / max(r.elapsed_s, 1) * 60),
                    "Last Share Pool": 0,
                    "Last Share Time": int(r.last_share_at),
                    "Total MH": fixed4(b.work_gh * 1000),
                    "Diff1 Work": 0,
                    "Difficulty Accepted": fixed8(b.accepted * r.difficulty),
                    "Difficulty Rejected": fixed8(b.rejected * r.difficulty),
                    "Last Share Difficulty": fixed8(r.difficulty),
                    "Last Valid Work": int(r.now),
                    "Device Hardware%": fixed4(0.0),
                    "Device Rejected%": fixed4(percent(b.rejected, b.accepted + b.rejected)),
                    "Device Elapsed": r.elapsed_s,
                    "Upfreq Complete": 1 if r.mining else 0,
                    "Effective Chips": b.chips,
                    "PCB SN": b.serial,
                    "Chip Data": "HPJA05-20070601 BINV02-193005F",
                    "Chip Temp Min": fixed2(b.chip_temp_c - 8.0),
                    "Chip Temp Max": fixed2(b.chip_temp_c + 6.0),
                    "Chip Temp Avg": fixed2(b.chip_temp_c),
                    "chip_vol_diff": 8 + rng.mix(seed, b.position) % 12,
                }
            )
        return Reply(Status("S", 9, f"{len(items)} ASC(s)"), "DEVS", items)

    def pools(self, parameter: str | None, ctx: Context) -> Reply:
        r = ctx.reading()
        items: list[JsonValue] = [
            {
                "POOL": p.position + 1,  # Whatsminer numbers pools from 1 (quirks.md Q9)
                "URL": p.url,
                "Status": "Alive",
                "Priority": p.position,
                "Quota": 1,
                "Long Poll": "N",
                "Getworks": p.getworks if p.active else 0,
                "Accepted": p.accepted,
                "Rejected": p.rejected,
                "Works": p.works,
                "Discarded": 0,
                "Stale": 0,
                "Get Failures": 0,
                "Remote Failures": 0,
                "User": p.user,
                "Last Share Time": int(p.last_share_time),
                "Diff1 Shares": 0,
                "Proxy Type": "",
                "Proxy": "",
                "Difficulty Accepted": fixed8(p.difficulty_accepted),
                "Difficulty Rejected": fixed8(p.difficulty_rejected),
                "Difficulty Stale": fixed8(0.0),
                "Last Share Difficulty": fixed8(p.last_share_difficulty),
                "Work Difficulty": fixed8(0.0),
                "Has Stratum": True,
                "Stratum Active": p.active,
                "Stratum URL": p.url.split("//")[-1].split(":")[0] if p.active else "",
                "Stratum Difficulty": fixed8(p.difficulty if p.active else 0.0),
                "Has GBT": False,
                "Best Share": p.best_share,
                "Pool Rejected%": fixed4(percent(p.rejected, p.accepted + p.rejected)),
                "Pool Stale%": fixed4(0.0),
                "Bad Work": r.elapsed_s // 180 if p.active else 0,
                "Current Block Height": block_height(r.now) if p.active else 0,
                "Current Block Version": 536870912,
            }
            for p in pool_figures(ctx.miner.spec, r)
        ]
        return Reply(Status("S", 7, f"{len(items)} Pool(s)"), "POOLS", items)

    def devdetails(self, parameter: str | None, ctx: Context) -> AnyReply:
        r = ctx.reading()
        if not r.mining:
            # pyasic decides "btminer is off" by devdetails failing while status says btmineroff
            # (backends/btminer.py `_is_mining`); the emulator answers it that way.
            return self._special(ctx, 14, "invalid cmd", "E")
        model_name = _DEVDETAILS_MODEL[self.model.key]
        items: list[JsonValue] = [
            {"DEVDETAILS": n, "Name": "SM", "ID": b.position, "Driver": "bitmicro", "Kernel": "", "Model": model_name}
            for n, b in enumerate(b for b in r.boards if b.present)
        ]
        return Reply(Status("S", 69, "Device Details"), "DEVDETAILS", items)

    # ------------------------------------------------------------ Whatsminer's own reads

    def get_version(self, parameter: str | None, ctx: Context) -> AnyReply:
        msg = {"api_ver": API_VERSION, "fw_ver": FIRMWARE_VERSION, "platform": "H6OS", "chip": "K210"}
        return self._special(ctx, 131, msg)

    def status(self, parameter: str | None, ctx: Context) -> AnyReply:
        off = "false" if ctx.miner.mining else "true"  # string booleans (quirks.md Q9)
        return self._special(ctx, 131, {"btmineroff": off, "Firmware Version": f"'{FIRMWARE_VERSION}'"})

    def get_miner_info(self, parameter: str | None, ctx: Context) -> AnyReply:
        spec = ctx.miner.spec
        msg = {
            "ip": spec.address,
            "proto": "dhcp",
            "netmask": "255.0.0.0",
            "gateway": "",
            "dns": "",
            "hostname": spec.hostname,
            "mac": spec.mac,
            "ledstat": "manual" if ctx.miner.led else "auto",
            "minersn": spec.serial,
        }
        return self._special(ctx, 131, msg)

    def get_psu(self, parameter: str | None, ctx: Context) -> AnyReply:
        r = ctx.reading()
        msg = {
            "name": "P221B",
            "hw_version": "V01.00",
            "sw_version": "V01.00.V01.03",
            "model": "P221B",
            "iin": str(round(r.power_w / 229.5 * 1000)),
            "vin": "22950",
            "pin": str(round(r.power_w)),
            "fan_speed": str(_psu_fan(r)),
            "version": "V01.00",
            "serial_no": f"PSU{ctx.miner.spec.serial[-10:]}",
            "vendor": "1",
        }
        return self._special(ctx, 131, msg)

    def get_error_code(self, parameter: str | None, ctx: Context) -> AnyReply:
        miner = ctx.miner
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ctx.now))
        codes: list[JsonValue] = []
        # Codes as pyasic's Whatsminer table reads them: 110/111 intake/exhaust fan, 360 hashboard
        # high temperature, 53n slot n not found.
        fan_fault = miner.faults.get(FaultKind.FAN_FAILURE)
        if fan_fault is not None:
            codes.append({"110" if fan_fault.fan == 0 else "111": stamp})
        if FaultKind.OVERHEAT in miner.faults:
            codes.append({"360": stamp})
        lost = miner.lost_board()
        if lost is not None:
            codes.append({f"53{lost}": stamp})
        return self._special(ctx, 131, {"error_code": codes})

    def get_token(self, parameter: str | None, ctx: Context) -> AnyReply:
        miner = ctx.miner
        tokens = self._tokens
        tokens.prune(ctx.now)
        if len(tokens.issued) >= MAX_TOKENS:
            return self._special(ctx, 136, "over max connect", "E")
        tokens.counter += 1
        salt = self._salt(miner.spec.seed)
        newsalt = "".join(SALT_ALPHABET[rng.mix(miner.spec.seed, tokens.counter, i) % 62] for i in range(8))
        stamp = str(int(ctx.now))[-4:]  # the last four digits of When (commands.md 2.6)
        key = crypt_hash(self.password, salt)
        tokens.issued[crypt_hash(key + stamp, newsalt)] = ctx.now
        return self._special(ctx, 134, {"time": stamp, "salt": salt, "newsalt": newsalt})

    @staticmethod
    def _salt(seed: int) -> str:
        return "".join(SALT_ALPHABET[rng.mix(seed, 0x5A17, i) % 62] for i in range(8))

    # ------------------------------------------------------------ encrypted writes

    def _privileged(self, body: Mapping[str, object], ctx: Context) -> AnyReply:
        if not self.write_api_enabled:
            return self._special(ctx, 45, "can't access write cmd", "E")
        key = crypt_hash(self.password, self._salt(ctx.miner.spec.seed))
        data = body.get("data")
        command = decrypt(key, data) if isinstance(data, str) else None
        if command is None:
            return self._special(ctx, 137, "base64 decode err", "E")
        self._tokens.prune(ctx.now)
        if command.get("token") not in self._tokens.issued:
            return self._special(ctx, 135, "check token err", "E")
        result = self._write(str(command.get("cmd")), command, ctx)
        return BareReply({"enc": encrypt(key, encode(result))})

    def _write(self, cmd: str, args: Mapping[str, object], ctx: Context) -> dict[str, JsonValue]:
        miner, now = ctx.miner, ctx.now
        nominal = self.model.nominal_w
        ok: dict[str, JsonValue] = {
            "STATUS": "S",
            "When": int(now),
            "Code": 131,
            "Msg": "API command OK",
            "Description": "",
        }
        if cmd == "power_off":
            miner.sleep(now)
        elif cmd == "power_on":
            miner.wake(now, restart_process=True)  # btminer starts again: Elapsed resets (Q8)
        elif cmd == "restart_btminer":
            miner.restart(now, reboot=False)
        elif cmd == "reboot":
            miner.restart(now, reboot=True)
        elif cmd in ("set_low_power", "set_normal_power", "set_high_power"):
            self.power_mode = {"set_low_power": "Low", "set_normal_power": "Normal", "set_high_power": "High"}[cmd]
            miner.set_power_limit(now, int(nominal * 0.8) if cmd == "set_low_power" else nominal)
        elif cmd == "adjust_power_limit":
            watts = _int_arg(args, "power_limit")
            if watts is None or watts <= 0:
                return {**ok, "STATUS": "E", "Code": 132, "Msg": "invalid power_limit"}
            miner.set_power_limit(now, watts)
            miner.restart(now, reboot=False)  # the miner restarts to apply it (commands.md 2.6)
        elif cmd in ("set_power_pct", "set_power_pct_v2"):
            percent_arg = _int_arg(args, "percent")
            if percent_arg is None or not 0 <= percent_arg <= 100:
                return {**ok, "STATUS": "E", "Code": 132, "Msg": "invalid percent"}
            miner.set_power_limit(now, int(nominal * percent_arg / 100))
        elif cmd == "set_led":
            miner.led = args.get("param") != "auto"
        elif cmd not in _WRITE_COMMANDS:
            return {**ok, "STATUS": "E", "Code": 14, "Msg": "invalid cmd"}
        return ok


def _int_arg(args: Mapping[str, object], name: str) -> int | None:
    value = args.get(name)
    try:
        return int(str(value))
    except ValueError:
        return None


def _psu_fan(r: Reading) -> int:
    return 7_608 if r.mining else 2_400
