"""The cache manager on the real Redis: freshness, stale-while-revalidate, fallback, single flight."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from mining_platform.core.cache import COMPUTED, FALLBACK, FRESH, STALE, cache_invalidate, cached_value
from mining_platform.core.errors import UpstreamUnavailableError

ROOT = Path(__file__).resolve().parents[3]
DEADLINE_S = 20


class _Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


class _SourceDownError(Exception):
    pass


def _counter() -> int:
    return int(get_redis_connection("default").get(f"{settings.REDIS_KEY_PREFIX}test:computes") or 0)


def _source(value: str, delay: float = 0.0) -> object:
    def compute() -> str:
        get_redis_connection("default").incr(f"{settings.REDIS_KEY_PREFIX}test:computes")
        time.sleep(delay)
        return value

    return compute


def _get(clock: _Clock, compute: object, key: str = "price") -> object:
    return cached_value(key=key, compute=compute, ttl_seconds=30, stale_seconds=300, now=clock)  # type: ignore[arg-type]


def test_a_fresh_value_is_served_without_recomputing() -> None:
    clock = _Clock()
    first = _get(clock, _source("a"))
    clock.t += 10

    second = _get(clock, _source("b"))

    assert (first.state, second.state) == (COMPUTED, FRESH)  # type: ignore[attr-defined]
    assert (second.value, second.age_seconds) == ("a", 10)  # type: ignore[attr-defined]
    assert _counter() == 1


def test_a_stale_value_is_served_at_once_while_one_refresher_recomputes() -> None:
    clock = _Clock()
    _get(clock, _source("old"))
    clock.t += 60
    results: list[object] = []

    threads = [
        threading.Thread(target=lambda: results.append(_get(clock, _source("new", delay=0.3)))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {(r.state, r.value) for r in results} == {(STALE, "old")}  # type: ignore[attr-defined]
    deadline = time.monotonic() + DEADLINE_S
    while _get(clock, _source("never")).value != "new":  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.02)
    assert _counter() == 2  # the first computation and exactly one refresh


def test_a_failing_source_falls_back_to_the_last_good_value_with_its_age() -> None:
    clock = _Clock()
    _get(clock, _source("good"))
    cache_invalidate(key="price")
    clock.t += 500

    def broken() -> str:
        raise _SourceDownError

    result = _get(clock, broken)

    assert (result.state, result.value, result.age_seconds) == (FALLBACK, "good", 500)  # type: ignore[attr-defined]


def test_a_failing_source_with_nothing_cached_is_reported_as_upstream_unavailable() -> None:
    def broken() -> str:
        raise _SourceDownError

    with pytest.raises(UpstreamUnavailableError, match="none was ever cached"):
        _get(_Clock(), broken, key="difficulty")


def test_concurrent_threads_asking_for_a_missing_key_compute_it_once() -> None:
    clock = _Clock()
    results: list[object] = []

    threads = [threading.Thread(target=lambda: results.append(_get(clock, _source("v", delay=0.3)))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert _counter() == 1
    assert {r.value for r in results} == {"v"}  # type: ignore[attr-defined]
    assert sorted(r.state for r in results).count(COMPUTED) == 1  # type: ignore[attr-defined]


def test_concurrent_processes_asking_for_a_missing_key_compute_it_once() -> None:
    env = {**os.environ, "PYTEST_XDIST_WORKER": settings.REDIS_KEY_PREFIX.split("-")[-1].rstrip(":")}
    worker = str(ROOT / "tests" / "support" / "cache_worker.py")

    processes = [subprocess.Popen([sys.executable, worker, "fleet-total", "1.0"], env=env) for _ in range(3)]
    codes = [p.wait(timeout=DEADLINE_S) for p in processes]

    received = get_redis_connection("default").lrange(f"{settings.REDIS_KEY_PREFIX}test:received", 0, -1)
    assert codes == [0, 0, 0]
    assert _counter() == 1
    assert received == [b"value-1"] * 3
