"""Figures every cgminer-family personality derives from a reading, before spelling them its own way."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hosting.emulator.miner import Reading
from hosting.emulator.spec import MinerSpec

_HALVING_HEIGHT = 840_000
_HALVING_TIME = 1_713_571_200.0  # block 840,000 was mined on 2024-04-20


@dataclass(frozen=True)
class PoolFigures:
    """One pool's counters; the active pool (position 0) gets the work, backups only their getworks."""

    position: int
    url: str
    user: str
    active: bool
    getworks: int
    accepted: int
    rejected: int
    discarded: int
    stale: int
    diff1_shares: int
    difficulty: float
    difficulty_accepted: float
    difficulty_rejected: float
    last_share_time: float  # Unix time, 0.0 when none
    last_share_difficulty: float
    best_share: int
    works: int
    block_height: int


def block_height(now: float) -> int:
    return _HALVING_HEIGHT + int((now - _HALVING_TIME) / 600)


def pool_figures(spec: MinerSpec, r: Reading) -> list[PoolFigures]:
    pools = []
    for position, pool in enumerate(spec.pools):
        active = position == 0
        accepted = r.accepted if active else 0
        rejected = r.rejected if active else 0
        pools.append(
            PoolFigures(
                position=position,
                url=pool.url,
                user=pool.user,
                active=active,
                getworks=(r.elapsed_s // 30 + 1) if active else 1,
                accepted=accepted,
                rejected=rejected,
                discarded=(r.elapsed_s // 3) if active else 0,
                stale=rejected // 50,
                diff1_shares=int(accepted * r.difficulty),
                difficulty=r.difficulty,
                difficulty_accepted=accepted * r.difficulty,
                difficulty_rejected=rejected * r.difficulty,
                last_share_time=r.last_share_at if active else 0.0,
                last_share_difficulty=r.difficulty if active and accepted else 0.0,
                best_share=r.best_share if active else 0,
                works=int(r.work_gh * 1e9 / 4294967296.0 / 16) if active else 0,
                block_height=block_height(r.now) if active else 0,
            )
        )
    return pools


def since_text(seconds: float) -> str:
    """Bitmain's `Last Share Time`: elapsed time as H:MM:SS with unbounded hours (quirks.md Q8)."""
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def short_difficulty(value: float) -> str:
    """Bitmain's `Diff` column: "65.5K", "32.8K", "" when unknown (antminer_*_pools samples)."""
    if value <= 0:
        return ""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            text = f"{value / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{value:.0f}"


@functools.lru_cache(maxsize=256)
def chip_string(chips: int, group: int, *, healthy: bool) -> str:
    """`chain_acsN`: one char per chip, `o` fine and `x` not hashing, space-separated groups."""
    mark = "o" if healthy else "x"
    groups = [mark * min(group, chips - start) for start in range(0, chips, group)]
    return " " + " ".join(groups) if groups else ""
