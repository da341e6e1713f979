"""Celery tasks of hosting: thin wrappers over services, periodic ones under the job lock."""

from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from hosting.models import Site
from hosting.services.alerts import alerts_evaluate_site
from hosting.services.anomalies import anomalies_detect_site
from hosting.services.telemetry_partitions import telemetry_partitions_maintain
from hosting.services.telemetry_rollups import telemetry_rollup
from mining_platform.core.locks import periodic_job

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _floor(moment: datetime, step: timedelta) -> datetime:
    return moment - (moment - _EPOCH) % step


@shared_task(name="hosting.telemetry_partitions_maintain", soft_time_limit=120, time_limit=180)
@periodic_job("hosting.telemetry_partitions_maintain", ttl_seconds=60)
def telemetry_partitions_maintain_task() -> dict[str, int]:
    change = telemetry_partitions_maintain(
        now=timezone.now(),
        days_ahead=settings.TELEMETRY_PARTITION_DAYS_AHEAD,
        retention_days=settings.TELEMETRY_RETENTION_DAYS,
    )
    return {"created": len(change.created), "dropped": len(change.dropped)}


@shared_task(name="hosting.telemetry_rollup", soft_time_limit=240, time_limit=300)
@periodic_job("hosting.telemetry_rollup", ttl_seconds=60)
def telemetry_rollup_task() -> dict[str, int]:
    """Recompute the last two closed buckets of each resolution, so late rows are counted too."""
    now = timezone.now()
    five, hour = timedelta(minutes=5), timedelta(hours=1)
    return {
        "5m": telemetry_rollup(resolution="5m", start=_floor(now, five) - 2 * five, end=_floor(now, five)),
        "1h": telemetry_rollup(resolution="1h", start=_floor(now, hour) - 2 * hour, end=_floor(now, hour)),
    }


@shared_task(name="hosting.alerts_evaluate", soft_time_limit=120, time_limit=180)
@periodic_job("hosting.alerts_evaluate", ttl_seconds=60)
def alerts_evaluate_task() -> dict[str, int]:
    """Threshold alerts and anomaly detection for every site."""
    opened = resolved = anomalies = 0
    now = timezone.now()
    for site_id in Site.objects.order_by("pk").values_list("pk", flat=True):
        changes = alerts_evaluate_site(site_id=site_id, now=now)
        opened, resolved = opened + len(changes.opened), resolved + len(changes.resolved)
        anomalies += len(anomalies_detect_site(site_id=site_id, now=now))
    return {"opened": opened, "resolved": resolved, "anomalies": anomalies}
