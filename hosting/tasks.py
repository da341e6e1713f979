"""Celery tasks of hosting: thin wrappers over services, periodic ones under the job lock."""

import logging
from datetime import UTC, datetime, timedelta

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.utils import timezone

from hosting.models import Site
from hosting.services.alerts import alerts_evaluate_site
from hosting.services.anomalies import anomalies_detect_site
from hosting.services.miner_batch import miner_batch_run
from hosting.services.miner_identify import miner_identify
from hosting.services.telemetry_collect import telemetry_collect, telemetry_collect_shards
from hosting.services.telemetry_partitions import telemetry_partitions_maintain
from hosting.services.telemetry_rollups import telemetry_rollup
from mining_platform.core.errors import DomainError
from mining_platform.core.locks import JobLockedError, job_lock, periodic_job
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

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


@shared_task(name="hosting.telemetry_collect", soft_time_limit=30, time_limit=45)
@periodic_job("hosting.telemetry_collect", ttl_seconds=30)
def telemetry_collect_task() -> dict[str, int]:
    """Fan the run out: one collection task per site (per shard of a large site), on any worker.

    A task still queued when the next run is due is dropped (`expires`): a newer one replaces it.
    """
    shards = telemetry_collect_shards(shard_size=settings.TELEMETRY_SHARD_SIZE)
    for part in shards:
        telemetry_collect_site_task.apply_async(
            kwargs={"site_id": part.site_id, "shard": part.shard, "shards": part.shards},
            expires=settings.TELEMETRY_POLL_INTERVAL_SECONDS,
        )
    return {"tasks": len(shards)}


@shared_task(name="hosting.telemetry_collect_site", soft_time_limit=120, time_limit=150)
def telemetry_collect_site_task(*, site_id: int, shard: int = 0, shards: int = 1) -> dict[str, object] | None:
    """Collect one shard of one site, under a lock of its own so two runs never poll it at once."""
    # A crashed holder's lock must expire before the next run is due (half an interval).
    ttl = max(1.0, settings.TELEMETRY_POLL_INTERVAL_SECONDS / 2)
    try:
        with job_lock(f"hosting.telemetry_collect:site:{site_id}:{shard}/{shards}", ttl_seconds=ttl):
            result = telemetry_collect(site_id=site_id, shard=shard, shards=shards, now=timezone.now())
    except JobLockedError:
        logger.info("Site collection skipped, another run holds it: site_id=%s shard=%s/%s", site_id, shard, shards)
        return None
    return {"miners": result.miners, "outcomes": result.outcomes, "offline": len(result.went_offline)}


# A batch waits on miners, not on the CPU: thousands of them with a few hung ones take minutes.
@shared_task(name="hosting.miner_batch", soft_time_limit=1800, time_limit=1900)
def miner_batch_run_task(*, batch_id: str) -> dict[str, int]:
    """Send a batch's outstanding commands; a redelivery while another run holds the batch finishes."""
    try:
        summary = miner_batch_run(batch_id=batch_id, now=timezone.now())
    except DomainError as exc:
        logger.warning("Miner batch refused: batch=%s code=%s message=%s", batch_id, exc.code, exc.message)
        return {}
    return {"total": summary.total, "ok": summary.ok, "failed": summary.failed}


# base=DjangoTask: Celery already makes it every task's base under Django, but celery-types knows
# delay_on_commit only on that class.
@shared_task(name="hosting.miner_identify", base=DjangoTask, soft_time_limit=60, time_limit=90)
def miner_identify_task(*, miner_id: int, requested_by_id: int | None = None) -> dict[str, object]:
    """Identify one miner with pyasic and correct its row; the outcome is in the operation log."""
    requested_by = None if requested_by_id is None else User.objects.filter(pk=requested_by_id).first()
    try:
        result = miner_identify(miner_id=miner_id, requested_by=requested_by, now=timezone.now())
    except DomainError as exc:
        logger.warning("Miner identification refused: miner_id=%s code=%s message=%s", miner_id, exc.code, exc.message)
        return {}
    return {"outcome": result.outcome, "changed": list(result.changed), "operation_id": result.operation_id}
