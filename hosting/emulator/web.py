"""The HTTP side of the miners whose tools also speak HTTP on port 80 (one aiohttp server, every address).

- Antminer stock: the web CGI behind digest authentication (root/root, realm `antMiner Configuration`);
  control is `set_miner_conf.cgi` with `miner-mode` 0 normal, 1 sleep, 3 low power (commands.md 2.2).
  `stats.cgi`, `summary.cgi` and `pools.cgi` answer in the restructured "new API" layout that pyasic
  parses; no raw capture of it exists (commands.md, stats section), so its exact shape is uncertain.
- Braiins OS (BOSminer): the LuCI login and the two JSON pages pyasic reads (`bos/info`, the LAN
  interface status). BOSer's gRPC API on port 50051 is not emulated.
Which miner a request is for is the address it arrived on.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from hosting.emulator.catalog import Personality as Kind
from hosting.emulator.faults import FaultKind
from hosting.emulator.firmware.braiins import Braiins
from hosting.emulator.firmware.common import pool_figures, short_difficulty, since_text
from hosting.emulator.fleet import Fleet, Node
from hosting.emulator.miner import Reading

WEB_USER = "root"
WEB_PASSWORD = "root"  # noqa: S105 -- the factory default both firmwares ship with, which pyasic assumes
ANTMINER_REALM = "antMiner Configuration"
LOW_POWER_SHARE = 0.75  # `miner-mode` 3 runs the boards at about three quarters of nominal power
_JSON = "application/json"

Handler = Callable[[web.BaseRequest, Node], Awaitable[web.StreamResponse]]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()  # HTTP digest fixes MD5


def _json(body: object) -> web.Response:
    return web.Response(text=json.dumps(body), content_type=_JSON)


class DigestGate:
    """RFC 2617 digest authentication (MD5, qop=auth), the scheme Bitmain's lighttpd asks for."""

    def __init__(self, realm: str, user: str, password: str) -> None:
        self.realm = realm
        self.user = user
        self._ha1 = _md5(f"{user}:{realm}:{password}")
        self._nonce = secrets.token_hex(16)

    def challenge(self) -> web.Response:
        header = f'Digest realm="{self.realm}", nonce="{self._nonce}", qop="auth", algorithm=MD5'
        return web.Response(status=401, text="401 - Unauthorized", headers={"WWW-Authenticate": header})

    def allows(self, request: web.BaseRequest) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "digest":
            return False
        fields = _digest_fields(rest)
        if fields.get("username") != self.user or fields.get("nonce") != self._nonce:
            return False
        ha2 = _md5(f"{request.method}:{fields.get('uri', '')}")
        if fields.get("qop"):
            expected = _md5(
                f"{self._ha1}:{self._nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:{fields['qop']}:{ha2}"
            )
        else:
            expected = _md5(f"{self._ha1}:{self._nonce}:{ha2}")
        return secrets.compare_digest(expected, fields.get("response", ""))


def _digest_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


# ---------------------------------------------------------------- Antminer stock CGI


