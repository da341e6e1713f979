"""The client dashboard and the miner page: who may open which, what each shows, and the month's
figures (uptime, energy and its cost, the BTC estimate) on known telemetry and network data."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from analytics.models import DifficultyAdjustment, NetworkStats
from analytics.selectors import REPLAY_SOURCE
from crm.models import Customer
from crm.tests.factories import CustomerFactory
from hosting.choices import AlertKind, MinerAction, MinerStatus
from hosting.models import Alert, Miner, MinerLatest, MinerOperation, Site, TelemetryRollup
from hosting.page_selectors_client import client_figures
from hosting.services.telemetry_ingest import telemetry_store
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.models import User
from mining_platform.core.tests.factories import UserFactory

DASHBOARD = "/hosting/client/dashboard"
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _as(user: User | None) -> Client:
    browser = Client()
    if user is not None:
        browser.force_login(user)
    return browser


def _miner_page(miner: Miner) -> str:
    return f"/hosting/miners/{miner.pk}"


@dataclass(frozen=True)
class Farm:
    north: Site
    south: Site
    acme: Customer
    ridge: Customer
    a: Miner  # acme at North
    b: Miner  # acme at South
    d: Miner  # ridge at North
    acme_user: User


@pytest.fixture
def farm() -> Farm:
    north = SiteFactory.create(name="North Farm", energy_price_usd_per_kwh=Decimal("0.05"))
    south = SiteFactory.create(name="South Hall", energy_price_usd_per_kwh=Decimal("0.04"))
    acme = CustomerFactory.create(name="Acme Hashing")
    ridge = CustomerFactory.create(name="Blue Ridge")
    common = {"status": MinerStatus.ONLINE, "nominal_hashrate_ths": Decimal("110")}
    a = MinerFactory.create(site=north, customer=acme, rack="A1", position="01", nominal_power_w=3000, **common)
    b = MinerFactory.create(site=south, customer=acme, rack="S1", position="07", nominal_power_w=3200, **common)
    d = MinerFactory.create(site=north, customer=ridge, rack="R9", position="99", nominal_power_w=3400, **common)
    for miner, ths in ((a, 101.5), (b, 99.0), (d, 123.4)):
        MinerLatest.objects.create(
            miner=miner, recorded_at=NOW, outcome="ok", hashrate_ths=ths, power_w=3100, chip_temp_max_c=71.0
        )
    return Farm(
        north=north,
        south=south,
        acme=acme,
        ridge=ridge,
        a=a,
        b=b,
        d=d,
        acme_user=UserFactory.create(role=Role.CLIENT, customer=acme),
    )


# ---------------------------------------------------------------- who may open what


def test_client_dashboard_sends_anonymous_visitors_to_sign_in(farm: Farm) -> None:
    response = _as(None).get(DASHBOARD)

    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_client_dashboard_shows_a_client_only_their_own_miners(farm: Farm) -> None:
    response = _as(farm.acme_user).get(DASHBOARD)

    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-miner-id="{farm.a.pk}"' in page
    assert f'data-miner-id="{farm.b.pk}"' in page
    assert f'data-miner-id="{farm.d.pk}"' not in page
    assert "R9/99" not in page
    assert "123.4" not in page
    assert f'data-customer-id="{farm.acme.pk}"' in page
    assert "data-operator-view" not in page


def test_client_dashboard_refuses_a_client_another_customers_dashboard(farm: Farm) -> None:
    response = _as(farm.acme_user).get(DASHBOARD, {"customer": farm.ridge.pk})

    assert response.status_code == 403
    assert "R9/99" not in response.content.decode()


def test_client_dashboard_tells_a_client_account_without_a_customer_what_is_missing(farm: Farm) -> None:
    stray = UserFactory.create(role=Role.CLIENT, customer=None)

    response = _as(stray).get(DASHBOARD)
    asked = _as(stray).get(DASHBOARD, {"customer": farm.acme.pk})

    assert response.status_code == 200
    assert 'data-empty="unlinked"' in response.content.decode()
    assert "A1/01" not in response.content.decode()
    assert asked.status_code == 403


def test_client_dashboard_of_a_client_without_miners_says_what_comes(farm: Farm) -> None:
    newcomer = UserFactory.create(role=Role.CLIENT, customer=CustomerFactory.create(name="Newcomer"))

    response = _as(newcomer).get(DASHBOARD)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-empty="miners"' in page
    assert "miners-table" not in page


def test_client_dashboard_lets_an_operator_pick_a_client(farm: Farm, host_user: User) -> None:
    response = _as(host_user).get(DASHBOARD)

    page = response.content.decode()
    assert response.status_code == 200
    assert f'href="?customer={farm.acme.pk}"' in page
    assert f'href="?customer={farm.ridge.pk}"' in page


def test_client_dashboard_shows_an_operator_what_the_client_sees(farm: Farm, admin_user: User) -> None:
    response = _as(admin_user).get(DASHBOARD, {"customer": farm.ridge.pk})

    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-miner-id="{farm.d.pk}"' in page
    assert f'data-miner-id="{farm.a.pk}"' not in page
    assert "data-operator-view" in page


def test_client_dashboard_of_an_unknown_customer_is_404_for_an_operator(farm: Farm, owner_user: User) -> None:
    response = _as(owner_user).get(DASHBOARD, {"customer": 999_999})

    assert response.status_code == 404


def test_client_dashboard_reads_a_bounded_number_of_queries(
    farm: Farm, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    browser = _as(farm.acme_user)

    # Session and user, rows, summary, three per site of the customer (two here), network history.
    with django_assert_max_num_queries(20):
        response = browser.get(DASHBOARD)

    assert response.status_code == 200


def test_miner_page_opens_any_miner_for_an_operator_with_its_controls(farm: Farm, host_user: User) -> None:
    response = _as(host_user).get(_miner_page(farm.d))

    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-miner-id="{farm.d.pk}"' in page
    for action in ("start", "shutdown", "reboot", "power-target"):
        assert f'data-control="{action}"' in page
        assert f"/hosting/api/miner/{farm.d.pk}/{action}" in page


def test_miner_page_shows_a_client_their_own_miner_without_controls(farm: Farm) -> None:
    response = _as(farm.acme_user).get(_miner_page(farm.b))

    page = response.content.decode()
    assert response.status_code == 200
    assert "S1/07" in page
    assert "data-control=" not in page
    assert "/hosting/api/miner/" not in page


def test_miner_page_reads_a_bounded_number_of_queries(
    farm: Farm, host_user: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    browser = _as(host_user)

    with django_assert_max_num_queries(10):
        response = browser.get(_miner_page(farm.a))

    assert response.status_code == 200


def test_miner_page_of_another_customers_miner_is_404_for_a_client(farm: Farm) -> None:
    response = _as(farm.acme_user).get(_miner_page(farm.d))

    assert response.status_code == 404
    assert "R9/99" not in response.content.decode()


def test_miner_page_of_an_unknown_miner_is_404(host_user: User) -> None:
    response = _as(host_user).get("/hosting/miners/999999")

    assert response.status_code == 404


def test_miner_page_sends_anonymous_visitors_to_sign_in(farm: Farm) -> None:
    response = _as(None).get(_miner_page(farm.a))

    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_miner_page_lists_its_alerts_and_operations_newest_first(farm: Farm, host_user: User) -> None:
    Alert.objects.create(
        site=farm.north, miner=farm.a, kind=AlertKind.CHIP_TEMP_HIGH, message="Chip at 92 °C", opened_at=NOW
    )
    Alert.objects.create(site=farm.north, miner=farm.d, kind=AlertKind.OFFLINE, message="Not ours", opened_at=NOW)
    for minutes, action in ((10, MinerAction.STOP), (5, MinerAction.START)):
        MinerOperation.objects.create(
            miner=farm.a,
            action=action,
            requested_by=host_user,
            requested_at=NOW - timedelta(minutes=minutes),
            finished_at=NOW - timedelta(minutes=minutes),
            outcome="ok",
        )

    page = _as(host_user).get(_miner_page(farm.a)).content.decode()

    assert "Chip at 92 °C" in page
    assert "Not ours" not in page
    assert page.index('data-op-action="start"') < page.index('data-op-action="stop"')
    assert f"{host_user.email}" in page


# ---------------------------------------------------------------- the month's figures


def _network() -> None:
    """Two days of shipped network figures this month (the second without fees) and the last retarget."""
    NetworkStats.objects.create(
        source=REPLAY_SOURCE,
        recorded_at=datetime(2026, 11, 5, tzinfo=UTC),
        difficulty=Decimal("100000000000000"),
        fees_btc_per_day=Decimal("14.4"),
    )
    NetworkStats.objects.create(
        source=REPLAY_SOURCE, recorded_at=datetime(2026, 11, 15, tzinfo=UTC), difficulty=Decimal("120000000000000")
    )
    DifficultyAdjustment.objects.create(
        height=951_552, start_time=datetime(2026, 11, 1, tzinfo=UTC), bits="17021a3d", difficulty=Decimal("1e14")
    )


def _hour(miner: Miner, at: datetime, *, samples: int, ok: int, ths: float, watts: float | None) -> None:
    TelemetryRollup.objects.create(
        miner=miner,
        resolution=TelemetryRollup.Resolution.HOUR,
        bucket_start=at,
        samples=samples,
        ok_samples=ok,
        hashrate_avg_ths=ths,
        power_avg_w=watts,
    )


def _poll(miner: Miner, at: datetime, *, ths: float | None = None, watts: int | None = None) -> TelemetryRow:
    if ths is None:
        return TelemetryRow(miner_id=miner.pk, recorded_at=at, site_id=miner.site_id, outcome="refused")
    return TelemetryRow(
        miner_id=miner.pk, recorded_at=at, site_id=miner.site_id, outcome="ok", hashrate_ths=ths, power_w=watts
    )


def _month(farm: Farm) -> None:
    """Hours of rollups this month and last, another customer's hour, and raw polls in the open hour."""
    _hour(farm.a, datetime(2026, 11, 10, 8, tzinfo=UTC), samples=60, ok=60, ths=100.0, watts=3000.0)
    _hour(farm.a, datetime(2026, 11, 20, 10, tzinfo=UTC), samples=60, ok=30, ths=100.0, watts=3000.0)
    _hour(farm.b, datetime(2026, 11, 20, 11, tzinfo=UTC), samples=60, ok=60, ths=200.0, watts=None)
    _hour(farm.a, datetime(2026, 10, 25, 8, tzinfo=UTC), samples=60, ok=45, ths=100.0, watts=3000.0)
    _hour(farm.d, datetime(2026, 11, 10, 8, tzinfo=UTC), samples=60, ok=60, ths=500.0, watts=9000.0)
    telemetry_store(
        rows=[
            _poll(farm.a, datetime(2026, 11, 20, 12, 5, tzinfo=UTC), ths=100.0, watts=3000),
            _poll(farm.a, datetime(2026, 11, 20, 12, 15, tzinfo=UTC), ths=80.0, watts=2000),
            _poll(farm.b, datetime(2026, 11, 20, 12, 5, tzinfo=UTC), ths=200.0, watts=3600),
            _poll(farm.b, datetime(2026, 11, 20, 12, 15, tzinfo=UTC)),
        ]
    )


