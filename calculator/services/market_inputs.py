"""The market figures a calculation runs at, each with where it came from and how old it is.

Price and difficulty come through the cache manager (analytics.selectors); when no aggregate or
network row was ever stored, or the source fails with nothing cached, the shipped history stands in.
Block height and fees per block come from the newest network rows of the current data mode
(settings.MARKET_DATA_SOURCE), then from the shipped history, then from a labelled estimate.

The stored rows behind height, fees and the shipped-history stand-ins are read once and kept in the
cache manager (CALCULATOR_MARKET_READS_CACHE_KEY) with the times they carry, for the shorter of the
price and difficulty cache times (MARKET_PRICE_CACHE_SECONDS), so a calculation makes no database
query for them and every age is still computed at the moment of the request. They are read again at
once when the difficulty in use was recorded after them (a collector stored newer network rows).

The quote endpoint, which answers hundreds of requests a second, reads all of it from one shared entry
instead (market_snapshot_shared), renewed every MARKET_SHARED_SECONDS.
"""

import pickle
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from django.conf import settings
from django.db.models import QuerySet
from django_redis import get_redis_connection

from analytics.models import NetworkStats
from analytics.selectors import (
    REPLAY_SOURCE,
    LatestDifficulty,
    LatestPrice,
    ReplayPrice,
    difficulty_adjustment_list,
    market_price_latest,
    network_difficulty_latest,
    replay_network_at,
    replay_price_at,
)
from calculator.services.profitability import BLOCKS_PER_DAY, TARGET_BLOCK_SECONDS, MarketSnapshot
from mining_platform.core.cache import FALLBACK, CachedValue, cache_invalidate, cached_value
from mining_platform.core.errors import UpstreamUnavailableError

# The fourth halving (block 840,000, mined 2024-04-20 00:09:27 UTC) anchors the height estimate used when
# no network row holds a height: one block per 600 s from there.
_ANCHOR_HEIGHT = 840_000
_ANCHOR_AT = datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC)

CALCULATOR_MARKET_READS_CACHE_KEY = "calculator:market_reads"
MARKET_SHARED_CACHE_KEY = "calculator:market_shared"
# How long one read of the market state serves the quotes of every process (market_snapshot_shared).
MARKET_SHARED_SECONDS = 1.0

V = TypeVar("V", int, Decimal)


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


@dataclass(frozen=True)
class StoredFigure(Generic[V]):
    """One figure of a network row: its value, the row's source and when the row was recorded."""

    value: V
    source: str
    recorded_at: datetime
    fallback: bool  # the current data mode has no such figure: this one is from the shipped history


@dataclass(frozen=True)
class Retarget:
    """The first block of a difficulty epoch: its exact height and time."""

    height: int
    start_time: datetime


@dataclass(frozen=True)
class MarketReads:
    """What the figures need from the database, as stored at `read_at` (rows recorded later are not in it)."""

    mode: str
    read_at: datetime
    height: StoredFigure[int] | None
    retarget: Retarget | None
    fee_per_block: StoredFigure[Decimal] | None
    fees_per_day: StoredFigure[Decimal] | None
    shipped_price: ReplayPrice | None
    shipped_difficulty: StoredFigure[Decimal] | None


def _age(*, now: datetime, at: datetime) -> float:
    return max(0.0, (now - at).total_seconds())


def _mode_rows() -> QuerySet[NetworkStats]:
    rows = NetworkStats.objects.all()
    if settings.MARKET_DATA_SOURCE == "replay":
        return rows.filter(source=REPLAY_SOURCE)
    return rows.exclude(source=REPLAY_SOURCE)


def _newest(*, now: datetime, field: str) -> tuple[NetworkStats, bool] | None:
    """The newest row of the current mode holding `field`, else of the shipped history; and if it is a fallback."""
    filters = {f"{field}__isnull": False, "recorded_at__lte": now}
    row = _mode_rows().filter(**filters).order_by("-recorded_at").first()
    if row is not None:
        return row, False
    if settings.MARKET_DATA_SOURCE == "replay":
        return None  # the mode's rows are the shipped history: nothing else to look in
    row = NetworkStats.objects.filter(source=REPLAY_SOURCE, **filters).order_by("-recorded_at").first()
    return None if row is None else (row, True)


