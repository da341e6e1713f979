"""The emulator's own control interface: a small JSON API on a control address (default 127.0.0.1:4029).

    GET    /miners                          every miner's truth
    GET    /miners/<address>                one miner's truth
    POST   /miners/<address>/faults         {"kind": "hung"} (and the Fault fields) -> the truth after
    DELETE /miners/<address>/faults[?kind=] clear one kind, or every fault
    POST   /miners/<address>/sleep | /wake
It shows what is true, whatever the miner's API says, so operators and tests can check the platform.
"""

from __future__ import annotations

import dataclasses
import json

from aiohttp import web

from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.fleet import Node, UnknownMinerError
from hosting.emulator.server import FleetServer

DEFAULT_CONTROL = "127.0.0.1:4029"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def control_app(server: FleetServer) -> web.Application:
    fleet = server.fleet

    def truth_response(node: Node) -> web.Response:
        return web.json_response(dataclasses.asdict(fleet.truth(node.address)))

    def node_of(request: web.Request) -> Node:
        try:
            return fleet.node(request.match_info["address"])
        except UnknownMinerError:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no miner at {request.match_info['address']}"}),
                content_type="application/json",
            ) from None

    async def miners(request: web.Request) -> web.Response:
        return web.json_response({"miners": [dataclasses.asdict(t) for t in fleet.truths()]})

    async def miner(request: web.Request) -> web.Response:
        return truth_response(node_of(request))

    async def set_fault(request: web.Request) -> web.Response:
        node = node_of(request)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            fault = Fault.from_dict(body)
        except ValueError as exc:
            return _error(400, str(exc))
        server.set_fault(node.address, fault)
        return truth_response(node)

    async def clear_fault(request: web.Request) -> web.Response:
        node = node_of(request)
        kind_text = request.query.get("kind")
        try:
            kind = None if kind_text is None else FaultKind(kind_text)
        except ValueError:
            return _error(400, f"unknown fault kind {kind_text!r}")
        server.clear_fault(node.address, kind)
        return truth_response(node)

    async def sleep(request: web.Request) -> web.Response:
        return truth_response(fleet.sleep(node_of(request).address))

    async def wake(request: web.Request) -> web.Response:
        return truth_response(fleet.wake(node_of(request).address))

    app = web.Application()
    app.add_routes(
        [
            web.get("/miners", miners),
            web.get("/miners/{address}", miner),
            web.post("/miners/{address}/faults", set_fault),
            web.delete("/miners/{address}/faults", clear_fault),
            web.post("/miners/{address}/sleep", sleep),
            web.post("/miners/{address}/wake", wake),
        ]
    )
    return app


async def start_control(server: FleetServer, address: str = DEFAULT_CONTROL) -> web.AppRunner:
    """Serve the control API on `host:port`; stop it with `await runner.cleanup()`."""
    host, _, port = address.rpartition(":")
    runner = web.AppRunner(control_app(server), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    return runner
