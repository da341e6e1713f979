from datetime import timedelta

import pytest
from django.utils import timezone

from hosting.choices import MinerStatus
from hosting.models import Alert, TelemetryRollup
from hosting.services.telemetry_ingest import telemetry_store
from hosting.services.telemetry_partitions import telemetry_partition_days
from hosting.tasks import alerts_evaluate_task, telemetry_partitions_maintain_task, telemetry_rollup_task
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import MinerFactory
from mining_platform.core.locks import job_lock


@pytest.mark.django_db(transaction=True)
def test_partition_task_creates_the_coming_days() -> None:
    result = telemetry_partitions_maintain_task.delay().get()

    today = timezone.now().date()
    assert {today, today + timedelta(days=3)} <= set(telemetry_partition_days())
    assert result is not None
    assert result["created"] >= 4


@pytest.mark.django_db(transaction=True)
def test_rollup_task_rolls_up_the_last_closed_buckets() -> None:
    miner = MinerFactory.create()
    at = timezone.now() - timedelta(minutes=7)
    telemetry_store(
        rows=[TelemetryRow(miner_id=miner.pk, recorded_at=at, site_id=miner.site_id, outcome="ok", hashrate_ths=99.0)]
    )

    telemetry_rollup_task.delay().get()

    assert TelemetryRollup.objects.filter(miner=miner, resolution="5m", hashrate_avg_ths=99.0).exists()


@pytest.mark.django_db(transaction=True)
def test_alert_task_evaluates_every_site_and_skips_while_another_run_holds_the_lock() -> None:
    MinerFactory.create(status=MinerStatus.OFFLINE)

    with job_lock("hosting.alerts_evaluate", ttl_seconds=5):
        skipped = alerts_evaluate_task.delay().get()
    ran = alerts_evaluate_task.delay().get()

    assert skipped is None
    assert ran == {"opened": 1, "resolved": 0, "anomalies": 0}
    assert Alert.objects.count() == 1
