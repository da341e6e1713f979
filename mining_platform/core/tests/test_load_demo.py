from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from crm.models import Customer
from hosting.models import Miner, Site
from mining_platform.core.choices import Role
from mining_platform.core.models import User


def _load(*args: str) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_load_demo_creates_one_user_per_role_with_a_customer_and_a_site() -> None:
    output = _load("--password", "demo-pass-123")

    assert sorted(User.objects.values_list("role", flat=True)) == sorted(Role.values)
    client = User.objects.get(role=Role.CLIENT)
    assert client.customer == Customer.objects.get()
    assert Site.objects.count() == 1
    assert EmailAddress.objects.filter(verified=True).count() == 4
    assert all(User.objects.get(role=r).check_password("demo-pass-123") for r in Role.values)
    assert "client@demo.example" in output
    assert "demo-pass-123" in output


@pytest.mark.django_db
def test_load_demo_twice_adds_no_rows() -> None:
    _load()
    counts = (User.objects.count(), Customer.objects.count(), Site.objects.count(), EmailAddress.objects.count())

    output = _load()

    assert (
        User.objects.count(),
        Customer.objects.count(),
        Site.objects.count(),
        EmailAddress.objects.count(),
    ) == counts
    assert "0 new user(s)" in output


@pytest.mark.django_db
def test_load_demo_rejects_a_short_password_naming_the_option() -> None:
    with pytest.raises(CommandError, match="--password"):
        _load("--password", "short")

    assert not User.objects.exists()


@pytest.mark.django_db
def test_demo_staff_reach_the_back_office_and_clients_do_not() -> None:
    _load("--password", "demo-pass-123")

    statuses = {}
    for role in Role.values:
        browser = Client()
        assert browser.login(email=f"{role}@demo.example", password="demo-pass-123")
        statuses[role] = browser.get("/admin/").status_code

    assert statuses == {"owner": 200, "admin": 200, "host": 403, "client": 403}


@pytest.mark.django_db
def test_load_demo_registers_the_emulated_fleet_with_a_share_for_the_demo_customer() -> None:
    _load()
    miners = Miner.objects.filter(site=Site.objects.get())
    first = (miners.count(), miners.filter(customer=Customer.objects.get()).count())

    _load()

    assert first == (settings.DEMO_FLEET_SIZE, -(-settings.DEMO_FLEET_SIZE // 3))
    assert (miners.count(), miners.filter(customer__isnull=False).count()) == first
    assert set(miners.values_list("firmware", flat=True)) == {"antminer_stock", "braiins_os", "whatsminer", "avalon"}
