"""The demo farm: one user per role, a hosting customer and a site. Idempotent by natural keys."""

from dataclasses import dataclass
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db import transaction

from crm.models import Customer
from hosting.emulator.spec import DEFAULT_BASE, build_fleet_spec
from hosting.models import Miner, Site
from hosting.services.fleet_register import fleet_register
from mining_platform.core.choices import STAFF_ROLES, Role
from mining_platform.core.models import User

DEMO_CUSTOMER = "Northwind Hashing Ltd"
DEMO_SITE = "Demo Farm, Texas"


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


@dataclass(frozen=True)
class DemoResult:
    logins: list[DemoLogin]
    customer: Customer
    site: Site
    created_users: int


@transaction.atomic(durable=True)
def demo_farm_load(*, password: str) -> DemoResult:
    """Create (or refresh) the demo users, customer and site; a second run adds no rows."""
    customer, _ = Customer.objects.update_or_create(
        name=DEMO_CUSTOMER,
        defaults={"billing_email": "billing@northwind.example", "contact_name": "Ada Northwind", "country": "US"},
    )
    site, _ = Site.objects.update_or_create(
        name=DEMO_SITE,
        defaults={
            "location": "Rockdale, Texas, USA",
            "time_zone": "America/Chicago",
            "power_capacity_kw": Decimal("1500"),
            "energy_price_usd_per_kwh": Decimal("0.045"),
            "max_temp_c": Decimal("85"),
        },
    )
    logins, created_users = [], 0
    for role in Role:
        email = f"{role.value}@demo.example"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User(email=email)
            created_users += 1
        user.role = role
        user.is_staff = role in STAFF_ROLES
        user.is_superuser = role == Role.OWNER
        user.customer = customer if role == Role.CLIENT else None
        user.first_name = role.label.split(" ")[0]
        user.set_password(password)
        user.full_clean()
        user.save()
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        logins.append(DemoLogin(role=role.value, email=email, password=password))
    return DemoResult(logins=logins, customer=customer, site=site, created_users=created_users)


@dataclass(frozen=True)
class DemoFleet:
    miners: int
    customer_miners: int
    first_address: str
    last_address: str


def demo_fleet_load(*, site: Site, customer: Customer, count: int, seed: int) -> DemoFleet:
    """Register the emulated fleet the demo's emulator serves at the demo site; every third miner is the
    demo customer's, so the client login has machines of its own. Idempotent like `fleet_register`."""
    spec = build_fleet_spec(count, seed, DEFAULT_BASE)
    fleet_register(spec=spec, site_name=site.name)
    customer_ips = [m.address for m in spec if m.index % 3 == 0]
    Miner.objects.filter(site=site, ip__in=customer_ips).update(customer=customer)
    return DemoFleet(
        miners=len(spec),
        customer_miners=len(customer_ips),
        first_address=spec.first_address,
        last_address=spec.last_address,
    )
