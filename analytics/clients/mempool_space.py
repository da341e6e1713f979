"""mempool.space public API: difficulty, hash rate, tip height and recommended fees as one reading.

- `/api/v1/mining/hashrate/3d`: `currentHashrate` (H/s) and `currentDifficulty`;
- `/api/v1/difficulty-adjustment`: epoch progress, the expected change (percent), the estimated
  retarget time (milliseconds) and the next retarget height;
- `/api/blocks/tip/height`: the tip height as plain text;
- `/api/v1/fees/recommended`: fee rates in sat/vB;
- `/api/v1/blocks`: the most recent blocks (15), newest first, each with `height`, `timestamp` (unix
  seconds) and `extras.totalFees` (satoshis): their mean is the average fee per block.

The five calls run at once; the source counts as failed when any of them fails, so a reading is
always whole. These answers carry no timestamp of their own, so the reading is dated when it arrived.

The retarget recorder also asks for single blocks by height (`block_at_height_fetch`, below).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
    as_list,
    as_mapping,
    epoch_to_datetime,
    float_in_range,
    get_json,
    get_text,
    in_range,
    non_negative,
    require,
)

NAME = "mempool_space"
HASHRATE_PERIOD = "3d"
SATS_PER_BTC = Decimal(100_000_000)
SATOSHI = Decimal("0.00000001")
MAX_BLOCK_FEES_SATS = 1000 * SATS_PER_BTC


def hashrate_parse(body: object) -> tuple[Decimal, float]:
    """The current difficulty and hash rate (TH/s)."""
    data = as_mapping(body, "hashrate body")
    difficulty = in_range(
        as_decimal(require(data, "currentDifficulty", "hashrate body"), "currentDifficulty"),
        "currentDifficulty",
        low=DIFFICULTY_RANGE[0],
        high=DIFFICULTY_RANGE[1],
    )
    hashrate_ths = float_in_range(
        as_decimal(require(data, "currentHashrate", "hashrate body"), "currentHashrate") / Decimal(10**12),
        "currentHashrate (TH/s)",
        low=HASHRATE_THS_RANGE[0],
        high=HASHRATE_THS_RANGE[1],
    )
    return difficulty, hashrate_ths


def difficulty_adjustment_parse(body: object) -> tuple[float, datetime, int]:
    """The expected change (percent), the estimated retarget time, and the next retarget height."""
    data = as_mapping(body, "difficulty adjustment body")
    change = float(as_decimal(require(data, "difficultyChange", "difficulty adjustment"), "difficultyChange"))
    # Retargets are clamped to a factor of four: anything outside -75 % .. +300 % is not a real estimate.
    if not -75.0 <= change <= 300.0:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"difficultyChange {change} is outside -75..300 %")
    retarget_at = epoch_to_datetime(
        require(data, "estimatedRetargetDate", "difficulty adjustment"), "estimatedRetargetDate", unit_seconds=1e-3
    )
    height = as_int(require(data, "nextRetargetHeight", "difficulty adjustment"), "nextRetargetHeight")
    return change, retarget_at, height


def tip_height_parse(text: str) -> int:
    try:
        height = int(text.strip())
    except ValueError as exc:
        raise SourceError(ErrorKind.MALFORMED, f"tip height is not an integer: {text[:40]!r}") from exc
    in_range(Decimal(height), "tip height", low=BLOCK_HEIGHT_RANGE[0], high=BLOCK_HEIGHT_RANGE[1])
    return height


def fees_parse(body: object) -> tuple[int, int, int, int]:
    """Fastest, half-hour, hour and economy fee rates, sat/vB."""
    data = as_mapping(body, "fees body")
    rates = tuple(
        as_int(require(data, name, "fees"), name) for name in ("fastestFee", "halfHourFee", "hourFee", "economyFee")
    )
    if any(rate < 0 or rate > 100_000 for rate in rates):
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"fee rates {rates} are outside 0..100000 sat/vB")
    return rates[0], rates[1], rates[2], rates[3]


def blocks_parse(body: object) -> tuple[int, Decimal]:
    """The newest block's height and the mean total fees per block (BTC) over the blocks listed."""
    blocks = as_list(body, "blocks")
    if not blocks:
        raise SourceError(ErrorKind.MALFORMED, "blocks list is empty")
    heights: list[int] = []
    fees_sats: list[Decimal] = []
    for index, raw in enumerate(blocks):
        what = f"block {index}"
        block = as_mapping(raw, what)
        height = as_int(require(block, "height", what), f"{what} height")
        in_range(Decimal(height), f"{what} height", low=BLOCK_HEIGHT_RANGE[0], high=BLOCK_HEIGHT_RANGE[1])
        epoch_to_datetime(require(block, "timestamp", what), f"{what} timestamp", unit_seconds=1.0)
        extras = as_mapping(require(block, "extras", what), f"{what} extras")
        # In satoshis; a whole block's fees have never come near 1,000 BTC.
        fees = non_negative(
            require(extras, "totalFees", f"{what} extras"), f"{what} totalFees", high=MAX_BLOCK_FEES_SATS
        )
        heights.append(height)
        fees_sats.append(fees)
    if len(set(heights)) != len(heights):
        raise SourceError(ErrorKind.MALFORMED, "blocks list a height twice")
    average = sum(fees_sats, Decimal(0)) / len(fees_sats) / SATS_PER_BTC
    return max(heights), average.quantize(SATOSHI)


