from datetime import UTC, datetime

import pytest

from chain.models import OutboxEvent
from hosting.choices import MinerStatus, PollOutcome
from hosting.models import Miner
from hosting.services.miner_status import miner_statuses_apply
from hosting.tests.factories import MinerFactory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _apply(outcomes: dict[int, str]) -> object:
    return miner_statuses_apply(outcomes=outcomes, now=NOW, offline_after_failures=3)


def _events(event_type: str) -> list[dict[str, object]]:
    return list(OutboxEvent.objects.filter(event_type=event_type).values_list("payload", flat=True))


@pytest.mark.django_db
def test_a_miner_goes_offline_only_after_n_failed_polls_in_a_row() -> None:
    miner = MinerFactory.create(status=MinerStatus.ONLINE)

    statuses = []
    for _ in range(3):
        _apply({miner.pk: PollOutcome.READ_TIMEOUT})
        miner.refresh_from_db()
        statuses.append(miner.status)

    assert statuses == [MinerStatus.ONLINE, MinerStatus.ONLINE, MinerStatus.OFFLINE]
    assert [e["outcome"] for e in _events("miner.offline")] == ["read_timeout"]


@pytest.mark.django_db
def test_one_good_poll_resets_the_failure_count() -> None:
    miner = MinerFactory.create(status=MinerStatus.ONLINE)

    for outcome in (PollOutcome.REFUSED, PollOutcome.REFUSED, PollOutcome.OK, PollOutcome.REFUSED, PollOutcome.REFUSED):
        _apply({miner.pk: outcome})

    miner.refresh_from_db()
    assert (miner.status, miner.consecutive_failures) == (MinerStatus.ONLINE, 2)
    assert _events("miner.offline") == []


@pytest.mark.django_db
def test_an_offline_miner_comes_back_online_on_the_first_good_poll_with_one_event() -> None:
    miner = MinerFactory.create(status=MinerStatus.OFFLINE, consecutive_failures=7)

    _apply({miner.pk: PollOutcome.OK})
    _apply({miner.pk: PollOutcome.OK})

    miner.refresh_from_db()
    assert (miner.status, miner.consecutive_failures, miner.last_seen_at) == (MinerStatus.ONLINE, 0, NOW)
    assert len(_events("miner.online")) == 1


@pytest.mark.django_db
def test_an_offline_miner_that_keeps_failing_publishes_no_more_events() -> None:
    miner = MinerFactory.create(status=MinerStatus.OFFLINE, consecutive_failures=5)

    _apply({miner.pk: PollOutcome.GARBAGE})

    assert _events("miner.offline") == []
    assert Miner.objects.get(pk=miner.pk).consecutive_failures == 6


@pytest.mark.django_db
def test_a_first_good_poll_of_a_new_miner_sets_it_online_without_an_event() -> None:
    miner = MinerFactory.create()

    _apply({miner.pk: PollOutcome.OK})

    assert Miner.objects.get(pk=miner.pk).status == MinerStatus.ONLINE
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_polling_never_overrides_maintenance() -> None:
    miner = MinerFactory.create(status=MinerStatus.MAINTENANCE)

    for _ in range(4):
        _apply({miner.pk: PollOutcome.REFUSED})

    assert Miner.objects.get(pk=miner.pk).status == MinerStatus.MAINTENANCE


@pytest.mark.django_db
def test_a_miner_that_answers_but_does_not_hash_counts_as_stopped_and_back_online_when_it_hashes() -> None:
    miner = MinerFactory.create(status=MinerStatus.ONLINE)

    miner_statuses_apply(outcomes={miner.pk: PollOutcome.OK}, now=NOW, offline_after_failures=3, sleeping={miner.pk})
    miner.refresh_from_db()
    asleep = miner.status
    miner_statuses_apply(outcomes={miner.pk: PollOutcome.OK}, now=NOW, offline_after_failures=3)
    miner.refresh_from_db()

    assert (asleep, miner.status) == (MinerStatus.STOPPED, MinerStatus.ONLINE)
    assert not _events("miner.offline")
