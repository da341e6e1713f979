"""Periodic job declarations (`<app>/schedules.py`) and their sync into django-celery-beat."""

import importlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: a unique name, the registered task name, and how often it runs."""

    name: str
    task: str
    every_seconds: int
    kwargs: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def declared_periodic_jobs() -> list[PeriodicJob]:
    """Every job declared in an installed app's `schedules.py`."""
    jobs: list[PeriodicJob] = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        jobs.extend(getattr(module, "SCHEDULES", []))
    return jobs


@transaction.atomic(durable=True)
def periodic_tasks_sync(*, jobs: Sequence[PeriodicJob], dry_run: bool = False) -> SyncResult:
    """Create or update each job's PeriodicTask by name; running it twice changes nothing."""
    created, updated, unchanged = [], [], []
    for job in jobs:
        interval, _ = IntervalSchedule.objects.get_or_create(every=job.every_seconds, period=IntervalSchedule.SECONDS)
        wanted = {
            "task": job.task,
            "interval": interval,
            "kwargs": json.dumps(job.kwargs, sort_keys=True),
            "enabled": True,
        }
        existing = PeriodicTask.objects.filter(name=job.name).first()
        if existing is None:
            created.append(job.name)
            if not dry_run:
                PeriodicTask.objects.create(name=job.name, **wanted)
        elif any(getattr(existing, k) != v for k, v in wanted.items()):
            updated.append(job.name)
            if not dry_run:
                for k, v in wanted.items():
                    setattr(existing, k, v)
                existing.save()
        else:
            unchanged.append(job.name)
    if dry_run:
        transaction.set_rollback(True)
    logger.info("Periodic tasks synced: created=%d updated=%d unchanged=%d", len(created), len(updated), len(unchanged))
    return SyncResult(created=created, updated=updated, unchanged=unchanged)
