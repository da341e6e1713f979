"""LiveConsumer, the websocket of live dashboards at /ws/hosting/live/.

A socket subscribes to scopes (a site, a client, a miner). Each scope reads one stream: a site's, or a
customer's (a client's miner pages read their customer's stream, never a site's).

Fan-out is shared per process. One member of a stream's channel-layer group per process (a `_Stream`)
takes each message in and hands it to the process's sockets of that stream; a message carries only a
reference to the payload, which the first socket to need it fetches from Redis while every other one
awaits the same future, so a payload is fetched, and its frame text built, once per process however
many sockets watch it. (With a group member per socket, the channel layer's own receive machinery cost
more than sending the frames.)
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio import Redis

from mining_platform.core.consumers import CLOSE_UNAUTHENTICATED
from mining_platform.core.errors import DomainError

from .publish import live_body_key
from .scopes import (
    SCOPE_CLIENT,
    SCOPE_MINER,
    LiveBadRequestError,
    LiveForbiddenError,
    LiveNotFoundError,
    LiveScope,
    live_group,
    live_key,
    live_scope_authorize,
    live_scope_parse,
)
from .snapshots import LiveRow, LiveSnapshot, live_seq_key, live_snapshot, live_summary_from_rows

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 32
# How long a process keeps a fetched payload: every consumer of the process handles its message well
# within this, and a later duplicate of the message finds it without another fetch.
MEMO_SECONDS = 30.0
# How long a process reuses a scope's snapshot for new subscribers while its stream's seq stands still:
# a thousand pages reconnecting after a restart cost one query, not a thousand. Alerts and operations
# on the stream drop it at once; other changes without a delta (a status set by hand) wait this long.
SNAPSHOT_MEMO_SECONDS = 2.0
# Group memberships expire in the channel layer (a day by default); a stream renews its own this often.
GROUP_RENEW_SECONDS = 3600.0
# Messages a socket may have waiting; past that it drops them and its page resyncs on the next delta.
INBOX_SIZE = 100


class _Body:
    """One fetched payload: the JSON text as published, parsed only if a miner page needs its rows."""

    def __init__(self, text: str | None) -> None:
        self.text = text
        self._frames: dict[tuple[str, str, int | None], str] = {}
        self._data: dict[str, Any] | None = None
        self._rows: dict[int, LiveRow] | None = None
        self._operations: dict[str, list[tuple[int, str]]] = {}

    def frame(self, *, frame_type: str, key: str, seq: int | None) -> str:
        """The whole text frame for one key, built once and shared by every socket of that key."""
        cached = self._frames.get((frame_type, key, seq))
        if cached is None:
            head = f'{{"type":{json.dumps(frame_type)},"key":{json.dumps(key)}'
            if seq is not None:
                head += f',"seq":{seq}'
            cached = f'{head},"payload":{self.text}}}'
            self._frames[(frame_type, key, seq)] = cached
        return cached

    def operation_frames(self, *, key: str) -> list[tuple[int, str]]:
        """(miner id, frame) for each operation of the payload, built once per key."""
        cached = self._operations.get(key)
        if cached is None:
            cached = [
                (op.get("miner_id"), json.dumps({"type": "live.operation", "key": key, "payload": {"operation": op}}))
                for op in self.data().get("operations", [])
            ]
            self._operations[key] = cached
        return cached

    def data(self) -> dict[str, Any]:
        if self._data is None:
            parsed = json.loads(self.text) if self.text is not None else {}
            self._data = parsed if isinstance(parsed, dict) else {}
        return self._data

    def row(self, miner_id: int) -> LiveRow | None:
        if self._rows is None:
            self._rows = {row["id"]: row for row in self.data().get("miners", [])}
        return self._rows.get(miner_id)


@dataclass
class _LoopState:
    """What the consumers of one event loop (one ASGI process) share."""

    loop: asyncio.AbstractEventLoop
    redis: "Redis[bytes]"
    bodies: dict[str, "asyncio.Future[_Body]"]
    # (scope key, its stream's seq when asked) -> (stream, snapshot)
    snapshots: dict[tuple[str, int], tuple[str, "asyncio.Future[LiveSnapshot]"]]
    streams: dict[str, "_Stream"]


# Keyed by the loop's id and checked against the loop itself: one entry per loop; a server has one.
_states: dict[int, _LoopState] = {}


def _state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _states.get(id(loop))
    if state is None or state.loop is not loop:
        state = _LoopState(loop=loop, redis=Redis.from_url(settings.REDIS_URL), bodies={}, snapshots={}, streams={})
        _states[id(loop)] = state
    return state


async def _fetch(state: _LoopState, ref: str, future: "asyncio.Future[_Body]") -> None:
    try:
        raw = await state.redis.get(live_body_key(ref=ref))
    except Exception as exc:  # noqa: BLE001  # handed to every waiting consumer through the future
        state.bodies.pop(ref, None)
        future.set_exception(exc)
        return
    if raw is None:
        logger.warning("Live payload expired before it was read: ref=%s", ref)
    future.set_result(_Body(raw.decode() if raw is not None else None))


async def live_body(ref: str) -> _Body:
    """The payload published under `ref`, fetched once per process (its text is None once expired)."""
    state = _state()
    future = state.bodies.get(ref)
    if future is None:
        future = state.loop.create_future()
        state.bodies[ref] = future
        state.loop.call_later(MEMO_SECONDS, state.bodies.pop, ref, None)
        # Its own task: a socket closing while it waits must not cancel the fetch the others await.
        state.loop.create_task(_fetch(state, ref, future))
    if future.done():
        return future.result()  # every socket after the first: no shield, no suspension
    return await asyncio.shield(future)


def _forget_snapshot(state: _LoopState, memo_key: tuple[str, int], future: "asyncio.Future[LiveSnapshot]") -> None:
    entry = state.snapshots.get(memo_key)
    if entry is not None and entry[1] is future:
        del state.snapshots[memo_key]


def _forget_snapshots_of(source: str) -> None:
    """Alerts or operations changed a stream's state without a delta: its snapshots are stale."""
    state = _state()
    for memo_key in [k for k, (stream, _future) in state.snapshots.items() if stream == source]:
        del state.snapshots[memo_key]


