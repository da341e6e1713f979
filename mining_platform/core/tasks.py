"""Celery tasks of the core: thin wrappers over services."""

from celery import shared_task
from django.utils import timezone

from .liveness import beat_liveness_record
from .services.siwe import siwe_nonces_purge


@shared_task(name="core.liveness_beacon", soft_time_limit=10, time_limit=20)
def liveness_beacon_task() -> str:
    now = timezone.now()
    beat_liveness_record(now=now)
    return now.isoformat()


@shared_task(name="core.siwe_nonces_purge", soft_time_limit=60, time_limit=90)
def siwe_nonces_purge_task() -> int:
    return siwe_nonces_purge(now=timezone.now())
