"""network_estimates_latest: stored history of the current mode, the shipped files as fallback, the cache."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings

from analytics.models import DifficultyAdjustment, NetworkStats
from analytics.selectors import network_estimates_latest
from analytics.services.history_load import history_load
from analytics.services.network_estimates import (
    BASIS_DAILY_BLOCKS,
    network_estimates_compute,
    network_history_offline,
)

pytestmark = pytest.mark.django_db

DIFFICULTY = Decimal("1000000000000")
EPOCH_HEIGHT = 201_600  # 100 epochs of 2016 blocks
EPOCH_STARTED_AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
NOW = datetime(2026, 1, 6, 10, tzinfo=UTC)


def _hashrate_ths(blocks_per_day: int) -> float:
    # The inverse of daily_blocks: hash rate = blocks * difficulty * 2^32 / 86400 s, in TH/s.
    return blocks_per_day * float(DIFFICULTY) * 2.0**32 / 86400 / 1e12


@pytest.fixture
def retargets() -> None:
    """The epoch starting at 12:00 on 2026-01-01 and the one before it, both at the same difficulty."""
    DifficultyAdjustment.objects.create(
        height=EPOCH_HEIGHT - 2016,
        start_time=datetime(2025, 12, 18, 12, tzinfo=UTC),
        bits="1a0fffff",
        difficulty=DIFFICULTY,
    )
    DifficultyAdjustment.objects.create(
        height=EPOCH_HEIGHT, start_time=EPOCH_STARTED_AT, bits="1a0fffff", difficulty=DIFFICULTY
    )


def _daily_rows(*, source: str, blocks_per_day: int, hours: tuple[int, ...] = (0,)) -> None:
    """Rows on 2026-01-01 .. 2026-01-05 at the given UTC hours (0 alone: one daily figure a day)."""
    for day in range(5):
        for hour in hours:
            NetworkStats.objects.create(
                source=source,
                recorded_at=datetime(2026, 1, 1 + day, hour, tzinfo=UTC),
                difficulty=DIFFICULTY,
                hashrate_ths=_hashrate_ths(blocks_per_day),
            )


def test_network_estimates_latest_uses_the_stored_replay_rows_in_replay_mode(retargets: None) -> None:
    _daily_rows(source="replay", blocks_per_day=160)

    estimates = network_estimates_latest(now=NOW)

    # By hand: half of Jan 1 (80 blocks) + 4 days * 160 = 720 blocks in 4.5 days = 540 s a block.
    assert estimates.progress.basis == BASIS_DAILY_BLOCKS
    assert estimates.progress.blocks_mined == 720
    assert estimates.height == EPOCH_HEIGHT + 720
    assert estimates.retarget.mean_block_seconds == pytest.approx(540.0)
    assert estimates.retarget.change_pct == pytest.approx(100 * (600 / 540 - 1))
    # 1296 blocks left at 540 s from 2026-01-06 00:00: 699,840 s later.
    assert estimates.retarget.expected_at == datetime(2026, 1, 14, 2, 24, tzinfo=UTC)
    assert estimates.halving.next_height == 210_000
    assert estimates.halving.expected_at == datetime(2026, 1, 6, tzinfo=UTC) + timedelta(seconds=7680 * 600)


def test_network_estimates_latest_uses_the_live_sources_in_live_mode(retargets: None, settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "live"
    _daily_rows(source="replay", blocks_per_day=160)
    _daily_rows(source="blockchain_info", blocks_per_day=144, hours=(3, 9, 15))
    _daily_rows(source="mempool_space", blocks_per_day=144, hours=(4, 10, 16, 22))

    estimates = network_estimates_latest(now=NOW)

    # The live readings' mean: 72 + 4 * 144 = 648 blocks in 4.5 days, exactly 600 s a block.
    assert estimates.progress.blocks_mined == 648
    assert estimates.retarget.mean_block_seconds == pytest.approx(600.0)
    assert estimates.retarget.change_pct == pytest.approx(0.0, abs=1e-9)


def test_network_estimates_latest_in_live_mode_prefers_the_daily_chart_rows(
    retargets: None, settings: Settings
) -> None:
    settings.MARKET_DATA_SOURCE = "live"
    _daily_rows(source="blockchain_info", blocks_per_day=144)  # the charts backfill: 00:00 UTC
    _daily_rows(source="blockchain_info", blocks_per_day=200, hours=(3, 15))
    _daily_rows(source="mempool_space", blocks_per_day=200, hours=(6, 18))

    estimates = network_estimates_latest(now=NOW)

    assert estimates.progress.blocks_mined == 648


def test_network_estimates_latest_falls_back_to_the_shipped_files_without_rows() -> None:
    now = datetime(2025, 1, 5, 15, tzinfo=UTC)

    estimates = network_estimates_latest(now=now)

    assert estimates == network_estimates_compute(history=network_history_offline(), now=now)
    assert estimates.progress.epoch.height == 876_960


def test_network_estimates_latest_falls_back_to_the_shipped_files_when_rows_cannot_answer(retargets: None) -> None:
    _daily_rows(source="replay", blocks_per_day=160)
    before_any_stored_retarget = datetime(2025, 1, 5, 15, tzinfo=UTC)

    estimates = network_estimates_latest(now=before_any_stored_retarget)

    assert estimates.progress.epoch.height == 876_960


def test_network_estimates_latest_serves_the_cached_value_for_the_same_day(retargets: None) -> None:
    _daily_rows(source="replay", blocks_per_day=160)
    first = network_estimates_latest(now=NOW)
    NetworkStats.objects.all().delete()

    again = network_estimates_latest(now=NOW + timedelta(hours=3))

    assert again == first
    assert again.progress.blocks_mined == 720


def test_network_estimates_latest_of_the_loaded_history_matches_the_shipped_files() -> None:
    history_load()
    offline = network_history_offline()

    for now in (datetime(2025, 1, 5, 15, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)):
        stored = network_estimates_latest(now=now)
        expected = network_estimates_compute(history=offline, now=now)

        assert stored.progress.basis == expected.progress.basis
        assert stored.progress.epoch.height == expected.progress.epoch.height
        assert stored.progress.started_at == expected.progress.started_at
        assert stored.height == expected.height
        assert stored.retarget.change_pct == pytest.approx(expected.retarget.change_pct, rel=1e-9)
        assert abs(stored.retarget.expected_at - expected.retarget.expected_at) < timedelta(seconds=1)
        assert abs(stored.halving.expected_at - expected.halving.expected_at) < timedelta(seconds=1)
