"""History series for charts: raw polls per collection run, rollups for long ranges with the newest
buckets from raw polls, and the JSON endpoint with who may read which scope."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from crm.models import Customer
from crm.tests.factories import CustomerFactory
from hosting.models import Miner, Site, TelemetryRollup
from hosting.selectors_series import telemetry_series
from hosting.services.telemetry_ingest import telemetry_store
from hosting.services.telemetry_rollups import telemetry_rollup
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User
from mining_platform.core.tests.factories import UserFactory

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
API = "/hosting/api/series"
pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Hall:
    site: Site
    acme: Customer
    ridge: Customer
    a: Miner  # acme, 3000 W nominal
    b: Miner  # acme, 3200 W nominal
    d: Miner  # ridge, 3400 W nominal
    e: Miner  # the host's own, 3250 W nominal


@pytest.fixture
def hall() -> Hall:
    site = SiteFactory.create(name="North Farm")
    acme = CustomerFactory.create(name="Acme Hashing")
    ridge = CustomerFactory.create(name="Blue Ridge")
    return Hall(
        site=site,
        acme=acme,
        ridge=ridge,
        a=MinerFactory.create(site=site, customer=acme, nominal_power_w=3000),
        b=MinerFactory.create(site=site, customer=acme, nominal_power_w=3200),
        d=MinerFactory.create(site=site, customer=ridge, nominal_power_w=3400),
        e=MinerFactory.create(site=site, customer=None, nominal_power_w=3250),
    )


def poll(
    miner: Miner,
    at: datetime,
    *,
    ths: float = 100.0,
    watts: int | None = 3000,
    temp: float | None = 70.0,
    outcome: str = "ok",
    sleeping: bool = False,
) -> TelemetryRow:
    if outcome != "ok":
        return TelemetryRow(miner_id=miner.pk, recorded_at=at, site_id=miner.site_id, outcome=outcome)
    return TelemetryRow(
        miner_id=miner.pk,
        recorded_at=at,
        site_id=miner.site_id,
        outcome="ok",
        hashrate_ths=ths,
        power_w=watts,
        board_temp_max_c=temp,
        chip_temp_max_c=None if temp is None else temp + 8,
        is_sleeping=sleeping,
    )


def two_runs(hall: Hall) -> tuple[datetime, datetime]:
    """Two collection runs a minute apart: in the first E does not answer, in the second A sleeps."""
    first, second = NOW - timedelta(minutes=30), NOW - timedelta(minutes=29)
    telemetry_store(
        rows=[
            poll(hall.a, first, ths=100.0, watts=3000, temp=70.0),
            poll(hall.b, first, ths=90.0, watts=None, temp=66.0),  # stock firmware: no power reading
            poll(hall.d, first, ths=110.0, watts=3400, temp=75.0),
            poll(hall.e, first, outcome="read_timeout"),
            poll(hall.a, second, ths=0.0, watts=None, temp=None, sleeping=True),
            poll(hall.b, second, ths=90.0, watts=3100, temp=65.0),
            poll(hall.d, second, ths=110.0, watts=3400, temp=74.0),
            poll(hall.e, second, ths=100.0, watts=3250, temp=71.0),
        ]
    )
    return first, second


# ---------------------------------------------------------------- raw polls


def test_series_of_a_site_sums_every_collection_run_of_its_miners(hall: Hall) -> None:
    first, second = two_runs(hall)

    series = telemetry_series(site_id=hall.site.pk, start=NOW - timedelta(hours=1), end=NOW)

    assert series.resolution == "raw"
    assert [p.t for p in series.points] == [first, second]
    one, two = series.points
    # B reports no power: its nominal 3,200 W stands in; E did not answer: it draws nothing and counts offline.
    assert (one.hashrate_ths, round(one.power_kw, 3), one.temp_max_c) == (300.0, 9.6, 75.0)
    assert (one.online_share, one.miners) == (0.75, 3)
    # A sleeps without a power reading: it draws nothing, not its nominal.
    assert (two.hashrate_ths, round(two.power_kw, 3), two.online_share, two.miners) == (300.0, 9.75, 1.0, 4)


def test_series_of_a_customer_counts_only_that_customers_miners(hall: Hall) -> None:
    two_runs(hall)

    series = telemetry_series(customer_id=hall.acme.pk, start=NOW - timedelta(hours=1), end=NOW)

    assert [(p.hashrate_ths, round(p.power_kw, 3), p.miners) for p in series.points] == [
        (190.0, 6.2, 2),
        (90.0, 3.1, 2),
    ]
    assert series.points[0].temp_max_c == 70.0


def test_series_of_one_miner_follows_its_own_polls(hall: Hall) -> None:
    two_runs(hall)

    series = telemetry_series(miner_ids=[hall.e.pk], start=NOW - timedelta(hours=1), end=NOW)

    assert [(p.hashrate_ths, p.power_kw, p.online_share) for p in series.points] == [
        (0.0, 0.0, 0.0),
        (100.0, 3.25, 1.0),
    ]


def test_series_adds_up_shards_polled_apart_so_every_point_holds_the_whole_site(hall: Hall) -> None:
    start = NOW - timedelta(minutes=10)
    rows = []
    for minute in range(-1, 10):
        at = start + timedelta(minutes=minute)
        rows += [poll(hall.a, at + timedelta(seconds=10)), poll(hall.b, at + timedelta(seconds=10))]
        rows += [poll(hall.d, at + timedelta(seconds=40)), poll(hall.e, at + timedelta(seconds=40))]
    telemetry_store(rows=rows)

    series = telemetry_series(site_id=hall.site.pk, start=start, end=NOW)

    assert len(series.points) == 20  # a point per run of each shard
    assert {(p.miners, p.power_kw, p.hashrate_ths) for p in series.points} == {(4, 12.0, 400.0)}


def test_series_per_minute_takes_the_mean_of_a_shards_runs_in_the_minute(hall: Hall) -> None:
    start = NOW - timedelta(minutes=5)
    telemetry_store(
        rows=[
            poll(hall.a, start + timedelta(seconds=5), watts=3000),
            poll(hall.a, start + timedelta(seconds=35), watts=2000),
            poll(hall.a, start + timedelta(minutes=1, seconds=5), watts=1000),
        ]
    )

    series = telemetry_series(miner_ids=[hall.a.pk], start=start, end=NOW, raw_step=timedelta(minutes=1))

    assert series.resolution == "1m"
    # The last run stands for the minute after it too (less than a poll interval old), then nothing.
    assert [(p.t - start, p.power_kw) for p in series.points] == [
        (timedelta(0), 2.5),
        (timedelta(minutes=1), 1.0),
        (timedelta(minutes=2), 1.0),
    ]


def test_series_without_a_scope_is_refused() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        telemetry_series(start=NOW - timedelta(hours=1), end=NOW)

    assert "scope" in excinfo.value.fields


# ---------------------------------------------------------------- rollups


def test_series_over_a_day_sums_five_minute_rollups_weighted_by_answered_polls(hall: Hall) -> None:
    bucket = NOW - timedelta(hours=2)
    five = TelemetryRollup.Resolution.FIVE_MINUTES
    common = {"resolution": five, "bucket_start": bucket}
    TelemetryRollup.objects.create(
        miner=hall.a, samples=5, ok_samples=5, hashrate_avg_ths=100.0, power_avg_w=3000.0, temp_max_c=70.0, **common
    )
    # B answered 3 polls of 5 and reported no power: 3/5 of its 90 TH/s and of its nominal 3,200 W.
    TelemetryRollup.objects.create(
        miner=hall.b, samples=5, ok_samples=3, hashrate_avg_ths=90.0, power_avg_w=None, temp_max_c=80.0, **common
    )
    TelemetryRollup.objects.create(
        miner=hall.d, samples=5, ok_samples=5, hashrate_avg_ths=110.0, power_avg_w=3400.0, temp_max_c=90.0, **common
    )

    series = telemetry_series(customer_id=hall.acme.pk, start=NOW - timedelta(hours=24), end=NOW)

    assert series.resolution == "5m"
    point = series.points[0]
    assert point.t == bucket
    assert point.hashrate_ths == pytest.approx(100 + 90 * 3 / 5)
    assert point.power_kw == pytest.approx((3000 + 3200 * 3 / 5) / 1000)
    assert (point.temp_max_c, point.online_share, point.miners) == (80.0, 0.8, 2)


def test_series_over_a_day_fills_the_buckets_after_the_newest_rollup_from_raw_polls(hall: Hall) -> None:
    rolled = NOW - timedelta(minutes=20)
    TelemetryRollup.objects.create(
        miner=hall.a,
        resolution=TelemetryRollup.Resolution.FIVE_MINUTES,
        bucket_start=rolled,
        samples=5,
        ok_samples=5,
        hashrate_avg_ths=100.0,
        power_avg_w=3000.0,
    )
    telemetry_store(
        rows=[
            poll(hall.a, rolled + timedelta(minutes=1), ths=5.0, watts=5),  # inside the rollup: not counted twice
            poll(hall.a, NOW - timedelta(minutes=2, seconds=30), ths=100.0, watts=3000),
            poll(hall.a, NOW - timedelta(minutes=1, seconds=30), ths=80.0, watts=2000),
            poll(hall.b, NOW - timedelta(minutes=2, seconds=30), ths=90.0, watts=3100),
            poll(hall.b, NOW - timedelta(minutes=1, seconds=30), outcome="refused"),
        ]
    )

    series = telemetry_series(customer_id=hall.acme.pk, start=NOW - timedelta(hours=24), end=NOW)

    assert [p.t for p in series.points] == [rolled, NOW - timedelta(minutes=5)]
    current = series.points[-1]
    # A: the mean of 100 and 80 TH/s; B: 90 TH/s for the one poll of two it answered.
    assert current.hashrate_ths == pytest.approx(90 + 90 / 2)
    assert current.power_kw == pytest.approx((2500 + 3100 / 2) / 1000)
    assert (current.online_share, current.miners) == (0.75, 2)
    assert series.points[0].hashrate_ths == 100.0


def test_series_over_a_month_reads_hourly_rollups_made_by_the_rollup_task(hall: Hall) -> None:
    hour = NOW - timedelta(days=3, hours=2)
    telemetry_store(
        rows=[
            poll(hall.a, hour, ths=100.0, watts=3000),
            poll(hall.a, hour + timedelta(minutes=20), ths=100.0, watts=3000),
            poll(hall.a, hour + timedelta(minutes=40), ths=100.0, watts=3000),
            poll(hall.b, hour, ths=90.0, watts=3200),
            poll(hall.b, hour + timedelta(minutes=20), outcome="connect_timeout"),
            poll(hall.b, hour + timedelta(minutes=40), ths=90.0, watts=3200),
        ]
    )
    telemetry_rollup(resolution="1h", start=hour, end=hour + timedelta(hours=1))

    series = telemetry_series(site_id=hall.site.pk, start=NOW - timedelta(days=30), end=NOW)

    assert series.resolution == "1h"
    assert len(series.points) == 1
    point = series.points[0]
    assert point.t == hour
    assert point.hashrate_ths == pytest.approx(100 + 90 * 2 / 3)
    assert point.power_kw == pytest.approx((3000 + 3200 * 2 / 3) / 1000)
    assert point.online_share == pytest.approx(5 / 6)


def test_series_read_again_reads_only_new_and_recomputed_buckets_and_keeps_the_older_ones_cached(hall: Hall) -> None:
    five = TelemetryRollup.Resolution.FIVE_MINUTES
    first = NOW - timedelta(hours=2)

    def bucket(at: datetime, ths: float) -> None:
        TelemetryRollup.objects.update_or_create(
            miner=hall.a,
            resolution=five,
            bucket_start=at,
            defaults={"samples": 5, "ok_samples": 5, "hashrate_avg_ths": ths, "power_avg_w": 3000.0},
        )

    for step in range(4):
        bucket(first + timedelta(minutes=5 * step), 100.0)
    telemetry_series(miner_ids=[hall.a.pk], start=NOW - timedelta(hours=24), end=NOW)
    # The rollup task's next run: it recomputes the last closed bucket and adds the one after it. An
    # older bucket changed behind its back (a backfill) shows only once the cached copy expires.
    bucket(first + timedelta(minutes=15), 90.0)
    bucket(first + timedelta(minutes=20), 80.0)
    bucket(first, 1.0)

    series = telemetry_series(miner_ids=[hall.a.pk], start=NOW - timedelta(hours=24), end=NOW)

    assert [(p.t - first, p.hashrate_ths) for p in series.points] == [
        (timedelta(minutes=0), 100.0),
        (timedelta(minutes=5), 100.0),
        (timedelta(minutes=10), 100.0),
        (timedelta(minutes=15), 90.0),
        (timedelta(minutes=20), 80.0),
    ]


def test_series_reads_a_bounded_number_of_queries(
    hall: Hall, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    two_runs(hall)

    with django_assert_max_num_queries(3):
        telemetry_series(customer_id=hall.acme.pk, start=NOW - timedelta(days=2), end=NOW)


# ---------------------------------------------------------------- the endpoint


def _as(user: User | None) -> Client:
    browser = Client()
    if user is not None:
        browser.force_login(user)
    return browser


def _url(**query: str | int) -> str:
    return f"{API}?{urlencode(query)}"


@pytest.fixture
def recent(hall: Hall) -> datetime:
    """One run ten minutes ago, so a 1 h range has something to show."""
    at = timezone.now() - timedelta(minutes=10)
    telemetry_store(rows=[poll(hall.a, at, ths=100.0), poll(hall.b, at, ths=90.0), poll(hall.d, at, ths=110.0)])
    return at


@pytest.fixture
def acme_client(hall: Hall) -> User:
    return UserFactory.create(role=Role.CLIENT, customer=hall.acme)


def test_series_api_gives_an_operator_a_sites_points_in_epoch_milliseconds(
    hall: Hall, recent: datetime, host_user: User
) -> None:
    response = _as(host_user).get(_url(scope="site", id=hall.site.pk, range="1h"))

    assert response.status_code == 200
    data = response.json()
    assert (data["scope"], data["id"], data["range"], data["resolution"]) == ("site", hall.site.pk, "1h", "raw")
    assert data["points"] == [
        {
            "t": int(recent.timestamp() * 1000),
            "hashrate_ths": 300.0,
            "power_kw": 9.0,
            "temp_max_c": 70.0,
            "online_share": 1.0,
            "miners": 3,
        }
    ]


def test_series_api_gives_a_client_their_own_customer_without_naming_it(
    hall: Hall, recent: datetime, acme_client: User
) -> None:
    response = _as(acme_client).get(_url(scope="client", id="null", range="1h"))

    assert response.status_code == 200
    assert response.json()["id"] == hall.acme.pk
    assert [p["hashrate_ths"] for p in response.json()["points"]] == [190.0]


def test_series_api_lets_an_operator_see_what_a_client_sees(hall: Hall, recent: datetime, admin_user: User) -> None:
    response = _as(admin_user).get(_url(scope="client", id=hall.ridge.pk, range="6h"))

    assert response.status_code == 200
    assert [p["hashrate_ths"] for p in response.json()["points"]] == [110.0]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"scope": "site", "id": "SITE"}, 403, "forbidden"),
        ({"scope": "client", "id": "RIDGE"}, 403, "forbidden"),
        ({"scope": "miner", "id": "D"}, 404, "not_found"),
        ({"scope": "miner", "id": "404"}, 404, "not_found"),
        ({"scope": "miner"}, 400, "bad_request"),
        ({"scope": "client", "id": "null", "range": "2y"}, 400, "invalid_input"),
        ({"scope": "fleet", "id": "SITE"}, 400, "invalid_input"),
    ],
)
def test_series_api_refuses_a_client_what_is_not_theirs(
    hall: Hall, recent: datetime, acme_client: User, query: dict[str, str], status: int, code: str
) -> None:
    ids = {"SITE": hall.site.pk, "RIDGE": hall.ridge.pk, "D": hall.d.pk, "404": 999_999}
    params = {key: str(ids.get(value, value)) for key, value in query.items()}

    response = _as(acme_client).get(_url(**params))

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "points" not in response.json()


def test_series_api_gives_a_client_their_own_miner(hall: Hall, recent: datetime, acme_client: User) -> None:
    response = _as(acme_client).get(_url(scope="miner", id=hall.b.pk, range="1h"))

    assert response.status_code == 200
    assert [p["hashrate_ths"] for p in response.json()["points"]] == [90.0]


def test_series_api_refuses_anonymous_visitors(hall: Hall) -> None:
    response = _as(None).get(_url(scope="site", id=hall.site.pk))

    assert response.status_code == 401
    assert "points" not in response.json()


def test_series_api_answers_404_for_an_unknown_site(host_user: User) -> None:
    response = _as(host_user).get(_url(scope="site", id=999_999))

    assert response.status_code == 404
