"""The analytics pages: market overview, forecasts and network, with data, empty, and per role."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from analytics.models import Forecast, Interval, MarketAnalytics, PriceCandle, TechnicalIndicator
from analytics.services.history_load import history_load
from analytics.services.signals import technical_analysis_refresh
from mining_platform.core.choices import Role
from mining_platform.core.models import User

PAGES = ("/analytics/", "/analytics/forecasts", "/analytics/network")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _as(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _embedded(html: str, element_id: str) -> dict[str, object]:
    """The JSON a page embeds with json_script under `element_id`."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None, f"no json_script {element_id}"
    data: dict[str, object] = json.loads(match.group(1))
    return data


@pytest.fixture
def history(db: None) -> None:
    history_load()


@pytest.fixture
def analysed_history(history: None) -> None:
    technical_analysis_refresh(full=True)


def _live_run() -> MarketAnalytics:
    """A live aggregation run shaped as aggregate._live_store writes it: one good, one left out, one failed."""
    return MarketAnalytics.objects.create(
        collected_at=NOW,
        mode="live",
        price_usd=Decimal("97012.50"),
        price_method="median",
        volume_24h_btc=Decimal("18234.5"),
        sources_asked=3,
        sources_answered=2,
        duration_ms=812,
        per_source={
            "binance": {
                "kind": "price",
                "ok": True,
                "latency_ms": 140,
                "price_usd": "97012.50",
                "observed_at": (NOW - timedelta(seconds=30)).isoformat(),
                "deviation_percent": 0.0,
                "excluded": False,
                "excluded_reason": "",
            },
            "okx": {
                "kind": "price",
                "ok": True,
                "latency_ms": 220,
                "price_usd": "99500.00",
                "observed_at": (NOW - timedelta(seconds=40)).isoformat(),
                "deviation_percent": 2.56,
                "excluded": True,
                "excluded_reason": "99500.00 is 2.56 % from the median 97012.50 (limit 2 %)",
            },
            "bybit": {
                "kind": "price",
                "ok": False,
                "latency_ms": 95,
                "error": "Too many visits. Exceeded the API Rate Limit.",
                "error_kind": "rate_limited",
                "http_status": 429,
            },
        },
    )


# --- market overview ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_market_page_draws_the_last_180_daily_candles_with_stored_indicators_and_signals(
    analysed_history: None, host_user: User, django_assert_max_num_queries: object
) -> None:
    newest = PriceCandle.objects.filter(source="replay", interval=Interval.DAY).latest("open_time")
    browser = _as(host_user)

    with django_assert_max_num_queries(10):  # type: ignore[operator]
        response = browser.get("/analytics/")

    price = response.context["overview"].price
    data = _embedded(response.text, "price-data")
    times = data["t"]
    assert isinstance(times, list)
    assert response.status_code == 200
    assert (price.interval, price.days, price.indicators_stored) == ("1d", 180, True)
    assert len(times) == 180
    assert times[-1] == int(newest.open_time.timestamp() * 1000)
    assert data["close"][-1] == float(newest.close)  # type: ignore[index]
    assert data["overbought"] == 70.0
    assert data["oversold"] == 30.0
    # Every column is full over the range: 180 days come after more than 600 days of warm-up candles.
    assert all(v is not None for column in ("rsi_14", "macd_signal", "bb_lower") for v in data[column])  # type: ignore[attr-defined]
    signals = response.context["overview"].signals
    assert signals, "the shipped history raises signals on the daily series"
    assert all(s.series == "btc_usd_1d" and s.reason for s in signals)
    assert signals[0].reason in response.text


@pytest.mark.django_db
def test_market_page_switches_to_hourly_candles_and_a_shorter_range(analysed_history: None, host_user: User) -> None:
    response = _as(host_user).get("/analytics/?interval=1h&days=7")

    data = _embedded(response.text, "price-data")
    assert data["interval"] == "1h"
    assert len(data["t"]) == 7 * 24  # type: ignore[arg-type]
    assert response.context["overview"].price.indicators_stored is True
    assert all(s.series == "btc_usd_1h" for s in response.context["overview"].signals)


@pytest.mark.django_db
def test_market_page_falls_back_to_the_default_range_for_a_range_the_interval_does_not_offer(
    history: None, host_user: User
) -> None:
    response = _as(host_user).get("/analytics/?interval=1h&days=730")

    assert (response.context["overview"].price.interval, response.context["overview"].price.days) == ("1h", 90)


@pytest.mark.django_db
def test_market_page_computes_the_indicators_the_indicator_task_would_store_when_none_are_stored(
    history: None, host_user: User
) -> None:
    browser = _as(host_user)

    before = browser.get("/analytics/")
    technical_analysis_refresh(full=True)
    last = TechnicalIndicator.objects.filter(series="btc_usd_1d").latest("at")

    computed = _embedded(before.text, "price-data")
    assert before.context["overview"].price.indicators_stored is False
    assert 'data-indicators="computed"' in before.text
    assert computed["rsi_14"][-1] == pytest.approx(last.rsi_14, abs=0.01)  # type: ignore[index]
    assert computed["macd"][-1] == pytest.approx(last.macd, abs=0.01)  # type: ignore[index]
    assert computed["bb_upper"][-1] == pytest.approx(last.bb_upper, abs=0.01)  # type: ignore[index]


