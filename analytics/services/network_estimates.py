"""Estimates of the next difficulty adjustment and the next halving, from the pace of the current epoch.

Consensus rules used here: the difficulty retargets every 2016 blocks so that blocks come every 600 s,
by the ratio of the expected to the actual epoch duration, clamped to x4 and /4; the block subsidy
(50 BTC at first) halves every 210,000 blocks.

Block counts come from the daily series: Blockchain.com's daily hash rate is the number of blocks
mined that day times the day's mean difficulty times 2^32 / 86400 / 1e12 (see
analytics/data/PROVENANCE.md section 2), so blocks per day = hash rate * 1e12 * 86400 / (difficulty * 2^32).
Everything takes `now` (or `as_of`) from the caller; with the shipped history, "now" is its end.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from analytics.offline_data import DATASETS, offline_dataset_rows

BLOCKS_PER_EPOCH = 2016
TARGET_BLOCK_SECONDS = 600.0
MAX_RETARGET_FACTOR = 4.0
HALVING_INTERVAL_BLOCKS = 210_000
INITIAL_SUBSIDY_SATS = 5_000_000_000
_HASHES_PER_DIFFICULTY = 2.0**32
_DAY = timedelta(days=1)

BASIS_DAILY_BLOCKS = "daily_blocks"
BASIS_PREVIOUS_EPOCH = "previous_epoch"


@dataclass(frozen=True)
class EpochStart:
    """The first block of a 2016-block epoch: its height, difficulty, UTC day and (when known) time."""

    height: int
    difficulty: float
    started_on: date
    started_at: datetime | None


@dataclass(frozen=True, eq=False)
class NetworkHistory:
    """Retargets in height order and the daily series (UTC day index; difficulty, hashrate_ths, NaN if unknown)."""

    epochs: tuple[EpochStart, ...]
    daily: pd.DataFrame


@dataclass(frozen=True)
class EpochProgress:
    """How far the epoch containing `as_of` had come: blocks mined since its first block, and since when."""

    epoch: EpochStart
    previous_difficulty: float | None
    started_at: datetime
    blocks_mined: int
    as_of: datetime
    basis: str


@dataclass(frozen=True)
class RetargetEstimate:
    """The next retarget if the epoch keeps its pace: when, at which height, and the new difficulty."""

    next_height: int
    expected_at: datetime
    mean_block_seconds: float
    ratio: float
    next_difficulty: float

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100.0


@dataclass(frozen=True)
class HalvingEstimate:
    """The next halving: its height, how many blocks away, when at the given pace, and the subsidies."""

    next_height: int
    blocks_remaining: int
    expected_at: datetime
    subsidy_now_sats: int
    subsidy_after_sats: int


@dataclass(frozen=True)
class NetworkEstimates:
    """Next retarget and next halving as of the last complete UTC day at or before `now`."""

    progress: EpochProgress
    height: int
    retarget: RetargetEstimate
    halving: HalvingEstimate


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def retarget_estimate(
    *, difficulty: float, epoch_height: int, started_at: datetime, blocks_mined: int, as_of: datetime
) -> RetargetEstimate:
    """The next retarget if the rest of the epoch comes at the pace of its first `blocks_mined` blocks."""
    if not 0 < blocks_mined <= BLOCKS_PER_EPOCH:
        raise ValueError(f"blocks_mined must be in 1..{BLOCKS_PER_EPOCH}, not {blocks_mined}")
    mean_seconds = (as_of - started_at).total_seconds() / blocks_mined
    if mean_seconds <= 0:
        raise ValueError("as_of must come after the epoch's first block")
    # The node compares the epoch's actual duration with 2016 * 600 s; at a steady pace that ratio is
    # 600 s over the mean block time.
    ratio = min(max(TARGET_BLOCK_SECONDS / mean_seconds, 1.0 / MAX_RETARGET_FACTOR), MAX_RETARGET_FACTOR)
    remaining = BLOCKS_PER_EPOCH - blocks_mined
    return RetargetEstimate(
        next_height=epoch_height + BLOCKS_PER_EPOCH,
        expected_at=as_of + timedelta(seconds=remaining * mean_seconds),
        mean_block_seconds=mean_seconds,
        ratio=ratio,
        next_difficulty=difficulty * ratio,
    )


def halving_estimate(*, height: int, at: datetime, mean_block_seconds: float = TARGET_BLOCK_SECONDS) -> HalvingEstimate:
    """The next halving after block `height` (mined at `at`), with blocks coming every `mean_block_seconds`."""
    era = height // HALVING_INTERVAL_BLOCKS
    next_height = (era + 1) * HALVING_INTERVAL_BLOCKS
    remaining = next_height - height
    return HalvingEstimate(
        next_height=next_height,
        blocks_remaining=remaining,
        expected_at=at + timedelta(seconds=remaining * mean_block_seconds),
        subsidy_now_sats=INITIAL_SUBSIDY_SATS >> era,
        subsidy_after_sats=INITIAL_SUBSIDY_SATS >> (era + 1),
    )


def daily_blocks(*, daily: pd.DataFrame) -> "pd.Series[float]":
    """Blocks mined each UTC day, from the day's hash rate and mean difficulty (NaN where either is unknown)."""
    blocks: pd.Series[float] = (
        daily["hashrate_ths"] * 1e12 * 86400.0 / (daily["difficulty"] * _HASHES_PER_DIFFICULTY)
    ).round()
    return blocks