def _stored_height(*, now: datetime) -> StoredFigure[int] | None:
    found = _newest(now=now, field="block_height")
    height = None if found is None else found[0].block_height
    if found is None or height is None:
        return None
    row, fallback = found
    return StoredFigure(value=height, source=row.source, recorded_at=row.recorded_at, fallback=fallback)


def _stored_fee(*, now: datetime, field: str) -> StoredFigure[Decimal] | None:
    found = _newest(now=now, field=field)
    value = None if found is None else getattr(found[0], field)
    if found is None or not isinstance(value, Decimal):
        return None
    row, fallback = found
    return StoredFigure(value=value, source=row.source, recorded_at=row.recorded_at, fallback=fallback)


def market_reads_stored(*, now: datetime) -> MarketReads:
    """The stored rows behind height, fees and the shipped-history stand-ins, as of `now` (database reads)."""
    height = _stored_height(now=now)
    fee_per_block = _stored_fee(now=now, field="avg_fee_per_block_btc")
    fees_per_day = None if fee_per_block is not None else _stored_fee(now=now, field="fees_btc_per_day")
    retarget = None
    if height is None:
        row = difficulty_adjustment_list().filter(start_time__lte=now).order_by("-height").first()
        retarget = None if row is None else Retarget(height=row.height, start_time=row.start_time)
    shipped_network = replay_network_at(at=now)
    shipped_difficulty = None
    if shipped_network is not None:
        shipped_difficulty = StoredFigure(
            value=shipped_network.difficulty,
            source=shipped_network.source,
            recorded_at=shipped_network.recorded_at,
            fallback=True,
        )
    return MarketReads(
        mode=settings.MARKET_DATA_SOURCE,
        read_at=now,
        height=height,
        retarget=retarget,
        fee_per_block=fee_per_block,
        fees_per_day=fees_per_day,
        shipped_price=replay_price_at(at=now),
        shipped_difficulty=shipped_difficulty,
    )


def _reads_key() -> str:
    return f"{CALCULATOR_MARKET_READS_CACHE_KEY}:{settings.MARKET_DATA_SOURCE}"


def _reads_ttl_seconds() -> int:
    # Height and fees come with the difficulty (15 minutes), the shipped price stands in for the price (5).
    return int(min(settings.MARKET_PRICE_CACHE_SECONDS, settings.MARKET_DIFFICULTY_CACHE_SECONDS))


def _reads_cached(*, now: datetime) -> MarketReads:
    seconds = _reads_ttl_seconds()
    cached: CachedValue[MarketReads] = cached_value(
        key=_reads_key(), compute=lambda: market_reads_stored(now=now), ttl_seconds=seconds, stale_seconds=seconds
    )
    return cached.value


def market_reads_current(*, now: datetime, difficulty_at: datetime | None = None) -> MarketReads:
    """The stored reads through the cache, read again when the cached ones cannot stand for `now`.

    `difficulty_at` is when the difficulty in use was recorded.
    """
    reads = _reads_cached(now=now)
    if reads.read_at > now:
        # Asked about a moment before the cached read: rows recorded in between must not count.
        return market_reads_stored(now=now)
    # Network rows are stored together: a difficulty recorded after the read means newer height and fee
    # rows may be stored too. A read older than the cache's whole life was taken for another moment.
    newer_rows = difficulty_at is not None and reads.read_at < difficulty_at <= now
    if newer_rows or now - reads.read_at > timedelta(seconds=2 * _reads_ttl_seconds()):
        cache_invalidate(key=_reads_key())
        reads = _reads_cached(now=now)
    return reads


def _shipped_price(*, now: datetime, reads: MarketReads) -> tuple[Decimal, FigureSource] | None:
    shipped = reads.shipped_price
    if shipped is None:
        return None
    label = f"shipped history ({shipped.interval} close): no aggregated price is available"
    return shipped.price_usd, FigureSource(
        label, _age(now=now, at=shipped.open_time), fallback=True, shipped_history=True
    )


def _price_latest() -> CachedValue[LatestPrice] | UpstreamUnavailableError:
    try:
        return market_price_latest()
    except UpstreamUnavailableError as error:
        return error  # raised later, and only when the shipped history cannot stand in either


