"""Seed the catalogue with current and past SHA-256 models, nominal figures from the makers' specifications."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import migrations

# (make, model, TH/s, W, release month or None where the maker's date is not pinned down here)
MODELS = [
    ("Bitmain", "Antminer S9", "13.5", 1323, date(2016, 6, 1)),
    ("Bitmain", "Antminer S17 Pro", "53", 2094, date(2019, 4, 1)),
    ("Bitmain", "Antminer T17", "40", 2200, None),
    ("Bitmain", "Antminer S19", "95", 3250, date(2020, 5, 1)),
    ("Bitmain", "Antminer S19 Pro", "110", 3250, date(2020, 5, 1)),
    ("Bitmain", "Antminer S19j Pro", "104", 3068, None),
    ("Bitmain", "Antminer S19 XP", "140", 3010, date(2022, 7, 1)),
    ("Bitmain", "Antminer S21", "200", 3500, None),
    ("Bitmain", "Antminer S21 Pro", "234", 3510, None),
    ("Bitmain", "Antminer S21 XP", "270", 3645, None),
    ("MicroBT", "Whatsminer M20S", "68", 3360, None),
    ("MicroBT", "Whatsminer M30S", "88", 3344, None),
    ("MicroBT", "Whatsminer M30S+", "100", 3400, None),
    ("MicroBT", "Whatsminer M30S++", "112", 3472, None),
    ("MicroBT", "Whatsminer M50", "118", 3304, None),
    ("MicroBT", "Whatsminer M50S", "126", 3276, None),
    ("MicroBT", "Whatsminer M60S", "186", 3441, None),
    ("Canaan", "AvalonMiner 1047", "37", 2380, None),
    ("Canaan", "AvalonMiner 1246", "90", 3420, None),
    ("Canaan", "AvalonMiner 1346", "110", 3300, None),
    ("Canaan", "AvalonMiner 1366", "130", 3250, None),
    ("Canaan", "AvalonMiner 1566", "185", 3420, None),
]


def seed(apps, schema_editor):
    MinerModel = apps.get_model("calculator", "MinerModel")
    for make, model, ths, watts, released in MODELS:
        hashrate = Decimal(ths)
        MinerModel.objects.update_or_create(
            make=make,
            model=model,
            defaults={
                "hashrate_ths": hashrate,
                "power_w": watts,
                "efficiency_j_per_th": (Decimal(watts) / hashrate).quantize(Decimal("0.01"), ROUND_HALF_UP),
                "released_on": released,
                "source": "maker's published specification (nominal)",
            },
        )


def unseed(apps, schema_editor):
    MinerModel = apps.get_model("calculator", "MinerModel")
    for make, model, *_ in MODELS:
        MinerModel.objects.filter(make=make, model=model).delete()


class Migration(migrations.Migration):
    dependencies = [("calculator", "0001_miner_models")]

    operations = [migrations.RunPython(seed, unseed)]