def _known_start(epoch: EpochStart) -> datetime:
    # An epoch known only by its day has surely begun once that day is over.
    return epoch.started_at if epoch.started_at is not None else _midnight(epoch.started_on) + _DAY


def _epoch_index_at(epochs: Sequence[EpochStart], as_of: datetime) -> int:
    started = [i for i, epoch in enumerate(epochs) if _known_start(epoch) <= as_of]
    if not started:
        raise ValueError(f"no retarget known before {as_of.isoformat()}")
    return started[-1]


def _progress_from_daily_blocks(
    *, history: NetworkHistory, index: int, blocks: "pd.Series[float]", as_of: datetime
) -> EpochProgress | None:
    epoch = history.epochs[index]
    previous = history.epochs[index - 1].difficulty if index > 0 else None
    start_day = pd.Timestamp(epoch.started_on)
    last_day = pd.Timestamp(as_of.date() - _DAY)
    window = blocks.loc[start_day:last_day]
    if len(window) != (last_day - start_day).days + 1 or bool(window.isna().any()):
        return None
    day_total = float(window.iloc[0])
    day_mean = float(history.daily["difficulty"].loc[start_day])
    # The start day mixes blocks at the old and the new difficulty; its published mean difficulty
    # says how many were at the new one.
    if previous is not None and not math.isclose(previous, epoch.difficulty, rel_tol=1e-12):
        share = (day_mean - previous) / (epoch.difficulty - previous)
    elif epoch.started_at is not None:
        share = ((_midnight(epoch.started_on) + _DAY) - epoch.started_at) / _DAY
    else:
        share = 0.5
    new_on_start_day = round(day_total * min(max(share, 0.0), 1.0))
    mined = new_on_start_day + int(window.iloc[1:].sum())
    if mined <= 0:
        return None
    started_at = epoch.started_at
    if started_at is None:
        # Assume the start day's blocks came evenly: the new-difficulty ones were its last ones.
        started_at = _midnight(epoch.started_on) + _DAY - _DAY * (new_on_start_day / day_total)
    return EpochProgress(
        epoch=epoch,
        previous_difficulty=previous,
        started_at=started_at,
        blocks_mined=min(mined, BLOCKS_PER_EPOCH),
        as_of=as_of,
        basis=BASIS_DAILY_BLOCKS,
    )


def _progress_from_previous_epoch(*, history: NetworkHistory, index: int, as_of: datetime) -> EpochProgress:
    epoch = history.epochs[index]
    if index == 0:
        raise ValueError("no block counts and no previous epoch to take a pace from")
    previous = history.epochs[index - 1]

    def approx_start(e: EpochStart) -> datetime:
        # A start known only by its day is taken at midday: at most half a day off.
        return e.started_at if e.started_at is not None else _midnight(e.started_on) + _DAY / 2

    started_at = approx_start(epoch)
    mean_seconds = (started_at - approx_start(previous)).total_seconds() / BLOCKS_PER_EPOCH
    mined = int((as_of - started_at).total_seconds() / mean_seconds)
    return EpochProgress(
        epoch=epoch,
        previous_difficulty=previous.difficulty,
        started_at=started_at,
        blocks_mined=min(max(mined, 1), BLOCKS_PER_EPOCH - 1),
        as_of=as_of,
        basis=BASIS_PREVIOUS_EPOCH,
    )