async def reading_fetch(client: httpx.AsyncClient, *, base_url: str, now: datetime) -> NetworkReading:
    hashrate_body, adjustment_body, tip_text, fees_body, blocks_body = await asyncio.gather(
        get_json(client, f"{base_url}/api/v1/mining/hashrate/{HASHRATE_PERIOD}"),
        get_json(client, f"{base_url}/api/v1/difficulty-adjustment"),
        get_text(client, f"{base_url}/api/blocks/tip/height"),
        get_json(client, f"{base_url}/api/v1/fees/recommended"),
        get_json(client, f"{base_url}/api/v1/blocks"),
    )
    difficulty, hashrate_ths = hashrate_parse(hashrate_body)
    change, retarget_at, retarget_height = difficulty_adjustment_parse(adjustment_body)
    fastest, half_hour, hour, economy = fees_parse(fees_body)
    newest_height, avg_fee_per_block_btc = blocks_parse(blocks_body)
    return NetworkReading(
        observed_at=now,
        difficulty=difficulty,
        hashrate_ths=hashrate_ths,
        # The calls race a new block: whichever answer saw the later one has the tip.
        block_height=max(tip_height_parse(tip_text), newest_height),
        avg_fee_per_block_btc=avg_fee_per_block_btc,
        next_retarget_height=retarget_height,
        difficulty_change_percent=change,
        estimated_retarget_at=retarget_at,
        fastest_fee_sat_vb=fastest,
        half_hour_fee_sat_vb=half_hour,
        hour_fee_sat_vb=hour,
        economy_fee_sat_vb=economy,
    )


# --- retargets: one block by height --------------------------------------------------------------------
#
# `/api/block-height/<h>` answers the hash of the block at height h as plain text (404 past the tip);
# `/api/block/<hash>` answers that block as JSON with `id`, `height`, `timestamp` (unix seconds), `bits`
# (the compact target as a number) and `difficulty`. The retarget recorder asks both for the first block
# of an epoch.

# Difficulty 1 is the target 0xffff * 2^208 (compact form 1d00ffff); a block's difficulty is that over its target.
_DIFFICULTY_1_TARGET = 0xFFFF << 208
# The compact target's mantissa has a sign bit; a real target is positive, so the bit is never set.
_COMPACT_SIGN_BIT = 0x00800000
# mempool.space sends the difficulty as a double computed from the bits: agreement to well within this.
_DIFFICULTY_REL_TOLERANCE = Decimal("1e-9")


