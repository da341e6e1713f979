from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Customer
from hosting.choices import PollOutcome
from hosting.models import Miner, MinerLatest, TelemetryRollup
from hosting.services.telemetry_ingest import telemetry_store
from hosting.telemetry_rows import TelemetryRow
from hosting.tests.factories import MinerFactory
from mining_platform.core.choices import ApiScope
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def owned(customer: Customer, other_customer: Customer) -> tuple[Miner, Miner]:
    mine = MinerFactory.create(customer=customer)
    theirs = MinerFactory.create(customer=other_customer)
    MinerLatest.objects.create(miner=mine, recorded_at=T0, outcome=PollOutcome.OK, hashrate_ths=109.5)
    return mine, theirs


@pytest.mark.django_db
def test_client_lists_only_their_own_miners_with_the_latest_reading(
    client_user: User, owned: tuple[Miner, Miner]
) -> None:
    mine, _theirs = owned

    rows = _as(client_user).get("/api/v1/hosting/miners/").json()["results"]

    assert [r["id"] for r in rows] == [mine.pk]
    assert rows[0]["latest"]["hashrate_ths"] == 109.5


@pytest.mark.django_db
def test_operator_lists_miners_filtered_in_bounded_queries(
    host_user: User, owned: tuple[Miner, Miner], django_assert_max_num_queries: object
) -> None:
    MinerFactory.create_batch(20)
    api = _as(host_user)

    with django_assert_max_num_queries(6):  # type: ignore[operator]
        rows = api.get("/api/v1/hosting/miners/?limit=100").json()["results"]

    assert len(rows) == 22
    assert [r["id"] for r in api.get(f"/api/v1/hosting/miners/?customer={owned[1].customer_id}").json()["results"]] == [
        owned[1].pk
    ]


@pytest.mark.django_db
def test_client_gets_404_for_another_clients_telemetry(client_user: User, owned: tuple[Miner, Miner]) -> None:
    response = _as(client_user).get(f"/hosting/api/telemetry/{owned[1].pk}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_an_api_key_with_telemetry_read_gets_a_miners_telemetry(host_user: User, owned: tuple[Miner, Miner]) -> None:
    issued = api_key_issue(
        owner=host_user, name="grafana", scopes=[ApiScope.TELEMETRY_READ], expires_at=None, now=timezone.now()
    )

    response = APIClient().get(
        f"/hosting/api/telemetry/{owned[0].pk}?start=2026-11-23T09:00:00Z&end=2026-11-23T11:00:00Z",
        HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}",
    )

    assert response.status_code == 200
    assert response.json()["miner"]["latest"]["hashrate_ths"] == 109.5


@pytest.mark.django_db(transaction=True)
def test_telemetry_history_reads_raw_polls_for_short_ranges_and_rollups_for_long_ones(host_user: User) -> None:
    miner = MinerFactory.create()
    telemetry_store(
        rows=[
            TelemetryRow(
                miner_id=miner.pk,
                recorded_at=T0 + timedelta(minutes=i),
                site_id=miner.site_id,
                outcome="ok",
                hashrate_ths=100.0 + i,
            )
            for i in range(3)
        ]
    )
    TelemetryRollup.objects.create(
        miner=miner, resolution="1h", bucket_start=T0, samples=60, ok_samples=54, hashrate_avg_ths=101.0
    )
    api = _as(host_user)

    short = api.get(f"/hosting/api/telemetry/{miner.pk}?start=2026-11-23T09:30:00Z&end=2026-11-23T11:00:00Z").json()
    long = api.get(f"/hosting/api/telemetry/{miner.pk}?start=2026-11-01T00:00:00Z&end=2026-11-24T00:00:00Z").json()

    assert (short["resolution"], [p["hashrate_ths"] for p in short["points"]]) == ("raw", [100.0, 101.0, 102.0])
    assert (long["resolution"], long["points"][0]["ok_share"]) == ("1h", 0.9)


@pytest.mark.django_db
def test_telemetry_range_that_ends_before_it_starts_is_refused_naming_end(
    host_user: User, owned: tuple[Miner, Miner]
) -> None:
    response = _as(host_user).get(
        f"/hosting/api/telemetry/{owned[0].pk}?start=2026-11-23T11:00:00Z&end=2026-11-23T10:00:00Z"
    )

    assert response.status_code == 400
    assert "end" in response.json()["error"]["fields"]
