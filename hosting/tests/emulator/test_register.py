"""Registering an emulated fleet in the database: one site, one Miner row per emulated miner."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from calculator.models import MinerModel
from hosting.choices import Firmware
from hosting.emulator.catalog import MODELS
from hosting.emulator.spec import FleetSpec, build_fleet_spec, single_model_fleet
from hosting.models import Miner, Site
from hosting.services.fleet_register import fleet_register
from mining_platform.core.errors import InvalidInputError

pytestmark = pytest.mark.django_db


def test_register_creates_site_and_miners_matching_the_spec() -> None:
    spec = build_fleet_spec(60, 4, "127.1.0.1")
    result = fleet_register(spec=spec, site_name="Emulated A")
    assert (result.site_created, result.created, result.updated) == (True, 60, 0)
    site = Site.objects.get(pk=result.site_id)
    miners = {m.ip: m for m in Miner.objects.filter(site=site).select_related("miner_model")}
    assert set(miners) == {m.address for m in spec}
    for emulated in spec:
        row = miners[emulated.address]
        assert row.port == 4028
        assert row.serial == emulated.serial
        assert row.nominal_power_w == emulated.model.nominal_w
        assert row.miner_model.make == emulated.model.make
    firmware = {m.address: miners[m.address].firmware for m in spec}
    kinds = {m.personality.value: firmware[m.address] for m in spec}
    assert kinds == {
        "antminer_stock": Firmware.ANTMINER_STOCK,
        "antminer_legacy": Firmware.ANTMINER_STOCK,
        "braiins": Firmware.BRAIINS_OS,
        "whatsminer": Firmware.WHATSMINER,
        "avalon": Firmware.AVALON,
    }


def test_register_twice_changes_nothing_more() -> None:
    spec = build_fleet_spec(25, 2, "127.1.0.1")
    fleet_register(spec=spec, site_name="Emulated B")
    again = fleet_register(spec=spec, site_name="Emulated B")
    assert (again.site_created, again.created, again.updated) == (False, 0, 25)
    assert Site.objects.filter(name="Emulated B").count() == 1
    assert Miner.objects.filter(site_id=again.site_id).count() == 25


def test_every_emulated_model_is_in_the_calculator_catalogue() -> None:
    miners = tuple(single_model_fleet(key, 1, 1, f"127.1.{n}.1").miners[0] for n, key in enumerate(MODELS))
    result = fleet_register(spec=FleetSpec(seed=1, miners=miners), site_name="Emulated C")
    rows = Miner.objects.filter(site_id=result.site_id).select_related("miner_model")
    assert {(r.miner_model.make, r.miner_model.model) for r in rows} == {
        ("Bitmain", "Antminer S19 Pro"), ("Bitmain", "Antminer S19j Pro"), ("Bitmain", "Antminer S19 XP"),
        ("Bitmain", "Antminer S21"), ("Bitmain", "Antminer S9"), ("Bitmain", "Antminer S17 Pro"),
        ("MicroBT", "Whatsminer M30S++"), ("MicroBT", "Whatsminer M50"), ("MicroBT", "Whatsminer M30S"),
        ("Canaan", "AvalonMiner 1246"), ("Canaan", "AvalonMiner 1566"),
    }  # fmt: skip
    assert rows.count() == len(MODELS)


def test_register_refuses_a_model_the_catalogue_lacks() -> None:
    MinerModel.objects.filter(make="Canaan", model="AvalonMiner 1246").delete()
    spec = single_model_fleet("avalon-a1246", 2, 1, "127.1.0.1")
    with pytest.raises(InvalidInputError) as caught:
        fleet_register(spec=spec, site_name="Emulated D")
    assert caught.value.fields == {"models": ["Canaan AvalonMiner 1246"]}
    assert not Site.objects.filter(name="Emulated D").exists()


def test_management_command_registers_the_fleet_the_emulator_serves() -> None:
    out = StringIO()
    call_command("emulator_register", "--count", "12", "--seed", "3", "--site", "Demo emulated", stdout=out)
    assert "12 miners added" in out.getvalue()
    ips = set(Miner.objects.filter(site__name="Demo emulated").values_list("ip", flat=True))
    assert ips == {m.address for m in build_fleet_spec(12, 3)}
