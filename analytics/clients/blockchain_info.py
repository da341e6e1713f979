"""blockchain.info (Blockchain.com) `/stats`: difficulty, hash rate, height and the last 24 hours' fees.

Units as documented: `hash_rate` in GH/s, `total_fees_btc` in satoshis (despite its name) over the
last 24 hours, `timestamp` in milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import httpx

from .base import (
    BLOCK_HEIGHT_RANGE,
    DIFFICULTY_RANGE,
    HASHRATE_THS_RANGE,
    ErrorKind,
    NetworkReading,
    SourceError,
    as_decimal,
    as_int,
    as_mapping,
    epoch_to_datetime,
    float_in_range,
    fresh,
    get_json,
    in_range,
    require,
)

NAME = "blockchain_info"
SATS_PER_BTC = Decimal(100_000_000)


def error_text(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def stats_parse(body: object, *, now: datetime, max_age_s: float) -> NetworkReading:
    stats = as_mapping(body, "stats")
    observed_at = epoch_to_datetime(require(stats, "timestamp", "stats"), "timestamp", unit_seconds=1e-3)
    fresh(observed_at, now=now, max_age_s=max_age_s, what="timestamp")
    difficulty = in_range(
        as_decimal(require(stats, "difficulty", "stats"), "difficulty"),
        "difficulty",
        low=DIFFICULTY_RANGE[0],
        high=DIFFICULTY_RANGE[1],
    )
    hashrate_ths = float_in_range(
        as_decimal(require(stats, "hash_rate", "stats"), "hash_rate") / 1000,
        "hash_rate (TH/s)",
        low=HASHRATE_THS_RANGE[0],
        high=HASHRATE_THS_RANGE[1],
    )
    height = as_int(require(stats, "n_blocks_total", "stats"), "n_blocks_total")
    in_range(Decimal(height), "n_blocks_total", low=BLOCK_HEIGHT_RANGE[0], high=BLOCK_HEIGHT_RANGE[1])
    fees_sats = as_int(require(stats, "total_fees_btc", "stats"), "total_fees_btc")
    if fees_sats < 0:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"total_fees_btc {fees_sats} is negative")
    blocks = as_int(require(stats, "n_blocks_mined", "stats"), "n_blocks_mined")
    fees_btc = Decimal(fees_sats) / SATS_PER_BTC
    next_retarget = stats.get("nextretarget")
    return NetworkReading(
        observed_at=observed_at,
        difficulty=difficulty,
        hashrate_ths=hashrate_ths,
        # Taken as the tip height; mempool.space gives the exact tip, and one block either way changes
        # nothing derived from it (epoch progress, halving date).
        block_height=height,
        fees_btc_per_day=fees_btc.quantize(Decimal("0.00000001")),
        avg_fee_per_block_btc=(fees_btc / blocks).quantize(Decimal("0.00000001")) if blocks > 0 else None,
        next_retarget_height=None if next_retarget is None else as_int(next_retarget, "nextretarget"),
    )


async def stats_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime, max_age_s: float) -> NetworkReading:
    body = await get_json(client, f"{base_url}/stats", error_text=error_text)
    return stats_parse(body, now=now, max_age_s=max_age_s)