@dataclass(frozen=True)
class BlockHeader:
    """One block: its height, hash, time, compact target (8 lowercase hex digits) and difficulty."""

    height: int
    block_hash: str
    mined_at: datetime
    bits: str
    difficulty: Decimal


async def tip_height_fetch(client: httpx.AsyncClient, *, base_url: str) -> int:
    """The height of the newest block."""
    return tip_height_parse(await get_text(client, f"{base_url}/api/blocks/tip/height"))


def block_hash_parse(text: str, *, height: int) -> str:
    """The 64-hex-digit hash mempool.space answers for a height, lowercased."""
    block_hash = text.strip().lower()
    if len(block_hash) != 64 or any(ch not in "0123456789abcdef" for ch in block_hash):
        raise SourceError(ErrorKind.MALFORMED, f"hash of block {height} is not 64 hex digits: {text[:80]!r}")
    return block_hash


def difficulty_from_bits(bits: int) -> Decimal:
    """The difficulty a compact target stands for (consensus encoding: 1-byte exponent, 3-byte mantissa)."""
    exponent, mantissa = bits >> 24, bits & 0xFFFFFF
    if not 0 < bits <= 0xFFFFFFFF or mantissa == 0 or mantissa & _COMPACT_SIGN_BIT or exponent < 3:
        raise SourceError(ErrorKind.OUT_OF_RANGE, f"bits {bits} is not a valid compact target")
    target = mantissa << (8 * (exponent - 3))
    return Decimal(_DIFFICULTY_1_TARGET) / Decimal(target)


def block_parse(body: object, *, height: int, block_hash: str) -> BlockHeader:
    """The block asked for; an answer about another block, or a difficulty its bits deny, is refused."""
    what = f"block {height}"
    data = as_mapping(body, f"{what} body")
    if require(data, "id", what) != block_hash:
        raise SourceError(ErrorKind.MALFORMED, f"{what} body is about block {data['id']!r}, not {block_hash}")
    if as_int(require(data, "height", what), f"{what} height") != height:
        raise SourceError(ErrorKind.MALFORMED, f"{what} body has height {data['height']!r}")
    mined_at = epoch_to_datetime(require(data, "timestamp", what), f"{what} timestamp", unit_seconds=1.0)
    raw_bits = require(data, "bits", what)
    # A JSON number, never a string: a hex string here would be another API's shape, read wrongly.
    if isinstance(raw_bits, bool) or not isinstance(raw_bits, int):
        raise SourceError(ErrorKind.MALFORMED, f"{what} bits is not an integer: {raw_bits!r}")
    expected = difficulty_from_bits(raw_bits)
    difficulty = in_range(
        as_decimal(require(data, "difficulty", what), f"{what} difficulty"),
        f"{what} difficulty",
        low=DIFFICULTY_RANGE[0],
        high=DIFFICULTY_RANGE[1],
    )
    if abs(difficulty - expected) > expected * _DIFFICULTY_REL_TOLERANCE:
        raise SourceError(
            ErrorKind.MALFORMED,
            f"{what} difficulty {difficulty} does not match its bits {raw_bits:08x} ({expected:.6e})",
        )
    return BlockHeader(
        height=height, block_hash=block_hash, mined_at=mined_at, bits=f"{raw_bits:08x}", difficulty=difficulty
    )


async def block_at_height_fetch(client: httpx.AsyncClient, *, base_url: str, height: int) -> BlockHeader:
    """The block at `height` on mempool.space's best chain: its hash first, then the block itself."""
    block_hash = block_hash_parse(await get_text(client, f"{base_url}/api/block-height/{height}"), height=height)
    return block_parse(
        await get_json(client, f"{base_url}/api/block/{block_hash}"), height=height, block_hash=block_hash
    )
