"""A process for the cache tests: asks the cache manager for one key whose source is slow.

Usage: python tests/support/cache_worker.py <key> <compute seconds>
The compute increments a Redis counter, so the test can count how often the source really ran;
the value this process received is appended to a Redis list.
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

from mining_platform.core.cache import cached_value  # noqa: E402


def main() -> None:
    key, compute_seconds = sys.argv[1], float(sys.argv[2])
    redis = get_redis_connection("default")

    def slow_source() -> str:
        run = redis.incr(f"{settings.REDIS_KEY_PREFIX}test:computes")
        time.sleep(compute_seconds)
        return f"value-{run}"

    got = cached_value(key=key, compute=slow_source, ttl_seconds=60, stale_seconds=60)
    redis.rpush(f"{settings.REDIS_KEY_PREFIX}test:received", got.value)


if __name__ == "__main__":
    main()
