"""Periodic jobs of the core, written to django-celery-beat by `sync_periodic_tasks`."""

from .periodic import PeriodicJob

SCHEDULES = [
    PeriodicJob(name="core.liveness_beacon", task="core.liveness_beacon", every_seconds=30),
    PeriodicJob(name="core.siwe_nonces_purge", task="core.siwe_nonces_purge", every_seconds=3600),
]
