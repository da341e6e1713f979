"""Miner control against the fleet emulator on real loopback sockets, one firmware personality at a time."""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings

from calculator.tests.factories import MinerModelFactory
from hosting.choices import MinerAction, MinerStatus
from hosting.emulator.catalog import MODELS
from hosting.emulator.clock import ManualClock
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.spec import single_model_fleet
from hosting.emulator.testing import RunningFleet, fleet_base_address
from hosting.models import Miner, MinerOperation
from hosting.services.fleet_register import FIRMWARE_OF
from hosting.services.miner_control import REQUESTED, miner_command
from hosting.tests.conftest import FleetFactory
from hosting.tests.factories import MinerFactory
from mining_platform.core.errors import InvalidInputError, PermissionDeniedError
from mining_platform.core.models import User

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

Started = tuple[RunningFleet, ManualClock, Miner]


def register(address: str, model_key: str) -> Miner:
    """A Miner row for an emulated miner, as the fleet registration would write it."""
    model = MODELS[model_key]
    return MinerFactory.create(
        ip=address,
        port=4028,
        firmware=FIRMWARE_OF[model.personality],
        miner_model=MinerModelFactory.create(
            make=model.make, model=model.name, hashrate_ths=Decimal(str(model.nominal_ths)), power_w=model.nominal_w
        ),
        nominal_hashrate_ths=Decimal(str(model.nominal_ths)),
        nominal_power_w=model.nominal_w,
        status=MinerStatus.ONLINE,
    )


@pytest.fixture
def clocked_miner() -> Iterator[Callable[[str], Started]]:
    """One emulated miner of a model (web CGI on), on a clock the test moves, registered in the database."""
    fleets: list[RunningFleet] = []

    def start(model_key: str) -> Started:
        clock = ManualClock()
        fleet = RunningFleet(single_model_fleet(model_key, 1, 7, fleet_base_address()), http=True, clock=clock)
        fleets.append(fleet)
        return fleet, clock, register(fleet.addresses[0], model_key)

    yield start
    for fleet in fleets:
        fleet.stop()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model_key", "answer_mark"),
    [
        ("antminer-s19-pro", '"bitmain-work-mode": "1"'),  # web CGI through pyasic, read back
        ("braiins-s19j-pro", '"Msg":"Pause"'),  # RPC pause
        ("whatsminer-m50", '"Msg": "API command OK"'),  # encrypted API v2 through pyasic
        ("avalon-a1566", "success softoff"),  # ascset softoff
    ],
)
def test_miner_command_stop_puts_each_firmware_to_sleep_and_start_wakes_it(
    clocked_miner: Callable[[str], Started], host_user: User, model_key: str, answer_mark: str
) -> None:
    fleet, clock, miner = clocked_miner(model_key)
    address, standby_w = miner.ip, MODELS[model_key].standby_w

    stopped = miner_command(miner_id=miner.pk, action=MinerAction.STOP, parameters={}, requested_by=host_user, now=NOW)
    asleep = fleet.truth(address)
    miner.refresh_from_db()
    status_after_stop = miner.status
    started = miner_command(miner_id=miner.pk, action=MinerAction.START, parameters={}, requested_by=host_user, now=NOW)
    clock.advance(120)  # past the wake-up ramp (quirks.md Q20)
    awake = fleet.truth(address)
    miner.refresh_from_db()

    assert (stopped.outcome, stopped.requested_by, stopped.finished_at is not None) == ("ok", host_user, True)
    assert answer_mark in stopped.response
    assert not asleep.mining
    assert asleep.power_w == pytest.approx(standby_w, abs=1.0)
    assert status_after_stop == MinerStatus.STOPPED
    assert started.outcome == "ok"
    assert awake.mining
    assert awake.power_w > 0.5 * MODELS[model_key].nominal_w
    assert miner.status == MinerStatus.ONLINE


@pytest.mark.django_db
def test_miner_command_power_target_limits_a_whatsminer(clocked_miner: Callable[[str], Started]) -> None:
    fleet, clock, miner = clocked_miner("whatsminer-m50")

    operation = miner_command(miner_id=miner.pk, action=MinerAction.POWER_TARGET, parameters={"power_w": 2500}, now=NOW)
    clock.advance(300)
    truth = fleet.truth(miner.ip)

    assert (operation.outcome, operation.parameters) == ("ok", {"power_w": 2500})
    assert truth.power_limit_w == 2500
    assert truth.power_w == pytest.approx(2500, rel=0.03)  # the unit's own spread around the limit


