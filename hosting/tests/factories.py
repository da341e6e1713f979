from decimal import Decimal

import factory

from calculator.tests.factories import MinerModelFactory
from hosting.choices import Firmware
from hosting.models import Miner, Site


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")
    power_capacity_kw = Decimal("1000")
    energy_price_usd_per_kwh = Decimal("0.05")


class MinerFactory(factory.django.DjangoModelFactory[Miner]):
    class Meta:
        model = Miner

    site = factory.SubFactory(SiteFactory)
    miner_model = factory.SubFactory(MinerModelFactory)
    ip = factory.Sequence(lambda n: f"127.1.{n // 250}.{n % 250 + 1}")
    firmware = Firmware.ANTMINER_STOCK
    nominal_hashrate_ths = Decimal("110")
    nominal_power_w = 3250
