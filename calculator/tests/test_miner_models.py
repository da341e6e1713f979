from decimal import Decimal

import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from calculator.models import MinerModel


@pytest.mark.django_db
def test_catalogue_is_seeded_with_models_of_each_major_maker() -> None:
    makes = set(MinerModel.objects.values_list("make", flat=True))

    assert {"Bitmain", "MicroBT", "Canaan"} <= makes
    s19 = MinerModel.objects.get(model="Antminer S19 Pro")
    assert (s19.hashrate_ths, s19.power_w) == (Decimal("110.00"), 3250)


@pytest.mark.django_db
def test_catalogue_efficiency_is_power_over_hashrate() -> None:
    for row in MinerModel.objects.all():
        assert abs(row.efficiency_j_per_th - Decimal(row.power_w) / row.hashrate_ths) < Decimal("0.01"), row


@pytest.mark.django_db
def test_catalogue_refuses_a_non_positive_hashrate_in_the_database() -> None:
    with pytest.raises(IntegrityError, match="miner_models_hashrate_positive"):
        MinerModel.objects.create(make="X", model="Zero", hashrate_ths=0, power_w=1, efficiency_j_per_th=1)


@pytest.mark.django_db
def test_anyone_can_list_the_catalogue_filtered_by_make() -> None:
    response = APIClient().get("/api/v1/calculator/miner-models/?make=Canaan&limit=100")

    rows = response.json()["results"]
    assert response.status_code == 200
    assert rows
    assert {row["make"] for row in rows} == {"Canaan"}
