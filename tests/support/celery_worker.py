"""A real Celery worker for tests: solo pool, in a thread, on a queue of this test process alone."""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from mining_platform.celery import app as celery_app


@contextmanager
def private_worker(*, task: str, name: str) -> Iterator[str]:
    """Route `task` to a queue of this process and run a worker on it; yields the queue's name.

    A worker another test run starts on the same broker at the same time cannot take this run's tasks
    (its database does not have their rows).
    """
    queue = f"{settings.REDIS_KEY_PREFIX}{name}-{os.getpid()}"
    eager, routes = celery_app.conf.task_always_eager, celery_app.conf.task_routes
    # The worker narrows the app's queue selection to `queue`; later workers of this process need it back.
    selection = celery_app.amqp.queues._consume_from  # type: ignore[attr-defined]  # no public undo exists
    root_level = logging.getLogger().level  # start_worker lowers the root logger to its own level
    celery_app.conf.update(task_always_eager=False, task_routes={task: {"queue": queue}})
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=[queue]):
            yield queue
    finally:
        celery_app.conf.update(task_always_eager=eager, task_routes=routes)
        celery_app.amqp.queues._consume_from = selection  # type: ignore[attr-defined]  # as above
        logging.getLogger().setLevel(root_level)
        redis = get_redis_connection("default")
        leftovers = list(redis.scan_iter(match=f"_kombu.binding*{queue}"))
        if leftovers:
            redis.delete(*leftovers)


def backend_waits_on_lock(*, query_like: str) -> bool:
    """Whether a database session is blocked on a lock in a statement matching `query_like` (ILIKE)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            [query_like],
        )
        row = cursor.fetchone()
    return bool(row and row[0])