@pytest.mark.django_db
def test_market_status_panel_shows_each_sources_value_latency_and_health(
    history: None, host_user: User, settings: object
) -> None:
    settings.MARKET_DATA_SOURCE = "live"  # type: ignore[attr-defined]
    _live_run()

    response = _as(host_user).get("/analytics/")

    status = response.context["overview"].status
    health = {s.name: (s.health, s.latency_ms) for s in status.sources}
    assert health == {"binance": ("ok", 140), "okx": ("excluded", 220), "bybit": ("error", 95)}
    assert status.completeness_percent == pytest.approx(66.7)
    assert "partial: 2 of 3 answered" in response.text
    assert "rate_limited · HTTP 429" in response.text
    assert "2.56 % from the median" in response.text
    assert "$97,012.50" in response.text


@pytest.mark.django_db
def test_market_page_explains_how_to_load_the_history_when_nothing_is_stored(
    host_user: User, django_assert_max_num_queries: object
) -> None:
    browser = _as(host_user)

    with django_assert_max_num_queries(6):  # type: ignore[operator]
        response = browser.get("/analytics/")

    assert response.status_code == 200
    assert "Price history not loaded yet" in response.text
    assert "manage.py load_market_history" in response.text
    assert "No aggregation run stored yet" in response.text
    assert "No signals on this series yet" in response.text
    assert 'id="price-data"' not in response.text


# --- forecasts ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_forecasts_page_draws_the_stored_forecast_band_after_the_recent_history(
    history: None, host_user: User, django_assert_max_num_queries: object
) -> None:
    history_end = date(2025, 9, 1)
    Forecast.objects.create(
        target="btc_usd",
        made_at=NOW,
        history_end=history_end,
        order="(2,1,1)",
        criterion="aic",
        criterion_value=-4321.5,
        horizon_days=3,
        confidence=0.95,
        points=[
            {"date": "2025-09-02", "mean": 110000.0, "lower": 104000.0, "upper": 116000.0},
            {"date": "2025-09-03", "mean": 110100.0, "lower": 101000.0, "upper": 119000.0},
            {"date": "2025-09-04", "mean": 110200.0, "lower": 99000.0, "upper": 121500.0},
        ],
    )
    last_close = PriceCandle.objects.get(source="replay", interval=Interval.DAY, open_time__date=history_end).close
    browser = _as(host_user)

    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = browser.get("/analytics/forecasts")

    data = _embedded(response.text, "forecast-data-btc_usd")
    history_part, forecast_part = data["history"], data["forecast"]
    assert isinstance(history_part, dict)
    assert isinstance(forecast_part, dict)
    assert len(history_part["t"]) == 120
    assert history_part["v"][-1] == float(last_close)
    # The band starts at the last observation, then one point per day ahead.
    assert forecast_part["lower"] == [float(last_close), 104000.0, 101000.0, 99000.0]
    assert forecast_part["upper"][-1] == 121500.0
    assert "ARIMA(2,1,1)" in response.text
    assert "AIC = -4321.5" in response.text
    assert "$110,200" in response.text
    assert "No network difficulty forecast stored yet" in response.text


@pytest.mark.django_db
def test_forecasts_page_says_how_to_make_a_forecast_when_none_is_stored(host_user: User) -> None:
    response = _as(host_user).get("/analytics/forecasts")

    assert response.status_code == 200
    assert "No btc price (usd) forecast stored yet" in response.text
    assert "analytics.forecasts_refresh" in response.text
    assert "forecast-data-" not in response.text


# --- network ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_network_page_draws_difficulty_and_hash_rate_with_the_next_retarget_and_halving(
    history: None, host_user: User, django_assert_max_num_queries: object
) -> None:
    browser = _as(host_user)

    with django_assert_max_num_queries(12):  # type: ignore[operator]
        response = browser.get("/analytics/network")

    page = response.context["network"]
    data = _embedded(response.text, "network-data")
    sources = data["sources"]
    assert isinstance(sources, list)
    assert [s["source"] for s in sources] == ["replay"]
    assert len(sources[0]["t"]) == 730
    assert sources[0]["difficulty"][-1] == float(page.latest_difficulty)
    estimates = page.estimates
    assert estimates is not None
    assert data["next_retarget"] == {
        "t": int(estimates.retarget.expected_at.timestamp() * 1000),
        "difficulty": estimates.retarget.next_difficulty,
        "change_percent": estimates.retarget.change_pct,
    }
    assert estimates.halving.next_height == 1_050_000
    assert f'data-basis="{estimates.progress.basis}"' in response.text
    assert "subsidy 3.125 → 1.5625 BTC" in response.text
    retargets = page.retargets
    assert len(retargets) == 12
    assert retargets[0].epoch_days is None
    assert retargets[1].change_percent == pytest.approx(
        float((retargets[1].difficulty / retargets[2].difficulty - 1) * 100)
    )


@pytest.mark.django_db
def test_network_page_with_nothing_stored_explains_the_loader_and_still_estimates_from_the_shipped_files(
    host_user: User,
) -> None:
    response = _as(host_user).get("/analytics/network?days=0")

    assert response.status_code == 200
    assert "Network history not loaded yet" in response.text
    assert "No retargets stored yet" in response.text
    assert response.context["network"].estimates is not None
    assert "The estimates above come from the shipped history files." in response.text


# --- access -------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_analytics_pages_send_anonymous_visitors_to_sign_in(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_every_role_opens_every_analytics_page_and_sees_it_in_the_navigation(
    role: Role, role_users: dict[str, User]
) -> None:
    browser = _as(role_users[role])

    responses = [browser.get(path) for path in PAGES]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert 'href="/analytics/"' in responses[0].text
    assert "bi-graph-up" in responses[0].text