async def _build_snapshot(
    state: _LoopState, scope: LiveScope, memo_key: tuple[str, int], future: "asyncio.Future[LiveSnapshot]"
) -> None:
    try:
        snapshot = await _snapshot(scope)
    except Exception as exc:  # noqa: BLE001  # handed to every waiting consumer through the future
        _forget_snapshot(state, memo_key, future)
        future.set_exception(exc)
        return
    future.set_result(snapshot)


async def live_snapshot_shared(scope: LiveScope) -> LiveSnapshot:
    """The scope's snapshot, built once per process while its stream's seq stands still.

    Reusing one built at the same seq is safe for a socket that joined the stream's group first: every
    delta up to that seq is in the snapshot, and every later one reaches the socket.
    """
    state = _state()
    raw = await state.redis.get(live_seq_key(source=scope.source))
    memo_key = (scope.key, int(raw) if raw is not None else 0)
    entry = state.snapshots.get(memo_key)
    if entry is None:
        future: asyncio.Future[LiveSnapshot] = state.loop.create_future()
        state.snapshots[memo_key] = (scope.source, future)
        state.loop.call_later(SNAPSHOT_MEMO_SECONDS, _forget_snapshot, state, memo_key, future)
        state.loop.create_task(_build_snapshot(state, scope, memo_key, future))
    else:
        future = entry[1]
    return await asyncio.shield(future)


class _Stream:
    """This process's member of one stream's group, handing each message to the sockets watching it."""

    def __init__(self, state: _LoopState, source: str) -> None:
        self.source = source
        self.consumers: set[LiveConsumer] = set()
        self.ready: asyncio.Future[None] = state.loop.create_future()
        self.task = state.loop.create_task(self._run(state))

    async def _run(self, state: _LoopState) -> None:
        layer = get_channel_layer()
        group = live_group(source=self.source)
        channel: str | None = None
        receiving: asyncio.Task[dict[str, Any]] | None = None
        try:
            assert layer is not None  # noqa: S101  # the platform always configures one
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            self.ready.set_result(None)
            while True:
                if receiving is None:
                    receiving = state.loop.create_task(layer.receive(channel))
                done, _pending = await asyncio.wait({receiving}, timeout=GROUP_RENEW_SECONDS)
                if not done:
                    await layer.group_add(group, channel)
                    continue
                message, receiving = receiving.result(), None
                if message.get("type") in ("live.alerts", "live.operation"):
                    _forget_snapshots_of(self.source)
                for consumer in self.consumers:
                    consumer.deliver(message)
        except asyncio.CancelledError:
            if receiving is not None:
                receiving.cancel()
            if layer is not None and channel is not None:
                await layer.group_discard(group, channel)
            raise
        except Exception as exc:
            logger.exception("Live stream stopped: source=%s", self.source)
            if state.streams.get(self.source) is self:
                del state.streams[self.source]
            if not self.ready.done():
                self.ready.set_exception(exc)
            for consumer in list(self.consumers):
                await consumer.close(code=1011)


