from decimal import Decimal

import factory

from hosting.models import Site


class SiteFactory(factory.django.DjangoModelFactory[Site]):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")
    power_capacity_kw = Decimal("1000")
    energy_price_usd_per_kwh = Decimal("0.05")
