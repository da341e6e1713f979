"""Collection tasks: one run per site at a time, and a worker killed mid-write leaves no partial batch."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import override_settings
from django_redis import get_redis_connection

from hosting.choices import MinerStatus, PollOutcome
from hosting.emulator.testing import RunningFleet
from hosting.models import Miner, MinerLatest, MinerTelemetry, Site
from hosting.services.fleet_register import fleet_register
from hosting.tasks import telemetry_collect_site_task, telemetry_collect_task
from mining_platform.core.locks import job_lock, lock_key
from tests.support.celery_worker import backend_waits_on_lock

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "support" / "collect_worker.py"
FleetFactory = Callable[..., RunningFleet]
FAST = {"TELEMETRY_CONNECT_TIMEOUT_SECONDS": 1.0, "TELEMETRY_READ_TIMEOUT_SECONDS": 1.0}


@pytest.mark.django_db
@override_settings(**FAST)
def test_a_site_already_being_collected_is_skipped_by_a_second_run(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=3, seed=21)
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Locked hall").site_id)

    with job_lock(f"hosting.telemetry_collect:site:{site.pk}:0/1", ttl_seconds=10):
        skipped = telemetry_collect_site_task(site_id=site.pk)
    ran = telemetry_collect_site_task(site_id=site.pk)

    assert skipped is None
    assert ran is not None
    assert ran["outcomes"] == {PollOutcome.OK: 3}
    assert MinerTelemetry.objects.filter(site_id=site.pk).count() == 3


@pytest.mark.django_db
@override_settings(**FAST, TELEMETRY_SHARD_SIZE=2)
def test_the_periodic_run_fans_out_one_task_per_shard(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=5, seed=23)
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Sharded hall").site_id)

    result = telemetry_collect_task()

    assert result == {"tasks": 3}
    assert MinerTelemetry.objects.filter(site_id=site.pk).count() == 5


def _worker_waits_on_the_lock() -> bool:
    return backend_waits_on_lock(query_like="%miner_latest%")


@pytest.mark.django_db(transaction=True)
@override_settings(**FAST)
def test_a_worker_killed_in_the_middle_of_its_write_leaves_nothing_and_the_next_run_is_whole(
    emulated_fleet: FleetFactory, miner_catalogue: None
) -> None:
    fleet = emulated_fleet(count=6, seed=25)
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Crash hall").site_id)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTEST_XDIST_WORKER": settings.REDIS_KEY_PREFIX.split("-")[-1].rstrip(":"),
        "TELEMETRY_CONNECT_TIMEOUT_SECONDS": "1",
        "TELEMETRY_READ_TIMEOUT_SECONDS": "1",
        "TELEMETRY_POLL_INTERVAL_SECONDS": "2",  # its site lock then lives one second past its death
    }
    # Another connection locks the snapshot table: the worker's COPY into miner_telemetry goes through,
    # then its transaction waits at the snapshot upsert, and the worker is killed right there.
    blocker = connections.create_connection("default")
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("LOCK TABLE miner_latest IN EXCLUSIVE MODE")
    worker = subprocess.Popen([sys.executable, str(WORKER), str(site.pk)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not _worker_waits_on_the_lock():
            assert worker.poll() is None, "the worker ended before reaching its write"
            assert time.monotonic() < deadline, "the worker never reached its write"
            time.sleep(0.05)
        worker.kill()
        worker.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()

    assert MinerTelemetry.objects.filter(site_id=site.pk).count() == 0
    assert MinerLatest.objects.filter(miner__site=site).count() == 0
    assert set(Miner.objects.filter(site=site).values_list("status", flat=True)) == {MinerStatus.UNKNOWN}

    lock = lock_key(f"hosting.telemetry_collect:site:{site.pk}:0/1")
    deadline = time.monotonic() + 10
    while get_redis_connection("default").exists(lock):  # the dead worker's lock runs out by itself
        assert time.monotonic() < deadline, "the dead worker's lock never expired"
        time.sleep(0.1)
    telemetry_collect_site_task(site_id=site.pk)

    assert MinerTelemetry.objects.filter(site_id=site.pk).count() == 6
    assert set(Miner.objects.filter(site=site).values_list("status", flat=True)) == {MinerStatus.ONLINE}