async def _stream_join(source: str, consumer: "LiveConsumer") -> None:
    """Hand `consumer` every message of a stream from now on (the group membership is in place on return)."""
    state = _state()
    stream = state.streams.get(source)
    if stream is None:
        stream = state.streams[source] = _Stream(state, source)
    stream.consumers.add(consumer)
    await asyncio.shield(stream.ready)


def _stream_leave(source: str, consumer: "LiveConsumer") -> None:
    state = _state()
    stream = state.streams.get(source)
    if stream is None:
        return
    stream.consumers.discard(consumer)
    if not stream.consumers:
        del state.streams[source]
        stream.task.cancel()


@dataclass
class _Subscription:
    scope: LiveScope
    seq: int  # the last seq this page was sent for the scope's key
    source_seq: int  # the last seq of the scope's stream this consumer has taken in


@database_sync_to_async
def _authorize(user_id: int, kind: str, scope_id: int | None) -> LiveScope:
    return live_scope_authorize(user_id=user_id, kind=kind, scope_id=scope_id)


@database_sync_to_async
def _snapshot(scope: LiveScope) -> LiveSnapshot:
    return live_snapshot(scope=scope)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Subscriptions of one dashboard socket: snapshots on subscribe, then deltas, alerts, operations."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id: int = user.pk
        self.subscriptions: dict[str, _Subscription] = {}
        # Stream messages wait here and are handled one at a time, never during a subscribe (the lock),
        # so a snapshot and the deltas after it reach the page in order.
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=INBOX_SIZE)
        self.lock = asyncio.Lock()
        self.worker = asyncio.get_running_loop().create_task(self._work())
        await self.accept()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its database clean-up (a hop to a thread) before every message.

        This consumer touches the database only inside database_sync_to_async, which closes stale
        connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.cancel()
        for source in {s.scope.source for s in getattr(self, "subscriptions", {}).values()}:
            _stream_leave(source, self)

    def deliver(self, message: dict[str, Any]) -> None:
        """Queue one stream message for this socket (called by the process's stream)."""
        try:
            self.inbox.put_nowait(message)
        except asyncio.QueueFull:
            # A socket this far behind has a dead or stalled page: what it drops shows up as a seq gap.
            logger.warning("Live socket too far behind, message dropped: user_id=%s", self.user_id)

    async def _work(self) -> None:
        handlers = {
            "live.delta": self.live_delta,
            "live.alerts": self.live_alerts,
            "live.operation": self.live_operation,
        }
        while True:
            message = await self.inbox.get()
            handler = handlers.get(message.get("type", ""))
            if handler is None:
                continue
            try:
                async with self.lock:
                    await handler(message)
            except Exception:
                # The page reconnects and starts from fresh snapshots; the other sockets go on.
                logger.exception("Live socket failed on a stream message: user_id=%s", self.user_id)
                await self.close(code=1011)
                return

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        message = content if isinstance(content, dict) else {}
        kind = message.get("type")
        requested = _requested_key(message)
        try:
            if kind == "ping":
                await self.send_json({"type": "live.pong"})
            elif kind in ("subscribe", "resync"):
                async with self.lock:
                    await self._subscribe(message, requested)
            elif kind == "unsubscribe":
                async with self.lock:
                    await self._unsubscribe(message)
            else:
                raise LiveBadRequestError("type must be subscribe, unsubscribe, resync or ping.")
        except DomainError as exc:
            payload = {"code": exc.code, "message": exc.message, "key": requested}
            await self.send_json({"type": "live.error", "payload": payload})

    async def _subscribe(self, message: dict[str, Any], requested: str | None) -> None:
        kind, scope_id = live_scope_parse(kind=message.get("scope"), scope_id=message.get("id"))
        if requested not in self.subscriptions and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise LiveBadRequestError(f"At most {MAX_SUBSCRIPTIONS} subscriptions per connection.")
        try:
            scope = await _authorize(self.user_id, kind, scope_id)
        except (LiveForbiddenError, LiveNotFoundError):
            # Refused now: whatever this socket had of the scope stops here.
            await self._drop(requested if requested is not None else _own_client_key(self.subscriptions))
            raise
        await _stream_join(scope.source, self)
        await self._send_snapshot(scope)

    async def _send_snapshot(self, scope: LiveScope) -> None:
        snapshot = await live_snapshot_shared(scope)
        previous = self.subscriptions.get(scope.key)
        # A miner page numbers its own deltas (it gets only those that carry its row); other scopes
        # use their stream's seq.
        seq = snapshot.seq
        if scope.kind == SCOPE_MINER:
            seq = previous.seq if previous is not None else 0
        self.subscriptions[scope.key] = _Subscription(scope=scope, seq=seq, source_seq=snapshot.seq)
        head = f'{{"type":"live.snapshot","key":{json.dumps(scope.key)},"seq":{seq}'
        await self.send(text_data=f'{head},"payload":{snapshot.payload_json}}}')

    async def _unsubscribe(self, message: dict[str, Any]) -> None:
        kind, scope_id = live_scope_parse(kind=message.get("scope"), scope_id=message.get("id"))
        if scope_id is None:
            await self._drop(_own_client_key(self.subscriptions))
        else:
            await self._drop(live_key(kind=kind, scope_id=scope_id))

    async def _drop(self, key: str | None) -> None:
        gone = self.subscriptions.pop(key, None) if key is not None else None
        if gone is None:
            return
        if all(s.scope.source != gone.scope.source for s in self.subscriptions.values()):
            _stream_leave(gone.scope.source, self)

    def _watching(self, source: str) -> list[_Subscription]:
        return [s for s in self.subscriptions.values() if s.scope.source == source]

    async def live_delta(self, event: dict[str, Any]) -> None:
        """A run's delta on a stream: forwarded whole to its site/client page, as one row to miner pages."""
        subs, seq = self._watching(event["source"]), int(event["seq"])
        if not subs:
            return
        body = await live_body(event["ref"])
        for sub in subs:
            if seq <= sub.source_seq:
                continue  # already in the snapshot this page got
            missed = seq > sub.source_seq + 1 or body.text is None
            sub.source_seq = seq
            if sub.scope.kind != SCOPE_MINER:
                if body.text is not None:
                    sub.seq = seq
                    await self.send(text_data=body.frame(frame_type="live.delta", key=sub.scope.key, seq=seq))
                continue
            if missed:
                # This consumer cannot tell whether what it missed touched the miner: start it afresh.
                await self._send_snapshot(sub.scope)
                continue
            row = body.row(sub.scope.id)
            if row is not None:
                sub.seq += 1
                payload = {"summary": live_summary_from_rows(rows=[row]), "miners": [row]}
                await self.send_json({"type": "live.delta", "key": sub.scope.key, "seq": sub.seq, "payload": payload})

    async def live_alerts(self, event: dict[str, Any]) -> None:
        """Alerts that opened, were acknowledged or resolved: a miner page gets only its own."""
        subs = self._watching(event["source"])
        if not subs:
            return
        body = await live_body(event["ref"])
        if body.text is None:
            return
        for sub in subs:
            if sub.scope.kind != SCOPE_MINER:
                await self.send(text_data=body.frame(frame_type="live.alerts", key=sub.scope.key, seq=None))
                continue
            alerts = [a for a in body.data().get("alerts", []) if a.get("miner_id") == sub.scope.id]
            if alerts:
                await self.send_json({"type": "live.alerts", "key": sub.scope.key, "payload": {"alerts": alerts}})

    async def live_operation(self, event: dict[str, Any]) -> None:
        """Control commands requested or finished, one frame each: a miner page gets its own miner's."""
        subs = self._watching(event["source"])
        if not subs:
            return
        body = await live_body(event["ref"])
        for sub in subs:
            for miner_id, frame in body.operation_frames(key=sub.scope.key):
                if sub.scope.kind != SCOPE_MINER or miner_id == sub.scope.id:
                    await self.send(text_data=frame)


def _requested_key(message: dict[str, Any]) -> str | None:
    kind, scope_id = message.get("scope"), message.get("id")
    if isinstance(kind, str) and isinstance(scope_id, int) and not isinstance(scope_id, bool):
        return live_key(kind=kind, scope_id=scope_id)
    return None


def _own_client_key(subscriptions: dict[str, _Subscription]) -> str | None:
    """The client subscription a `"id": null` message means (a client has at most one)."""
    return next((key for key, s in subscriptions.items() if s.scope.kind == SCOPE_CLIENT), None)
