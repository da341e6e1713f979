"""Next retarget and next halving, checked against real retargets and halvings in the shipped history."""

import itertools
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from analytics.services.network_estimates import (
    BASIS_DAILY_BLOCKS,
    BASIS_PREVIOUS_EPOCH,
    EpochStart,
    NetworkHistory,
    daily_blocks,
    epoch_progress,
    halving_estimate,
    network_estimates_compute,
    network_history_offline,
    retarget_estimate,
)


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return network_history_offline()


def _epoch(history: NetworkHistory, height: int) -> EpochStart:
    return next(e for e in history.epochs if e.height == height)


def test_retarget_estimate_over_a_full_epoch_reproduces_the_real_next_difficulty(history: NetworkHistory) -> None:
    # Epoch 876,960 ran from 2024-12-29T21:55:37Z to the first block of 878,976 at 2025-01-12T20:01:51Z.
    epoch, following = _epoch(history, 876_960), _epoch(history, 878_976)
    assert epoch.started_at is not None
    assert following.started_at is not None

    estimate = retarget_estimate(
        difficulty=epoch.difficulty,
        epoch_height=epoch.height,
        started_at=epoch.started_at,
        blocks_mined=2016,
        as_of=following.started_at,
    )

    # By hand: 1,202,774 s for 2016 blocks; 2016 * 600 / 1,202,774 = 1.005675.
    assert estimate.ratio == pytest.approx(1_209_600 / 1_202_774, rel=1e-12)
    assert estimate.next_height == 878_976
    assert estimate.expected_at == following.started_at
    # The node measures 2015 intervals, not 2016, and the bits round the target: a tiny residual.
    assert abs(estimate.next_difficulty / following.difficulty - 1) < 1e-3


def test_retarget_estimate_over_a_full_epoch_is_close_for_every_timestamped_retarget(history: NetworkHistory) -> None:
    errors: list[float] = []

    for a, b in itertools.pairwise(history.epochs):
        if a.started_at is None or b.started_at is None or a.height < 100_000:
            continue
        estimate = retarget_estimate(
            difficulty=a.difficulty,
            epoch_height=a.height,
            started_at=a.started_at,
            blocks_mined=2016,
            as_of=b.started_at,
        )
        errors.append(abs(estimate.next_difficulty / b.difficulty - 1))

    assert len(errors) > 300
    assert max(errors) < 5e-3


def test_retarget_estimate_clamps_the_change_to_four_times() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)

    estimate = retarget_estimate(
        difficulty=100.0, epoch_height=2016, started_at=start, blocks_mined=1000, as_of=start + timedelta(seconds=1000)
    )

    assert estimate.ratio == 4.0
    assert estimate.next_difficulty == 400.0


def test_epoch_progress_counts_exactly_the_blocks_of_a_real_epoch(history: NetworkHistory) -> None:
    # The retarget to 878,976 happened on 2025-01-12: blocks counted to that midnight plus that day's
    # blocks still at the old difficulty must make the 2016 blocks of the epoch.
    day = history.daily.loc[pd.Timestamp(date(2025, 1, 12))]
    old, new = _epoch(history, 876_960).difficulty, _epoch(history, 878_976).difficulty
    blocks_that_day = day["hashrate_ths"] * 1e12 * 86400 / (day["difficulty"] * 2**32)
    old_blocks_that_day = blocks_that_day * (new - day["difficulty"]) / (new - old)

    progress = epoch_progress(history=history, as_of=datetime(2025, 1, 12, tzinfo=UTC))

    assert progress is not None
    assert progress.epoch.height == 876_960
    assert progress.basis == BASIS_DAILY_BLOCKS
    assert progress.blocks_mined + round(old_blocks_that_day) == 2016


def test_daily_blocks_are_whole_numbers_of_plausible_size(history: NetworkHistory) -> None:
    blocks = daily_blocks(daily=history.daily).loc["2019-01-01":"2025-08-20"]

    assert not blocks.isna().any()
    assert blocks.between(59, 212).all()


def test_network_estimates_at_a_day_with_block_counts_find_the_real_next_retarget_day(
    history: NetworkHistory,
) -> None:
    estimates = network_estimates_compute(history=history, now=datetime(2025, 8, 20, 15, 30, tzinfo=UTC))

    # Counted up to midnight of 2025-08-20, in the epoch that began at 909,216 on 2025-08-08; the real
    # next retarget (911,232) came on 2025-08-22 with +0.20 %.
    assert estimates.progress.as_of == datetime(2025, 8, 20, tzinfo=UTC)
    assert estimates.progress.epoch.height == 909_216
    assert estimates.progress.basis == BASIS_DAILY_BLOCKS
    assert estimates.retarget.next_height == 911_232
    assert estimates.retarget.expected_at.date() == _epoch(history, 911_232).started_on
    assert abs(estimates.retarget.next_difficulty / _epoch(history, 911_232).difficulty - 1) < 0.01
    assert estimates.height == 909_216 + estimates.progress.blocks_mined
    assert estimates.halving.next_height == 1_050_000


def test_network_estimates_after_the_shipped_history_take_its_end_as_now(history: NetworkHistory) -> None:
    estimates = network_estimates_compute(history=history, now=datetime(2030, 1, 1, tzinfo=UTC))

    # The daily series ends 2026-04-21; no hash rate is shipped for the epoch of 2026-04-17, so the
    # pace is the previous epoch's (2026-04-03 .. 2026-04-17: 14 days, 600 s a block).
    assert estimates.progress.as_of == datetime(2026, 4, 22, tzinfo=UTC)
    assert estimates.progress.epoch.height == 945_504
    assert estimates.progress.basis == BASIS_PREVIOUS_EPOCH
    assert estimates.retarget.mean_block_seconds == pytest.approx(600.0)
    assert estimates.retarget.change_pct == pytest.approx(0.0)


def test_halving_estimate_for_a_given_height() -> None:
    at = datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC)

    estimate = halving_estimate(height=840_000, at=at)

    # By hand: 210,000 blocks * 600 s = 1458 days 8 hours after the 2024 halving block.
    assert estimate.next_height == 1_050_000
    assert estimate.blocks_remaining == 210_000
    assert estimate.expected_at == datetime(2028, 4, 17, 8, 9, 27, tzinfo=UTC)
    assert estimate.subsidy_now_sats == 312_500_000
    assert estimate.subsidy_after_sats == 156_250_000


def test_halving_estimate_just_before_a_halving_is_one_block_away() -> None:
    at = datetime(2024, 4, 19, 23, 59, tzinfo=UTC)

    estimate = halving_estimate(height=839_999, at=at, mean_block_seconds=500.0)

    assert estimate.next_height == 840_000
    assert estimate.expected_at == at + timedelta(seconds=500)
    assert estimate.subsidy_now_sats == 625_000_000


def test_halving_estimate_from_a_real_epoch_pace_lands_near_the_2024_halving(history: NetworkHistory) -> None:
    epoch, following = _epoch(history, 838_656), _epoch(history, 840_672)
    assert epoch.started_at is not None
    assert following.started_at is not None
    pace = (following.started_at - epoch.started_at).total_seconds() / 2016

    estimate = halving_estimate(height=epoch.height, at=epoch.started_at, mean_block_seconds=pace)

    # Block 840,000 was mined at 2024-04-20T00:09:27Z.
    assert abs(estimate.expected_at - datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC)) < timedelta(hours=2)
