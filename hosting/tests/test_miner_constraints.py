import pytest
from django.db import IntegrityError

from hosting.models import Site
from hosting.tests.factories import MinerFactory, SiteFactory


@pytest.mark.django_db
def test_two_miners_cannot_share_an_address_and_port_at_one_site() -> None:
    site = SiteFactory.create()
    MinerFactory.create(site=site, ip="127.1.0.9", port=4028)

    with pytest.raises(IntegrityError, match="hosting_miners_site_ip_port_unique"):
        MinerFactory.create(site=site, ip="127.1.0.9", port=4028)


@pytest.mark.django_db
def test_the_same_address_may_exist_at_two_sites() -> None:
    MinerFactory.create(ip="10.0.0.5")

    MinerFactory.create(ip="10.0.0.5")

    assert Site.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"port": 70000}, "hosting_miners_port_valid"),
        ({"nominal_hashrate_ths": 0}, "hosting_miners_hashrate_positive"),
    ],
)
def test_miner_values_are_checked_by_the_database(fields: dict[str, object], constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint):
        MinerFactory.create(**fields)


@pytest.mark.django_db
def test_a_site_needs_a_positive_power_capacity() -> None:
    with pytest.raises(IntegrityError, match="hosting_sites_capacity_positive"):
        SiteFactory.create(power_capacity_kw=0)
