"""The periodic-job lock, raced by real processes."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from mining_platform.core.locks import JobLockedError, job_lock, lock_key, periodic_job

ROOT = Path(__file__).resolve().parents[3]
WORKER = ROOT / "tests" / "support" / "lock_worker.py"
DEADLINE_S = 20


def _runs() -> list[str]:
    return [r.decode() for r in get_redis_connection("default").lrange(f"{settings.REDIS_KEY_PREFIX}test:runs", 0, -1)]


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    """Starts lock_worker.py processes that share this test's Redis key prefix."""
    processes: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "PYTEST_XDIST_WORKER": settings.REDIS_KEY_PREFIX.split("-")[-1].rstrip(":")}

    def start(name: str, job_s: float, ttl_s: float) -> tuple[subprocess.Popen[bytes], Path]:
        ready = tmp_path / f"ready-{len(processes)}"
        process = subprocess.Popen([sys.executable, str(WORKER), name, str(job_s), str(ttl_s), str(ready)], env=env)
        processes.append(process)
        return process, ready

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=DEADLINE_S)


def test_two_processes_racing_for_one_job_run_it_once(spawn: object) -> None:
    first, _ = spawn("race", 1.5, 10)  # type: ignore[operator]
    second, _ = spawn("race", 1.5, 10)  # type: ignore[operator]

    first.wait(timeout=DEADLINE_S)
    second.wait(timeout=DEADLINE_S)

    runs = _runs()
    assert sorted(r.split(" ")[1] for r in runs) == ["end", "skipped", "start"]
    assert len({r.split(" ")[0] for r in runs if "start" in r or "end" in r}) == 1


def test_a_killed_holder_keeps_the_lock_only_until_its_ttl_expires(spawn: object) -> None:
    holder, ready = spawn("crash", 30, 1.5)  # type: ignore[operator]
    _wait_for(ready.exists, "the holder to take the lock")

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=DEADLINE_S)
    with pytest.raises(JobLockedError), job_lock("crash", ttl_seconds=5):
        pass
    _wait_for(
        lambda: get_redis_connection("default").get(lock_key("crash")) is None, "the dead holder's lock to expire"
    )

    with job_lock("crash", ttl_seconds=5) as held:
        assert held.lost is False
    assert [r.split(" ")[1] for r in _runs()] == ["start"]


def test_the_heartbeat_keeps_a_job_longer_than_its_ttl_holding_the_lock(spawn: object) -> None:
    holder, ready = spawn("long", 3.0, 1.0)  # type: ignore[operator]
    _wait_for(ready.exists, "the holder to take the lock")

    refusals = 0
    while holder.poll() is None:
        try:
            with job_lock("long", ttl_seconds=5):
                # The holder records its end before releasing, so getting the lock earlier is a bug.
                if not any(" end " in r for r in _runs()):
                    raise AssertionError("took the lock while its holder was still running")
        except JobLockedError:
            refusals += 1
        time.sleep(0.1)

    assert holder.returncode == 0
    assert refusals >= 10
    assert [r.split(" ")[1] for r in _runs()] == ["start", "end"]


def test_the_lock_is_released_when_the_job_ends() -> None:
    with job_lock("quick", ttl_seconds=5):
        assert get_redis_connection("default").get(lock_key("quick")) is not None

    assert get_redis_connection("default").get(lock_key("quick")) is None


def test_periodic_job_skips_while_another_holder_runs_it() -> None:
    calls: list[str] = []

    @periodic_job("nightly", ttl_seconds=5)
    def nightly() -> str:
        calls.append("ran")
        return "done"

    with job_lock("nightly", ttl_seconds=5):
        skipped = nightly()
    ran = nightly()

    assert (skipped, ran, calls) == (None, "done", ["ran"])
