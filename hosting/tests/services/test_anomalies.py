from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hosting.choices import AlertKind, AlertStatus, MinerStatus, PollOutcome
from hosting.models import Alert, Miner, MinerLatest, Site, TelemetryRollup
from hosting.services.anomalies import anomalies_detect_site, modified_z
from hosting.tests.factories import MinerFactory, SiteFactory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _fleet(site: Site, hashrates: list[float], temps: list[float] | None = None) -> list[Miner]:
    miners = []
    for i, hashrate in enumerate(hashrates):
        miner = MinerFactory.create(site=site, status=MinerStatus.ONLINE, nominal_hashrate_ths=Decimal("110"))
        MinerLatest.objects.create(
            miner=miner,
            recorded_at=NOW,
            outcome=PollOutcome.OK,
            hashrate_ths=hashrate,
            power_w=3250,
            chip_temp_max_c=(temps or [70.0 + (i % 3)] * len(hashrates))[i],
            is_sleeping=False,
        )
        miners.append(miner)
    return miners


def test_modified_z_ignores_the_outlier_it_measures() -> None:
    sample = [100.0, 101.0, 99.0, 100.5, 99.5, 60.0]

    z = modified_z(60.0, sample)

    assert z is not None
    assert z < -3.5
    assert modified_z(5.0, [5.0, 5.0, 5.0]) is None


@pytest.mark.django_db
def test_a_miner_far_below_its_peers_gets_an_anomaly_alert_with_the_reason() -> None:
    site = SiteFactory.create()
    miners = _fleet(site, [110.0, 109.0, 111.0, 110.5, 108.5, 109.5, 72.0])

    found = anomalies_detect_site(site_id=site.pk, now=NOW)

    assert [a.miner_id for a in found] == [miners[-1].pk]
    alert = Alert.objects.get(kind=AlertKind.ANOMALY)
    assert alert.miner_id == miners[-1].pk
    assert "against a peer median" in alert.message


@pytest.mark.django_db
def test_a_uniform_fleet_has_no_anomalies() -> None:
    site = SiteFactory.create()
    _fleet(site, [110.0, 109.0, 111.0, 110.5, 108.5, 109.5])

    assert anomalies_detect_site(site_id=site.pk, now=NOW) == []
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_a_hot_miner_among_cool_peers_is_flagged_for_temperature() -> None:
    site = SiteFactory.create()
    miners = _fleet(site, [110.0] * 6, temps=[70.0, 71.0, 69.0, 70.5, 70.0, 84.0])

    found = anomalies_detect_site(site_id=site.pk, now=NOW)

    assert [(a.miner_id, a.reason.split(" ")[0]) for a in found] == [(miners[-1].pk, "temperature")]


@pytest.mark.django_db
def test_a_miner_below_its_own_day_is_flagged_even_without_peers() -> None:
    site = SiteFactory.create()
    (miner,) = _fleet(site, [80.0])
    for hour in range(12):
        TelemetryRollup.objects.create(
            miner=miner,
            resolution=TelemetryRollup.Resolution.HOUR,
            bucket_start=NOW - timedelta(hours=hour + 1),
            samples=60,
            ok_samples=60,
            hashrate_avg_ths=110.0 + (hour % 3) - 1,
        )

    found = anomalies_detect_site(site_id=site.pk, now=NOW)

    assert len(found) == 1
    assert "own 24 h median" in found[0].reason


@pytest.mark.django_db
def test_a_recovered_miner_has_its_anomaly_resolved() -> None:
    site = SiteFactory.create()
    miners = _fleet(site, [110.0, 109.0, 111.0, 110.5, 108.5, 109.5, 72.0])
    anomalies_detect_site(site_id=site.pk, now=NOW)

    MinerLatest.objects.filter(miner=miners[-1]).update(hashrate_ths=110.2)
    anomalies_detect_site(site_id=site.pk, now=NOW + timedelta(minutes=5))

    alert = Alert.objects.get(kind=AlertKind.ANOMALY)
    assert alert.status == AlertStatus.RESOLVED
