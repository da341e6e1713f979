"""Identifying miners with pyasic against the fleet emulator on real loopback sockets.

Each miner starts with a deliberately wrong row (LuxOS firmware, an AvalonMiner 1047, no serial), so a
passing test shows the row was corrected from what the miner itself said.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from pytest_django import DjangoCaptureOnCommitCallbacks

from calculator.models import MinerModel
from hosting.choices import Firmware, MinerAction
from hosting.emulator.faults import Fault, FaultKind
from hosting.models import Miner, MinerOperation, Site
from hosting.services.miner_control import control_parameters_clean
from hosting.services.miner_identify import IdentifyOutcome, miner_identify
from hosting.tasks import miner_identify_task
from hosting.tests.conftest import FleetFactory
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.errors import InvalidInputError, NotFoundError
from mining_platform.core.models import User

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WRONG_FIRMWARE = Firmware.LUXOS  # no emulated personality runs LuxOS


@dataclass(frozen=True)
class Case:
    model_key: str
    make: str  # the catalogue's names
    model: str
    firmware: Firmware
    raw: tuple[str, str, str]  # pyasic's make, model and firmware strings
    gives_serial: bool  # pyasic reads a serial from stock Antminer web and Whatsminer RPC only


CASES = [
    Case(
        "antminer-s19-pro",
        "Bitmain",
        "Antminer S19 Pro",
        Firmware.ANTMINER_STOCK,
        ("AntMiner", "S19 Pro", "Stock"),
        True,
    ),
    Case("braiins-s17-pro", "Bitmain", "Antminer S17 Pro", Firmware.BRAIINS_OS, ("AntMiner", "S17 Pro", "BOS+"), False),
    # BOSer: pyasic reads its details over gRPC (port 50051), which the emulator does not serve.
    Case(
        "braiins-s19j-pro", "Bitmain", "Antminer S19j Pro", Firmware.BRAIINS_OS, ("AntMiner", "S19j Pro", "BOS+"), False
    ),
    Case(
        "whatsminer-m30s-pp",
        "MicroBT",
        "Whatsminer M30S++",
        Firmware.WHATSMINER,
        ("WhatsMiner", "M30S++ VH40", "Stock"),
        True,
    ),
    Case("avalon-a1566", "Canaan", "AvalonMiner 1566", Firmware.AVALON, ("AvalonMiner", "Avalon 1566", "Stock"), False),
]


def _wrong_model() -> MinerModel:
    return MinerModel.objects.get(make="Canaan", model="AvalonMiner 1047")


def _misregistered(address: str, *, site: Site | None = None, serial: str = "") -> Miner:
    """A row for an emulated miner with the wrong firmware, model and nominal figures."""
    return MinerFactory.create(
        site=site or SiteFactory.create(),
        ip=address,
        port=4028,
        firmware=WRONG_FIRMWARE,
        miner_model=_wrong_model(),
        serial=serial,
        nominal_hashrate_ths=Decimal("37"),
        nominal_power_w=2380,
    )


def _row(miner: Miner) -> tuple[object, ...]:
    miner.refresh_from_db()
    return miner.firmware, miner.miner_model_id, miner.serial, miner.nominal_hashrate_ths, miner.nominal_power_w


def _as(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[c.model_key for c in CASES])
def test_miner_identify_corrects_a_misregistered_row_for_each_personality(
    emulated_fleet: FleetFactory, host_user: User, case: Case
) -> None:
    fleet = emulated_fleet(count=1, model_key=case.model_key, http=True)
    [spec] = fleet.spec
    miner = _misregistered(spec.address)
    catalogue = MinerModel.objects.get(make=case.make, model=case.model)

    result = miner_identify(miner_id=miner.pk, requested_by=host_user, now=NOW)

    miner.refresh_from_db()
    operation = MinerOperation.objects.get(miner=miner)
    answer = json.loads(operation.response)
    assert result.outcome == IdentifyOutcome.OK
    assert (miner.firmware, miner.miner_model_id) == (case.firmware, catalogue.pk)
    assert (miner.nominal_hashrate_ths, miner.nominal_power_w) == (catalogue.hashrate_ths, catalogue.power_w)
    assert miner.serial == (spec.serial if case.gives_serial else "")
    assert (operation.action, operation.outcome, operation.requested_by) == (MinerAction.IDENTIFY, "ok", host_user)
    assert operation.requested_at == NOW
    assert operation.finished_at is not None
    assert operation.finished_at >= NOW
    assert (answer["raw_make"], answer["raw_model"], answer["raw_firmware"]) == case.raw
    assert (answer["make"], answer["model"], answer["firmware"]) == (case.make, case.model, case.firmware)


@pytest.mark.django_db
def test_miner_identify_reads_the_mac_and_hostname_a_stock_antminer_gives(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-pro", http=True)
    [spec] = fleet.spec
    miner = _misregistered(spec.address)

    result = miner_identify(miner_id=miner.pk, now=NOW)

    assert result.identity is not None
    assert result.identity.mac is not None
    assert result.identity.mac.lower() == spec.mac.lower()
    assert result.identity.hostname == spec.hostname


@pytest.mark.django_db
def test_miner_identify_keeps_a_serial_someone_typed_in(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m30s-pp", http=True)
    miner = _misregistered(fleet.addresses[0], serial="TYPED-BY-HAND")

    result = miner_identify(miner_id=miner.pk, now=NOW)

    miner.refresh_from_db()
    assert result.outcome == IdentifyOutcome.OK
    assert result.identity is not None
    assert result.identity.serial == fleet.spec.miners[0].serial
    assert miner.serial == "TYPED-BY-HAND"
    assert "serial" not in result.changed


@pytest.mark.django_db
def test_miner_identify_records_not_found_and_leaves_the_row_when_the_miner_refuses(
    emulated_fleet: FleetFactory,
) -> None:
    # A Whatsminer has no web interface here, so with its RPC port closed nothing answers at all.
    fleet = emulated_fleet(count=1, model_key="whatsminer-m30s-pp", http=True)
    miner = _misregistered(fleet.addresses[0])
    before = _row(miner)
    fleet.set_fault(miner.ip, Fault(FaultKind.OFFLINE))

    result = miner_identify(miner_id=miner.pk, now=NOW)

    operation = MinerOperation.objects.get(miner=miner)
    assert (result.outcome, result.changed, result.identity) == (IdentifyOutcome.NOT_FOUND, (), None)
    assert _row(miner) == before
    assert (operation.action, operation.outcome) == (MinerAction.IDENTIFY, "not_found")
    assert miner.ip in operation.response


@pytest.mark.django_db
def test_miner_identify_recognises_a_stock_antminer_by_its_web_interface_while_its_rpc_is_down(
    emulated_fleet: FleetFactory,
) -> None:
    fleet = emulated_fleet(count=1, model_key="antminer-s19-pro", http=True)
    miner = _misregistered(fleet.addresses[0])
    fleet.set_fault(miner.ip, Fault(FaultKind.OFFLINE))  # bmminer restarting: RPC refused, web up

    result = miner_identify(miner_id=miner.pk, now=NOW)

    miner.refresh_from_db()
    assert result.outcome == IdentifyOutcome.OK
    assert (miner.firmware, str(miner.miner_model)) == (Firmware.ANTMINER_STOCK, "Bitmain Antminer S19 Pro")


@pytest.mark.django_db
def test_miner_identify_leaves_the_model_of_a_miner_the_catalogue_lacks(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m50", http=True)
    miner = _misregistered(fleet.addresses[0])
    MinerModel.objects.filter(make="MicroBT", model="Whatsminer M50").delete()

    result = miner_identify(miner_id=miner.pk, now=NOW)

    miner.refresh_from_db()
    operation = MinerOperation.objects.get(miner=miner)
    assert result.outcome == IdentifyOutcome.UNKNOWN_MODEL
    assert "Whatsminer M50 is not in the miner model catalogue" in result.message
    assert miner.firmware == Firmware.WHATSMINER  # what was recognised is still corrected
    assert (miner.miner_model_id, miner.nominal_power_w) == (_wrong_model().pk, 2380)
    assert operation.outcome == "unknown_model"
    assert json.loads(operation.response)["raw_model"] == "M50 VH50"


@pytest.mark.django_db
def test_miner_identify_refuses_an_unknown_miner_id() -> None:
    with pytest.raises(NotFoundError):
        miner_identify(miner_id=987_654, now=NOW)

    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_miner_identify_task_answers_nothing_for_a_deleted_miner_and_does_not_raise() -> None:
    assert miner_identify_task.delay(miner_id=987_654).get() == {}


def test_control_refuses_identify_as_a_command() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        control_parameters_clean(action=MinerAction.IDENTIFY, parameters={})

    assert "action" in excinfo.value.fields


# ---------------------------------------------------------------- back office and command


@pytest.mark.django_db
def test_admin_add_queues_identification_which_corrects_the_new_miner(
    emulated_fleet: FleetFactory,
    owner_user: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    fleet = emulated_fleet(count=1, model_key="whatsminer-m30s-pp", http=True)
    site = SiteFactory.create()
    form = {
        "site": site.pk,
        "miner_model": _wrong_model().pk,
        "ip": fleet.addresses[0],
        "port": 4028,
        "firmware": WRONG_FIRMWARE,
        "serial": "",
        "rack": "R1",
        "position": "01",
        "cgminer_enabled": "on",
        "nominal_hashrate_ths": "37",
        "nominal_power_w": "2380",
        "_save": "Save",
    }

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _as(owner_user).post("/admin/hosting/miner/add/", form)
        identified_before_commit = MinerOperation.objects.exists()

    miner = Miner.objects.get(site=site, ip=fleet.addresses[0])
    operation = MinerOperation.objects.get(miner=miner)
    assert response.status_code == 302
    assert len(callbacks) >= 1
    assert not identified_before_commit
    assert (miner.firmware, str(miner.miner_model)) == (Firmware.WHATSMINER, "MicroBT Whatsminer M30S++")
    assert (miner.nominal_hashrate_ths, miner.nominal_power_w) == (Decimal("112.00"), 3472)
    assert miner.serial == fleet.spec.miners[0].serial
    assert (operation.action, operation.outcome, operation.requested_by) == (MinerAction.IDENTIFY, "ok", owner_user)


@pytest.mark.django_db
def test_admin_identify_action_reports_each_miner(emulated_fleet: FleetFactory, owner_user: User) -> None:
    fleet = emulated_fleet(count=2, model_key="avalon-a1566", http=True)
    site = SiteFactory.create()
    answering, refusing = (_misregistered(address, site=site) for address in fleet.addresses)
    fleet.set_fault(refusing.ip, Fault(FaultKind.OFFLINE))

    response = _as(owner_user).post(
        "/admin/hosting/miner/",
        {"action": "identify_miners", "_selected_action": [answering.pk, refusing.pk]},
        follow=True,
    )

    shown = [str(m) for m in response.context["messages"]]
    answering.refresh_from_db()
    assert shown[0] == "Identified 2 miner(s) with pyasic: 1 ok, 1 not found, 0 unknown model, 0 invalid."
    assert any(line.startswith(f"{answering}: ok — pyasic found AvalonMiner Avalon 1566") for line in shown[1:])
    assert any(line.startswith(f"{refusing}: not_found — No miner") for line in shown[1:])
    assert str(answering.miner_model) == "Canaan AvalonMiner 1566"
    assert sorted(MinerOperation.objects.filter(requested_by=owner_user).values_list("outcome", flat=True)) == [
        "not_found",
        "ok",
    ]


@pytest.mark.django_db
def test_identify_miners_command_dry_run_reports_and_writes_nothing(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=1, model_key="braiins-s17-pro", http=True)
    miner = _misregistered(fleet.addresses[0])
    before = _row(miner)
    out = StringIO()

    call_command("identify_miners", "--site", miner.site.name, "--dry-run", stdout=out)

    assert "fields to correct: firmware, miner_model, nominal_hashrate_ths, nominal_power_w" in out.getvalue()
    assert "1 miner(s) would be identified (dry run, nothing written): 1 ok" in out.getvalue()
    assert _row(miner) == before
    assert not MinerOperation.objects.exists()


@pytest.mark.django_db
def test_identify_miners_command_corrects_every_miner_of_the_site(emulated_fleet: FleetFactory) -> None:
    fleet = emulated_fleet(count=2, model_key="braiins-s17-pro", http=True)
    site = SiteFactory.create()
    miners = [_misregistered(address, site=site) for address in fleet.addresses]
    out = StringIO()

    call_command("identify_miners", "--site", site.name, stdout=out)

    assert f"Site {site.name!r}: 2 miner(s) identified: 2 ok" in out.getvalue()
    assert [_row(m)[0] for m in miners] == [Firmware.BRAIINS_OS, Firmware.BRAIINS_OS]
    assert MinerOperation.objects.filter(miner__site=site, action=MinerAction.IDENTIFY, outcome="ok").count() == 2
