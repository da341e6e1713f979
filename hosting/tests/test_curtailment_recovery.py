"""Recovery on the fleet emulator: the hold, the ramp, most efficient first, confirmation and bounded retries.

The clock the services see is passed in (`now`), so a test walks through twenty minutes of recovery in
seconds; the emulated miners run on real time and are woken for real over their sockets.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from pytest_django.fixtures import Settings

from chain.models import OutboxEvent
from hosting.choices import CurtailmentSource, CurtailmentStatus, CurtailmentStep, MinerAction, MinerStatus
from hosting.emulator.clock import ManualClock
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.spec import single_model_fleet
from hosting.emulator.testing import RunningFleet, fleet_base_address
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, Miner, MinerOperation, Site
from hosting.services.curtailment_commands import PLAN_KEY
from hosting.services.curtailment_execution import curtailment_execute_due
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create
from hosting.services.curtailment_recovery import curtailment_recover_due
from hosting.services.curtailment_verify import curtailment_verify_site
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect
from mining_platform.core.models import User

BRAIINS = "braiins-s19j-pro"
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _fast(settings: Settings) -> None:
    settings.MINER_CONTROL_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.MINER_CONTROL_READ_TIMEOUT_SECONDS = 0.5
    settings.MINER_CONTROL_DEADLINE_SECONDS = 3.0
    settings.TELEMETRY_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.TELEMETRY_READ_TIMEOUT_SECONDS = 0.5
    settings.CURTAILMENT_RETRY_BACKOFF_SECONDS = 0.05
    settings.CURTAILMENT_COMMAND_ATTEMPTS = 2


class Hall:
    """An emulated fleet whose clock the test moves together with the `now` it gives the services."""

    def __init__(self, count: int, seed: int) -> None:
        self.start = timezone.now().replace(microsecond=0)
        self.clock = ManualClock(start=self.start.timestamp())
        spec = single_model_fleet(BRAIINS, count, seed, fleet_base_address())
        self.fleet = RunningFleet(spec, clock=self.clock)

    def at(self, offset: timedelta) -> datetime:
        """Move the miners' clock to start + offset and return that moment for the services."""
        moment = self.start + offset
        self.clock.set(moment.timestamp())
        return moment


@pytest.fixture
def hall() -> Iterator[Callable[[int, int], Hall]]:
    halls: list[Hall] = []

    def start(count: int, seed: int) -> Hall:
        halls.append(Hall(count, seed))
        return halls[-1]

    yield start
    for started in halls:
        started.fleet.stop()


def _executed_plan(hall: Hall, *, shed_kw: str, hold_minutes: int, ramp_kw: str) -> tuple[Site, CurtailmentPlan]:
    """The hall as a site, polled at its start, with a plan executed a second later that recovers at +1 min."""
    fleet = hall.fleet
    site = Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name=f"Hall {fleet.addresses[0]}").site_id)
    now = hall.at(timedelta(0))
    telemetry_collect(site_id=site.pk, now=now)
    request = CurtailmentRequest(
        site=site,
        target_kind="shed_kw",
        target_value=Decimal(shed_kw),
        strategy="optimal",
        starts_at=now,
        recover_at=now + MINUTE,
        source=CurtailmentSource.PAGE,
        hold_minutes=hold_minutes,
        ramp_kw_per_minute=Decimal(ramp_kw),
    )
    plan = curtailment_plan_create(request=request, now=now)
    curtailment_execute_due(now=hall.at(timedelta(seconds=1)))
    plan.refresh_from_db()
    return site, plan


def _starts(plan: CurtailmentPlan) -> list[MinerOperation]:
    return list(
        MinerOperation.objects.filter(action=MinerAction.START, **{f"parameters__{PLAN_KEY}": plan.pk}).order_by(
            "requested_at", "pk"
        )
    )


def _joules_per_th(row: CurtailmentPlanMiner) -> float:
    return (row.baseline_power_w or 0) / (row.baseline_hashrate_ths or 1)