@pytest.mark.django_db
def test_miner_command_reboot_restarts_an_avalon(clocked_miner: Callable[[str], Started]) -> None:
    fleet, clock, miner = clocked_miner("avalon-a1566")
    clock.advance(600)
    uptime_before = fleet.truth(miner.ip).uptime_s

    operation = miner_command(miner_id=miner.pk, action=MinerAction.REBOOT, parameters={}, now=NOW)

    assert operation.outcome == "ok"
    assert '"Msg":"ASC 0 set OK"' in operation.response
    assert fleet.truth(miner.ip).uptime_s < uptime_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model_key", "action"),
    [("braiins-s19j-pro", MinerAction.REBOOT), ("antminer-s19-pro", MinerAction.POWER_TARGET)],
)
def test_miner_command_records_an_action_the_firmware_lacks_as_unsupported(
    clocked_miner: Callable[[str], Started], model_key: str, action: str
) -> None:
    fleet, _clock, miner = clocked_miner(model_key)

    operation = miner_command(miner_id=miner.pk, action=action, parameters={"power_w": 2000}, now=NOW)
    miner.refresh_from_db()

    assert operation.outcome == "unsupported"
    assert "cannot" in operation.response
    assert fleet.truth(miner.ip).mining
    assert miner.status == MinerStatus.ONLINE


@pytest.mark.django_db
def test_miner_command_to_an_offline_miner_records_refused_and_keeps_its_status(
    emulated_fleet: FleetFactory,
) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s19j-pro")
    miner = register(fleet.addresses[0], "braiins-s19j-pro")
    fleet.set_fault(miner.ip, Fault(FaultKind.OFFLINE))

    operation = miner_command(miner_id=miner.pk, action=MinerAction.STOP, parameters={}, now=NOW)
    miner.refresh_from_db()

    assert operation.outcome == "refused"
    assert operation.finished_at is not None
    assert miner.status == MinerStatus.ONLINE


@pytest.mark.django_db
def test_miner_command_to_a_hung_whatsminer_records_read_timeout(
    emulated_fleet: FleetFactory, settings: Settings
) -> None:
    settings.MINER_CONTROL_READ_TIMEOUT_SECONDS = 0.5
    fleet = emulated_fleet(count=1, model_key="whatsminer-m50")
    miner = register(fleet.addresses[0], "whatsminer-m50")
    fleet.set_fault(miner.ip, Fault(FaultKind.HUNG))

    operation = miner_command(miner_id=miner.pk, action=MinerAction.STOP, parameters={}, now=NOW)

    assert operation.outcome == "read_timeout"
    assert fleet.truth(miner.ip).mining


@pytest.mark.django_db(transaction=True)
def test_miner_command_commits_the_requested_row_before_it_talks_to_the_miner(
    emulated_fleet: FleetFactory, settings: Settings
) -> None:
    settings.MINER_CONTROL_READ_TIMEOUT_SECONDS = 3.0
    fleet = emulated_fleet(count=1, model_key="avalon-a1566")
    miner = register(fleet.addresses[0], "avalon-a1566")
    fleet.set_fault(miner.ip, Fault(FaultKind.HUNG))
    worker = threading.Thread(
        target=miner_command, kwargs={"miner_id": miner.pk, "action": "stop", "parameters": {}, "now": NOW}
    )

    worker.start()
    seen_while_waiting = None
    while worker.is_alive() and seen_while_waiting is None:
        seen_while_waiting = MinerOperation.objects.filter(miner=miner).values_list("outcome", flat=True).first()
        time.sleep(0.02)
    worker.join()

    # Another connection saw the row while the miner was still silent: no transaction spans the I/O.
    assert seen_while_waiting == REQUESTED
    assert MinerOperation.objects.get(miner=miner).outcome == "read_timeout"


@pytest.mark.django_db
def test_miner_command_stop_leaves_a_miner_in_maintenance_in_maintenance(
    clocked_miner: Callable[[str], Started],
) -> None:
    _fleet, _clock, miner = clocked_miner("braiins-s19j-pro")
    Miner.objects.filter(pk=miner.pk).update(status=MinerStatus.MAINTENANCE)

    operation = miner_command(miner_id=miner.pk, action=MinerAction.STOP, parameters={}, now=NOW)
    miner.refresh_from_db()

    assert operation.outcome == "ok"
    assert miner.status == MinerStatus.MAINTENANCE


@pytest.mark.django_db
def test_miner_command_refuses_a_client_and_writes_nothing(client_user: User) -> None:
    miner = MinerFactory.create(customer=client_user.customer)

    with pytest.raises(PermissionDeniedError):
        miner_command(miner_id=miner.pk, action=MinerAction.STOP, parameters={}, requested_by=client_user, now=NOW)

    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "parameters", "field"),
    [
        ("explode", {}, "action"),
        (MinerAction.POWER_TARGET, {}, "power_w"),
        (MinerAction.POWER_TARGET, {"power_w": 50}, "power_w"),
        (MinerAction.POWER_TARGET, {"power_w": "lots"}, "power_w"),
    ],
)
def test_miner_command_rejects_bad_input_naming_the_field(
    action: str, parameters: dict[str, object], field: str
) -> None:
    miner = MinerFactory.create()

    with pytest.raises(InvalidInputError) as excinfo:
        miner_command(miner_id=miner.pk, action=action, parameters=parameters, now=NOW)

    assert field in excinfo.value.fields
    assert not MinerOperation.objects.exists()
