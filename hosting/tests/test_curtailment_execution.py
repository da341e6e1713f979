"""Curtailment execution on the fleet emulator over real sockets: claim, send, verify, top up, cancel, recover now."""

import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connections
from django.utils import timezone
from pytest_django.fixtures import Settings

from chain.models import OutboxEvent
from hosting.choices import (
    CurtailmentAction,
    CurtailmentSource,
    CurtailmentStatus,
    CurtailmentStep,
    MinerAction,
    MinerStatus,
)
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.testing import RunningFleet
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, Miner, MinerLatest, MinerOperation, Site
from hosting.services.curtailment_commands import PLAN_KEY
from hosting.services.curtailment_execution import (
    curtailment_execute_due,
    curtailment_plan_cancel,
    curtailment_plan_recover_now,
    curtailment_plans_claim,
)
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create
from hosting.services.curtailment_recovery import curtailment_recover_due
from hosting.services.curtailment_verify import curtailment_verify_site
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect
from hosting.tasks import curtailment_execute_due_task, telemetry_collect_site_task
from hosting.tests.conftest import FleetFactory
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.locks import job_lock
from mining_platform.core.models import User
from mining_platform.core.periodic import declared_periodic_jobs

BRAIINS = "braiins-s19j-pro"  # pause/resume over the RPC port: the quickest firmware to command
CURTAILMENT_JOBS = (
    "hosting.curtailment_execute_due",
    "hosting.curtailment_verify_due",
    "hosting.curtailment_recover_due",
)


@pytest.fixture(autouse=True)
def _fast(settings: Settings) -> None:
    """Short timeouts and backoff: a hung miner costs a second, not twenty."""
    settings.MINER_CONTROL_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.MINER_CONTROL_READ_TIMEOUT_SECONDS = 0.5
    settings.MINER_CONTROL_DEADLINE_SECONDS = 3.0
    settings.TELEMETRY_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.TELEMETRY_READ_TIMEOUT_SECONDS = 0.5
    settings.CURTAILMENT_RETRY_BACKOFF_SECONDS = 0.05
    settings.CURTAILMENT_COMMAND_ATTEMPTS = 2


def _site(fleet: RunningFleet, now: datetime) -> Site:
    """The fleet registered as a site and polled once at `now`, so every miner is online and fresh."""
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name=f"Hall {fleet.addresses[0]}").site_id)
    telemetry_collect(site_id=site.pk, now=now)
    return site


def _plan(site: Site, now: datetime, *, shed_kw: str, strategy: str = "optimal", **fields: object) -> CurtailmentPlan:
    values: dict[str, object] = {
        "site": site,
        "target_kind": "shed_kw",
        "target_value": Decimal(shed_kw),
        "strategy": strategy,
        "starts_at": now,
        "recover_at": now + timedelta(hours=1),
        "source": CurtailmentSource.PAGE,
    }
    values.update(fields)
    return curtailment_plan_create(request=CurtailmentRequest(**values), now=now)  # type: ignore[arg-type]  # known keys


def _chosen(plan: CurtailmentPlan) -> list[Miner]:
    return [row.miner for row in plan.plan_miners.select_related("miner").order_by("pk")]


def _operations(plan: CurtailmentPlan) -> list[MinerOperation]:
    return list(MinerOperation.objects.filter(**{f"parameters__{PLAN_KEY}": plan.pk}).order_by("pk"))


@pytest.fixture
def braiins_hall(emulated_fleet: FleetFactory) -> tuple[RunningFleet, Site, datetime]:
    now = timezone.now()
    fleet = emulated_fleet(count=6, seed=31, model_key=BRAIINS)
    return fleet, _site(fleet, now), now


# ---------------------------------------------------------------- execution and verification


