from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from mining_platform.core.periodic import PeriodicJob, declared_periodic_jobs, periodic_tasks_sync


def test_declared_periodic_jobs_include_the_beat_liveness_beacon() -> None:
    jobs = {job.name: job for job in declared_periodic_jobs()}

    assert jobs["core.liveness_beacon"].task == "core.liveness_beacon"


@pytest.mark.django_db
def test_sync_periodic_tasks_creates_each_schedule_once() -> None:
    call_command("sync_periodic_tasks", stdout=StringIO())
    out = StringIO()

    call_command("sync_periodic_tasks", stdout=out)

    task = PeriodicTask.objects.get(name="core.liveness_beacon")
    assert task.task == "core.liveness_beacon"
    assert task.interval is not None
    assert task.interval.every == 30
    assert "0 created, 0 updated" in out.getvalue()


@pytest.mark.django_db
def test_sync_periodic_tasks_updates_a_changed_interval() -> None:
    periodic_tasks_sync(jobs=[PeriodicJob(name="x.job", task="x.job", every_seconds=30)])

    result = periodic_tasks_sync(jobs=[PeriodicJob(name="x.job", task="x.job", every_seconds=60)])

    assert result.updated == ["x.job"]
    interval = PeriodicTask.objects.get(name="x.job").interval
    assert interval is not None
    assert interval.every == 60


@pytest.mark.django_db
def test_sync_periodic_tasks_dry_run_writes_nothing() -> None:
    out = StringIO()

    call_command("sync_periodic_tasks", "--dry-run", stdout=out)

    assert not PeriodicTask.objects.filter(name="core.liveness_beacon").exists()
    assert f"Would sync periodic tasks: {len(declared_periodic_jobs())} created" in out.getvalue()
