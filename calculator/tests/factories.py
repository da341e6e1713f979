from decimal import Decimal

import factory

from calculator.models import MinerModel


class MinerModelFactory(factory.django.DjangoModelFactory[MinerModel]):
    """Gets or creates a catalogue row (transactional tests flush the seeded catalogue)."""

    class Meta:
        model = MinerModel
        django_get_or_create = ("make", "model")

    make = "Bitmain"
    model = "Antminer S19 Pro"
    hashrate_ths = Decimal("110")
    power_w = 3250
    efficiency_j_per_th = Decimal("29.55")