@pytest.mark.django_db
def test_execute_due_sleeps_the_planned_miners_and_leaves_the_others_hashing(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5")
    chosen = _chosen(plan)

    ran = curtailment_execute_due(now=now + timedelta(seconds=1))

    plan.refresh_from_db()
    truths = {truth.address: truth.mining for truth in fleet.truths()}
    assert ran == [plan.pk]
    assert plan.status == CurtailmentStatus.EXECUTED
    assert plan.claimed_at == now + timedelta(seconds=1)
    assert plan.executed_at is not None
    assert plan.baseline_power_kw is not None
    assert plan.baseline_power_kw > Decimal("15")
    assert len(chosen) == 2
    assert {truths[m.ip] for m in chosen} == {False}
    assert sum(truths.values()) == 4
    assert set(plan.plan_miners.values_list("command_step", flat=True)) == {CurtailmentStep.ACKNOWLEDGED}
    assert [(op.miner_id, op.action, op.outcome) for op in _operations(plan)] == [
        (m.pk, MinerAction.STOP, "ok") for m in chosen
    ]
    assert set(Miner.objects.filter(pk__in=[m.pk for m in chosen]).values_list("status", flat=True)) == {
        MinerStatus.STOPPED
    }


@pytest.mark.django_db
def test_the_next_poll_shows_the_power_drop_and_verification_confirms_the_shed(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    _fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5")
    curtailment_execute_due(now=now + timedelta(seconds=1))
    telemetry_collect(site_id=site.pk, now=now + timedelta(seconds=60))

    results = curtailment_verify_site(site_id=site.pk, now=now + timedelta(seconds=61))

    plan.refresh_from_db()
    after = {row.miner_id: row.power_w or 0 for row in MinerLatest.objects.filter(miner__site=site)}
    rows = list(plan.plan_miners.all())
    assert [(r.plan_id, r.confirmed, r.concluded, r.top_up_round) for r in results] == [(plan.pk, 2, True, None)]
    assert all(0 < after[row.miner_id] < 50 for row in rows)  # asleep: the control board and fans only
    assert {row.command_step for row in rows} == {CurtailmentStep.CONFIRMED}
    assert all(row.confirmed_at == now + timedelta(seconds=60) for row in rows)
    assert plan.measured_shed_kw is not None
    assert plan.measured_shed_kw >= Decimal("5")
    # Per miner, before and after: the baseline at claim time minus the reading after the command.
    assert (
        plan.measured_shed_kw == Decimal(sum((row.baseline_power_w or 0) - after[row.miner_id] for row in rows)) / 1000
    )
    assert plan.measured_at == now + timedelta(seconds=61)
    assert "Target met." in plan.note


@pytest.mark.django_db
def test_an_executed_plan_publishes_one_event_and_emails_its_operators(
    braiins_hall: tuple[RunningFleet, Site, datetime], host_user: User
) -> None:
    _fleet, site, now = braiins_hall
    site.operators.add(host_user)
    plan = _plan(site, now, shed_kw="5")

    with_callbacks = curtailment_execute_due(now=now + timedelta(seconds=1))
    curtailment_execute_due(now=now + timedelta(seconds=2))  # a second run finds nothing left to do

    events = list(OutboxEvent.objects.filter(event_type="curtailment.executed"))
    assert with_callbacks == [plan.pk]
    assert len(events) == 1
    assert events[0].payload["plan_id"] == plan.pk
    assert (events[0].payload["acknowledged"], events[0].payload["failed"]) == (2, 0)
    assert len(_operations(plan)) == 2


@pytest.mark.django_db(transaction=True)
def test_the_operators_email_names_the_counts_and_the_planned_shed(
    emulated_fleet: FleetFactory, host_user: User, miner_catalogue: None
) -> None:
    now = timezone.now()
    fleet = emulated_fleet(count=6, seed=31, model_key=BRAIINS)
    site = _site(fleet, now)
    site.operators.add(host_user)
    plan = _plan(site, now, shed_kw="5")
    fleet.set_fault(_chosen(plan)[0].ip, Fault(FaultKind.HUNG))

    curtailment_execute_due(now=now + timedelta(seconds=1))

    [message] = mail.outbox
    assert message.to == [host_user.email]
    assert f"curtailment plan {plan.pk} executed, 1 of 2 miners, 1 failed" in message.subject
    assert "acknowledged: 1; failed: 1" in message.body
    assert f"Shed planned: {plan.planned_shed_kw:,.1f} kW" in message.body
    assert "read_timeout" in message.body


@pytest.mark.django_db
def test_a_hung_and_a_refusing_miner_fail_without_holding_up_the_plan_and_the_shortfall_is_topped_up(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5")
    hung, refusing = _chosen(plan)
    fleet.set_fault(hung.ip, Fault(FaultKind.HUNG))
    fleet.set_allow(refusing.ip, ["10.0.0.0/8"])  # takes the command and closes the line unanswered (Q17)

    curtailment_execute_due(now=now + timedelta(seconds=1))
    plan.refresh_from_db()
    failed = {row.miner_id: row for row in plan.plan_miners.all()}
    attempts = [op.outcome for op in _operations(plan)]
    telemetry_collect(site_id=site.pk, now=now + timedelta(seconds=60))
    [verified] = curtailment_verify_site(site_id=site.pk, now=now + timedelta(seconds=61))  # tops up, runs the round
    telemetry_collect(site_id=site.pk, now=now + timedelta(seconds=120))
    [concluded] = curtailment_verify_site(site_id=site.pk, now=now + timedelta(seconds=121))

    plan.refresh_from_db()
    topped = {row.miner_id: row for row in plan.plan_miners.filter(round=1)}
    truths = {truth.address: truth.mining for truth in fleet.truths()}
    assert plan.status == CurtailmentStatus.EXECUTED
    assert {row.command_step for row in failed.values()} == {CurtailmentStep.FAILED}
    assert (failed[hung.pk].command_attempts, failed[refusing.pk].command_attempts) == (2, 2)
    assert failed[hung.pk].command_error.startswith("read_timeout")
    assert failed[refusing.pk].command_error.startswith("empty")
    assert sorted(attempts) == ["empty", "empty", "read_timeout", "read_timeout"]
    assert (verified.top_up_round, verified.top_up_miners, verified.concluded) == (1, 2, False)
    assert verified.measured_shed_kw == Decimal("0.000")
    assert {row.command_step for row in topped.values()} == {CurtailmentStep.CONFIRMED}
    assert {truths[m.ip] for m in Miner.objects.filter(pk__in=topped)} == {False}
    assert truths[hung.ip]
    assert truths[refusing.ip]
    assert concluded.concluded
    assert concluded.measured_shed_kw is not None
    assert concluded.measured_shed_kw >= 5
    assert "round 1 adds 2 miners" in plan.note
    assert "Target met." in plan.note


@pytest.mark.django_db
def test_a_partial_plan_turns_whatsminers_down_to_a_power_target_and_recovery_restores_their_limit(
    emulated_fleet: FleetFactory, settings: Settings
) -> None:
    settings.MINER_CONTROL_READ_TIMEOUT_SECONDS = 5.0  # the privileged API's token exchange takes its time
    settings.MINER_CONTROL_DEADLINE_SECONDS = 10.0
    now = timezone.now()
    fleet = emulated_fleet(count=3, seed=33, model_key="whatsminer-m50")
    site = _site(fleet, now)
    plan = _plan(site, now, shed_kw="0.5", strategy="partial", hold_minutes=0)
    rows = list(plan.plan_miners.select_related("miner").order_by("pk"))

    curtailment_execute_due(now=now + timedelta(seconds=1))
    limited = [fleet.truth(row.miner.ip).power_limit_w for row in rows]
    curtailment_plan_recover_now(plan=plan, by=None, now=now + timedelta(seconds=2))
    curtailment_recover_due(now=now + timedelta(seconds=3))

    sent = [(op.miner_id, op.action, op.parameters["power_w"], op.outcome) for op in _operations(plan)]
    # The normal target: the rated draw, or what the miner drew before if that was more.
    normal = {row.miner_id: max(row.miner.nominal_power_w, row.baseline_power_w or 0) for row in rows}
    assert rows
    assert {row.action for row in rows} == {CurtailmentAction.POWER_TARGET}
    assert limited == [row.target_power_w for row in rows]
    assert sorted(sent) == sorted(
        [(row.miner_id, MinerAction.POWER_TARGET, row.target_power_w, "ok") for row in rows]
        + [(row.miner_id, MinerAction.POWER_TARGET, normal[row.miner_id], "ok") for row in rows]
    )
    assert [fleet.truth(row.miner.ip).power_limit_w for row in rows] == [normal[row.miner_id] for row in rows]


# ---------------------------------------------------------------- claiming


def _pending_plan(site: Site, now: datetime, **fields: object) -> CurtailmentPlan:
    values: dict[str, object] = {
        "site": site,
        "target_kind": "shed_kw",
        "target_value": Decimal("3"),
        "strategy": "optimal",
        "source": CurtailmentSource.PAGE,
        "scheduled_start": now,
        "recover_at": now + timedelta(hours=1),
        "ramp_kw_per_minute": Decimal("500"),
        "created_at": now,
    }
    values.update(fields)
    return CurtailmentPlan.objects.create(**values)


@pytest.mark.django_db(transaction=True)
def test_two_executors_at_once_on_their_own_connections_command_each_miner_once(
    emulated_fleet: FleetFactory, miner_catalogue: None
) -> None:
    now = timezone.now()
    fleet = emulated_fleet(count=8, seed=35, model_key=BRAIINS)
    site = _site(fleet, now)
    plans = [_plan(site, now, shed_kw="5") for _ in range(2)]
    start = threading.Barrier(2)
    ran: list[list[int]] = []

    def executor() -> None:
        try:
            start.wait()
            ran.append(curtailment_execute_due(now=now + timedelta(seconds=1)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=executor) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    stops = list(MinerOperation.objects.filter(action=MinerAction.STOP).values_list("miner_id", flat=True))
    planned = list(CurtailmentPlanMiner.objects.values_list("miner_id", flat=True))
    assert len(ran) == 2
    assert sorted(ran[0] + ran[1]) == sorted(p.pk for p in plans)  # each plan run by exactly one of them
    assert sorted(stops) == sorted(planned)  # and each miner commanded once
    assert len(planned) == 4
    assert set(CurtailmentPlan.objects.values_list("status", flat=True)) == {CurtailmentStatus.EXECUTED}
    assert OutboxEvent.objects.filter(event_type="curtailment.executed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_claim_passes_over_a_plan_another_executor_has_locked(site: Site) -> None:
    now = timezone.now()
    locked, free = _pending_plan(site, now), _pending_plan(site, now)
    other = connections.create_connection("default")
    other.set_autocommit(False)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM curtailment_plans WHERE id = %s FOR UPDATE", [locked.pk])
        first = curtailment_plans_claim(now=now)
    finally:
        other.rollback()
        other.close()
    second = curtailment_plans_claim(now=now)

    assert first == [free.pk]
    assert second == [locked.pk]
    assert CurtailmentPlan.objects.get(pk=locked.pk).status == CurtailmentStatus.EXECUTING


@pytest.mark.django_db
def test_a_plan_not_claimed_before_its_recovery_time_fails_and_sends_nothing(site: Site) -> None:
    now = timezone.now()
    plan = _pending_plan(site, now - timedelta(hours=2), recover_at=now - timedelta(minutes=1))

    ran = curtailment_execute_due(now=now)

    plan.refresh_from_db()
    assert ran == []
    assert plan.status == CurtailmentStatus.FAILED
    assert plan.finished_at == now
    assert "nothing was sent" in plan.note
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_a_plan_not_yet_due_is_left_pending(site: Site) -> None:
    now = timezone.now()
    plan = _pending_plan(site, now + timedelta(minutes=5), recover_at=now + timedelta(hours=1))

    claimed = curtailment_plans_claim(now=now)

    assert claimed == []
    assert CurtailmentPlan.objects.get(pk=plan.pk).status == CurtailmentStatus.PENDING


# ---------------------------------------------------------------- cancel and recover now


@pytest.mark.django_db
def test_a_cancelled_plan_is_never_claimed_and_its_miners_are_free_again(
    braiins_hall: tuple[RunningFleet, Site, datetime], host_user: User
) -> None:
    fleet, site, now = braiins_hall
    plan = _plan(site, now + timedelta(minutes=1), shed_kw="5")

    cancelled = curtailment_plan_cancel(plan=plan, by=host_user, now=now)
    ran = curtailment_execute_due(now=now + timedelta(minutes=2))

    assert cancelled.status == CurtailmentStatus.CANCELLED
    assert cancelled.finished_at == now
    assert f"Cancelled by {host_user.email}" in cancelled.note
    assert ran == []
    assert not MinerOperation.objects.exists()
    assert all(truth.mining for truth in fleet.truths())
    assert set(plan.plan_miners.values_list("command_step", flat=True)) == {CurtailmentStep.SKIPPED}


@pytest.mark.django_db
@pytest.mark.parametrize("status", [CurtailmentStatus.EXECUTING, CurtailmentStatus.RECOVERED])
def test_only_a_draft_or_pending_plan_can_be_cancelled(site: Site, status: str) -> None:
    now = timezone.now()
    plan = _pending_plan(site, now, status=status)

    with pytest.raises(InvalidInputError) as excinfo:
        curtailment_plan_cancel(plan=plan, by=None, now=now)

    assert "status" in excinfo.value.fields
    assert CurtailmentPlan.objects.get(pk=plan.pk).status == status


@pytest.mark.django_db
def test_recover_now_brings_the_recovery_time_forward_and_the_monitor_starts_the_miners(
    braiins_hall: tuple[RunningFleet, Site, datetime], host_user: User
) -> None:
    fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5", hold_minutes=0)
    curtailment_execute_due(now=now + timedelta(seconds=1))

    ended = curtailment_plan_recover_now(plan=plan, by=host_user, now=now + timedelta(seconds=5))
    [step] = curtailment_recover_due(now=now + timedelta(seconds=6))

    ended.refresh_from_db()
    assert ended.recover_at == now + timedelta(seconds=5)
    assert f"Recovery asked for now by {host_user.email}" in ended.note
    assert ended.status == CurtailmentStatus.RECOVERING
    assert (step.started, step.acknowledged) == (2, 2)
    assert all(truth.mining for truth in fleet.truths())


@pytest.mark.django_db
@pytest.mark.parametrize("status", [CurtailmentStatus.PENDING, CurtailmentStatus.CANCELLED])
def test_recover_now_refuses_a_plan_that_is_not_running(site: Site, status: str) -> None:
    now = timezone.now()
    plan = _pending_plan(site, now, status=status)

    with pytest.raises(InvalidInputError) as excinfo:
        curtailment_plan_recover_now(plan=plan, by=None, now=now)

    assert "status" in excinfo.value.fields
    assert CurtailmentPlan.objects.get(pk=plan.pk).recover_at == plan.recover_at


# ---------------------------------------------------------------- firmware limits, lost answers, tasks


@pytest.mark.django_db
def test_a_power_target_the_firmware_cannot_take_over_rpc_is_turned_into_a_sleep(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="0.5", strategy="partial")
    planned = list(plan.plan_miners.values_list("action", flat=True))
    # The planner no longer offers Braiins OS power targets; a row that holds one anyway (a plan stored
    # before, or a curve given by hand) must still shed.
    plan.plan_miners.update(action=CurtailmentAction.POWER_TARGET, target_power_w=2000)

    curtailment_execute_due(now=now + timedelta(seconds=1))

    rows = list(plan.plan_miners.select_related("miner"))
    sent = sorted((op.miner_id, op.action, op.outcome) for op in _operations(plan))
    assert set(planned) == {CurtailmentAction.OFF}
    assert {(row.action, row.command_step) for row in rows} == {(CurtailmentAction.OFF, CurtailmentStep.ACKNOWLEDGED)}
    assert all("sent to sleep instead" in row.command_error for row in rows)
    assert sent == sorted(
        [(row.miner_id, MinerAction.POWER_TARGET, "unsupported") for row in rows]
        + [(row.miner_id, MinerAction.STOP, "ok") for row in rows]
    )
    assert not any(fleet.truth(row.miner.ip).mining for row in rows)


@pytest.mark.django_db
def test_a_command_left_unanswered_by_a_lost_worker_is_acknowledged_from_a_reading_not_sent_again(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5")
    rows = list(plan.plan_miners.select_related("miner"))
    # What a worker killed between logging the command and hearing back leaves: the row sent, the log
    # row 'requested'. The miner did get the command.
    CurtailmentPlan.objects.filter(pk=plan.pk).update(status=CurtailmentStatus.EXECUTING, claimed_at=now)
    for row in rows:
        MinerOperation.objects.create(
            miner=row.miner,
            action=MinerAction.STOP,
            parameters={PLAN_KEY: plan.pk, "phase": "curtail", "attempt": 1},
            requested_at=now,
            outcome="requested",
        )
        fleet.sleep(row.miner.ip)
    plan.plan_miners.update(command_step=CurtailmentStep.SENT, command_attempts=1)

    ran = curtailment_execute_due(now=now + timedelta(seconds=30))

    plan.refresh_from_db()
    operations = _operations(plan)
    assert ran == [plan.pk]
    assert plan.status == CurtailmentStatus.EXECUTED
    assert set(plan.plan_miners.values_list("command_step", flat=True)) == {CurtailmentStep.ACKNOWLEDGED}
    assert len(operations) == 2  # nothing sent again
    assert {op.outcome for op in operations} == {"ok"}
    assert all("No answer was recorded before the worker stopped" in op.response for op in operations)


@pytest.mark.django_db
def test_a_collection_run_for_the_site_verifies_its_executed_plan(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    _fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5")
    curtailment_execute_due(now=timezone.now())  # the task stamps its readings with the real time

    telemetry_collect_site_task(site_id=site.pk)

    plan.refresh_from_db()
    assert plan.measured_at is not None
    assert plan.measured_shed_kw is not None
    assert plan.measured_shed_kw >= Decimal("5")
    assert set(plan.plan_miners.values_list("command_step", flat=True)) == {CurtailmentStep.CONFIRMED}


@pytest.mark.django_db
def test_the_executor_task_runs_due_plans_and_skips_while_another_run_holds_its_lock(
    braiins_hall: tuple[RunningFleet, Site, datetime],
) -> None:
    _fleet, site, now = braiins_hall
    plan = _plan(site, now, shed_kw="5")

    with job_lock("hosting.curtailment_execute_due", ttl_seconds=10):
        skipped = curtailment_execute_due_task()
    ran = curtailment_execute_due_task()

    assert skipped is None
    assert ran == {"plans": [plan.pk]}
    assert CurtailmentPlan.objects.get(pk=plan.pk).status == CurtailmentStatus.EXECUTED


def test_the_three_curtailment_jobs_run_every_minute() -> None:
    jobs = {job.name: job for job in declared_periodic_jobs()}

    assert {name: (jobs[name].task, jobs[name].every_seconds) for name in CURTAILMENT_JOBS} == {
        name: (name, 60) for name in CURTAILMENT_JOBS
    }
