from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django_redis import get_redis_connection
from pytest_django import DjangoAssertNumQueries

from analytics.models import DifficultyAdjustment, MarketAnalytics, NetworkStats, PriceCandle
from analytics.selectors import MARKET_PRICE_CACHE_KEY, NETWORK_DIFFICULTY_CACHE_KEY, REPLAY_SOURCE
from calculator.services.market_inputs import (
    MARKET_SHARED_SECONDS,
    market_shared_key,
    market_snapshot_current,
    market_snapshot_shared,
)
from mining_platform.core.cache import cache_invalidate
from mining_platform.core.errors import UpstreamUnavailableError

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY_AGO = datetime(2026, 11, 19, tzinfo=UTC)
TWO_DAYS_AGO = datetime(2026, 11, 18, tzinfo=UTC)


def _network_row(
    *,
    recorded_at: datetime,
    difficulty: str,
    source: str = REPLAY_SOURCE,
    fees_btc_per_day: str | None = None,
    avg_fee_per_block_btc: str | None = None,
    block_height: int | None = None,
) -> NetworkStats:
    return NetworkStats.objects.create(
        source=source,
        recorded_at=recorded_at,
        difficulty=Decimal(difficulty),
        fees_btc_per_day=None if fees_btc_per_day is None else Decimal(fees_btc_per_day),
        avg_fee_per_block_btc=None if avg_fee_per_block_btc is None else Decimal(avg_fee_per_block_btc),
        block_height=block_height,
    )


def _aggregate(*, collected_at: datetime, price_usd: str, mode: str = "replay") -> MarketAnalytics:
    return MarketAnalytics.objects.create(
        collected_at=collected_at, mode=mode, price_usd=Decimal(price_usd), sources_asked=1, sources_answered=1
    )


@pytest.fixture
def replay_market() -> None:
    """Shipped-history rows as history_load writes them (daily network rows at 00:00 UTC) and one aggregate."""
    _network_row(recorded_at=TWO_DAYS_AGO, difficulty="148000000000000", fees_btc_per_day="4.32")
    _network_row(recorded_at=DAY_AGO, difficulty="149000000000000", fees_btc_per_day="5.76")
    DifficultyAdjustment.objects.create(
        height=923_328,
        start_time=NOW - timedelta(days=5, minutes=-5),
        bits="17025ced",
        difficulty=Decimal("149000000000000"),
    )
    _aggregate(collected_at=NOW - timedelta(minutes=2), price_usd="90500.00")


