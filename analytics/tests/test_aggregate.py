"""The aggregation run: robust price, volume, completeness, partial runs, cache, replay mode, the task."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import respx
from django.conf import settings as django_settings
from pytest_django import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings

from analytics.clients.base import ErrorKind
from analytics.models import Interval, MarketAnalytics, NetworkStats, PriceCandle
from analytics.schedules import SCHEDULES
from analytics.selectors import MARKET_PRICE_CACHE_KEY, market_price_latest, network_difficulty_latest
from analytics.services.aggregate import market_aggregate, price_robust
from analytics.tasks import market_aggregate_task
from analytics.tests import market_fixtures as fx
from mining_platform.core.cache import FALLBACK, FRESH, cache_invalidate
from mining_platform.core.locks import job_lock

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DIFFICULTY = Decimal(str(fx.DIFFICULTY)).quantize(Decimal("0.0001"))
Answers = dict[str, dict[str, fx.Answer]]
RunOnCommit = DjangoCaptureOnCommitCallbacks

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(settings: Settings) -> Settings:
    settings.MARKET_DATA_SOURCE = "live"
    settings.MARKET_OUTLIER_PERCENT = 2.0
    return settings


def _mock(router: respx.MockRouter, answers: Mapping[str, Mapping[str, fx.Answer]]) -> None:
    """Answer every endpoint on each source's configured host."""
    for source, paths in answers.items():
        base = getattr(django_settings, fx.SETTING_BY_SOURCE[source]).rstrip("/")
        for path, answer in paths.items():
            body, content_type = answer.encoded()
            headers = {"Content-Type": content_type, **(answer.headers or {})}
            router.get(f"{base}{path}").mock(return_value=httpx.Response(answer.status, content=body, headers=headers))


def _run(answers: Answers, django_capture_on_commit_callbacks: RunOnCommit) -> MarketAnalytics:
    with respx.mock() as router, django_capture_on_commit_callbacks(execute=True):
        _mock(router, answers)
        result = market_aggregate(now=NOW)
    return MarketAnalytics.objects.get(pk=result.analytics_id)


