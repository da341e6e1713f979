"""Collection runs against the fleet emulator on real sockets: readings, faults, statuses, storage."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from chain.models import OutboxEvent
from hosting.choices import MinerStatus, PollOutcome
from hosting.emulator.faults import Fault, FaultKind
from hosting.emulator.testing import RunningFleet
from hosting.models import Miner, MinerLatest, MinerTelemetry, Site
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect, telemetry_collect_shards

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FleetFactory = Callable[..., RunningFleet]

FAST_TIMEOUTS = {
    "TELEMETRY_CONNECT_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_READ_TIMEOUT_SECONDS": 1.0,
    "TELEMETRY_POLL_CONCURRENCY": 50,
}


def _register(fleet: RunningFleet, name: str = "Emulated hall") -> Site:
    return Site.objects.get(pk=fleet_register(spec=fleet.spec, site_name=name).site_id)


def _miner(site: Site, address: str) -> Miner:
    return Miner.objects.get(site=site, ip=address)


@pytest.mark.django_db
@override_settings(**FAST_TIMEOUTS)
def test_every_personality_is_read_as_the_emulator_knows_it(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=40, seed=7)
    site = _register(fleet)

    result = telemetry_collect(site_id=site.pk, now=NOW)

    assert result.outcomes == {PollOutcome.OK: 40}
    firmwares_seen = set()
    for address in fleet.addresses:
        miner = _miner(site, address)
        truth = fleet.truth(address)
        row = MinerTelemetry.objects.get(miner_id=miner.pk, recorded_at=NOW)
        firmwares_seen.add(miner.firmware)
        assert row.hashrate_ths == pytest.approx(truth.hashrate_ths, rel=0.08), (address, truth.personality)
        # Firmwares report their own sensors (outlet PCB, hottest module), somewhere from board to chip.
        assert row.board_temp_max_c is not None
        assert max(truth.board_temps_c) - 1.5 <= row.board_temp_max_c <= max(truth.chip_temps_c) + 1.5, address
        assert row.fan_rpm_max == pytest.approx(max(truth.fans_rpm), rel=0.05), (address, truth.personality)
        if miner.firmware == "antminer_stock":
            assert row.power_w is None  # stock Antminer firmware has no power figure over RPC
        else:
            assert row.power_w == pytest.approx(truth.power_w, rel=0.02), (address, truth.personality)
        assert row.is_sleeping is False
        assert miner.status == MinerStatus.ONLINE
    assert firmwares_seen == {"antminer_stock", "braiins_os", "whatsminer", "avalon"}
    assert MinerLatest.objects.filter(miner__site=site, recorded_at=NOW).count() == 40


@pytest.mark.django_db
@override_settings(**FAST_TIMEOUTS)
def test_faulty_miners_get_their_own_outcome_and_the_rest_are_read(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=12, seed=3)
    site = _register(fleet)
    hung, garbage, offline, cut = fleet.addresses[:4]
    fleet.set_fault(hung, Fault(FaultKind.HUNG))
    fleet.set_fault(garbage, Fault(FaultKind.GARBAGE))
    fleet.set_fault(offline, Fault(FaultKind.OFFLINE))
    fleet.set_fault(cut, Fault(FaultKind.TRUNCATED))

    result = telemetry_collect(site_id=site.pk, now=NOW)

    outcomes = {
        address: MinerTelemetry.objects.get(miner_id=_miner(site, address).pk, recorded_at=NOW).outcome
        for address in fleet.addresses
    }
    assert outcomes[hung] == PollOutcome.READ_TIMEOUT
    assert outcomes[garbage] == PollOutcome.GARBAGE
    assert outcomes[offline] == PollOutcome.REFUSED
    assert outcomes[cut] == PollOutcome.TRUNCATED
    assert [outcomes[a] for a in fleet.addresses[4:]] == [PollOutcome.OK] * 8
    # One hung miner costs its own read timeout, not one per miner: the run stays near one timeout.
    assert result.poll_seconds < 2 * FAST_TIMEOUTS["TELEMETRY_READ_TIMEOUT_SECONDS"] + 1


@pytest.mark.django_db
@override_settings(**FAST_TIMEOUTS)
def test_a_miner_goes_offline_after_the_sites_failure_count_and_back_online_on_the_first_good_poll(
    emulated_fleet: FleetFactory,
) -> None:
    fleet = emulated_fleet(count=2, seed=5)
    site = _register(fleet)
    site.offline_after_failures = 2
    site.save()
    address = fleet.addresses[0]
    fleet.set_fault(address, Fault(FaultKind.OFFLINE))

    statuses = []
    for minute in range(3):
        if minute == 2:
            fleet.clear_fault(address)
        telemetry_collect(site_id=site.pk, now=NOW + timedelta(minutes=minute))
        statuses.append(_miner(site, address).status)

    assert statuses == [MinerStatus.UNKNOWN, MinerStatus.OFFLINE, MinerStatus.ONLINE]
    miner_id = _miner(site, address).pk
    assert [e.event_type for e in OutboxEvent.objects.filter(aggregate_id=str(miner_id)).order_by("pk")] == [
        "miner.offline",
        "miner.online",
    ]


@pytest.mark.django_db
@override_settings(**FAST_TIMEOUTS)
def test_a_sleeping_miner_is_stored_as_sleeping_and_marked_stopped(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, seed=9, model_key="braiins-s19j-pro")
    site = _register(fleet)
    address = fleet.addresses[0]
    fleet.sleep(address)

    telemetry_collect(site_id=site.pk, now=NOW)

    row = MinerTelemetry.objects.get(miner_id=_miner(site, address).pk, recorded_at=NOW)
    assert row.is_sleeping is True
    assert row.hashrate_ths == 0
    assert _miner(site, address).status == MinerStatus.STOPPED


@pytest.mark.django_db
@override_settings(**FAST_TIMEOUTS)
def test_shards_split_a_site_and_together_cover_every_miner_once(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=9, seed=11)
    site = _register(fleet)

    shards = [s for s in telemetry_collect_shards(shard_size=4) if s.site_id == site.pk]
    for part in shards:
        telemetry_collect(site_id=site.pk, now=NOW, shard=part.shard, shards=part.shards)

    assert [(s.shard, s.shards) for s in shards] == [(0, 3), (1, 3), (2, 3)]
    assert MinerTelemetry.objects.filter(site_id=site.pk, recorded_at=NOW).count() == 9


@pytest.mark.django_db
@override_settings(**FAST_TIMEOUTS)
def test_maintenance_and_disabled_miners_are_not_polled(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=3, seed=13)
    site = _register(fleet)
    parked, disabled, polled = (_miner(site, a) for a in fleet.addresses)
    Miner.objects.filter(pk=parked.pk).update(status=MinerStatus.MAINTENANCE)
    Miner.objects.filter(pk=disabled.pk).update(cgminer_enabled=False)

    result = telemetry_collect(site_id=site.pk, now=NOW)

    assert result.miners == 1
    assert list(MinerTelemetry.objects.filter(site_id=site.pk).values_list("miner_id", flat=True)) == [polled.pk]
