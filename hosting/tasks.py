"""Celery tasks of hosting: thin wrappers over services, periodic ones under the job lock."""

import logging
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.utils import timezone

from hosting.models import Site
from hosting.services.alerts import alerts_evaluate_site
from hosting.services.anomalies import anomalies_detect_site
from hosting.services.curtailment_execution import curtailment_execute_due, curtailment_plans_due_exist
from hosting.services.curtailment_price_rules import curtailment_price_rules_evaluate
from hosting.services.curtailment_recovery import curtailment_recover_due
from hosting.services.curtailment_verify import curtailment_verify_due, curtailment_verify_site
from hosting.services.miner_batch import miner_batch_run
from hosting.services.miner_identify import miner_identify
from hosting.services.telemetry_collect import telemetry_collect, telemetry_collect_shards
from hosting.services.telemetry_partitions import telemetry_partitions_maintain
from hosting.services.telemetry_rollups import telemetry_rollup
from mining_platform.core.errors import DomainError
from mining_platform.core.locks import HeldLock, JobLockedError, job_lock, periodic_job
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
    # The readings just stored may confirm a curtailment's shed or its miners coming back.
    curtailment_verify_site(site_id=site_id, now=timezone.now())
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


@shared_task(name="hosting.curtailment_price_rules_evaluate", soft_time_limit=120, time_limit=180)
@periodic_job("hosting.curtailment_price_rules_evaluate", ttl_seconds=60)
def curtailment_price_rules_evaluate_task() -> dict[str, int]:
    """Judge each enabled energy price rule's current hour (once per hour; the run every minute catches it early)."""
    decisions = curtailment_price_rules_evaluate(now=timezone.now())
    actions = [decision.action for decision in decisions]
    return {
        "decisions": len(decisions),
        "curtailed": actions.count("curtail"),
        "resumed": actions.count("resume"),
    }


# The curtailment jobs take their lock with the TTL of CURTAILMENT_LOCK_SECONDS (read at run time), so a
# worker killed mid-run holds the job for at most that long; the heartbeat keeps it while the run lives.
def _curtailment_job(name: str) -> AbstractContextManager[HeldLock]:
    return job_lock(name, ttl_seconds=settings.CURTAILMENT_LOCK_SECONDS)


# A run waits on miners: a hung one costs its whole deadline on each attempt.
@shared_task(name="hosting.curtailment_execute_due", base=DjangoTask, soft_time_limit=600, time_limit=660)
def curtailment_execute_due_task() -> dict[str, object] | None:
    """Claim the due curtailment plans and send their commands; runs again at once while more are due."""
    now = timezone.now()
    try:
        with _curtailment_job("hosting.curtailment_execute_due"):
            plan_ids = curtailment_execute_due(now=now)
    except JobLockedError:
        logger.info("Curtailment executor skipped, another run holds its lock")
        return None
    if curtailment_plans_due_exist(now=now):
        curtailment_execute_due_task.delay()
    return {"plans": plan_ids}


@shared_task(name="hosting.curtailment_verify_due", soft_time_limit=120, time_limit=180)
def curtailment_verify_due_task() -> dict[str, int] | None:
    """Confirm executed plans' shed (and recovering plans' miners) from telemetry."""
    try:
        with _curtailment_job("hosting.curtailment_verify_due"):
            results = curtailment_verify_due(now=timezone.now())
    except JobLockedError:
        return None
    return {"plans": len(results), "top_ups": sum(1 for r in results if r.top_up_round is not None)}


@shared_task(name="hosting.curtailment_recover_due", base=DjangoTask, soft_time_limit=600, time_limit=660)
def curtailment_recover_due_task() -> dict[str, int] | None:
    """The recovery monitor: bring curtailed miners back, staggered within each plan's ramp."""
    try:
        with _curtailment_job("hosting.curtailment_recover_due"):
            results = curtailment_recover_due(now=timezone.now())
    except JobLockedError:
        logger.info("Curtailment recovery skipped, another run holds its lock")
        return None
    return {"plans": len(results), "started": sum(r.started for r in results)}
