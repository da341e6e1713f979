import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django_redis import get_redis_connection

from hosting.choices import PollOutcome
from hosting.models import Miner, MinerLatest, TelemetryRollup
from hosting.services.telemetry_ingest import latest_redis_key, telemetry_store
from hosting.services.telemetry_partitions import telemetry_partition_days, telemetry_partitions_maintain
from hosting.services.telemetry_rollups import telemetry_rollup
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import MinerFactory
from mining_platform.core.errors import InvalidInputError

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _row(miner: Miner, at: datetime, hashrate: float | None = 100.0, outcome: str = PollOutcome.OK) -> TelemetryRow:
    return TelemetryRow(
        miner_id=miner.pk,
        recorded_at=at,
        site_id=miner.site_id,
        outcome=outcome,
        hashrate_ths=hashrate,
        power_w=3250 if hashrate else None,
        board_temp_max_c=70.0 if hashrate else None,
    )


def _telemetry_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM miner_telemetry")
        return int(cursor.fetchone()[0])


class _BatchFailedError(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_telemetry_store_writes_rows_the_latest_reading_and_its_redis_copy() -> None:
    miner = MinerFactory.create()
    rows = [_row(miner, T0 + timedelta(minutes=i), hashrate=100.0 + i) for i in range(3)]

    result = telemetry_store(rows=rows)

    assert (result.rows, result.miners) == (3, 1)
    assert _telemetry_count() == 3
    latest = MinerLatest.objects.get(miner=miner)
    assert (latest.recorded_at, latest.hashrate_ths) == (T0 + timedelta(minutes=2), 102.0)
    cached = json.loads(get_redis_connection("default").get(latest_redis_key(miner.pk)))
    assert cached["hashrate_ths"] == 102.0
    assert 0 < get_redis_connection("default").ttl(latest_redis_key(miner.pk)) <= 120


@pytest.mark.django_db(transaction=True)
def test_telemetry_store_creates_the_partitions_its_rows_need() -> None:
    miner = MinerFactory.create()

    telemetry_store(rows=[_row(miner, T0), _row(miner, T0 + timedelta(days=2))])

    assert {T0.date(), (T0 + timedelta(days=2)).date()} <= set(telemetry_partition_days())


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_leaves_no_rows_and_nothing_in_redis() -> None:
    miner = MinerFactory.create()

    def batch_that_fails() -> None:
        with transaction.atomic():
            telemetry_store(rows=[_row(miner, T0)])
            raise _BatchFailedError

    with pytest.raises(_BatchFailedError):
        batch_that_fails()

    assert _telemetry_count() == 0
    assert not MinerLatest.objects.exists()
    assert get_redis_connection("default").get(latest_redis_key(miner.pk)) is None


@pytest.mark.django_db(transaction=True)
def test_an_older_reading_never_replaces_a_newer_latest() -> None:
    miner = MinerFactory.create()
    telemetry_store(rows=[_row(miner, T0 + timedelta(minutes=5), hashrate=120.0)])

    telemetry_store(rows=[_row(miner, T0, hashrate=90.0)])

    assert MinerLatest.objects.get(miner=miner).hashrate_ths == 120.0


@pytest.mark.django_db(transaction=True)
def test_rollups_aggregate_each_bucket_and_count_uptime() -> None:
    miner = MinerFactory.create()
    rows = [
        _row(miner, T0, hashrate=100.0),
        _row(miner, T0 + timedelta(minutes=1), hashrate=110.0),
        _row(miner, T0 + timedelta(minutes=2), hashrate=None, outcome=PollOutcome.READ_TIMEOUT),
        _row(miner, T0 + timedelta(minutes=6), hashrate=90.0),
    ]
    telemetry_store(rows=rows)

    buckets = telemetry_rollup(resolution="5m", start=T0, end=T0 + timedelta(minutes=10))
    again = telemetry_rollup(resolution="5m", start=T0, end=T0 + timedelta(minutes=10))

    first = TelemetryRollup.objects.get(miner=miner, resolution="5m", bucket_start=T0)
    assert (buckets, again) == (2, 2)
    assert TelemetryRollup.objects.count() == 2
    assert (first.samples, first.ok_samples) == (3, 2)
    assert (first.hashrate_avg_ths, first.hashrate_min_ths, first.hashrate_max_ths) == (105.0, 100.0, 110.0)
    assert first.uptime_share == pytest.approx(2 / 3)


@pytest.mark.django_db
def test_rollup_rejects_an_unknown_resolution_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        telemetry_rollup(resolution="1d", start=T0, end=T0 + timedelta(days=1))

    assert "resolution" in excinfo.value.fields


@pytest.mark.django_db(transaction=True)
def test_partition_maintenance_creates_days_ahead_and_drops_expired_days() -> None:
    miner = MinerFactory.create()
    old = T0 - timedelta(days=40)
    telemetry_store(rows=[_row(miner, old), _row(miner, T0)])

    change = telemetry_partitions_maintain(now=T0, days_ahead=2, retention_days=30)

    days = set(telemetry_partition_days())
    assert old.date() not in days
    assert {T0.date() + timedelta(days=d) for d in (-1, 0, 1, 2)} <= days
    assert change.dropped == [f"miner_telemetry_p{old:%Y%m%d}"]
    assert _telemetry_count() == 1
