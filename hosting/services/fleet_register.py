"""Registering an emulated fleet: the site and one Miner row per emulated miner, safe to run again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from calculator.models import MinerModel
from hosting.choices import Firmware
from hosting.emulator.catalog import ModelSpec
from hosting.emulator.catalog import Personality as EmulatedFirmware
from hosting.emulator.spec import RPC_PORT, FleetSpec
from hosting.models import Miner, Site
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

FIRMWARE_OF: dict[EmulatedFirmware, Firmware] = {
    EmulatedFirmware.ANTMINER_STOCK: Firmware.ANTMINER_STOCK,
    EmulatedFirmware.ANTMINER_LEGACY: Firmware.ANTMINER_STOCK,
    EmulatedFirmware.BRAIINS: Firmware.BRAIINS_OS,
    EmulatedFirmware.WHATSMINER: Firmware.WHATSMINER,
    EmulatedFirmware.AVALON: Firmware.AVALON,
}
MINERS_PER_RACK = 40
_BATCH = 2_000


@dataclass(frozen=True)
class FleetRegistration:
    site_id: int
    site_created: bool
    created: int
    updated: int


def catalogue_name(model: ModelSpec) -> str:
    """The calculator's name for an emulated model: the maker's marketing name ("Whatsminer M50")."""
    if model.make == "MicroBT":
        return f"Whatsminer {model.name}"
    if model.make == "Canaan":
        return f"AvalonMiner {model.name.removeprefix('Avalon A')}"
    return model.name


def _catalogue(spec: FleetSpec) -> dict[str, MinerModel]:
    """Emulated model key -> calculator row; every model of the fleet must be in the calculator."""
    wanted = {m.model_key: m.model for m in spec}
    rows = {
        (row.make, row.model): row
        for row in MinerModel.objects.filter(
            make__in={m.make for m in wanted.values()}, model__in={catalogue_name(m) for m in wanted.values()}
        )
    }
    found = {key: rows.get((model.make, catalogue_name(model))) for key, model in wanted.items()}
    missing = sorted(f"{wanted[key].make} {catalogue_name(wanted[key])}" for key, row in found.items() if row is None)
    if missing:
        raise InvalidInputError(
            "Some emulated models are not in the miner model catalogue.", fields={"models": missing}
        )
    return {key: row for key, row in found.items() if row is not None}


@transaction.atomic(durable=True)
def fleet_register(
    *,
    spec: FleetSpec,
    site_name: str,
    location: str = "Emulated fleet (loopback)",
    energy_price_usd_per_kwh: Decimal = Decimal("0.05"),
) -> FleetRegistration:
    """Create (or bring up to date) the site and its Miner rows; running it twice changes nothing more."""
    catalogue = _catalogue(spec)
    nominal_kw = Decimal(sum(m.model.nominal_w for m in spec)) / 1000
    site, site_created = Site.objects.get_or_create(
        name=site_name,
        defaults={
            "location": location,
            # Headroom over the fleet's nameplate draw, so curtailment plans start from a feasible site.
            "power_capacity_kw": (nominal_kw * Decimal("1.2")).quantize(Decimal("0.01")),
            "energy_price_usd_per_kwh": energy_price_usd_per_kwh,
        },
    )
    existing = set(Miner.objects.filter(site=site, port=RPC_PORT).values_list("ip", flat=True))
    rows = [
        Miner(
            site=site,
            miner_model=catalogue[m.model_key],
            rack=f"R{m.index // MINERS_PER_RACK + 1:03d}",
            position=f"{m.index % MINERS_PER_RACK + 1:02d}",
            ip=m.address,
            port=RPC_PORT,
            firmware=FIRMWARE_OF[m.personality],
            serial=m.serial,
            nominal_hashrate_ths=Decimal(str(m.model.nominal_ths)),
            nominal_power_w=m.model.nominal_w,
        )
        for m in spec
    ]
    # Generated values only, and the table's constraints guard them: a bulk upsert rather than
    # full_clean() per row, which would take seconds for a 10,000-miner fleet.
    Miner.objects.bulk_create(
        rows,
        batch_size=_BATCH,
        update_conflicts=True,
        unique_fields=["site", "ip", "port"],
        update_fields=[
            "miner_model",
            "rack",
            "position",
            "firmware",
            "serial",
            "nominal_hashrate_ths",
            "nominal_power_w",
        ],
    )
    created = sum(1 for m in spec if m.address not in existing)
    logger.info(
        "registered emulated fleet at site %s: %d new miners, %d updated", site.name, created, len(rows) - created
    )
    return FleetRegistration(site_id=site.pk, site_created=site_created, created=created, updated=len(rows) - created)
