"""A worker process for the lock tests: runs one job under the project's job lock and records it.

Usage: python tests/support/lock_worker.py <lock name> <job seconds> <ttl seconds> <ready file>
It writes "<pid> start <t>" and "<pid> end <t>" (or "<pid> skipped") to the Redis list the test reads,
and touches <ready file> once it holds the lock, so the test knows when to act.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mining_platform.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django_redis import get_redis_connection  # noqa: E402

from mining_platform.core.locks import JobLockedError, job_lock  # noqa: E402


def main() -> None:
    name, job_seconds, ttl_seconds, ready_file = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    runs = f"{settings.REDIS_KEY_PREFIX}test:runs"
    redis = get_redis_connection("default")
    pid = os.getpid()
    try:
        with job_lock(name, ttl_seconds=ttl_seconds):
            redis.rpush(runs, f"{pid} start {time.time():.6f}")
            Path(ready_file).touch()
            time.sleep(job_seconds)
            redis.rpush(runs, f"{pid} end {time.time():.6f}")
    except JobLockedError:
        redis.rpush(runs, f"{pid} skipped")
        Path(ready_file).touch()


if __name__ == "__main__":
    main()
