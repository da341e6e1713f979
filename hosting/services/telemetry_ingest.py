"""Storing telemetry: COPY into the partitioned table, the latest reading per miner in a table and Redis."""

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from operator import itemgetter

from django.conf import settings
from django.db import connection, transaction
from django_redis import get_redis_connection

from hosting.telemetry_rows import TELEMETRY_COLUMNS, TELEMETRY_TYPES, TelemetryRow

from .telemetry_partitions import telemetry_partitions_ensure

logger = logging.getLogger(__name__)

LATEST_TTL_SECONDS = 120
_LATEST_COLUMNS = (
    "miner_id",
    "recorded_at",
    "outcome",
    "hashrate_ths",
    "power_w",
    "board_temp_max_c",
    "chip_temp_max_c",
    "fan_rpm_min",
    "is_sleeping",
)
_LATEST_TYPES = ("int8", "timestamptz", "varchar", "float8", "int4", "float8", "float8", "int4", "bool")
# Binary COPY: psycopg encodes a row about four times faster than in text format.
_COPY_TELEMETRY = f"COPY miner_telemetry ({', '.join(TELEMETRY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_LATEST = f"COPY tmp_miner_latest ({', '.join(_LATEST_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_UPSERT_LATEST = f"""
INSERT INTO miner_latest ({", ".join(_LATEST_COLUMNS)})
SELECT {", ".join(_LATEST_COLUMNS)} FROM tmp_miner_latest
ON CONFLICT (miner_id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _LATEST_COLUMNS[1:])}
WHERE miner_latest.recorded_at <= EXCLUDED.recorded_at
"""  # noqa: S608  # column names are constants


@dataclass(frozen=True)
class StoreResult:
    rows: int
    miners: int
    seconds: float


def latest_redis_key(miner_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}hosting:latest:{miner_id}"


def _latest_per_miner(rows: Sequence[TelemetryRow]) -> list[TelemetryRow]:
    # Sorted by time, a later row of the same miner overwrites an earlier one; built by dict() in C,
    # because a Python loop over a large batch cost a tenth of the whole write.
    ordered = sorted(rows, key=itemgetter(1))
    return list(dict(zip(map(itemgetter(0), ordered), ordered, strict=True)).values())


def _latest_tuple(row: TelemetryRow) -> tuple[object, ...]:
    return (
        row.miner_id,
        row.recorded_at,
        row.outcome,
        row.hashrate_ths,
        row.power_w,
        row.board_temp_max_c,
        row.chip_temp_max_c,
        row.fan_rpm_min,
        row.is_sleeping,
    )


# SET with a TTL for every key in one round trip. Issuing 10,000 pipelined SETs costs redis-py most of a
# second of packing and reply parsing; one script call with all keys costs a tenth of that.
_SET_ALL_WITH_TTL = """
local ttl = ARGV[#ARGV]
for i = 1, #KEYS do
    redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl)
end
return #KEYS
"""
_PUBLISH_CHUNK = 5000  # keys per script call, so one call never blocks Redis for long


def _publish_latest(latest: Sequence[TelemetryRow]) -> None:
    redis = get_redis_connection("default")
    keys = [latest_redis_key(row.miner_id) for row in latest]
    values = []
    for row in latest:
        payload = dict(zip(_LATEST_COLUMNS, _latest_tuple(row), strict=True))
        payload["recorded_at"] = row.recorded_at.isoformat()
        values.append(json.dumps(payload))
    for start in range(0, len(keys), _PUBLISH_CHUNK):
        end = start + _PUBLISH_CHUNK
        redis.eval(_SET_ALL_WITH_TTL, len(keys[start:end]), *keys[start:end], *values[start:end], LATEST_TTL_SECONDS)


@transaction.atomic
def telemetry_store(*, rows: Sequence[TelemetryRow]) -> StoreResult:
    """Write a batch of readings in one transaction: all of it lands, or none of it.

    Runs in the caller's transaction when there is one. The Redis copy of the latest readings is
    written only after commit, so a rolled-back batch never shows on a dashboard.
    """
    started = time.perf_counter()
    if not rows:
        return StoreResult(rows=0, miners=0, seconds=0.0)
    # A collection run stamps all its rows alike: reduce to distinct timestamps before taking dates.
    telemetry_partitions_ensure(days={moment.astimezone(UTC).date() for moment in set(map(itemgetter(1), rows))})
    latest = _latest_per_miner(rows)
    connection.ensure_connection()
    pg = connection.connection
    with pg.cursor() as cursor:
        with cursor.copy(_COPY_TELEMETRY) as copy:
            copy.set_types(TELEMETRY_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_miner_latest (LIKE miner_latest INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        # Emptied on commit, but a caller may store several batches in one transaction.
        cursor.execute("TRUNCATE tmp_miner_latest")
        with cursor.copy(_COPY_LATEST) as copy:
            copy.set_types(_LATEST_TYPES)
            for row in latest:
                copy.write_row(_latest_tuple(row))
        cursor.execute(_UPSERT_LATEST)
    transaction.on_commit(lambda: _publish_latest(latest))
    seconds = time.perf_counter() - started
    logger.info("Telemetry stored: rows=%d miners=%d seconds=%.3f", len(rows), len(latest), seconds)
    return StoreResult(rows=len(rows), miners=len(latest), seconds=seconds)
