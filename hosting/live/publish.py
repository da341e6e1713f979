"""Pushing to live dashboards once the data is committed: deltas of collection runs, alerts, operations.

Fan-out is cheap by design: a payload is encoded once and written once to Redis (short TTL), and the
channel-layer message each socket's consumer receives carries only its reference. Each ASGI process
then fetches a payload once for all its sockets (hosting/live/consumers.py). A delta's seq comes from
a Redis counter per stream, taken when it is published, so a page can tell when it missed one.

Everything here runs from `transaction.on_commit(..., robust=True)`: a rolled-back write never reaches
a page, and a push that fails is logged without failing the write that was already stored.
"""

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django_redis import get_redis_connection

from hosting.models import Alert, MinerOperation

from .scopes import SCOPE_CLIENT, SCOPE_SITE, live_group, live_key
from .snapshots import (
    LiveAlert,
    LiveOperation,
    LiveRowJson,
    live_alert,
    live_operation,
    live_payload_json,
    live_rows_for_miners,
    live_seq_key,
    live_summaries,
)

logger = logging.getLogger(__name__)

# Long enough for every process to fetch a payload after its message arrives, short enough that
# payloads of a busy site do not pile up in Redis.
BODY_TTL_SECONDS = 60

# One round trip for all streams of a run: take each stream's next seq and store its payload under it.
_STORE_DELTAS = """
local ttl = ARGV[1]
local seqs = {}
for i = 1, #KEYS do
    local seq = redis.call('INCR', KEYS[i])
    redis.call('SET', ARGV[2 * i] .. seq, ARGV[2 * i + 1], 'EX', ttl)
    seqs[i] = seq
end
return seqs
"""


class LiveGroupMessage(TypedDict):
    """What the channel layer carries to each consumer: where the payload is, never the payload."""

    type: str  # live.delta, live.alerts or live.operation
    source: str  # the stream: "site:3" or "client:7"
    ref: str
    seq: int | None  # deltas only


@dataclass(frozen=True)
class LivePublished:
    """What one publication sent: the seq each stream's delta got (empty for alerts and operations)."""

    seqs: dict[str, int]
    messages: int


def live_body_key(*, ref: str) -> str:
    """Redis key of one published payload."""
    return f"{settings.REDIS_KEY_PREFIX}hosting:live:body:{ref}"


def _encode(payload: Mapping[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _group_send(messages: Sequence[LiveGroupMessage]) -> None:
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(live_group(source=m["source"]), dict(m)) for m in messages))

    async_to_sync(send_all)()


def _store_bodies(bodies: Mapping[str, str]) -> None:
    pipe = get_redis_connection("default").pipeline(transaction=False)
    for ref, body in bodies.items():
        pipe.set(live_body_key(ref=ref), body, ex=BODY_TTL_SECONDS)
    pipe.execute()


def live_deltas_publish(*, deltas: Mapping[str, str]) -> LivePublished:
    """Publish one delta per stream (source key -> payload JSON); each gets the stream's next seq."""
    if not deltas:
        return LivePublished(seqs={}, messages=0)
    sources = list(deltas)
    args: list[object] = [BODY_TTL_SECONDS]
    for source in sources:
        args += [live_body_key(ref=f"{source}:"), deltas[source]]
    redis = get_redis_connection("default")
    seqs = redis.eval(_STORE_DELTAS, len(sources), *[live_seq_key(source=s) for s in sources], *args)
    published = {source: int(seq) for source, seq in zip(sources, seqs, strict=True)}
    _group_send(
        [
            LiveGroupMessage(type="live.delta", source=source, ref=f"{source}:{seq}", seq=seq)
            for source, seq in published.items()
        ]
    )
    return LivePublished(seqs=published, messages=len(published))


