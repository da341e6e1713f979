"""Real Celery worker processes killed in the middle of a curtailment and of its recovery.

Each test starts `celery worker` as a process of its own on a queue of this test run, lets it get half
way (some miners acknowledged, one hung miner's command still out), kills it with SIGKILL, then starts a
second worker and checks that it carries on from the plan rows: every miner ends up where it should, and
the operation log holds exactly one command per miner and step (an acknowledged step is never re-sent).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_redis import get_redis_connection

from chain.models import OutboxEvent
from hosting.choices import CurtailmentSource, CurtailmentStatus, CurtailmentStep, MinerAction
from hosting.emulator.clock import ManualClock
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.spec import single_model_fleet
from hosting.emulator.testing import RunningFleet, fleet_base_address
from hosting.models import CurtailmentPlan, Miner, MinerOperation, Site
from hosting.services.curtailment_commands import PLAN_KEY
from hosting.services.curtailment_execution import curtailment_execute_due
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create
from hosting.services.curtailment_verify import curtailment_verify_site
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect
from mining_platform.celery import app as celery_app
from mining_platform.core.locks import lock_key

ROOT = Path(__file__).resolve().parents[2]
BRAIINS = "braiins-s19j-pro"
LOCK_SECONDS = 2  # the workers' lock TTL: a killed worker's locks run out this soon


@pytest.fixture
def worker_queue() -> Iterator[str]:
    """A broker queue of this test alone, so no other test run's worker takes its tasks."""
    queue = f"{settings.REDIS_KEY_PREFIX}curtailment-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield queue
    redis = get_redis_connection("default")
    leftovers = [queue, *redis.scan_iter(match=f"_kombu.binding*{queue}*")]
    redis.delete(*leftovers)
    # The killed worker's message stays in the transport's unacknowledged set (acks_late); drop it, or
    # it would be restored to this queue an hour from now.
    for tag, message in redis.hgetall("unacked").items():
        if queue.encode() in message:
            redis.hdel("unacked", tag)
            redis.zrem("unacked_index", tag)


@pytest.fixture
def start_worker(worker_queue: str) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """`start_worker()` runs a `celery worker` process (solo pool) on the test's queue and database."""
    started: list[subprocess.Popen[bytes]] = []
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mining_platform.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTEST_XDIST_WORKER": settings.REDIS_KEY_PREFIX.split("-")[-1].rstrip(":"),
        "CURTAILMENT_LOCK_SECONDS": str(LOCK_SECONDS),
        "CURTAILMENT_RETRY_BACKOFF_SECONDS": "0.1",
        # A hung miner keeps the worker waiting long enough to be killed while its command is out.
        "MINER_CONTROL_CONNECT_TIMEOUT_SECONDS": "1",
        "MINER_CONTROL_READ_TIMEOUT_SECONDS": "60",
        "MINER_CONTROL_DEADLINE_SECONDS": "90",
        "TELEMETRY_CONNECT_TIMEOUT_SECONDS": "1",
        "TELEMETRY_READ_TIMEOUT_SECONDS": "1",
    }

    def start() -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "celery", "-A", "mining_platform", "worker", "--pool=solo"]
        args += ["--queues", worker_queue, "--without-heartbeat", "--without-gossip", "--without-mingle"]
        args += ["--loglevel=WARNING", "--hostname", f"curtailment-{uuid.uuid4().hex[:8]}@localhost"]
        started.append(subprocess.Popen(args, env=env, cwd=ROOT))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


@contextmanager
def _not_eager() -> Iterator[None]:
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = eager


def _send(task: str, queue: str) -> None:
    with _not_eager():
        celery_app.send_task(task, queue=queue)


def _wait(
    condition: Callable[[], bool], worker: subprocess.Popen[bytes] | None, what: str, seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert worker is None or worker.poll() is None, f"the worker ended before {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def _kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)


def _locks_expired(plan: CurtailmentPlan, job: str) -> bool:
    redis = get_redis_connection("default")
    return not any(redis.exists(lock_key(name)) for name in (job, f"hosting.curtailment_plan:{plan.pk}"))


def _steps(plan: CurtailmentPlan, field: str) -> Counter[str]:
    return Counter(plan.plan_miners.values_list(field, flat=True))


def _commands(plan: CurtailmentPlan, action: str) -> list[MinerOperation]:
    return list(MinerOperation.objects.filter(action=action, **{f"parameters__{PLAN_KEY}": plan.pk}).order_by("pk"))


@pytest.fixture
def hall(miner_catalogue: None) -> Iterator[tuple[RunningFleet, ManualClock, Site]]:
    """Five Braiins OS miners on a clock the test moves, registered and polled once."""
    clock = ManualClock(start=time.time())
    fleet = RunningFleet(single_model_fleet(BRAIINS, 5, 51, fleet_base_address()), clock=clock)
    try:
        site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name="Crash hall").site_id)
        telemetry_collect(site_id=site.pk, now=timezone.now())
        yield fleet, clock, site
    finally:
        fleet.stop()