def _price(
    *, now: datetime, cached: CachedValue[LatestPrice] | UpstreamUnavailableError, reads: MarketReads
) -> tuple[Decimal, FigureSource]:
    if isinstance(cached, UpstreamUnavailableError):
        shipped = _shipped_price(now=now, reads=reads)
        if shipped is None:
            raise cached
        return shipped
    latest = cached.value
    label = f"aggregated price ({latest.mode}, {latest.sources_answered}/{latest.sources_asked} sources)"
    if cached.state == FALLBACK:
        label += ", last good value: the source is failing"
    source = FigureSource(label, _age(now=now, at=latest.at), cached.state == FALLBACK, latest.mode == "replay")
    return latest.price_usd, source


def _difficulty_latest() -> CachedValue[LatestDifficulty] | UpstreamUnavailableError:
    try:
        return network_difficulty_latest()
    except UpstreamUnavailableError as error:
        return error  # raised later, and only when the shipped history cannot stand in either


def _difficulty(
    *, now: datetime, cached: CachedValue[LatestDifficulty] | UpstreamUnavailableError, reads: MarketReads
) -> tuple[Decimal, FigureSource]:
    if isinstance(cached, UpstreamUnavailableError):
        shipped = reads.shipped_difficulty
        if shipped is None:
            raise cached
        label = "shipped history: no network difficulty is available"
        return shipped.value, FigureSource(
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


def _block_height(*, now: datetime, reads: MarketReads) -> tuple[int, FigureSource]:
    stored = reads.height
    if stored is not None:
        # The chain grows by about 144 blocks a day after the row was recorded.
        elapsed = int(_age(now=now, at=stored.recorded_at)) // TARGET_BLOCK_SECONDS
        label = f"network data ({stored.source}) plus {elapsed} blocks at 600 s since it was recorded"
        if stored.fallback:
            label += "; shipped history: the current data mode has no height"
        source = FigureSource(
            label, _age(now=now, at=stored.recorded_at), stored.fallback, stored.source == REPLAY_SOURCE
        )
        return stored.value + elapsed, source
    retarget = reads.retarget
    if retarget is not None:
        # A retarget row holds the exact height and time of an epoch's first block.
        elapsed = int(_age(now=now, at=retarget.start_time)) // TARGET_BLOCK_SECONDS
        label = (
            f"retarget history: block {retarget.height} plus {elapsed} blocks at 600 s since it was mined; "
            "no network row holds a height"
        )
        shipped = reads.mode == "replay"
        source = FigureSource(label, _age(now=now, at=retarget.start_time), fallback=True, shipped_history=shipped)
        return retarget.height + elapsed, source
    elapsed = max(0, int(_age(now=now, at=_ANCHOR_AT)) // TARGET_BLOCK_SECONDS)
    label = "estimate: no network data; block 840,000 (2024-04-20) plus one block per 600 s"
    return _ANCHOR_HEIGHT + elapsed, FigureSource(
        label, _age(now=now, at=_ANCHOR_AT), fallback=True, shipped_history=False
    )


def _fees(*, now: datetime, reads: MarketReads) -> tuple[Decimal, FigureSource]:
    per_block = reads.fee_per_block
    if per_block is not None:
        label = f"average fees per block ({per_block.source})"
        if per_block.fallback:
            label += "; shipped history: the current data mode has no fee data"
        shipped = per_block.source == REPLAY_SOURCE
        source = FigureSource(label, _age(now=now, at=per_block.recorded_at), per_block.fallback, shipped)
        return per_block.value, source
    per_day = reads.fees_per_day
    if per_day is not None:
        label = f"fees per day over 144 blocks ({per_day.source})"
        if per_day.fallback:
            label += "; shipped history: the current data mode has no fee data"
        shipped = per_day.source == REPLAY_SOURCE
        source = FigureSource(label, _age(now=now, at=per_day.recorded_at), per_day.fallback, shipped)
        return per_day.value / BLOCKS_PER_DAY, source
    # No fee data at all: counting the subsidy alone understates revenue, never overstates it.
    return Decimal(0), FigureSource("none: no fee data, fees taken as 0", 0.0, fallback=True, shipped_history=False)


@dataclass(frozen=True)
class MarketState:
    """What the figures of a moment are made from: the cached price and difficulty, and the stored reads.

    Every age and label is worked out from it for the moment asked (market_inputs_at), so one state can
    stand for the moments just after it was read.
    """

    price: CachedValue[LatestPrice] | UpstreamUnavailableError
    difficulty: CachedValue[LatestDifficulty] | UpstreamUnavailableError
    reads: MarketReads


def market_state_read(*, now: datetime) -> MarketState:
    """Read the price and difficulty through the cache manager, and the stored reads that go with them."""
    cached_difficulty = _difficulty_latest()
    difficulty_at = None if isinstance(cached_difficulty, UpstreamUnavailableError) else cached_difficulty.value.at
    reads = market_reads_current(now=now, difficulty_at=difficulty_at)
    return MarketState(price=_price_latest(), difficulty=cached_difficulty, reads=reads)


def market_inputs_at(*, state: MarketState, now: datetime) -> MarketInputs:
    """The market figures of `state` at `now`, each labelled with its source and its age at `now`.

    Raises UpstreamUnavailableError when neither a price or difficulty nor the shipped history is stored.
    """
    reads = state.reads
    price, price_source = _price(now=now, cached=state.price, reads=reads)
    difficulty, difficulty_source = _difficulty(now=now, cached=state.difficulty, reads=reads)
    height, height_source = _block_height(now=now, reads=reads)
    fees, fees_source = _fees(now=now, reads=reads)
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


def market_snapshot_current(*, now: datetime) -> MarketInputs:
    """The market figures to compute at `now`, each labelled with its source and age.

    Raises UpstreamUnavailableError when neither a price or difficulty nor the shipped history is stored.
    """
    return market_inputs_at(state=market_state_read(now=now), now=now)


def market_shared_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}{MARKET_SHARED_CACHE_KEY}:{settings.MARKET_DATA_SOURCE}"


class _SharedStates:
    """The last shared state this process unpickled: the quotes of one second all read the same bytes."""

    def __init__(self) -> None:
        self._last: tuple[bytes, tuple[datetime, MarketState] | None] = (b"", None)

    def loaded(self, stored: bytes) -> tuple[datetime, MarketState] | None:
        """When the state was read and the state, from the bytes market_snapshot_shared stored."""
        seen, loaded = self._last
        if stored != seen:
            value = pickle.loads(stored)  # noqa: S301  # written by market_snapshot_shared, in our own Redis
            taken_at, state = value if isinstance(value, tuple) and len(value) == 2 else (None, None)
            loaded = (taken_at, state) if isinstance(taken_at, datetime) and isinstance(state, MarketState) else None
            self._last = (stored, loaded)  # replaced whole: a race between threads costs one more unpickling
        return loaded


_shared_states = _SharedStates()


def market_inputs_from_shared(*, now: datetime, stored: bytes | None) -> MarketInputs | None:
    """The market figures at `now` from the shared state's bytes, without I/O; None when they do not serve."""
    if stored is None:
        return None
    loaded = _shared_states.loaded(stored)
    if loaded is None or loaded[0] > now:
        return None
    return market_inputs_at(state=loaded[1], now=now)


def market_snapshot_shared(*, now: datetime, stored: bytes | None) -> MarketInputs:
    """market_snapshot_current from a state every process shares for MARKET_SHARED_SECONDS.

    For a path that answers hundreds of requests a second (the quote): one Redis read, which the caller
    makes (`stored`, the value of market_shared_key(), None when absent) in a round trip it makes anyway,
    instead of three. Its figures may be that much older than the cache manager's; ages still run to `now`.
    """
    shared = market_inputs_from_shared(now=now, stored=stored)
    if shared is not None:
        return shared
    state = market_state_read(now=now)
    # A failing source is left to the cache manager's own fallback, asked again on each request.
    if not isinstance(state.price, UpstreamUnavailableError) and not isinstance(
        state.difficulty, UpstreamUnavailableError
    ):
        get_redis_connection("default").set(
            market_shared_key(), pickle.dumps((now, state)), px=int(MARKET_SHARED_SECONDS * 1000)
        )
    return market_inputs_at(state=state, now=now)
