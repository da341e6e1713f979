"""The analytics API over the shipped history: every endpoint, its filters, pagination, bounds and access."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from pytest_django import DjangoDbBlocker
from pytest_django.fixtures import DjangoAssertNumQueries
from rest_framework.test import APIClient

from analytics.models import (
    DifficultyAdjustment,
    Forecast,
    MarketAnalytics,
    MarketSignal,
    NetworkStats,
    PriceCandle,
    TechnicalIndicator,
)
from analytics.offline_data import DATASETS, offline_dataset_rows
from analytics.selectors import MARKET_PRICE_CACHE_KEY, NETWORK_DIFFICULTY_CACHE_KEY
from analytics.services.history_load import history_load
from analytics.services.network_estimates import network_estimates_compute, network_history_offline
from analytics.services.signals import technical_analysis_refresh
from mining_platform.core.cache import cache_invalidate
from mining_platform.core.choices import ApiScope
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

pytestmark = pytest.mark.django_db

API = "/api/v1/analytics"
ENDPOINTS = [
    f"{API}/candles/",
    f"{API}/indicators/",
    f"{API}/signals/",
    f"{API}/forecasts/",
    f"{API}/network-stats/",
    f"{API}/difficulty-adjustments/",
    f"{API}/market-snapshots/",
    f"{API}/market/status/",
    f"{API}/network/estimates/",
]


def _shipped(name: str) -> list[dict[str, str]]:
    return list(offline_dataset_rows(dataset=next(d for d in DATASETS if d.name == name)))


@pytest.fixture(scope="module", autouse=True)
def shipped_history(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """The shipped history with its indicators and signals, loaded once for this module and removed after."""
    with django_db_blocker.unblock():
        history_load()
        technical_analysis_refresh(full=True)
    yield
    with django_db_blocker.unblock():
        for model in (MarketSignal, TechnicalIndicator, PriceCandle, NetworkStats, DifficultyAdjustment):
            model.objects.all().delete()


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_candles_list_the_shipped_daily_closes_in_a_range_oldest_first(client_user: User) -> None:
    shipped = {row["date"]: row for row in _shipped("btc_usd_daily")}

    body = _as(client_user).get(f"{API}/candles/?interval=1d&start=2024-01-01&end=2024-01-08").json()

    assert body["count"] == 7
    assert [row["open_time"] for row in body["results"]] == [f"2024-01-0{d}T00:00:00Z" for d in range(1, 8)]
    assert [Decimal(row["close"]) for row in body["results"]] == [
        Decimal(shipped[f"2024-01-0{d}"]["close"]) for d in range(1, 8)
    ]
    assert {row["source"] for row in body["results"]} == {"replay"}


def test_candles_paginate_the_hourly_history_within_the_maximum_page(host_user: User) -> None:
    hours = _shipped("btc_usd_hourly")
    api = _as(host_user)

    first = api.get(f"{API}/candles/?interval=1h&limit=50").json()
    third = api.get(f"{API}/candles/?interval=1h&limit=50&offset=100").json()
    capped = api.get(f"{API}/candles/?interval=1h&limit=5000").json()

    assert first["count"] == len(hours)
    assert len(first["results"]) == 50
    assert "offset=50" in first["next"]
    assert third["results"][0]["open_time"] == hours[100]["datetime_utc"]
    assert len(capped["results"]) == 1000


def test_candles_list_in_bounded_queries(
    host_user: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    api = _as(host_user)

    with django_assert_max_num_queries(4):  # session, user, count, page
        rows = api.get(f"{API}/candles/?interval=1h&limit=1000").json()["results"]

    assert len(rows) == 1000


def test_candles_refuse_an_unknown_interval_naming_it(host_user: User) -> None:
    response = _as(host_user).get(f"{API}/candles/?interval=5m")

    assert response.status_code == 400
    assert "interval" in response.json()["error"]["fields"]


def test_candles_refuse_a_range_that_ends_before_it_starts_naming_end(host_user: User) -> None:
    response = _as(host_user).get(f"{API}/candles/?start=2024-02-01&end=2024-01-01")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"end": ["must be after start"]}


def test_candles_of_a_source_with_no_rows_list_nothing(host_user: User) -> None:
    body = _as(host_user).get(f"{API}/candles/?source=binance").json()

    assert body["count"] == 0


def test_indicators_list_one_series_in_a_range_with_rsi_macd_and_bands(host_user: User) -> None:
    body = _as(host_user).get(f"{API}/indicators/?series=btc_usd_1d&start=2025-01-01&end=2025-02-01").json()

    rows = body["results"]
    assert body["count"] == 31
    assert {row["series"] for row in rows} == {"btc_usd_1d"}
    assert all(0 <= row["rsi_14"] <= 100 for row in rows)
    assert all(row["bb_lower"] < row["bb_mid"] < row["bb_upper"] for row in rows)
    assert all(row["macd_hist"] == pytest.approx(row["macd"] - row["macd_signal"]) for row in rows)
    closes = {row["date"]: float(row["close"]) for row in _shipped("btc_usd_daily")}
    assert rows[0]["close"] == closes["2025-01-01"]


def test_indicators_refuse_an_unknown_series(host_user: User) -> None:
    response = _as(host_user).get(f"{API}/indicators/?series=eth_usd_1d")

    assert response.status_code == 400
    assert "series" in response.json()["error"]["fields"]


def test_signals_filter_by_series_and_kind_newest_first_with_reasons(
    client_user: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    expected = MarketSignal.objects.filter(series="btc_usd_1d", kind="rsi_overbought").count()
    assert expected > 0
    api = _as(client_user)

    with django_assert_max_num_queries(4):
        body = api.get(f"{API}/signals/?series=btc_usd_1d&kind=rsi_overbought&limit=1000").json()

    rows = body["results"]
    assert body["count"] == expected
    assert {(row["series"], row["kind"]) for row in rows} == {("btc_usd_1d", "rsi_overbought")}
    assert [row["at"] for row in rows] == sorted((row["at"] for row in rows), reverse=True)
    assert all(row["value"] > row["threshold"] and row["reason"] for row in rows)


def test_signals_filter_by_time_range(host_user: User) -> None:
    body = _as(host_user).get(f"{API}/signals/?start=2025-11-01&end=2025-11-15&limit=1000").json()

    assert (
        body["count"]
        == MarketSignal.objects.filter(
            at__gte=datetime(2025, 11, 1, tzinfo=UTC), at__lt=datetime(2025, 11, 15, tzinfo=UTC)
        ).count()
    )
    assert all("2025-11-01" <= row["at"] < "2025-11-15" for row in body["results"])


def test_signals_refuse_an_unknown_kind(host_user: User) -> None:
    response = _as(host_user).get(f"{API}/signals/?kind=moon")

    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]


def test_forecasts_filter_by_target_with_their_daily_intervals(host_user: User) -> None:
    made_at = datetime(2025, 11, 23, tzinfo=UTC)
    price = Forecast.objects.create(
        target="btc_usd",
        made_at=made_at,
        history_end=date(2025, 11, 22),
        order="(1,1,0)",
        criterion_value=-123.4,
        horizon_days=2,
        points=[
            {"date": "2025-11-23", "mean": 85000.0, "lower": 80000.0, "upper": 90000.0},
            {"date": "2025-11-24", "mean": 85100.0, "lower": 78000.0, "upper": 92000.0},
        ],
    )
    Forecast.objects.create(
        target="difficulty",
        made_at=made_at,
        history_end=date(2025, 11, 22),
        order="(0,1,1)",
        criterion_value=-99.0,
        horizon_days=1,
        points=[{"date": "2025-11-23", "mean": 1.5e14, "lower": 1.4e14, "upper": 1.6e14}],
    )

    body = _as(host_user).get(f"{API}/forecasts/?target=btc_usd").json()

    assert [row["id"] for row in body["results"]] == [price.pk]
    assert body["results"][0]["order"] == "(1,1,0)"
    assert body["results"][0]["points"][1] == {
        "date": "2025-11-24",
        "mean": 85100.0,
        "lower": 78000.0,
        "upper": 92000.0,
    }


def test_network_stats_list_the_shipped_days_in_a_range(host_user: User) -> None:
    shipped = {row["date"]: row for row in _shipped("btc_difficulty_daily")}

    body = _as(host_user).get(f"{API}/network-stats/?start=2015-01-01&end=2015-01-03").json()

    assert [row["recorded_at"] for row in body["results"]] == ["2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z"]
    assert Decimal(body["results"][0]["difficulty"]) == Decimal(shipped["2015-01-01"]["difficulty"])
    assert body["results"][0]["hashrate_ths"] == pytest.approx(float(shipped["2015-01-01"]["hashrate_ths"]))
    assert body["results"][0]["fees_btc_per_day"] == shipped["2015-01-01"]["fees_btc"]


def test_difficulty_adjustments_list_every_retarget_from_a_height(host_user: User) -> None:
    shipped = _shipped("btc_difficulty_adjustments")

    everything = _as(host_user).get(f"{API}/difficulty-adjustments/?limit=1").json()
    recent = _as(host_user).get(f"{API}/difficulty-adjustments/?min_height=878976").json()

    assert everything["count"] == len(shipped)
    assert recent["results"][0] == {
        "height": 878976,
        "start_time": "2025-01-12T20:01:51Z",
        "bits": "17028c61",
        "difficulty": "110451907374649.5200",
    }
    assert recent["count"] == sum(1 for row in shipped if int(row["height"]) >= 878976)


def _snapshot(*, collected_at: datetime, mode: str = "live") -> MarketAnalytics:
    return MarketAnalytics.objects.create(
        collected_at=collected_at,
        mode=mode,
        price_usd=Decimal("85000.00"),
        price_method="median",
        volume_24h_btc=Decimal("1234.5"),
        sources_asked=3,
        sources_answered=2,
        per_source={
            "binance": {
                "kind": "price",
                "ok": True,
                "latency_ms": 120,
                "price_usd": "85000.00",
                "observed_at": "2025-11-23T10:00:00+00:00",
                "deviation_percent": 0.0,
                "excluded": False,
                "excluded_reason": "",
            },
            "okx": {
                "kind": "price",
                "ok": True,
                "latency_ms": 80,
                "price_usd": "91000.00",
                "deviation_percent": 7.06,
                "excluded": True,
                "excluded_reason": "91000.00 is 7.06 % from the median",
            },
            "bybit": {"kind": "price", "ok": False, "latency_ms": 8000, "error": "HTTP 429", "http_status": 429},
        },
        duration_ms=8001,
    )


def test_market_snapshots_list_runs_newest_first_with_each_sources_part(host_user: User) -> None:
    older = _snapshot(collected_at=datetime(2025, 11, 23, 9, 45, tzinfo=UTC))
    newer = _snapshot(collected_at=datetime(2025, 11, 23, 10, tzinfo=UTC))
    _snapshot(collected_at=datetime(2025, 11, 23, 10, tzinfo=UTC), mode="replay")

    body = _as(host_user).get(f"{API}/market-snapshots/?mode=live").json()

    assert [row["id"] for row in body["results"]] == [newer.pk, older.pk]
    row = body["results"][0]
    assert (row["completeness"], row["is_partial"]) == (pytest.approx(2 / 3), True)
    sources = {s["source"]: s for s in row["sources"]}
    assert list(sources) == ["binance", "bybit", "okx"]
    assert sources["okx"]["excluded"] is True
    assert sources["okx"]["excluded_reason"].startswith("91000.00")
    assert (sources["bybit"]["ok"], sources["bybit"]["http_status"], sources["bybit"]["error"]) == (
        False,
        429,
        "HTTP 429",
    )
    assert sources["binance"]["price_usd"] == "85000.00"


def test_market_snapshots_list_in_bounded_queries(
    host_user: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for minute in range(0, 60, 5):
        _snapshot(collected_at=datetime(2025, 11, 23, 10, minute, tzinfo=UTC))
    api = _as(host_user)

    with django_assert_max_num_queries(4):
        rows = api.get(f"{API}/market-snapshots/").json()["results"]

    assert len(rows) == 12


def test_market_status_says_unavailable_when_nothing_was_ever_aggregated(host_user: User) -> None:
    body = _as(host_user).get(f"{API}/market/status/").json()

    assert body["mode"] == "replay"
    assert body["price"]["state"] == "unavailable"
    assert body["price"]["price_usd"] is None
    assert body["last_run"] is None
    # The shipped network history is loaded, so the difficulty is there.
    assert body["difficulty"]["state"] == "computed"


def test_market_status_serves_the_cached_price_then_its_fallback_when_the_source_is_gone(host_user: User) -> None:
    run = _snapshot(collected_at=datetime(2025, 11, 22, 23, tzinfo=UTC), mode="replay")
    run_id, run_at = run.pk, run.collected_at
    last = NetworkStats.objects.filter(source="replay").order_by("-recorded_at").first()
    assert last is not None
    api = _as(host_user)

    first = api.get(f"{API}/market/status/").json()
    second = api.get(f"{API}/market/status/").json()
    run.delete()
    cache_invalidate(key=MARKET_PRICE_CACHE_KEY)
    fallback = api.get(f"{API}/market/status/").json()

    assert (first["price"]["state"], first["price"]["price_usd"]) == ("computed", "85000.00")
    assert first["last_run"]["id"] == run_id
    assert first["difficulty"]["difficulty"] == str(last.difficulty)
    assert first["difficulty"]["at"] == last.recorded_at.isoformat().replace("+00:00", "Z")
    assert (second["price"]["state"], second["price"]["stale"], second["price"]["fallback"]) == ("fresh", False, False)
    assert second["price"]["age_seconds"] >= (timezone.now() - run_at).total_seconds() - 60
    assert (fallback["price"]["state"], fallback["price"]["stale"], fallback["price"]["fallback"]) == (
        "fallback",
        True,
        True,
    )
    assert fallback["price"]["price_usd"] == "85000.00"
    assert fallback["last_run"] is None


def test_market_status_keeps_the_difficulty_cached_apart_from_the_price(host_user: User) -> None:
    api = _as(host_user)
    api.get(f"{API}/market/status/")
    cache_invalidate(key=NETWORK_DIFFICULTY_CACHE_KEY)

    body = api.get(f"{API}/market/status/").json()

    assert body["difficulty"]["state"] == "computed"
    assert body["price"]["state"] == "unavailable"


def test_network_estimates_give_the_next_retarget_and_halving_of_the_shipped_history(host_user: User) -> None:
    expected = network_estimates_compute(history=network_history_offline(), now=timezone.now())

    body = _as(host_user).get(f"{API}/network/estimates/").json()

    assert body["epoch_height"] == expected.progress.epoch.height
    assert body["height"] == expected.height
    assert body["retarget"]["next_height"] == expected.retarget.next_height
    assert body["retarget"]["change_pct"] == pytest.approx(expected.retarget.change_pct)
    assert body["halving"]["next_height"] == 1_050_000
    assert body["halving"]["subsidy_after_sats"] == 156_250_000


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_callers_are_refused(url: str) -> None:
    response = APIClient().get(url)

    assert response.status_code in (401, 403)


@pytest.mark.parametrize("url", ENDPOINTS)
def test_an_api_key_with_market_read_is_let_in_and_one_without_is_refused(url: str, client_user: User) -> None:
    now = timezone.now()
    reader = api_key_issue(owner=client_user, name="dash", scopes=[ApiScope.MARKET_READ], expires_at=None, now=now)
    other = api_key_issue(
        owner=client_user,
        name="other",
        scopes=[ApiScope.TELEMETRY_READ, ApiScope.MINERS_READ],
        expires_at=None,
        now=now,
    )

    granted = APIClient().get(url, HTTP_AUTHORIZATION=f"Api-Key {reader.raw_key}")
    refused = APIClient().get(url, HTTP_AUTHORIZATION=f"Api-Key {other.raw_key}")

    assert granted.status_code == 200
    assert refused.status_code == 403