def live_collection_publish(*, site_id: int, miner_ids: Sequence[int]) -> LivePublished:
    """The deltas of one committed collection run (or shard): one for the site, one per customer in it.

    Each carries the rows of the miners the run polled and the scope's summary recomputed now.
    """
    rows = [row for row in live_rows_for_miners(miner_ids=miner_ids) if row.site_id == site_id]
    by_customer: dict[int, list[LiveRowJson]] = {}
    for row in rows:
        if row.customer_id is not None:
            by_customer.setdefault(row.customer_id, []).append(row)
    summaries = live_summaries(site_ids=[site_id], customer_ids=by_customer)
    deltas: dict[str, str] = {}
    if site_id in summaries.sites:
        deltas[live_key(kind=SCOPE_SITE, scope_id=site_id)] = live_payload_json(
            summary=summaries.sites[site_id], rows=rows
        )
    for customer_id, customer_rows in by_customer.items():
        deltas[live_key(kind=SCOPE_CLIENT, scope_id=customer_id)] = live_payload_json(
            summary=summaries.customers[customer_id], rows=customer_rows
        )
    published = live_deltas_publish(deltas=deltas)
    logger.debug("Live deltas published: site_id=%s miners=%d streams=%s", site_id, len(rows), published.seqs)
    return published


def live_collection_publish_on_commit(*, site_id: int, miner_ids: Sequence[int]) -> None:
    """Publish a run's deltas once the caller's transaction commits (nothing on rollback)."""
    ids = list(miner_ids)
    if ids:
        transaction.on_commit(lambda: live_collection_publish(site_id=site_id, miner_ids=ids), robust=True)


def live_alerts_publish(*, alert_ids: Sequence[int]) -> LivePublished:
    """Push alerts in their current state to their site's stream and their customer's."""
    alerts = (
        Alert.objects.filter(pk__in=list(alert_ids))
        .annotate(customer_id=F("miner__customer_id"))
        .order_by("-opened_at", "-pk")
    )
    by_source: dict[str, list[LiveAlert]] = {}
    for alert in alerts:
        shaped = live_alert(alert=alert)
        by_source.setdefault(live_key(kind=SCOPE_SITE, scope_id=alert.site_id), []).append(shaped)
        customer_id = getattr(alert, "customer_id", None)
        if isinstance(customer_id, int):
            by_source.setdefault(live_key(kind=SCOPE_CLIENT, scope_id=customer_id), []).append(shaped)
    refs = {source: f"{source}:alerts:{uuid.uuid4().hex}" for source in by_source}
    _store_bodies({refs[source]: _encode({"alerts": shaped}) for source, shaped in by_source.items()})
    messages = [LiveGroupMessage(type="live.alerts", source=s, ref=ref, seq=None) for s, ref in refs.items()]
    _group_send(messages)
    return LivePublished(seqs={}, messages=len(messages))


def live_alerts_publish_on_commit(*, alert_ids: Sequence[int]) -> None:
    """Push the given alerts once the caller's transaction commits."""
    ids = list(alert_ids)
    if ids:
        transaction.on_commit(lambda: live_alerts_publish(alert_ids=ids), robust=True)


def live_operations_publish(*, operation_ids: Sequence[int]) -> LivePublished:
    """Push control commands' log rows to their miners' site streams and customer streams.

    One message per stream however many operations (a batch flushes hundreds at once); the consumer
    sends each operation as a frame of its own.
    """
    operations = (
        MinerOperation.objects.filter(pk__in=list(operation_ids)).select_related("requested_by", "miner").order_by("pk")
    )
    by_source: dict[str, list[LiveOperation]] = {}
    for operation in operations:
        shaped = live_operation(operation=operation)
        by_source.setdefault(live_key(kind=SCOPE_SITE, scope_id=operation.miner.site_id), []).append(shaped)
        if operation.miner.customer_id is not None:
            customer_source = live_key(kind=SCOPE_CLIENT, scope_id=operation.miner.customer_id)
            by_source.setdefault(customer_source, []).append(shaped)
    refs = {source: f"{source}:operations:{uuid.uuid4().hex}" for source in by_source}
    _store_bodies({refs[source]: _encode({"operations": shaped}) for source, shaped in by_source.items()})
    messages = [LiveGroupMessage(type="live.operation", source=s, ref=ref, seq=None) for s, ref in refs.items()]
    _group_send(messages)
    return LivePublished(seqs={}, messages=len(messages))


def live_operations_publish_on_commit(*, operation_ids: Sequence[int]) -> None:
    """Push the given operations once the caller's transaction commits."""
    ids = list(operation_ids)
    if ids:
        transaction.on_commit(lambda: live_operations_publish(operation_ids=ids), robust=True)
