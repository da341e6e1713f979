"""The history flush on real Celery workers: one killed in the middle of its insert loses and repeats nothing."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.services.history_load import history_load
from calculator.models import CalculationHistory
from calculator.services.history_buffer import (
    HISTORY_FLUSH_LOCK,
    QuoteCaller,
    calculation_history_flush,
    calculation_quote,
    history_buffer_key,
    history_processing_key,
)
from calculator.tasks import calculation_history_flush_task
from calculator.tests.factories import MinerModelFactory
from mining_platform.celery import app as celery_app
from mining_platform.core.locks import lock_key
from tests.support.celery_worker import backend_waits_on_lock, private_worker

ANYONE = QuoteCaller(ident="ip:127.0.0.1", limits=())  # no limit: the throttle has tests of its own
ROOT = settings.BASE_DIR
TASK = "calculator.calculation_history_flush"
BATCH_ROWS = 5


@pytest.fixture
def worker_process() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A Celery worker in a process of its own (so it can be killed), on a queue of this test alone."""
    queue = f"{settings.REDIS_KEY_PREFIX}history-flush-{os.getpid()}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mining_platform.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTEST_XDIST_WORKER": settings.REDIS_KEY_PREFIX.split("-")[-1].rstrip(":"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CALCULATOR_HISTORY_FLUSH_ROWS": str(BATCH_ROWS),
    }
    command = [sys.executable, "-m", "celery", "-A", "mining_platform", "worker", "--pool", "solo", "-Q", queue]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
    worker = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        yield worker, queue
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        redis = get_redis_connection("default")
        leftovers = list(redis.scan_iter(match=f"*{queue}*"))
        if leftovers:
            redis.delete(*leftovers)
        # The killed worker's message waits, unacknowledged, to be restored to a queue nobody reads.
        for tag, message in redis.hgetall("unacked").items():
            if queue.encode() in message:
                redis.hdel("unacked", tag)
                redis.zrem("unacked_index", tag)


def _flush_waits_on_the_blocked_uid() -> bool:
    return backend_waits_on_lock(query_like="%INSERT INTO calculation_history %")


@pytest.mark.django_db(transaction=True)
def test_a_flush_killed_in_the_middle_of_its_insert_leaves_rows_the_next_run_stores_once_each(
    worker_process: tuple[subprocess.Popen[bytes], str],
) -> None:
    history_load()
    model = MinerModelFactory.create()
    data = {"miner_model_id": model.pk, "electricity_usd_per_kwh": Decimal("0.06"), "horizon_days": 90}
    quotes = [
        calculation_quote(data=data, user_id=None, caller=ANYONE, now=timezone.now()) for _ in range(2 * BATCH_ROWS + 2)
    ]
    worker, queue = worker_process
    # Another transaction holds the first row's uid uncommitted: the worker's insert of its first batch
    # waits on it (ON CONFLICT must know whether that row commits), and the worker is killed right there.
    blocker = connections.create_connection("default")
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calculation_history (uid, created_at, inputs, market, results)"
            " VALUES (%s, now(), '{}', '{}', '{}')",
            [str(quotes[0].uid)],
        )
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        calculation_history_flush_task.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while not _flush_waits_on_the_blocked_uid():
            assert worker.poll() is None, "the worker ended before its insert"
            assert time.monotonic() < deadline, "the worker never reached its insert"
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        celery_app.conf.task_always_eager = eager
        blocker.rollback()
        blocker.close()
    redis = get_redis_connection("default")
    left = (int(redis.llen(history_buffer_key())), int(redis.llen(history_processing_key())))
    stored_after_kill = CalculationHistory.objects.count()
    # The dead worker's lock would run out after its TTL; the next run then goes ahead.
    redis.delete(lock_key(HISTORY_FLUSH_LOCK))

    with (
        override_settings(CALCULATOR_HISTORY_FLUSH_ROWS=BATCH_ROWS),
        private_worker(task=TASK, name="history-flush-rerun"),
    ):
        rerun = calculation_history_flush_task.delay().get(timeout=60)

    assert left == (len(quotes) - BATCH_ROWS, BATCH_ROWS)  # the first batch waits in the processing list
    assert stored_after_kill == 0
    assert rerun == {"inserted": len(quotes), "skipped": 0, "remaining": 0}
    stored = list(CalculationHistory.objects.values_list("uid", flat=True))
    assert sorted(stored, key=str) == sorted((quote.uid for quote in quotes), key=str)
    assert len(stored) == len(set(stored))
    assert (int(redis.llen(history_buffer_key())), int(redis.llen(history_processing_key()))) == (0, 0)
    assert calculation_history_flush(batch_rows=BATCH_ROWS, max_batches=10).inserted == 0
