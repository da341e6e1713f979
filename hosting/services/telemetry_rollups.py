"""Rollups of telemetry into 5-minute and hourly buckets, so long ranges never scan raw rows."""

import logging
from datetime import datetime

from django.db import connection, transaction

from hosting.models import TelemetryRollup
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

_BUCKET: dict[str, str] = {
    TelemetryRollup.Resolution.FIVE_MINUTES: "5 minutes",
    TelemetryRollup.Resolution.HOUR: "1 hour",
}

_ROLLUP = """
INSERT INTO miner_telemetry_rollups (miner_id, resolution, bucket_start, samples, ok_samples,
    hashrate_avg_ths, hashrate_min_ths, hashrate_max_ths, temp_avg_c, temp_max_c, power_avg_w, power_max_w)
SELECT miner_id, %(resolution)s, date_bin(%(bucket)s::interval, recorded_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    count(*), count(*) FILTER (WHERE outcome = 'ok'),
    avg(hashrate_ths), min(hashrate_ths), max(hashrate_ths),
    avg(board_temp_max_c), max(board_temp_max_c), avg(power_w), max(power_w)
FROM miner_telemetry
WHERE recorded_at >= %(start)s AND recorded_at < %(end)s
GROUP BY 1, 3
ON CONFLICT (miner_id, resolution, bucket_start) DO UPDATE SET
    samples = EXCLUDED.samples, ok_samples = EXCLUDED.ok_samples,
    hashrate_avg_ths = EXCLUDED.hashrate_avg_ths, hashrate_min_ths = EXCLUDED.hashrate_min_ths,
    hashrate_max_ths = EXCLUDED.hashrate_max_ths, temp_avg_c = EXCLUDED.temp_avg_c,
    temp_max_c = EXCLUDED.temp_max_c, power_avg_w = EXCLUDED.power_avg_w, power_max_w = EXCLUDED.power_max_w
"""


@transaction.atomic(durable=True)
def telemetry_rollup(*, resolution: str, start: datetime, end: datetime) -> int:
    """(Re)compute the buckets of `resolution` that start in [start, end); running it twice is harmless.

    `start` and `end` should be bucket boundaries, or the first and last buckets are partial until the
    next run recomputes them.
    """
    if resolution not in _BUCKET:
        raise InvalidInputError(fields={"resolution": [f"unknown resolution {resolution!r}; use 5m or 1h"]})
    with connection.cursor() as cursor:
        cursor.execute(_ROLLUP, {"resolution": resolution, "bucket": _BUCKET[resolution], "start": start, "end": end})
        buckets = int(cursor.rowcount)
    logger.info("Telemetry rolled up: resolution=%s start=%s end=%s buckets=%d", resolution, start, end, buckets)
    return buckets