class AntminerWeb:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.gate = DigestGate(ANTMINER_REALM, WEB_USER, WEB_PASSWORD)
        self.pages: Mapping[str, Handler] = {
            "/cgi-bin/get_system_info.cgi": self.system_info,
            "/cgi-bin/get_network_info.cgi": self.network_info,
            "/cgi-bin/get_miner_conf.cgi": self.miner_conf,
            "/cgi-bin/set_miner_conf.cgi": self.set_miner_conf,
            "/cgi-bin/stats.cgi": self.stats,
            "/cgi-bin/summary.cgi": self.summary,
            "/cgi-bin/pools.cgi": self.pools,
            "/cgi-bin/get_blink_status.cgi": self.blink_status,
            "/cgi-bin/blink.cgi": self.blink,
            "/cgi-bin/reboot.cgi": self.reboot,
        }

    async def handle(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        if not self.gate.allows(request):
            return self.gate.challenge()  # every page, `/` included, sits behind the digest
        if request.path == "/":
            return web.Response(
                text="<html><head><title>Antminer</title></head><body></body></html>", content_type="text/html"
            )
        page = self.pages.get(request.path)
        if page is None:
            return web.Response(status=404, text="404 - Not Found")
        return await page(request, node)

    def _info(self, node: Node) -> dict[str, object]:
        version = node.personality
        return {
            "miner_version": getattr(version, "build", ""),
            "CompileTime": getattr(version, "compile_time", ""),
            "type": node.spec.model.name,
        }

    def _status(self, msg: str) -> dict[str, object]:
        return {"STATUS": "S", "when": int(self.fleet.now()), "Msg": msg, "api_version": "1.0.0"}

    async def system_info(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        spec = node.spec
        info = self._info(node)
        return _json(
            {
                "minertype": spec.model.name,
                "nettype": "DHCP",
                "netdevice": "eth0",
                "macaddr": spec.mac,
                "hostname": spec.hostname,
                "ipaddress": spec.address,
                "netmask": "255.0.0.0",
                "gateway": "",
                "dnsservers": "",
                "system_mode": "GNU/Linux",
                "system_kernel_version": "Linux 4.9.113 #1 SMP PREEMPT",
                "system_filesystem_version": info["CompileTime"],
                "firmware_type": "Release",
                "serinum": spec.serial,
            }
        )

    async def network_info(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        spec = node.spec
        return _json(
            {
                "nettype": "DHCP",
                "netdevice": "eth0",
                "macaddr": spec.mac,
                "ipaddress": spec.address,
                "netmask": "255.0.0.0",
                "conf_nettype": "DHCP",
                "conf_hostname": spec.hostname,
                "conf_ipaddress": "",
                "conf_netmask": "",
                "conf_gateway": "",
                "conf_dnsservers": "",
            }
        )

    async def miner_conf(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        miner = node.miner
        # The read key is bitmain-work-mode, a string; the write key is miner-mode (commands.md 2.2).
        mode = 1 if not miner.mining else (3 if miner.work_mode == 3 else 0)
        body = {
            "pools": [{"url": p.url, "user": p.user, "pass": p.password} for p in node.spec.pools],
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
            "bitmain-fan-ctrl": False,
            "bitmain-fan-pwm": "100",
            "bitmain-use-vil": True,
            "bitmain-freq": str(node.spec.model.frequency_mhz),
            "bitmain-voltage": "1400",
            "bitmain-ccdelay": "0",
            "bitmain-pwth": "0",
            "bitmain-work-mode": str(mode),
            "bitmain-freq-level": "100",
        }
        return _json(body)

    async def set_miner_conf(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _json({"stats": "error", "code": "M001", "msg": "Invalid JSON"})
        # Some firmware versions send the mode as a string (pyasic issue 49): accept both.
        raw = body.get("miner-mode") if isinstance(body, dict) else None
        try:
            mode = None if raw is None else int(str(raw))
        except ValueError:
            mode = -1
        if mode not in (None, 0, 1, 3):
            return _json({"stats": "error", "code": "M002", "msg": f"Invalid miner-mode {raw!r}"})
        miner, now = node.miner, self.fleet.now()
        if mode == 1:
            miner.work_mode = 1
            miner.sleep(now)
        elif mode in (0, 3):
            miner.work_mode = mode
            share = LOW_POWER_SHARE if mode == 3 else 1.0
            miner.set_power_limit(now, int(node.spec.model.nominal_w * share))
            # Waking restarts bmminer: Elapsed starts again and the chips ramp (quirks.md Q8, Q20).
            miner.wake(now, restart_process=True)
        return _json({"stats": "success", "code": "M000", "msg": "OK!"})

    async def stats(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        r = node.miner.reading(self.fleet.now())
        chains = []
        for b in r.boards:
            if not b.present:
                continue
            pcb = [
                round(b.inlet_temp_c - 1),
                round(b.inlet_temp_c + 1),
                round(b.outlet_temp_c - 1),
                round(b.outlet_temp_c + 1),
            ]
            over = round(b.chip_temp_c - b.board_temp_c) if r.mining else 0
            chains.append(
                {
                    "index": b.position,
                    "freq_avg": node.spec.model.frequency_mhz if r.mining else 0,
                    "rate_ideal": round(b.ideal_ghs, 2),
                    "rate_real": round(b.ghs_5s, 2),
                    "asic_num": b.chips,
                    "asic": " ".join("ooo" for _ in range(b.chips // 3)),
                    "temp_pic": [t - 10 for t in pcb],
                    "temp_pcb": pcb,
                    "temp_chip": [t + over for t in pcb],
                    "hw": b.hw_errors,
                    "eeprom_loaded": True,
                    "sn": b.serial,
                    "hwp": 0.0,
                }
            )
        stat = {
            "elapsed": r.elapsed_s,
            "rate_5s": round(r.ghs_5s, 2),
            "rate_30m": round(r.ghs_15m, 2),
            "rate_avg": round(r.ghs_avg, 2),
            "rate_ideal": round(r.ideal_ghs, 2),
            "rate_unit": "GH",
            "chain_num": len(chains),
            "fan_num": len(r.fans_rpm),
            "fan": list(r.fans_rpm),
            "hwp_total": 0.0,
            "miner-mode": 1 if not r.mining else node.miner.work_mode,
            "freq-level": 100,
            "chain": chains,
        }
        return _json({"STATUS": self._status("stats"), "INFO": self._info(node), "STATS": [stat]})

    async def summary(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        r = node.miner.reading(self.fleet.now())
        item = {
            "elapsed": r.elapsed_s,
            "rate_5s": round(r.ghs_5s, 2),
            "rate_30m": round(r.ghs_15m, 2),
            "rate_avg": round(r.ghs_avg, 2),
            "rate_ideal": round(r.ideal_ghs, 2),
            "rate_unit": "GH",
            "hw_all": r.hw_errors,
            "bestshare": r.best_share,
            "status": _health(r, node),
        }
        return _json({"STATUS": self._status("summary"), "INFO": self._info(node), "SUMMARY": [item]})

    async def pools(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        r = node.miner.reading(self.fleet.now())
        items = [
            {
                "index": p.position,
                "url": p.url,
                "user": p.user,
                "status": "Alive",
                "priority": p.position,
                "getworks": p.getworks,
                "accepted": p.accepted,
                "rejected": p.rejected,
                "discarded": p.discarded,
                "stale": p.stale,
                "diff": short_difficulty(p.difficulty) if p.active else "",
                "diff1": p.diff1_shares,
                "diffa": p.difficulty_accepted,
                "diffr": p.difficulty_rejected,
                "diffs": 0,
                "lsdiff": p.last_share_difficulty,
                "lstime": since_text(r.now - p.last_share_time) if p.last_share_time else "0",
            }
            for p in pool_figures(node.spec, r)
        ]
        return _json({"STATUS": self._status("pools"), "INFO": self._info(node), "POOLS": items})

    async def blink_status(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        return _json({"blink": node.miner.led})

    async def blink(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            body = {}
        on = isinstance(body, dict) and str(body.get("blink", "")).lower() == "true"
        node.miner.led = on
        return _json({"code": "B000" if on else "B100"})

    async def reboot(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        node.miner.restart(self.fleet.now(), reboot=True)
        return _json({"stats": "success", "code": "R000", "msg": "OK!"})


def _health(r: Reading, node: Node) -> list[dict[str, object]]:
    """summary.cgi's status lines; pyasic turns every line whose status is not "s" into an error."""
    faults = node.miner.faults
    lines: list[dict[str, object]] = [
        {"type": "rate", "status": "s", "code": 0, "msg": ""},
        {"type": "network", "status": "s", "code": 0, "msg": ""},
        {"type": "fans", "status": "s", "code": 0, "msg": ""},
        {"type": "temp", "status": "s", "code": 0, "msg": ""},
    ]
    if FaultKind.FAN_FAILURE in faults:
        lines[2] = {"type": "fans", "status": "e", "code": 1, "msg": "Fan speed is too low"}
    if FaultKind.OVERHEAT in faults:
        lines[3] = {"type": "temp", "status": "e", "code": 1, "msg": "Temperature is too high"}
    if FaultKind.BOARD_LOST in faults:
        lines[0] = {"type": "rate", "status": "e", "code": 1, "msg": "Hashboard is missing"}
    return lines


# ---------------------------------------------------------------- Braiins OS (BOSminer) LuCI


class BraiinsWeb:
    cookie = "sysauth"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._session = secrets.token_hex(16)

    async def handle(self, request: web.BaseRequest, node: Node) -> web.StreamResponse:
        path = request.path
        if path == "/":
            return web.Response(text=_BRAIINS_HOME, content_type="text/html")
        if path == "/cgi-bin/luci" and request.method == "POST":
            form = await request.post()
            if form.get("luci_username") == WEB_USER and form.get("luci_password") == WEB_PASSWORD:
                response = web.Response(status=302, headers={"Location": "/cgi-bin/luci/"})
                response.set_cookie(self.cookie, self._session, path="/cgi-bin/luci", httponly=True)
                return response
            return web.Response(status=403, text=_BRAIINS_HOME, content_type="text/html")
        if path == "/cgi-bin/luci/bos/info":
            personality = node.personality
            version = personality.bos_info_version if isinstance(personality, Braiins) else ""
            return _json({"mode": "nand", "version": version})
        if not path.startswith("/cgi-bin/luci/admin/"):
            return web.Response(status=404, text="Not Found")
        if request.cookies.get(self.cookie) != self._session:
            return web.Response(status=403, text="Forbidden")
        if path == "/cgi-bin/luci/admin/network/iface_status/lan":
            spec = node.spec
            return _json(
                [
                    {
                        "id": "lan",
                        "name": "br-lan",
                        "ifname": "br-lan",
                        "proto": "dhcp",
                        "is_up": True,
                        "macaddr": spec.mac,
                        "ipaddrs": [{"addr": spec.address, "netmask": "255.0.0.0", "prefix": 8}],
                    }
                ]
            )
        return web.Response(status=404, text="Not Found")


_BRAIINS_HOME = (
    "<!DOCTYPE html><html><head><title>Braiins OS</title></head>"
    '<body><form method="post" action="/cgi-bin/luci">Braiins OS login</form></body></html>'
)


def web_protocol_factory(fleet: Fleet) -> web.Server:
    """One aiohttp server object; the fleet server hands it every port-80 listener it opens."""
    antminer = AntminerWeb(fleet)
    braiins = BraiinsWeb(fleet)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        node = fleet.nodes.get(sockname[0]) if sockname else None
        if node is None:
            return web.Response(status=404, text="Not Found")
        if node.spec.personality is Kind.ANTMINER_STOCK:
            return await antminer.handle(request, node)
        return await braiins.handle(request, node)

    return web.Server(handle)
