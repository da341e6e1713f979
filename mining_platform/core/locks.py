"""Locks for periodic jobs: a Redis lock with a TTL, kept alive by a heartbeat while the job runs.

Two beats or two workers that start the same job at once both try the lock; one runs, the other
skips. A holder that dies stops its heartbeat, so its lock expires after at most one TTL and the
next run goes ahead.
"""

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from .errors import ConflictError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class JobLockedError(ConflictError):
    code = "job_locked"
    default_message = "Another run of this job holds its lock."


@dataclass
class HeldLock:
    """The lock a job holds; `lost` turns true if a heartbeat found the lock taken away."""

    name: str
    lock: Lock
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)


def lock_key(name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}lock:{name}"


def _heartbeat(held: HeldLock, ttl_seconds: float, every_seconds: float) -> None:
    while not held._stop.wait(every_seconds):
        try:
            held.lock.extend(ttl_seconds, replace_ttl=True)
        except (LockNotOwnedError, LockError):
            held.lost = True
            logger.error("Job lock lost while the job ran: lock=%s", held.name)
            return


@contextmanager
def job_lock(
    name: str, *, ttl_seconds: float = 60, heartbeat_seconds: float | None = None, blocking: bool = False
) -> Iterator[HeldLock]:
    """Hold the lock `name` for the duration of the block, or raise JobLockedError.

    The heartbeat extends the TTL every `heartbeat_seconds` (default a third of the TTL), so a job
    may run longer than its TTL while it is alive.
    """
    lock = get_redis_connection("default").lock(
        lock_key(name), timeout=ttl_seconds, blocking=blocking, blocking_timeout=ttl_seconds, thread_local=False
    )
    if not lock.acquire():
        raise JobLockedError(f"Job {name} is already running elsewhere.")
    held = HeldLock(name=name, lock=lock)
    beat = threading.Thread(
        target=_heartbeat, args=(held, ttl_seconds, heartbeat_seconds or ttl_seconds / 3), daemon=True
    )
    beat.start()
    try:
        yield held
    finally:
        held._stop.set()
        beat.join()
        try:
            lock.release()
        except (LockNotOwnedError, LockError):
            logger.warning("Job lock had already expired at release: lock=%s", name)


def periodic_job(
    lock_name: str | None = None, *, ttl_seconds: float = 60, heartbeat_seconds: float | None = None
) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Run the decorated function under its job lock; when another holder runs it, skip and return None."""

    def decorate(func: Callable[P, R]) -> Callable[P, R | None]:
        name = lock_name or f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
            with ExitStack() as stack:
                try:
                    stack.enter_context(job_lock(name, ttl_seconds=ttl_seconds, heartbeat_seconds=heartbeat_seconds))
                except JobLockedError:
                    logger.info("Periodic job skipped, another run holds its lock: lock=%s", name)
                    return None
                return func(*args, **kwargs)

        return run

    return decorate
