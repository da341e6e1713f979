"""Miner status from poll outcomes, with hysteresis: offline after N failed polls in a row, online at once.

Both transitions publish an outbox event in the same transaction as the status change, so other modules
(alerts, billing, dashboards) learn of exactly the changes that were stored.
"""

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Case, CharField, F, Value, When

from chain.services.outbox import outbox_publish
from hosting.choices import MinerStatus, PollOutcome
from hosting.models import Miner

logger = logging.getLogger(__name__)

# Statuses an operator set on purpose; polling never overrides them.
_OPERATOR_STATUSES = frozenset({MinerStatus.MAINTENANCE})


@dataclass(frozen=True)
class StatusChanges:
    went_offline: list[int]
    came_online: list[int]


@transaction.atomic
def miner_statuses_apply(
    *,
    outcomes: Mapping[int, str],
    now: datetime,
    offline_after_failures: int,
    sleeping: Collection[int] = (),
) -> StatusChanges:
    """Apply one collection run's outcome per miner id; runs in the caller's transaction if any.

    Miners in `sleeping` answered but are not hashing (asleep or curtailed): they count as stopped.

    Rows are locked in primary-key order so two runs touching the same miners cannot deadlock.
    """
    if not outcomes:
        return StatusChanges(went_offline=[], came_online=[])
    miners = list(
        Miner.objects.select_for_update()
        .filter(pk__in=outcomes.keys())
        .exclude(status__in=_OPERATOR_STATUSES)
        .order_by("pk")
        .values("pk", "site_id", "status", "consecutive_failures")
    )
    ok_ids = [m["pk"] for m in miners if outcomes[m["pk"]] == PollOutcome.OK]
    failed_ids = [m["pk"] for m in miners if outcomes[m["pk"]] != PollOutcome.OK]
    came_online = [m for m in miners if m["pk"] in ok_ids and m["status"] == MinerStatus.OFFLINE]
    went_offline = [
        m
        for m in miners
        if m["pk"] in failed_ids
        and m["status"] != MinerStatus.OFFLINE
        and m["consecutive_failures"] + 1 >= offline_after_failures
    ]
    asleep = set(sleeping)
    Miner.objects.filter(pk__in=ok_ids).update(
        consecutive_failures=0,
        last_seen_at=now,
        status=Case(
            When(pk__in=asleep, then=Value(MinerStatus.STOPPED)),
            default=Value(MinerStatus.ONLINE),
            output_field=CharField(),
        ),
    )
    Miner.objects.filter(pk__in=failed_ids).update(
        consecutive_failures=F("consecutive_failures") + 1,
        status=Case(
            When(consecutive_failures__gte=offline_after_failures - 1, then=Value(MinerStatus.OFFLINE)),
            default=F("status"),
            output_field=CharField(),
        ),
    )
    for m in went_offline:
        outbox_publish(
            event_type="miner.offline",
            aggregate_type="miner",
            aggregate_id=m["pk"],
            payload={"miner_id": m["pk"], "site_id": m["site_id"], "outcome": outcomes[m["pk"]], "at": now.isoformat()},
            now=now,
        )
    for m in came_online:
        outbox_publish(
            event_type="miner.online",
            aggregate_type="miner",
            aggregate_id=m["pk"],
            payload={"miner_id": m["pk"], "site_id": m["site_id"], "at": now.isoformat()},
            now=now,
        )
    if went_offline or came_online:
        logger.info("Miner statuses changed: offline=%d online=%d", len(went_offline), len(came_online))
    return StatusChanges(went_offline=[m["pk"] for m in went_offline], came_online=[m["pk"] for m in came_online])