def _plan(site: Site, *, recover_in: timedelta) -> CurtailmentPlan:
    now = timezone.now()
    request = CurtailmentRequest(
        site=site,
        target_kind="shed_kw",
        target_value=Decimal("8"),  # three of the five miners
        strategy="optimal",
        starts_at=now,
        recover_at=now + recover_in,
        source=CurtailmentSource.PAGE,
        hold_minutes=0,
    )
    return curtailment_plan_create(request=request, now=now)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_commands_are_out_is_resumed_and_each_miner_is_stopped_once(
    hall: tuple[RunningFleet, ManualClock, Site], start_worker: Callable[[], subprocess.Popen[bytes]], worker_queue: str
) -> None:
    fleet, _clock, site = hall
    plan = _plan(site, recover_in=timedelta(hours=1))
    chosen = list(Miner.objects.filter(curtailments__plan=plan).order_by("pk"))
    hung = chosen[-1]
    fleet.set_fault(hung.ip, Fault(FaultKind.HUNG))

    first = start_worker()
    _send("hosting.curtailment_execute_due", worker_queue)
    _wait(
        lambda: _steps(plan, "command_step") == {CurtailmentStep.ACKNOWLEDGED: 2, CurtailmentStep.SENT: 1},
        first,
        "two miners acknowledged and the hung one's command out",
    )
    _kill(first)
    plan.refresh_from_db()
    left = (plan.status, _steps(plan, "command_step"), sorted(op.outcome for op in _commands(plan, MinerAction.STOP)))
    fleet.clear_fault(hung.ip)
    _wait(lambda: _locks_expired(plan, "hosting.curtailment_execute_due"), None, "the dead worker's locks expire")
    second = start_worker()
    _send("hosting.curtailment_execute_due", worker_queue)
    _wait(
        lambda: CurtailmentPlan.objects.get(pk=plan.pk).status == CurtailmentStatus.EXECUTED,
        second,
        "the plan executed",
    )

    stops = _commands(plan, MinerAction.STOP)
    assert left == (
        CurtailmentStatus.EXECUTING,
        {CurtailmentStep.ACKNOWLEDGED: 2, CurtailmentStep.SENT: 1},
        ["ok", "ok", "requested"],
    )
    assert _steps(plan, "command_step") == {CurtailmentStep.ACKNOWLEDGED: 3}
    assert sorted(op.miner_id for op in stops) == [m.pk for m in chosen]  # one stop per miner, none twice
    assert [op.outcome for op in stops] == ["ok", "ok", "ok"]
    assert [fleet.truth(m.ip).mining for m in chosen] == [False, False, False]
    assert sum(t.mining for t in fleet.truths()) == 2
    assert OutboxEvent.objects.filter(event_type="curtailment.executed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_recovery_is_resumed_and_every_miner_ends_up_running(
    hall: tuple[RunningFleet, ManualClock, Site], start_worker: Callable[[], subprocess.Popen[bytes]], worker_queue: str
) -> None:
    fleet, clock, site = hall
    plan = _plan(site, recover_in=timedelta(seconds=2))
    curtailment_execute_due(now=timezone.now())
    chosen = list(Miner.objects.filter(curtailments__plan=plan).order_by("pk"))
    hung = chosen[-1]
    fleet.set_fault(hung.ip, Fault(FaultKind.HUNG))
    _wait(lambda: timezone.now() > CurtailmentPlan.objects.get(pk=plan.pk).recover_at, None, "the recovery time")

    first = start_worker()
    _send("hosting.curtailment_recover_due", worker_queue)
    _wait(
        lambda: _steps(plan, "recovery_step") == {CurtailmentStep.ACKNOWLEDGED: 2, CurtailmentStep.SENT: 1},
        first,
        "two miners started and the hung one's start out",
    )
    _kill(first)
    plan.refresh_from_db()
    left = (plan.status, sorted(op.outcome for op in _commands(plan, MinerAction.START)))
    fleet.clear_fault(hung.ip)
    _wait(lambda: _locks_expired(plan, "hosting.curtailment_recover_due"), None, "the dead worker's locks expire")
    second = start_worker()
    _send("hosting.curtailment_recover_due", worker_queue)
    _wait(lambda: _steps(plan, "recovery_step") == {CurtailmentStep.ACKNOWLEDGED: 3}, second, "the hung miner started")
    clock.set(clock.now() + 60)  # a minute on: the woken chips have ramped up
    telemetry_collect(site_id=site.pk, now=timezone.now())
    curtailment_verify_site(site_id=site.pk, now=timezone.now())

    plan.refresh_from_db()
    starts = _commands(plan, MinerAction.START)
    assert left == (CurtailmentStatus.RECOVERING, ["ok", "ok", "requested"])
    assert plan.status == CurtailmentStatus.RECOVERED
    assert _steps(plan, "recovery_step") == {CurtailmentStep.CONFIRMED: 3}
    assert all(t.mining for t in fleet.truths())  # every miner of the site is running
    assert sorted(op.miner_id for op in starts) == [m.pk for m in chosen]  # one start per miner, none twice
    assert [op.outcome for op in starts] == ["ok", "ok", "ok"]
    assert sorted(op.miner_id for op in _commands(plan, MinerAction.STOP)) == [m.pk for m in chosen]
