"""The network side: one listening socket per miner address on port 4028, and the network faults.

cgminer's API thread accepts a connection, reads one request, writes the reply and a NUL, and closes
(protocol README "Reply framing"). The fast path does exactly that inside `data_received`, with no task and no
timer; a miner with a network fault, or one still busy with an earlier slow reply, goes through a task
that holds the miner's lock, so its requests are answered one at a time like the single API thread.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Coroutine
from typing import Any, cast

from hosting.emulator import rng
from hosting.emulator.cgminer import MAX_REQUEST_BYTES
from hosting.emulator.faults import NETWORK_FAULTS, Fault, FaultKind
from hosting.emulator.fleet import Fleet, Node
from hosting.emulator.spec import RPC_PORT, WEB_PORT

logger = logging.getLogger(__name__)

LISTEN_BACKLOG = 100  # api.c listens with a backlog of 100 (quirks.md Q16)
IDLE_CLOSE_S = 10.0  # a connection that sends nothing is closed (Whatsminer v2.0.5 page)
SCHEDULE_TICK_S = 1.0
# A fixed blob of high bytes: not UTF-8, not JSON, and the same on every run.
GARBAGE = bytes(0x80 | (rng.mix(0x6A2BA6E, i) & 0x7F) for i in range(192)) + b"\x00"


def raise_fd_limit() -> int:
    """Lift the soft open-file limit to the hard one: every miner holds a listening socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed (several times the accept rate of the default loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def listening_socket(address: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking socket; made by hand so 10,000 of them need no resolver call."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(LISTEN_BACKLOG)  # the loop makes it non-blocking when it takes it over
    except OSError:
        sock.close()
        raise
    return sock


class _RpcConnection(asyncio.Protocol):
    """One TCP connection to one miner's API port."""

    __slots__ = ("_answered", "_idle", "_node", "_server", "_transport")

    def __init__(self, server: FleetServer, node: Node) -> None:
        self._server = server
        self._node = node
        self._answered = False
        self._transport: asyncio.Transport | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        node = self._node
        if node.allow is not None and not node.allows(transport.get_extra_info("peername")[0]):
            self._answered = True  # not in --api-allow: its request is read and the line closed, no byte sent (Q17)
        self._idle = self._server.loop.call_later(IDLE_CLOSE_S, transport.close)

    def data_received(self, data: bytes) -> None:
        # api.c answers what its single recv() got, at most 4095 bytes (protocol README "How the server reads").
        transport = self._transport
        if self._answered or transport is None:
            if transport is not None:
                transport.close()
            return
        self._answered = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._server.serve(self._node, data[:MAX_REQUEST_BYTES], transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()


class FleetServer:
    """Serves a `Fleet` on its loopback addresses; every method runs on the loop's thread."""

    def __init__(self, fleet: Fleet, *, http: bool = True) -> None:
        self.fleet = fleet
        self.http = http
        self._rpc: dict[str, asyncio.Server] = {}
        self._web: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._schedule_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the fleet server is not started")
        return self._loop

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        web_factory = None
        if self.http and any(node.serves_web for node in self.fleet):
            from hosting.emulator.web import web_protocol_factory  # aiohttp is loaded only when HTTP is on

            web_factory = web_protocol_factory(self.fleet)
        for node in self.fleet:
            if not node.offline:
                await self._open_rpc(node)
            if web_factory is not None and node.serves_web:
                sock = listening_socket(node.address, WEB_PORT)
                self._web.append(await self.loop.create_server(web_factory, sock=sock))
        if self.fleet.schedule is not None:
            self.apply_schedule()
            self._schedule_task = self.loop.create_task(self._schedule_loop())
        logger.info("emulated fleet listening: %d miners, %d web listeners", len(self.fleet.spec), len(self._web))

    async def stop(self) -> None:
        if self._schedule_task is not None:
            self._schedule_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        servers = [*self._rpc.values(), *self._web]
        for server in servers:
            server.close()
        self._rpc.clear()
        self._web.clear()
        for server in servers:
            await server.wait_closed()

    async def _open_rpc(self, node: Node, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = listening_socket(node.address, RPC_PORT)
        server = await self.loop.create_server(lambda: _RpcConnection(self, node), sock=sock)
        if node.offline or node.address in self._rpc:  # it went offline again while this was opening
            server.close()
        else:
            self._rpc[node.address] = server

    def sync_listener(self, node: Node) -> None:
        """An offline miner refuses connections: its listening socket goes away, and comes back after."""
        listening = node.address in self._rpc
        if node.offline and listening:
            self._rpc.pop(node.address).close()
        elif not node.offline and not listening:
            # Bound and listening before this returns: the kernel queues connections until the loop serves them.
            self._spawn(self._open_rpc(node, listening_socket(node.address, RPC_PORT)))

    # ------------------------------------------------------------ control, with the listeners kept right

    def set_fault(self, address: str, fault: Fault) -> Node:
        node = self.fleet.set_fault(address, fault)
        self.sync_listener(node)
        return node

    def clear_fault(self, address: str, kind: FaultKind | None = None) -> Node:
        node = self.fleet.clear_fault(address, kind)
        self.sync_listener(node)
        return node

    def apply_schedule(self) -> None:
        for node in self.fleet.apply_schedule():
            self.sync_listener(node)

    async def _schedule_loop(self) -> None:
        while True:
            await asyncio.sleep(SCHEDULE_TICK_S)
            self.apply_schedule()

    # ------------------------------------------------------------ answering

    def serve(self, node: Node, request: bytes, transport: asyncio.Transport) -> None:
        faults = node.miner.faults
        busy = node.lock is not None and node.lock.locked()
        if busy or (faults and not NETWORK_FAULTS.isdisjoint(faults)):
            self._spawn(self._serve_faulty(node, request, transport))
            return
        transport.write(self.fleet.respond(node, request))
        transport.close()

    async def _serve_faulty(self, node: Node, request: bytes, transport: asyncio.Transport) -> None:
        if FaultKind.HUNG in node.miner.faults:
            return  # read the request and never answer; the client's timeout ends the connection
        if node.lock is None:
            node.lock = asyncio.Lock()
        async with node.lock:
            faults = node.miner.faults
            slow = faults.get(FaultKind.SLOW)
            if slow is not None:
                await asyncio.sleep(slow.delay_s)
            if transport.is_closing():
                return
            reply = self.fleet.respond(node, request)
            if FaultKind.GARBAGE in faults:
                reply = GARBAGE
            truncated = faults.get(FaultKind.TRUNCATED)
            if truncated is not None:
                # The first part of the reply, never its NUL, then close (quirks.md Q15).
                reply = reply[: max(1, min(len(reply) - 1, int(len(reply) * truncated.keep_fraction)))]
            dribble = faults.get(FaultKind.DRIBBLE)
            if dribble is None:
                transport.write(reply)
            else:
                for start in range(0, len(reply), dribble.chunk_bytes):
                    if transport.is_closing():
                        return
                    transport.write(reply[start : start + dribble.chunk_bytes])
                    await asyncio.sleep(dribble.chunk_delay_s)
            transport.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