def test_client_figures_count_this_months_energy_at_each_sites_price(farm: Farm) -> None:
    _month(farm)

    figures = client_figures(customer_id=farm.acme.pk, now=NOW)

    # North (A): 3.0 kWh on the 10th, half of 3.0 kWh on the 20th (answered 30 of 60 polls), and in the
    # open half hour the mean of 3,000 and 2,000 W for 0.5 h. South (B): no power reading, so its nominal
    # 3,200 W for an hour, then 3,600 W for the one poll of two it answered, for 0.5 h.
    north_kwh = 3.0 + 1.5 + 2.5 * 0.5
    south_kwh = 3.2 + 3.6 / 2 * 0.5
    by_site = {s.site_name: s for s in figures.energy_by_site}
    assert float(by_site["North Farm"].energy_kwh) == pytest.approx(north_kwh)
    assert float(by_site["South Hall"].energy_kwh) == pytest.approx(south_kwh)
    assert float(figures.energy_kwh) == pytest.approx(north_kwh + south_kwh)
    assert by_site["North Farm"].cost_usd == Decimal("0.29")  # 5.75 kWh x 0.05 = 0.2875
    assert by_site["South Hall"].cost_usd == Decimal("0.16")  # 4.1 kWh x 0.04 = 0.164
    assert figures.energy_cost_usd == Decimal("0.45")