def epoch_progress(
    *, history: NetworkHistory, as_of: datetime, blocks: "pd.Series[float] | None" = None
) -> EpochProgress | None:
    """Blocks mined in the epoch containing `as_of` (a UTC midnight), counted from the daily series.

    None when the daily block counts of that epoch are not all known. `blocks` may pass precomputed
    `daily_blocks` to save work in loops.
    """
    if as_of != _midnight(as_of.date()):
        raise ValueError("as_of must be a UTC midnight: block counts are per whole day")
    index = _epoch_index_at(history.epochs, as_of)
    counts = daily_blocks(daily=history.daily) if blocks is None else blocks
    return _progress_from_daily_blocks(history=history, index=index, blocks=counts, as_of=as_of)


def retarget_from_progress(*, progress: EpochProgress) -> RetargetEstimate:
    return retarget_estimate(
        difficulty=progress.epoch.difficulty,
        epoch_height=progress.epoch.height,
        started_at=progress.started_at,
        blocks_mined=progress.blocks_mined,
        as_of=progress.as_of,
    )


def difficulty_epoch_forecast(
    *, history: NetworkHistory, as_of: datetime, days: Iterable[date], blocks: "pd.Series[float] | None" = None
) -> dict[date, float] | None:
    """The difficulty of each day if the current epoch keeps its pace (the naive network baseline).

    Before the expected retarget the difficulty stays; after it, the estimated new one. A later
    retarget is taken as no change: at an unchanged hash rate the new difficulty brings blocks back
    to 600 s. None when the epoch's block counts are not known.
    """
    progress = epoch_progress(history=history, as_of=as_of, blocks=blocks)
    if progress is None:
        return None
    estimate = retarget_from_progress(progress=progress)
    # A day's published difficulty is the mean over its blocks, so judge each day by its midday.
    return {
        day: estimate.next_difficulty
        if _midnight(day) + _DAY / 2 >= estimate.expected_at
        else progress.epoch.difficulty
        for day in days
    }


def network_history_end(*, history: NetworkHistory) -> datetime:
    """The end of the daily series (midnight after its last day): "now" for the shipped history."""
    last: pd.Timestamp = history.daily.index.max()
    return _midnight(last.date()) + _DAY


def network_estimates_compute(*, history: NetworkHistory, now: datetime) -> NetworkEstimates:
    """Next retarget and halving as of the last complete UTC day at or before `now` (and in the data).

    The pace comes from the current epoch's daily block counts; where those are not published (the
    shipped hash rate ends before the difficulty does), from the previous epoch's duration, and the
    result says which (`progress.basis`).
    """
    as_of = min(_midnight(now.astimezone(UTC).date()), network_history_end(history=history))
    progress = epoch_progress(history=history, as_of=as_of)
    if progress is None:
        progress = _progress_from_previous_epoch(
            history=history, index=_epoch_index_at(history.epochs, as_of), as_of=as_of
        )
    retarget = retarget_from_progress(progress=progress)
    height = progress.epoch.height + progress.blocks_mined
    return NetworkEstimates(
        progress=progress,
        height=height,
        retarget=retarget,
        halving=halving_estimate(height=height, at=as_of, mean_block_seconds=TARGET_BLOCK_SECONDS),
    )


def network_history_build(
    *, epochs: Iterable[EpochStart], daily: Mapping[date, tuple[float, float | None]]
) -> NetworkHistory:
    """A NetworkHistory from retargets and day -> (difficulty, hash rate TH/s or None)."""
    days = sorted(daily)
    frame = pd.DataFrame(
        {
            "difficulty": [daily[d][0] for d in days],
            "hashrate_ths": [np.nan if daily[d][1] is None else daily[d][1] for d in days],
        },
        index=pd.DatetimeIndex([pd.Timestamp(d) for d in days]),
        dtype=float,
    )
    return NetworkHistory(epochs=tuple(sorted(epochs, key=lambda e: e.height)), daily=frame)


def network_history_offline() -> NetworkHistory:
    """The shipped network history (analytics/data), read straight from the files."""
    by_name = {d.name: d for d in DATASETS}
    epochs = [
        EpochStart(
            height=int(row["height"]),
            difficulty=float(row["difficulty"]),
            started_on=date.fromisoformat(row["start_date"]),
            started_at=(
                datetime.fromisoformat(row["start_time_utc"]).astimezone(UTC) if row["start_time_utc"] else None
            ),
        )
        for row in offline_dataset_rows(dataset=by_name["btc_difficulty_adjustments"])
    ]
    daily = {
        date.fromisoformat(row["date"]): (
            float(row["difficulty"]),
            float(row["hashrate_ths"]) if row["hashrate_ths"] else None,
        )
        for row in offline_dataset_rows(dataset=by_name["btc_difficulty_daily"])
        if row["difficulty"]
    }
    return network_history_build(epochs=epochs, daily=daily)
