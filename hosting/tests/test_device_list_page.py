import pytest
from django.test import Client

from hosting.choices import MinerStatus
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.models import User


def _as(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.mark.django_db
def test_device_list_shows_miners_with_status_counts_and_filters(
    host_user: User, django_assert_max_num_queries: object
) -> None:
    site = SiteFactory.create(name="North hall")
    MinerFactory.create(site=site, ip="127.1.0.1", status=MinerStatus.ONLINE, rack="A1")
    MinerFactory.create(site=site, ip="127.1.0.2", status=MinerStatus.OFFLINE, rack="A2")
    browser = _as(host_user)

    with django_assert_max_num_queries(12):  # type: ignore[operator]
        everything = browser.get("/hosting/host/devices")
    offline = browser.get("/hosting/host/devices?status=offline")

    assert everything.status_code == 200
    assert everything.context["status_counts"]["online"] == 1
    assert [m.ip for m in everything.context["page"].object_list] == ["127.1.0.1", "127.1.0.2"]
    assert [m.ip for m in offline.context["page"].object_list] == ["127.1.0.2"]


@pytest.mark.django_db
def test_device_list_explains_an_empty_result(host_user: User) -> None:
    response = _as(host_user).get("/hosting/host/devices?ip=10.99.")

    assert "No miners match" in response.text