def test_market_snapshot_current_serves_the_stored_reads_from_the_cache_with_ages_at_the_request_time(
    replay_market: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    first = market_snapshot_current(now=NOW)

    with django_assert_num_queries(0):
        later = market_snapshot_current(now=NOW + timedelta(minutes=8))

    assert first.snapshot.block_height == 923_328 + 719  # 5 days less 5 minutes at 600 s a block
    assert later.snapshot.block_height == first.snapshot.block_height + 1  # 8 minutes later: one more block
    assert later.snapshot.fees_per_block_btc == first.snapshot.fees_per_block_btc == Decimal("5.76") / 144
    assert later.snapshot.difficulty == Decimal("149000000000000")
    assert later.snapshot.btc_price_usd == Decimal("90500.00")
    assert later.fees.age_seconds == first.fees.age_seconds + 480
    assert later.difficulty.age_seconds == first.difficulty.age_seconds + 480
    assert later.price.age_seconds == first.price.age_seconds + 480
    assert (
        later.block_height.label
        == "retarget history: block 923328 plus 720 blocks at 600 s since it was mined; no network row holds a height"
    )
    assert later.fees.label == first.fees.label == "fees per day over 144 blocks (replay)"


def test_market_snapshot_current_reads_again_when_a_newer_difficulty_shows_newer_network_rows() -> None:
    _network_row(
        source="mempool_space",
        recorded_at=NOW - timedelta(minutes=10),
        difficulty="150000000000000",
        avg_fee_per_block_btc="0.02500000",
        block_height=925_000,
    )
    _aggregate(collected_at=NOW - timedelta(minutes=1), price_usd="91000.00", mode="live")

    with override_settings(MARKET_DATA_SOURCE="live"):
        first = market_snapshot_current(now=NOW)
        _network_row(
            source="mempool_space",
            recorded_at=NOW + timedelta(minutes=5),
            difficulty="151000000000000",
            avg_fee_per_block_btc="0.03100000",
            block_height=925_002,
        )
        # What the aggregation does when it stores a new difficulty.
        cache_invalidate(key=NETWORK_DIFFICULTY_CACHE_KEY)
        later = market_snapshot_current(now=NOW + timedelta(minutes=10))

    assert first.snapshot.block_height == 925_001
    assert first.snapshot.fees_per_block_btc == Decimal("0.025")
    assert later.snapshot.difficulty == Decimal("151000000000000")
    assert later.snapshot.block_height == 925_002
    assert later.snapshot.fees_per_block_btc == Decimal("0.031")
    assert later.block_height.label == "network data (mempool_space) plus 0 blocks at 600 s since it was recorded"
    assert later.fees.age_seconds == 300
    assert later.fees.fallback is False


def test_market_snapshot_current_for_an_earlier_moment_leaves_out_rows_recorded_after_it(
    replay_market: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    market_snapshot_current(now=NOW)

    earlier = market_snapshot_current(now=NOW - timedelta(hours=40))

    assert earlier.snapshot.fees_per_block_btc == Decimal("4.32") / 144
    assert earlier.snapshot.difficulty == Decimal("149000000000000")  # the cache manager's latest, as before
    assert earlier.fees.age_seconds == 20 * 3600  # recorded at 2026-11-18 00:00, asked at 20:00
    with django_assert_num_queries(0):
        assert market_snapshot_current(now=NOW).snapshot.fees_per_block_btc == Decimal("5.76") / 144


def test_market_snapshot_current_reads_again_when_the_cached_reads_were_taken_for_a_much_earlier_moment(
    replay_market: None,
) -> None:
    earlier = market_snapshot_current(now=NOW - timedelta(hours=40))

    current = market_snapshot_current(now=NOW)

    assert earlier.snapshot.fees_per_block_btc == Decimal("4.32") / 144
    assert current.snapshot.fees_per_block_btc == Decimal("5.76") / 144
    assert current.fees.age_seconds == 36 * 3600


def test_market_snapshot_current_takes_the_shipped_candle_when_no_price_was_ever_aggregated(
    replay_market: None,
) -> None:
    MarketAnalytics.objects.all().delete()
    PriceCandle.objects.create(
        source=REPLAY_SOURCE,
        interval="1h",
        open_time=NOW - timedelta(hours=1),
        open=Decimal("90000"),
        high=Decimal("91500"),
        low=Decimal("89800"),
        close=Decimal("91200"),
        volume_btc=Decimal("120.5"),
    )
    market_snapshot_current(now=NOW)

    later = market_snapshot_current(now=NOW + timedelta(minutes=1))

    assert later.snapshot.btc_price_usd == Decimal("91200")
    assert later.price.label == "shipped history (1h close): no aggregated price is available"
    assert later.price.age_seconds == 3660
    assert later.price.fallback is True
    assert later.price.shipped_history is True


def test_market_snapshot_current_labels_the_estimates_when_no_height_or_fee_is_stored() -> None:
    _network_row(recorded_at=DAY_AGO, difficulty="149000000000000")
    _aggregate(collected_at=NOW - timedelta(minutes=2), price_usd="90500.00")

    inputs = market_snapshot_current(now=NOW)

    anchor = datetime(2024, 4, 20, 0, 9, 27, tzinfo=UTC)
    assert inputs.snapshot.block_height == 840_000 + int((NOW - anchor).total_seconds()) // 600
    assert inputs.block_height.label == "estimate: no network data; block 840,000 (2024-04-20) plus one block per 600 s"
    assert inputs.block_height.fallback is True
    assert inputs.snapshot.fees_per_block_btc == 0
    assert inputs.fees.label == "none: no fee data, fees taken as 0"


def test_market_snapshot_current_refuses_when_no_price_and_no_shipped_history_are_stored() -> None:
    _network_row(recorded_at=DAY_AGO, difficulty="149000000000000")

    with pytest.raises(UpstreamUnavailableError) as excinfo:
        market_snapshot_current(now=NOW)

    assert excinfo.value.code == "upstream_unavailable"
    assert "analytics:price:latest" in excinfo.value.message


def _shared_state() -> bytes | None:
    stored = get_redis_connection("default").get(market_shared_key())
    return None if stored is None else bytes(stored)


def test_market_snapshot_shared_answers_as_market_snapshot_current_and_shares_what_it_read(
    replay_market: None,
) -> None:
    current = market_snapshot_current(now=NOW)
    first = market_snapshot_shared(now=NOW, stored=None)
    stored = _shared_state()
    ttl_ms = get_redis_connection("default").pttl(market_shared_key())
    # The cache manager's price moves on: a quote half a second later still answers from the shared state.
    _aggregate(collected_at=NOW, price_usd="99999.00")
    cache_invalidate(key=MARKET_PRICE_CACHE_KEY)

    later = market_snapshot_shared(now=NOW + timedelta(milliseconds=500), stored=stored)

    assert first == current
    assert stored is not None
    assert 0 < ttl_ms <= 1000 * MARKET_SHARED_SECONDS
    assert later.snapshot.btc_price_usd == first.snapshot.btc_price_usd == Decimal("90500.00")
    assert later.price.age_seconds == first.price.age_seconds + 0.5
    assert later.fees.age_seconds == first.fees.age_seconds + 0.5
    assert market_snapshot_shared(now=NOW, stored=None).snapshot.btc_price_usd == Decimal("99999.00")


def test_market_snapshot_shared_reads_again_for_a_moment_before_the_shared_state_was_read(
    replay_market: None,
) -> None:
    market_snapshot_shared(now=NOW, stored=None)
    stored = _shared_state()

    earlier = market_snapshot_shared(now=NOW - timedelta(hours=40), stored=stored)

    assert earlier.snapshot.fees_per_block_btc == Decimal("4.32") / 144  # rows recorded after it left out


def test_market_snapshot_shared_shares_nothing_while_no_price_is_stored() -> None:
    _network_row(recorded_at=DAY_AGO, difficulty="149000000000000")

    with pytest.raises(UpstreamUnavailableError):
        market_snapshot_shared(now=NOW, stored=None)

    assert _shared_state() is None
