"""Daily partitions of miner_telemetry: created ahead of the data, dropped after the retention period."""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction

logger = logging.getLogger(__name__)

PARENT = "miner_telemetry"
_NAME = re.compile(r"^miner_telemetry_p(\d{8})$")


@dataclass(frozen=True)
class PartitionChange:
    created: list[str]
    dropped: list[str]


def _partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def telemetry_partition_days() -> list[date]:
    """The days that have a partition, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    days = [datetime.strptime(m.group(1), "%Y%m%d").date() for n in names if (m := _NAME.match(n))]  # noqa: DTZ007  # a date, no time zone involved
    return sorted(days)


@transaction.atomic
def telemetry_partitions_ensure(*, days: Iterable[date]) -> list[str]:
    """Create the daily partitions of `days` that do not exist yet (idempotent)."""
    created = []
    existing = set(telemetry_partition_days())
    with connection.cursor() as cursor:
        for day in sorted(set(days)):
            if day not in existing:
                # Bounds are UTC midnights: recorded_at is timestamptz, so a day means a UTC day.
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {_partition_name(day)} PARTITION OF {PARENT} "  # names built from dates only
                    f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') TO ('{(day + timedelta(days=1)).isoformat()} 00:00:00+00')"
                )
                created.append(_partition_name(day))
    if created:
        logger.info("Telemetry partitions created: count=%d first=%s last=%s", len(created), created[0], created[-1])
    return created


@transaction.atomic(durable=True)
def telemetry_partitions_maintain(*, now: datetime, days_ahead: int, retention_days: int) -> PartitionChange:
    """Create partitions for yesterday..today+days_ahead and drop those wholly older than the retention."""
    today = now.date()
    created = telemetry_partitions_ensure(days=[today + timedelta(days=d) for d in range(-1, days_ahead + 1)])
    cutoff = today - timedelta(days=retention_days)
    dropped = []
    with connection.cursor() as cursor:
        for day in telemetry_partition_days():
            if day < cutoff:
                cursor.execute(f"DROP TABLE IF EXISTS {_partition_name(day)}")
                dropped.append(_partition_name(day))
    if dropped:
        logger.info("Telemetry partitions dropped: count=%d cutoff=%s", len(dropped), cutoff)
    return PartitionChange(created=created, dropped=dropped)