@pytest.mark.django_db
def test_recovery_waits_out_the_hold_then_starts_the_most_efficient_first_within_the_ramp(
    hall: Callable[[int, int], Hall],
) -> None:
    farm = hall(8, 41)
    # Six miners of about 3.1 kW each off; a 7 kW ramp lets two of them back a minute.
    _site, plan = _executed_plan(farm, shed_kw="17", hold_minutes=10, ramp_kw="7")
    rows = {row.miner_id: row for row in plan.plan_miners.all()}
    hold_ends = timedelta(minutes=10, seconds=2)

    held = curtailment_recover_due(now=farm.at(2 * MINUTE))
    steps = [curtailment_recover_due(now=farm.at(hold_ends + k * MINUTE)) for k in range(4)]

    plan.refresh_from_db()
    starts = _starts(plan)
    minute_of = {op.pk: int((op.requested_at - farm.start - hold_ends).total_seconds() // 60) for op in starts}
    per_minute_w: Counter[int] = Counter()
    for op in starts:
        per_minute_w[minute_of[op.pk]] += abs(rows[op.miner_id].planned_power_change_w)
    efficiency = [_joules_per_th(rows[op.miner_id]) for op in starts]
    assert len(rows) == 6
    assert [(r.status, r.started, r.waiting) for r in held] == [(CurtailmentStatus.RECOVERING, 0, 6)]
    assert [[(r.started, r.waiting) for r in step] for step in steps] == [[(2, 4)], [(2, 2)], [(2, 0)], [(0, 0)]]
    assert Counter(minute_of.values()) == {0: 2, 1: 2, 2: 2}
    assert max(per_minute_w.values()) <= 7000
    assert efficiency == sorted(efficiency)
    assert all(truth.mining for truth in farm.fleet.truths())
    assert plan.recovery_started_at is not None
    assert timedelta(0) <= plan.recovery_started_at - farm.at(2 * MINUTE) < timedelta(seconds=5)


@pytest.mark.django_db
def test_started_miners_are_confirmed_by_telemetry_and_the_plan_ends_recovered(
    hall: Callable[[int, int], Hall], host_user: User, django_capture_on_commit_callbacks: object
) -> None:
    farm = hall(4, 43)
    site, plan = _executed_plan(farm, shed_kw="5", hold_minutes=0, ramp_kw="500")
    site.operators.add(host_user)
    curtailment_recover_due(now=farm.at(2 * MINUTE))
    telemetry_collect(site_id=site.pk, now=farm.at(3 * MINUTE))

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]  # the e-mail goes on commit
        curtailment_verify_site(site_id=site.pk, now=farm.at(3 * MINUTE))

    plan.refresh_from_db()
    rows = list(plan.plan_miners.all())
    event = OutboxEvent.objects.get(event_type="curtailment.recovered")
    assert plan.status == CurtailmentStatus.RECOVERED
    assert plan.finished_at == farm.at(3 * MINUTE)
    assert {row.recovery_step for row in rows} == {CurtailmentStep.CONFIRMED}
    assert {row.recovered_at for row in rows} == {farm.at(3 * MINUTE)}
    assert set(Miner.objects.filter(site=site).values_list("status", flat=True)) == {MinerStatus.ONLINE}
    assert (event.payload["plan_id"], event.payload["confirmed"], event.payload["failed"]) == (plan.pk, 2, 0)
    assert "Recovered: 2 miners back" in plan.note
    assert [m.subject for m in mail.outbox] == [
        f"[Mining Operations Platform] {site.name}: curtailment plan {plan.pk} recovered"
    ]


@pytest.mark.django_db
def test_a_miner_that_will_not_come_back_is_retried_then_failed_and_the_operators_are_told(
    hall: Callable[[int, int], Hall], host_user: User, django_capture_on_commit_callbacks: object
) -> None:
    farm = hall(4, 45)
    site, plan = _executed_plan(farm, shed_kw="5", hold_minutes=0, ramp_kw="500")
    site.operators.add(host_user)
    stuck, fine = [row.miner for row in plan.plan_miners.select_related("miner").order_by("pk")]
    farm.fleet.set_fault(stuck.ip, Fault(FaultKind.HUNG))

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        curtailment_recover_due(now=farm.at(2 * MINUTE))
        telemetry_collect(site_id=site.pk, now=farm.at(3 * MINUTE))
        curtailment_verify_site(site_id=site.pk, now=farm.at(3 * MINUTE))

    plan.refresh_from_db()
    rows = {row.miner_id: row for row in plan.plan_miners.all()}
    outcomes = [op.outcome for op in _starts(plan) if op.miner_id == stuck.pk]
    assert plan.status == CurtailmentStatus.FAILED
    assert (rows[stuck.pk].recovery_step, rows[stuck.pk].recovery_attempts) == (CurtailmentStep.FAILED, 2)
    assert rows[stuck.pk].recovery_error.startswith("read_timeout")
    assert rows[fine.pk].recovery_step == CurtailmentStep.CONFIRMED
    assert outcomes == ["read_timeout", "read_timeout"]
    assert farm.fleet.truth(fine.ip).mining
    assert "1 could not be brought back" in plan.note
    [message] = [m for m in mail.outbox if "did not come back" in m.subject]
    assert f"curtailment plan {plan.pk}: 1 miners did not come back" in message.subject
    assert str(stuck) in message.body


@pytest.mark.django_db
def test_a_started_miner_that_telemetry_shows_still_asleep_is_started_again(
    hall: Callable[[int, int], Hall],
) -> None:
    farm = hall(4, 47)
    site, plan = _executed_plan(farm, shed_kw="5", hold_minutes=0, ramp_kw="500")
    first = plan.plan_miners.select_related("miner").order_by("pk").first()
    assert first is not None
    curtailment_recover_due(now=farm.at(2 * MINUTE))
    farm.fleet.sleep(first.miner.ip)  # it went back to sleep behind the platform's back
    telemetry_collect(site_id=site.pk, now=farm.at(3 * MINUTE))

    curtailment_verify_site(site_id=site.pk, now=farm.at(3 * MINUTE))
    retry = curtailment_recover_due(now=farm.at(3 * MINUTE + timedelta(seconds=5)))

    first.refresh_from_db()
    assert [r.started for r in retry] == [1]
    assert first.recovery_attempts == 2
    assert first.recovery_step == CurtailmentStep.ACKNOWLEDGED
    assert farm.fleet.truth(first.miner.ip).mining
    assert len([op for op in _starts(plan) if op.miner_id == first.miner_id]) == 2
