from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from hosting.choices import AlertKind, AlertStatus, MinerStatus, PollOutcome
from hosting.models import Alert, Miner, MinerLatest, Site
from hosting.services.alerts import alert_acknowledge, alerts_evaluate_site
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.errors import ConflictError
from mining_platform.core.models import User

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def alert_site(host_user: User) -> Site:
    site = SiteFactory.create(max_temp_c=Decimal("85"), min_hashrate_share=Decimal("0.8"))
    site.operators.add(host_user)
    return site


def _reading(miner: Miner, **fields: object) -> None:
    values: dict[str, object] = {
        "recorded_at": NOW,
        "outcome": PollOutcome.OK,
        "hashrate_ths": 110.0,
        "chip_temp_max_c": 75.0,
        "fan_rpm_min": 5000,
        "is_sleeping": False,
    }
    values.update(fields)
    MinerLatest.objects.update_or_create(miner=miner, defaults=values)


def _evaluate(site: Site, *, at: datetime = NOW) -> object:
    return alerts_evaluate_site(site_id=site.pk, now=at)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("reading", "status", "kind"),
    [
        ({"chip_temp_max_c": 92.0}, MinerStatus.ONLINE, AlertKind.CHIP_TEMP_HIGH),
        ({"hashrate_ths": 70.0}, MinerStatus.ONLINE, AlertKind.HASHRATE_LOW),
        ({"fan_rpm_min": 0}, MinerStatus.ONLINE, AlertKind.FAN_STOPPED),
        ({"outcome": PollOutcome.REFUSED}, MinerStatus.OFFLINE, AlertKind.OFFLINE),
    ],
)
def test_a_crossed_threshold_opens_one_alert_and_mails_the_operators(
    alert_site: Site, host_user: User, reading: dict[str, object], status: str, kind: str
) -> None:
    miner = MinerFactory.create(site=alert_site, status=status, nominal_hashrate_ths=Decimal("110"))
    _reading(miner, **reading)

    _evaluate(alert_site)
    _evaluate(alert_site, at=NOW + timedelta(minutes=1))

    assert list(Alert.objects.values_list("kind", "status")) == [(kind, AlertStatus.OPEN)]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [host_user.email]
    assert "1 alert(s) opened" in mail.outbox[0].subject


@pytest.mark.django_db(transaction=True)
def test_a_cleared_condition_resolves_the_alert_and_mails_once(alert_site: Site) -> None:
    miner = MinerFactory.create(site=alert_site, status=MinerStatus.ONLINE)
    _reading(miner, chip_temp_max_c=95.0)
    _evaluate(alert_site)

    _reading(miner, chip_temp_max_c=70.0)
    _evaluate(alert_site, at=NOW + timedelta(minutes=5))
    _evaluate(alert_site, at=NOW + timedelta(minutes=6))

    alert = Alert.objects.get()
    assert (alert.status, alert.resolved_at) == (AlertStatus.RESOLVED, NOW + timedelta(minutes=5))
    assert [m.subject.endswith("0 alert(s) opened, 1 resolved") for m in mail.outbox] == [False, True]


@pytest.mark.django_db(transaction=True)
def test_a_site_wide_outage_sends_one_mail_not_a_storm(alert_site: Site) -> None:
    for _ in range(50):
        MinerFactory.create(site=alert_site, status=MinerStatus.OFFLINE)

    changes = _evaluate(alert_site)

    assert len(changes.opened) == 50  # type: ignore[attr-defined]
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_sleeping_miner_raises_no_hashrate_or_fan_alert(alert_site: Site) -> None:
    miner = MinerFactory.create(site=alert_site, status=MinerStatus.ONLINE)
    _reading(miner, hashrate_ths=0.0, fan_rpm_min=0, is_sleeping=True)

    _evaluate(alert_site)

    assert not Alert.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_acknowledging_keeps_the_alert_until_it_clears_and_refuses_twice(alert_site: Site, host_user: User) -> None:
    miner = MinerFactory.create(site=alert_site, status=MinerStatus.OFFLINE)
    _evaluate(alert_site)
    alert = Alert.objects.get()

    alert_acknowledge(alert_id=alert.pk, user=host_user, now=NOW)
    _evaluate(alert_site, at=NOW + timedelta(minutes=1))

    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, host_user)
    assert Alert.objects.count() == 1
    with pytest.raises(ConflictError):
        alert_acknowledge(alert_id=alert.pk, user=host_user, now=NOW)
    Miner.objects.filter(pk=miner.pk).update(status=MinerStatus.ONLINE)
    _reading(miner)
    _evaluate(alert_site, at=NOW + timedelta(minutes=2))
    assert Alert.objects.get().status == AlertStatus.RESOLVED
