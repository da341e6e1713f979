"""The market figures a calculation runs at, each with where it came from and how old it is.

Price and difficulty come through the cache manager (analytics.selectors); when no aggregate or
network row was ever stored, or the source fails with nothing cached, the shipped history stands in.
Block height and fees per block come from the newest network rows of the current data mode
(settings.MARKET_DATA_SOURCE), then from the shipped history, then from a labelled estimate.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from analytics.models import NetworkStats
from analytics.selectors import (
    REPLAY_SOURCE,
    difficulty_adjustment_list,
    market_price_latest,
    network_difficulty_latest,
    replay_network_at,
    replay_price_at,
)
from calculator.services.profitability import BLOCKS_PER_DAY, TARGET_BLOCK_SECONDS, MarketSnapshot
from mining_platform.core.cache import FALLBACK
from mining_platform.core.errors import UpstreamUnavailableError

# The fourth halving (block 840,000, mined 2024-04-20 00:09:27 UTC) anchors the height estimate used when
# no network row holds a height: one block per 600 s from there.
_ANCHOR_HEIGHT = 840_000
_ANCHOR_AT = datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC)


@dataclass(frozen=True)
class FigureSource:
    """Where one market figure came from and how old it was when used."""

    label: str
    age_seconds: float
    fallback: bool  # a stand-in: the last good cached value, the shipped history, or an estimate
    shipped_history: bool  # taken from the history shipped with the platform (replay data)


@dataclass(frozen=True)
class MarketInputs:
    """The market snapshot of a calculation and the source of each of its figures."""

    snapshot: MarketSnapshot
    price: FigureSource
    difficulty: FigureSource
    block_height: FigureSource
    fees: FigureSource


def _age(*, now: datetime, at: datetime) -> float:
    return max(0.0, (now - at).total_seconds())


def _mode_rows() -> QuerySet[NetworkStats]:
    rows = NetworkStats.objects.all()
    if settings.MARKET_DATA_SOURCE == "replay":
        return rows.filter(source=REPLAY_SOURCE)
    return rows.exclude(source=REPLAY_SOURCE)


def _price(*, now: datetime) -> tuple[Decimal, FigureSource]:
    try:
        cached = market_price_latest()
    except UpstreamUnavailableError:
        shipped = replay_price_at(at=now)
        if shipped is None:
            raise
        label = f"shipped history ({shipped.interval} close): no aggregated price is available"
        return shipped.price_usd, FigureSource(
            label, _age(now=now, at=shipped.open_time), fallback=True, shipped_history=True
        )
    latest = cached.value
    label = f"aggregated price ({latest.mode}, {latest.sources_answered}/{latest.sources_asked} sources)"
    if cached.state == FALLBACK:
        label += ", last good value: the source is failing"
    source = FigureSource(label, _age(now=now, at=latest.at), cached.state == FALLBACK, latest.mode == "replay")
    return latest.price_usd, source


def _difficulty(*, now: datetime) -> tuple[Decimal, FigureSource]:
    try:
        cached = network_difficulty_latest()
    except UpstreamUnavailableError:
        shipped = replay_network_at(at=now)
        if shipped is None:
            raise
        label = "shipped history: no network difficulty is available"
        return shipped.difficulty, FigureSource(
            label, _age(now=now, at=shipped.recorded_at), fallback=True, shipped_history=True
        )
    latest = cached.value
    label = f"network difficulty ({latest.source})"
    if cached.state == FALLBACK:
        label += ", last good value: the source is failing"
    shipped_history = latest.source == REPLAY_SOURCE
    return latest.difficulty, FigureSource(
        label, _age(now=now, at=latest.at), cached.state == FALLBACK, shipped_history
    )


def _newest(*, now: datetime, field: str) -> tuple[NetworkStats, bool] | None:
    """The newest row of the current mode holding `field`, else of the shipped history; and if it is a fallback."""
    filters = {f"{field}__isnull": False, "recorded_at__lte": now}
    row = _mode_rows().filter(**filters).order_by("-recorded_at").first()
    if row is not None:
        return row, False
    row = NetworkStats.objects.filter(source=REPLAY_SOURCE, **filters).order_by("-recorded_at").first()
    return None if row is None else (row, True)


def _block_height(*, now: datetime) -> tuple[int, FigureSource]:
    found = _newest(now=now, field="block_height")
    height = None if found is None else found[0].block_height
    if found is not None and height is not None:
        row, fallback = found
        # The chain grows by about 144 blocks a day after the row was recorded.
        elapsed = int(_age(now=now, at=row.recorded_at)) // TARGET_BLOCK_SECONDS
        label = f"network data ({row.source}) plus {elapsed} blocks at 600 s since it was recorded"
        if fallback:
            label += "; shipped history: the current data mode has no height"
        source = FigureSource(label, _age(now=now, at=row.recorded_at), fallback, row.source == REPLAY_SOURCE)
        return height + elapsed, source
    retarget = difficulty_adjustment_list().filter(start_time__lte=now).order_by("-height").first()
    if retarget is not None:
        # A retarget row holds the exact height and time of an epoch's first block.
        elapsed = int(_age(now=now, at=retarget.start_time)) // TARGET_BLOCK_SECONDS
        label = (
            f"retarget history: block {retarget.height} plus {elapsed} blocks at 600 s since it was mined; "
            "no network row holds a height"
        )
        shipped = settings.MARKET_DATA_SOURCE == "replay"
        source = FigureSource(label, _age(now=now, at=retarget.start_time), fallback=True, shipped_history=shipped)
        return retarget.height + elapsed, source
    elapsed = max(0, int(_age(now=now, at=_ANCHOR_AT)) // TARGET_BLOCK_SECONDS)
    label = "estimate: no network data; block 840,000 (2024-04-20) plus one block per 600 s"
    return _ANCHOR_HEIGHT + elapsed, FigureSource(
        label, _age(now=now, at=_ANCHOR_AT), fallback=True, shipped_history=False
    )


def _fees(*, now: datetime) -> tuple[Decimal, FigureSource]:
    found = _newest(now=now, field="avg_fee_per_block_btc")
    per_block = None if found is None else found[0].avg_fee_per_block_btc
    if found is not None and per_block is not None:
        row, fallback = found
        label = f"average fees per block ({row.source})"
        if fallback:
            label += "; shipped history: the current data mode has no fee data"
        source = FigureSource(label, _age(now=now, at=row.recorded_at), fallback, row.source == REPLAY_SOURCE)
        return per_block, source
    found = _newest(now=now, field="fees_btc_per_day")
    per_day = None if found is None else found[0].fees_btc_per_day
    if found is not None and per_day is not None:
        row, fallback = found
        label = f"fees per day over 144 blocks ({row.source})"
        if fallback:
            label += "; shipped history: the current data mode has no fee data"
        source = FigureSource(label, _age(now=now, at=row.recorded_at), fallback, row.source == REPLAY_SOURCE)
        return per_day / BLOCKS_PER_DAY, source
    # No fee data at all: counting the subsidy alone understates revenue, never overstates it.
    return Decimal(0), FigureSource("none: no fee data, fees taken as 0", 0.0, fallback=True, shipped_history=False)


def market_snapshot_current(*, now: datetime) -> MarketInputs:
    """The market figures to compute at `now`, each labelled with its source and age.

    Raises UpstreamUnavailableError when neither a price or difficulty nor the shipped history is stored.
    """
    price, price_source = _price(now=now)
    difficulty, difficulty_source = _difficulty(now=now)
    height, height_source = _block_height(now=now)
    fees, fees_source = _fees(now=now)
    snapshot = MarketSnapshot(
        btc_price_usd=price, difficulty=difficulty, block_height=height, fees_per_block_btc=fees, as_of=now
    )
    return MarketInputs(
        snapshot=snapshot,
        price=price_source,
        difficulty=difficulty_source,
        block_height=height_source,
        fees=fees_source,
    )