@pytest.mark.usefixtures("live")
def test_market_aggregate_stores_the_median_price_volume_and_every_source(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    row = _run(fx.documented_answers(NOW), django_capture_on_commit_callbacks)

    # 67187.33, 67190.12, 67195.4, 67199.10, 67201.55: the middle one.
    assert row.price_usd == Decimal("67195.40")
    assert row.price_method == "median"
    assert row.mode == "live"
    # Binance + OKX + Bybit in BTC; CoinGecko's volume already contains theirs, Deribit's index has none.
    assert row.volume_24h_btc == Decimal("18234.56789000") + Decimal("6123.4567") + Decimal("4512.345678")
    assert (row.sources_answered, row.sources_asked, row.partial) == (5, 5, False)
    assert set(row.per_source) == {
        "coingecko",
        "binance",
        "okx",
        "bybit",
        "deribit",
        "blockchain_info",
        "mempool_space",
    }
    assert row.per_source["okx"]["price_usd"] == "67195.4"
    assert row.per_source["okx"]["excluded"] is False
    assert row.per_source["mempool_space"]["kind"] == "network"
    stats = {s.source: s for s in NetworkStats.objects.all()}
    assert set(stats) == {"blockchain_info", "mempool_space"}
    assert stats["blockchain_info"].recorded_at == NOW - timedelta(seconds=60)
    assert stats["blockchain_info"].fees_btc_per_day == Decimal("6.12345678")
    assert stats["mempool_space"].difficulty == DIFFICULTY
    assert stats["mempool_space"].block_height == fx.TIP_HEIGHT


@pytest.mark.usefixtures("live")
def test_market_aggregate_keeps_the_answering_sources_and_records_each_failure(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    answers = fx.documented_answers(NOW)
    answers["binance"]["/api/v3/ticker/24hr"] = fx.Answer(500, "<html>Internal Server Error</html>")
    answers["okx"]["/api/v5/market/ticker"] = fx.Answer(429, fx.OKX_RATE_LIMIT, {"Retry-After": "2"})
    answers["bybit"]["/v5/market/tickers"] = fx.Answer(200, {"retCode": 0, "retMsg": "OK", "result": {"list": "?"}})
    answers["blockchain_info"]["/stats"] = fx.Answer(503, "Service Unavailable")

    row = _run(answers, django_capture_on_commit_callbacks)

    assert (row.sources_answered, row.sources_asked) == (2, 5)
    assert row.partial is True
    assert row.completeness == pytest.approx(0.4)
    assert row.price_usd == ((Decimal("67187.33") + Decimal("67190.12")) / 2).quantize(Decimal("0.01"))
    assert row.volume_24h_btc is None  # neither answering source brings exchange volume
    failures = {name: (e["error_kind"], e["http_status"]) for name, e in row.per_source.items() if not e["ok"]}
    assert failures == {
        "binance": (ErrorKind.HTTP_ERROR, 500),
        "okx": (ErrorKind.RATE_LIMITED, 429),
        "bybit": (ErrorKind.MALFORMED, None),
        "blockchain_info": (ErrorKind.HTTP_ERROR, 503),
    }
    assert "Too Many Requests" in row.per_source["okx"]["error"]
    assert all(e["latency_ms"] >= 0 for e in row.per_source.values())
    assert list(NetworkStats.objects.values_list("source", flat=True)) == ["mempool_space"]


@pytest.mark.usefixtures("live")
def test_market_aggregate_leaves_out_an_outlier_with_its_reason(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    answers = fx.documented_answers(NOW)
    answers["binance"]["/api/v3/ticker/24hr"] = fx.Answer(200, fx.binance_ticker(NOW, last_price="70000.00"))

    row = _run(answers, django_capture_on_commit_callbacks)

    binance = row.per_source["binance"]
    assert binance["excluded"] is True
    assert binance["excluded_reason"] == "70000.00 is 4.17 % from the median 67195.40 (limit 2 %)"
    assert row.per_source["okx"]["excluded"] is False
    # The median of the four that agree, and their volume without Binance's.
    assert row.price_usd == Decimal("67192.76")
    assert row.volume_24h_btc == Decimal("6123.4567") + Decimal("4512.345678")
    assert row.sources_answered == 5  # it answered; it was left out of the price, and says why


@pytest.mark.usefixtures("live")
def test_market_aggregate_keeps_the_deribit_options_summary_in_deribits_entry(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    row = _run(fx.documented_answers(NOW), django_capture_on_commit_callbacks)

    options = row.per_source["deribit"]["options"]
    assert options["ok"] is True
    assert options["kind"] == "options"
    assert options["instruments"] == 4
    assert Decimal(options["open_interest_btc"]) == Decimal("2547.5")
    assert Decimal(options["volume_24h_btc"]) == Decimal("226.0")
    assert options["volume_24h_usd"] == "555274.62"
    assert options["put_call_open_interest_ratio"] == round(830.5 / 1717.0, 4)
    assert options["put_call_volume_ratio"] == round(95.1 / 130.9, 4)
    # Context, not a price source: the counts stay those of the five prices.
    assert (row.sources_answered, row.sources_asked) == (5, 5)
    assert "deribit_options" not in row.per_source


@pytest.mark.usefixtures("live")
def test_market_aggregate_records_a_failing_options_summary_and_keeps_deribits_price(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    answers = fx.documented_answers(NOW)
    answers["deribit"]["/api/v2/public/get_book_summary_by_currency"] = fx.Answer(
        429, fx.deribit_error(NOW, code=10028, message="too_many_requests")
    )

    row = _run(answers, django_capture_on_commit_callbacks)

    deribit = row.per_source["deribit"]
    assert deribit["ok"] is True
    assert deribit["price_usd"] == "67190.12"
    assert deribit["options"]["ok"] is False
    assert deribit["options"]["error_kind"] == ErrorKind.RATE_LIMITED
    assert deribit["options"]["http_status"] == 429
    assert "open_interest_btc" not in deribit["options"]
    assert row.sources_answered == 5


@pytest.mark.usefixtures("live")
def test_market_aggregate_stores_the_average_fee_per_block_from_mempool_space(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    row = _run(fx.documented_answers(NOW), django_capture_on_commit_callbacks)

    stats = NetworkStats.objects.get(source="mempool_space")
    assert stats.avg_fee_per_block_btc == Decimal("0.17000000")
    assert stats.block_height == fx.TIP_HEIGHT
    assert row.per_source["mempool_space"]["avg_fee_per_block_btc"] == "0.17000000"


def test_price_robust_leaves_nothing_out_when_two_sources_cannot_tell_who_is_wrong() -> None:
    robust = price_robust(prices={"a": Decimal(60000), "b": Decimal(70000)}, outlier_percent=2.0)

    assert robust.excluded == {}
    assert robust.price_usd == Decimal(65000)


@pytest.mark.usefixtures("live")
def test_market_aggregate_with_no_source_answering_stores_an_empty_run_and_keeps_the_cached_price(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    _run(fx.documented_answers(NOW), django_capture_on_commit_callbacks)
    failing = {
        source: {path: fx.Answer(502, "Bad Gateway") for path in paths}
        for source, paths in fx.documented_answers(NOW).items()
    }

    row = _run(failing, django_capture_on_commit_callbacks)
    cached = market_price_latest()

    assert (row.sources_answered, row.sources_asked, row.price_usd, row.price_method) == (0, 5, None, "")
    assert row.completeness == 0.0
    assert cached.value.price_usd == Decimal("67195.40")
    assert cached.value.at == NOW


@pytest.mark.usefixtures("live")
def test_market_aggregate_puts_the_latest_price_and_difficulty_in_the_cache(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    _run(fx.documented_answers(NOW), django_capture_on_commit_callbacks)

    price = market_price_latest()
    difficulty = network_difficulty_latest()

    assert price.state == FRESH
    assert price.value.price_usd == Decimal("67195.40")
    assert (price.value.sources_answered, price.value.sources_asked) == (5, 5)
    assert difficulty.state == FRESH
    assert difficulty.value.difficulty == DIFFICULTY
    # The newest tip wins: both report the same height here, so the later reading (mempool.space) is kept.
    assert difficulty.value.source == "mempool_space"


@pytest.mark.usefixtures("live")
def test_cached_price_falls_back_to_the_last_good_value_when_the_store_cannot_answer(
    django_capture_on_commit_callbacks: RunOnCommit,
) -> None:
    _run(fx.documented_answers(NOW), django_capture_on_commit_callbacks)
    MarketAnalytics.objects.all().delete()
    cache_invalidate(key=MARKET_PRICE_CACHE_KEY)

    cached = market_price_latest()

    assert cached.state == FALLBACK
    assert cached.value.price_usd == Decimal("67195.40")


# --- concurrency, measured on real loopback HTTP with a set latency per source -----------------------

LATENCY_S = {
    "coingecko": 0.30,
    "binance": 0.25,
    "okx": 0.20,
    "bybit": 0.15,
    "deribit": 0.10,
    "blockchain_info": 0.20,
    "mempool_space": 0.25,
}


@pytest.fixture
def slow_sources(live: Settings) -> Iterator[fx.FixtureServer]:
    with fx.fixture_server(fx.documented_answers(NOW), LATENCY_S) as server:
        for source, setting in fx.SETTING_BY_SOURCE.items():
            setattr(live, setting, server.base_url(source))
        yield server


def test_market_aggregate_runs_every_source_at_once(
    slow_sources: fx.FixtureServer, django_capture_on_commit_callbacks: RunOnCommit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        result = market_aggregate(now=NOW)

    row = MarketAnalytics.objects.get(pk=result.analytics_id)
    entries = row.per_source.values()
    assert all(e["ok"] for e in entries)
    latencies = [e["latency_ms"] for e in entries]
    starts = [e["started_ms"] for e in entries]
    finishes = [e["started_ms"] + e["latency_ms"] for e in entries]
    # Every source was asked before any answered: they were all in flight together.
    assert max(starts) < min(finishes)
    # So the run lasts as long as its slowest source, far below the sum a sequential run would take.
    assert row.duration_ms >= max(latencies)
    assert row.duration_ms < sum(latencies) / 2
    assert min(latencies) >= 100  # the set latencies really applied


def test_market_aggregate_is_bounded_by_the_source_timeout_when_a_source_hangs(
    slow_sources: fx.FixtureServer, live: Settings, django_capture_on_commit_callbacks: RunOnCommit
) -> None:
    live.MARKET_SOURCE_TIMEOUT_SECONDS = 0.6
    slow_sources.latency_s = {**LATENCY_S, "deribit": 3.0}

    with django_capture_on_commit_callbacks(execute=True):
        result = market_aggregate(now=NOW)

    row = MarketAnalytics.objects.get(pk=result.analytics_id)
    deribit = row.per_source["deribit"]
    assert deribit["error_kind"] == ErrorKind.TIMEOUT
    assert 600 <= deribit["latency_ms"] < 3000
    assert row.duration_ms < 3000
    assert (row.sources_answered, row.sources_asked) == (4, 5)


# --- replay mode ---------------------------------------------------------------------------------------


def _replay_history() -> None:
    start = NOW - timedelta(hours=30)
    PriceCandle.objects.bulk_create(
        PriceCandle(
            source="replay",
            interval=Interval.HOUR,
            open_time=start + timedelta(hours=i),
            open=Decimal(60000 + i),
            high=Decimal(60100 + i),
            low=Decimal(59900 + i),
            close=Decimal(60050 + i),
            volume_btc=Decimal(10),
        )
        for i in range(36)  # the last six lie after NOW and must be ignored
    )
    PriceCandle.objects.create(
        source="replay",
        interval=Interval.DAY,
        open_time=datetime(2026, 3, 1, tzinfo=UTC),
        open=Decimal(59000),
        high=Decimal(61000),
        low=Decimal(58000),
        close=Decimal(60500),
        volume_btc=Decimal(20000),
    )
    for day in (1, 2, 3):
        NetworkStats.objects.create(
            source="replay",
            recorded_at=datetime(2026, 3, day, tzinfo=UTC),
            difficulty=Decimal(100 + day) * 10**12,
            hashrate_ths=7.5e8,
        )


def test_market_aggregate_in_replay_mode_answers_from_the_history_without_the_network(
    settings: Settings, django_capture_on_commit_callbacks: RunOnCommit
) -> None:
    settings.MARKET_DATA_SOURCE = "replay"
    _replay_history()

    with respx.mock() as router, django_capture_on_commit_callbacks(execute=True):
        result = market_aggregate(now=NOW)

    row = MarketAnalytics.objects.get(pk=result.analytics_id)
    assert router.calls.call_count == 0
    # The newest hourly candle at or before NOW opened at NOW (i = 30), and 24 of them make the volume.
    assert row.price_usd == Decimal(60080)
    assert row.volume_24h_btc == Decimal(240)
    assert (row.mode, row.price_method, row.sources_answered, row.sources_asked) == ("replay", "replay", 1, 1)
    assert NetworkStats.objects.count() == 3  # nothing new written: the history is the source
    assert market_price_latest().value.price_usd == Decimal(60080)
    assert network_difficulty_latest().value.difficulty == Decimal(102) * 10**12


def test_market_aggregate_in_replay_mode_without_history_stores_an_unanswered_run(settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "replay"

    result = market_aggregate(now=NOW)

    row = MarketAnalytics.objects.get(pk=result.analytics_id)
    assert (row.price_usd, row.sources_answered, row.sources_asked) == (None, 0, 1)
    assert row.per_source["replay"]["ok"] is False


@pytest.mark.django_db(transaction=True)
def test_market_aggregate_task_runs_under_its_job_lock(settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "replay"
    _replay_history()

    with job_lock("analytics.market_aggregate", ttl_seconds=5):
        skipped = market_aggregate_task.delay().get()
    ran = market_aggregate_task.delay().get()

    assert skipped is None
    assert ran is not None
    assert ran["mode"] == "replay"
    assert ran["sources_answered"] == 1
    assert MarketAnalytics.objects.count() == 1


def test_market_aggregate_is_scheduled_every_fifteen_minutes() -> None:
    jobs = {job.name: job for job in SCHEDULES}

    assert jobs["analytics.market_aggregate"].task == "analytics.market_aggregate"
    assert jobs["analytics.market_aggregate"].every_seconds == 900