def test_client_figures_give_uptime_as_the_share_of_answered_polls(farm: Farm) -> None:
    _month(farm)

    figures = client_figures(customer_id=farm.acme.pk, now=NOW)

    # Last 24 h: A's 30/60 at 10:00, B's 60/60 at 11:00, and the open hour's 2/2 (A) and 1/2 (B).
    assert figures.uptime_24h == pytest.approx((30 + 60 + 2 + 1) / (60 + 60 + 2 + 2))
    # 30 days adds A's hours on the 10th (60/60) and on October 25 (45/60); ridge's hour never counts.
    assert figures.uptime_30d == pytest.approx((93 + 60 + 45) / (124 + 120))


def test_client_figures_estimate_btc_from_each_hours_hashrate_and_its_days_network(farm: Farm) -> None:
    _month(farm)
    _network()

    figures = client_figures(customer_id=farm.acme.pk, now=NOW)

    def btc_per_th_hour(difficulty: float, reward_btc: float) -> float:
        # One TH/s for an hour: 1e12 x 3,600 hashes against difficulty x 2^32 hashes per block.
        return 1e12 * 3600 / (difficulty * 2**32) * reward_btc

    reward = 3.125 + 14.4 / 144  # the subsidy after the fourth halving plus the 5th's fees per block
    # The 10th: A's 100 TH/s for an hour at the 5th's difficulty. The 20th at the 15th's (its fees carry
    # over from the 5th): A's 100 TH/s for half of 10:00, B's 200 for 11:00, and in the open half hour
    # A's mean of 90 and half of B's 200 (it answered one poll of two).
    expected = 100 * btc_per_th_hour(1e14, reward) + (50 + 200 + 45 + 50) * btc_per_th_hour(1.2e14, reward)
    assert figures.btc_estimate is not None
    assert float(figures.btc_estimate) == pytest.approx(expected, abs=1e-8)
    assert figures.network_as_of == datetime(2026, 11, 15, tzinfo=UTC).date()
    assert figures.network_reward_btc == Decimal("3.225")


def test_client_figures_without_network_history_make_no_estimate(farm: Farm) -> None:
    _month(farm)

    figures = client_figures(customer_id=farm.acme.pk, now=NOW)

    assert figures.btc_estimate is None


def test_client_dashboard_shows_the_months_figures(farm: Farm) -> None:
    _month(farm)
    _network()

    with time_machine.travel(NOW, tick=False):
        page = _as(farm.acme_user).get(DASHBOARD).content.decode()

    assert "9.9" in page.split('data-figure="energy_kwh"')[1][:80]  # 9.85 kWh, shown to one decimal
    assert "$0.45" in page.split('data-figure="energy_cost_usd"')[1][:80]
    assert "75.0" in page.split('data-figure="uptime_24h"')[1][:80]
    estimate = page.split('data-figure="btc_estimate"')[1][:80]
    assert "0.00" in estimate
    assert "at the pool's expected value" in page
