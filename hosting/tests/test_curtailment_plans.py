"""Curtailment plans made from a site's miners as stored: eligibility, the plan rows, and bad requests."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from crm.tests.factories import CustomerFactory
from hosting.choices import CurtailmentAction, CurtailmentSource, CurtailmentStatus, Firmware, MinerStatus
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, Miner, MinerLatest, Site
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create, curtailment_preview
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User

pytestmark = pytest.mark.django_db


def _miner(site: Site, *, power_w: int, hashrate: float, age_s: float = 30, **fields: object) -> Miner:
    miner = MinerFactory.create(site=site, status=fields.pop("status", MinerStatus.ONLINE), **fields)
    MinerLatest.objects.create(
        miner=miner,
        recorded_at=timezone.now() - timedelta(seconds=age_s),
        outcome="ok",
        hashrate_ths=hashrate,
        power_w=power_w,
        chip_temp_max_c=70.0,
        is_sleeping=False,
    )
    return miner


def _request(site: Site, **changes: object) -> CurtailmentRequest:
    now = timezone.now()
    values: dict[str, object] = {
        "site": site,
        "target_kind": "shed_kw",
        "target_value": Decimal("7"),
        "strategy": "optimal",
        "starts_at": now,
        "recover_at": now + timedelta(hours=2),
        "source": CurtailmentSource.PAGE,
    }
    values.update(changes)
    return CurtailmentRequest(**values)  # type: ignore[arg-type]  # built from known keys


def test_plan_sheds_the_target_losing_the_least_hashrate_and_stores_every_miner() -> None:
    site = SiteFactory.create()
    # Three 3.5 kW miners: two at 100 TH/s, one at 50 TH/s (the least efficient); and a 3 kW one at 140 TH/s.
    weak = _miner(site, power_w=3500, hashrate=50.0)
    middling = [_miner(site, power_w=3500, hashrate=100.0) for _ in range(2)]
    strong = _miner(site, power_w=3000, hashrate=140.0)

    plan = curtailment_plan_create(request=_request(site), now=timezone.now())

    # 7 kW: the weak miner and one 100 TH/s miner (7.0 kW, 150 TH/s) beat any pair with the strong one.
    chosen = set(plan.plan_miners.values_list("miner_id", flat=True))
    assert weak.pk in chosen
    assert strong.pk not in chosen
    assert len(chosen & {m.pk for m in middling}) == 1
    assert plan.status == CurtailmentStatus.PENDING
    assert plan.planned_shed_kw == Decimal("7.000")
    assert plan.planned_hashrate_lost_ths == Decimal("150.000")
    rows = plan.plan_miners.all()
    assert {row.action for row in rows} == {CurtailmentAction.OFF}
    assert {row.baseline_power_w for row in rows} == {3500}


def test_only_fresh_online_miners_are_planned_and_the_rest_are_named_in_the_note() -> None:
    site = SiteFactory.create()
    fresh = _miner(site, power_w=3000, hashrate=100.0)
    _miner(site, power_w=3000, hashrate=100.0, age_s=900)  # stale
    _miner(site, power_w=3000, hashrate=100.0, status=MinerStatus.OFFLINE)
    _miner(site, power_w=3000, hashrate=100.0, status=MinerStatus.MAINTENANCE)

    plan = curtailment_plan_create(request=_request(site, target_value=Decimal("5")), now=timezone.now())

    assert list(plan.plan_miners.values_list("miner_id", flat=True)) == [fresh.pk]
    assert "short of the target" in plan.note
    assert "1 maintenance" in plan.note
    assert "1 offline" in plan.note
    assert "1 stale" in plan.note


def test_a_miner_held_by_an_active_plan_is_not_planned_again() -> None:
    site = SiteFactory.create()
    miners = [_miner(site, power_w=3000, hashrate=100.0) for _ in range(4)]
    first = curtailment_plan_create(request=_request(site, target_value=Decimal("6")), now=timezone.now())

    second = curtailment_plan_create(request=_request(site, target_value=Decimal("6")), now=timezone.now())

    first_ids = set(first.plan_miners.values_list("miner_id", flat=True))
    second_ids = set(second.plan_miners.values_list("miner_id", flat=True))
    assert len(first_ids) == len(second_ids) == 2
    assert first_ids.isdisjoint(second_ids)
    assert first_ids | second_ids == {m.pk for m in miners}


def test_customer_aware_plan_curtails_the_lower_priority_customer_first() -> None:
    site = SiteFactory.create()
    first_off = CustomerFactory.create(curtailment_priority=10)
    protected = CustomerFactory.create(curtailment_priority=200)
    # The protected customer's miners are the least efficient; priority still wins.
    cheap = [_miner(site, power_w=3000, hashrate=120.0, customer=first_off) for _ in range(2)]
    [_miner(site, power_w=3000, hashrate=60.0, customer=protected) for _ in range(2)]

    plan = curtailment_plan_create(
        request=_request(site, strategy="customer_aware", target_value=Decimal("6")), now=timezone.now()
    )

    assert set(plan.plan_miners.values_list("miner_id", flat=True)) == {m.pk for m in cheap}


def test_preview_shows_every_strategy_and_stores_nothing() -> None:
    site = SiteFactory.create()
    for hashrate in (50.0, 90.0, 100.0, 140.0):
        _miner(site, power_w=3300, hashrate=hashrate, firmware=Firmware.BRAIINS_OS)

    preview = curtailment_preview(site=site, target_kind="shed_kw", target_value=Decimal("5"), now=timezone.now())

    assert {result.strategy.value for result in preview.results} == {
        "performance_priority",
        "optimal",
        "partial",
        "customer_aware",
    }
    assert all(result.shed_w >= 5000 for result in preview.results)
    assert CurtailmentPlan.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_value": Decimal("0")}, "target_value"),
        ({"target_kind": "gigawatts"}, "target_kind"),
        ({"strategy": "random"}, "strategy"),
        ({"recover_at": timezone.now() - timedelta(hours=1)}, "recover_at"),
        ({"starts_at": timezone.now() - timedelta(days=1)}, "starts_at"),
    ],
)
def test_a_bad_request_names_its_field_and_stores_nothing(changes: dict[str, object], field: str) -> None:
    site = SiteFactory.create()
    _miner(site, power_w=3000, hashrate=100.0)

    with pytest.raises(InvalidInputError) as excinfo:
        curtailment_plan_create(request=_request(site, **changes), now=timezone.now())

    assert field in excinfo.value.fields
    assert CurtailmentPlan.objects.count() == 0
    assert CurtailmentPlanMiner.objects.count() == 0


def test_admin_shows_a_plan_with_its_miners_read_only(owner_user: User) -> None:
    site = SiteFactory.create()
    miner = _miner(site, power_w=3000, hashrate=100.0)
    plan = curtailment_plan_create(request=_request(site, target_value=Decimal("2")), now=timezone.now())
    client = Client()
    client.force_login(owner_user)

    listing = client.get("/admin/hosting/curtailmentplan/")
    change = client.get(f"/admin/hosting/curtailmentplan/{plan.pk}/change/")

    assert listing.status_code == 200
    assert f"/admin/hosting/curtailmentplan/{plan.pk}/change/" in listing.content.decode()
    assert change.status_code == 200
    assert str(miner) in change.content.decode()  # the inline lists the plan's miner
    assert 'name="target_value"' not in change.content.decode()  # shown, not editable
    assert client.get("/admin/hosting/curtailmentplan/add/").status_code == 403
