"""Publishing to the transactional outbox."""

import json
from collections.abc import Mapping
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from chain.errors import OutboxOutsideTransactionError
from chain.models import OutboxEvent
from mining_platform.core.errors import InvalidInputError


def outbox_publish(
    *,
    event_type: str,
    aggregate_type: str,
    aggregate_id: int | str,
    payload: Mapping[str, object],
    now: datetime | None = None,
) -> OutboxEvent:
    """Record an event in the caller's transaction, so it exists if and only if the change commits.

    Must run inside `transaction.atomic()`: an event written outside one could survive a change
    that later fails, or be lost while the change is kept.
    """
    if not connection.in_atomic_block:
        raise OutboxOutsideTransactionError()
    if "." not in event_type:
        raise InvalidInputError(fields={"event_type": ["use <entity>.<past verb>, e.g. invoice.issued"]})
    # Round-trip through JSON now, so a payload that cannot be stored fails here and not at commit.
    try:
        clean_payload = json.loads(json.dumps(dict(payload), cls=DjangoJSONEncoder))
    except TypeError as exc:
        raise InvalidInputError(fields={"payload": [f"not JSON-serialisable: {exc}"]}) from exc
    at = now or timezone.now()
    return OutboxEvent.objects.create(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=clean_payload,
        created_at=at,
        available_at=at,
    )
