from datetime import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import DifficultyAdjustment, NetworkStats
from analytics.selectors import REPLAY_SOURCE, replay_price_at
from analytics.services.forecasts import forecasts_refresh
from calculator.models import CalculationHistory, MinerModel
from calculator.services.market_inputs import market_snapshot_current
from calculator.services.profitability import MarketSnapshot, MinerSetup, profitability_compute
from mining_platform.core.models import User

CALCULATE = "/api/v1/calculator/calculate"
HISTORY = "/api/v1/calculator/history"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_history")]


def _snapshot_from(market: dict[str, dict[str, object]], as_of: str) -> MarketSnapshot:
    return MarketSnapshot(
        btc_price_usd=Decimal(str(market["btc_price_usd"]["value"])),
        difficulty=Decimal(str(market["difficulty"]["value"])),
        block_height=int(str(market["block_height"]["value"])),
        fees_per_block_btc=Decimal(str(market["fees_per_block_btc"]["value"])),
        as_of=datetime.fromisoformat(as_of),
    )


def _q(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.00000001')):f}"


def test_calculate_with_a_catalogue_model_matches_the_engine_at_the_shipped_market() -> None:
    s19 = MinerModel.objects.get(model="Antminer S19 Pro")
    body = {
        "miner_model_id": s19.pk,
        "electricity_usd_per_kwh": "0.05",
        "pool_fee_pct": "2",
        "uptime_pct": "97",
        "hardware_cost_usd": "1500",
        "horizon_days": 400,
    }

    response = APIClient().post(CALCULATE, body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    market = data["market"]
    replay = NetworkStats.objects.filter(source=REPLAY_SOURCE).order_by("-recorded_at")
    newest = replay.first()
    with_fees = replay.filter(fees_btc_per_day__isnull=False).first()
    assert newest is not None
    assert with_fees is not None
    assert with_fees.fees_btc_per_day is not None
    assert Decimal(market["difficulty"]["value"]) == newest.difficulty
    assert Decimal(market["fees_per_block_btc"]["value"]) == with_fees.fees_btc_per_day / 144
    shipped_price = replay_price_at(at=timezone.now())
    assert shipped_price is not None
    assert Decimal(market["btc_price_usd"]["value"]) == shipped_price.price_usd
    # No aggregation has run: the price is the shipped history's, and the answer says so.
    assert market["btc_price_usd"]["fallback"] is True
    assert market["btc_price_usd"]["shipped_history"] is True
    assert "shipped history" in market["btc_price_usd"]["source"]
    assert market["difficulty"]["age_seconds"] > 0
    setup = MinerSetup(
        hashrate_ths=Decimal("110"),
        power_w=Decimal(3250),
        electricity_usd_per_kwh=Decimal("0.05"),
        pool_fee_pct=Decimal(2),
        uptime_pct=Decimal(97),
        hardware_cost_usd=Decimal(1500),
    )
    expected = profitability_compute(setup=setup, market=_snapshot_from(market, market["as_of"]))
    results = data["results"]
    assert results["per_day"]["profit_usd"] == _q(expected.per_day.profit_usd)
    assert results["per_year"]["revenue_btc"] == _q(expected.per_year.revenue_btc)
    assert results["hashprice_usd_per_th_day"] == _q(expected.hashprice_usd_per_th_day)
    assert results["break_even_electricity_usd_per_kwh"] == _q(expected.break_even_electricity_usd_per_kwh)
    assert results["payback_days"] == _q(expected.payback_days)
    assert results["projection"]["horizon_days"] == 400
    assert results["projection"]["halving_height"] % 210_000 == 0
    assert data["miner_model"] == s19.pk


def test_market_snapshot_current_takes_the_height_from_the_newest_retarget_when_no_row_holds_one() -> None:
    now = timezone.now()
    newest = DifficultyAdjustment.objects.order_by("-height").first()
    assert newest is not None

    inputs = market_snapshot_current(now=now)

    elapsed = int((now - newest.start_time).total_seconds()) // 600
    assert inputs.snapshot.block_height == newest.height + elapsed
    assert inputs.block_height.fallback is True
    assert "retarget history" in inputs.block_height.label


def test_calculate_with_custom_specs_and_a_loss_answers_payback_never() -> None:
    body = {
        "hashrate_ths": "10",
        "power_w": "3000",
        "electricity_usd_per_kwh": "0.30",
        "hardware_cost_usd": "500",
        "price_scenario": "growth",
        "price_growth_pct_per_month": "1",
        "horizon_days": 30,
    }

    response = APIClient().post(CALCULATE, body, format="json")

    assert response.status_code == 201, response.json()
    results = response.json()["results"]
    assert results["efficiency_j_per_th"] == "300.00000000"
    assert results["pays_back"] is False
    assert results["payback_days"] is None
    assert results["projection"]["payback_on"] is None
    assert Decimal(results["projection"]["cumulative_profit_usd"]) < 0
    assert response.json()["miner_model"] is None


def test_calculate_names_the_bad_field_in_the_error_envelope() -> None:
    body = {"hashrate_ths": "100", "power_w": "3000", "electricity_usd_per_kwh": "0.05", "uptime_pct": "150"}

    response = APIClient().post(CALCULATE, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert list(error["fields"]) == ["uptime_pct"]
    assert not CalculationHistory.objects.exists()


def test_calculate_names_a_non_numeric_field_and_a_missing_hashrate() -> None:
    response = APIClient().post(CALCULATE, {"power_w": "abc", "electricity_usd_per_kwh": "0.05"}, format="json")
    missing = APIClient().post(CALCULATE, {"power_w": "3000", "electricity_usd_per_kwh": "0.05"}, format="json")

    assert response.status_code == 400
    assert "power_w" in response.json()["error"]["fields"]
    assert missing.status_code == 400
    assert "hashrate_ths" in missing.json()["error"]["fields"]


def test_calculate_refuses_a_model_id_not_in_the_catalogue() -> None:
    body = {"miner_model_id": 999_999, "electricity_usd_per_kwh": "0.05"}

    response = APIClient().post(CALCULATE, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"miner_model_id": ["is not in the catalogue"]}


def test_anonymous_calculation_is_saved_without_a_user() -> None:
    body = {"hashrate_ths": "200", "power_w": "3500", "electricity_usd_per_kwh": "0.06"}

    response = APIClient().post(CALCULATE, body, format="json", REMOTE_ADDR="127.0.0.9")

    row = CalculationHistory.objects.get(pk=response.json()["id"])
    assert row.user is None
    assert row.inputs["hashrate_ths"] == "200"
    stored = str(row.inputs) + str(row.market) + str(row.results)
    assert "127.0.0.9" not in stored


def test_history_lists_only_the_signed_in_users_own_calculations(client_user: User, host_user: User) -> None:
    mine, theirs = APIClient(), APIClient()
    mine.force_login(client_user)
    theirs.force_login(host_user)
    body = {"hashrate_ths": "200", "power_w": "3500", "electricity_usd_per_kwh": "0.06"}
    first = mine.post(CALCULATE, body, format="json").json()["id"]
    second = mine.post(CALCULATE, {**body, "quantity": 2}, format="json").json()["id"]
    theirs.post(CALCULATE, body, format="json")
    APIClient().post(CALCULATE, body, format="json")

    response = mine.get(HISTORY)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [second, first]
    assert CalculationHistory.objects.get(pk=first).user == client_user


def test_history_refuses_anonymous_visitors() -> None:
    response = APIClient().get(HISTORY)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_anonymous_calculations_are_rate_limited_by_the_anonymous_throttle() -> None:
    body = {"hashrate_ths": "200", "power_w": "3500", "electricity_usd_per_kwh": "0.06"}
    rates = {"api_key": "100/min", "anon": "2/min", "user": "100/min"}

    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [APIClient().post(CALCULATE, body, format="json").status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert CalculationHistory.objects.count() == 2


def test_admin_shows_calculations_read_only(owner_user: User) -> None:
    body = {"hashrate_ths": "200", "power_w": "3500", "electricity_usd_per_kwh": "0.06"}
    row_id = APIClient().post(CALCULATE, body, format="json").json()["id"]
    client = APIClient()
    client.force_login(owner_user)

    listing = client.get("/admin/calculator/calculationhistory/")
    change = client.get(f"/admin/calculator/calculationhistory/{row_id}/change/")
    add = client.get("/admin/calculator/calculationhistory/add/")

    assert listing.status_code == 200
    assert f"/admin/calculator/calculationhistory/{row_id}/change/" in listing.content.decode()
    assert change.status_code == 200
    assert 'name="inputs"' not in change.content.decode()  # shown, not editable
    assert add.status_code == 403


def test_calculate_with_the_trend_and_forecast_scenarios_says_how_each_was_chosen() -> None:
    forecasts_refresh(now=timezone.now(), orders=[(1, 1, 0)])
    body = {
        "hashrate_ths": "200",
        "power_w": "3500",
        "electricity_usd_per_kwh": "0.05",
        "horizon_days": 120,
        "difficulty_scenario": "trend",
        "difficulty_trend_months": 6,
        "price_scenario": "forecast",
    }

    response = APIClient().post(CALCULATE, body, format="json")

    assert response.status_code == 201, response.json()
    projection = response.json()["results"]["projection"]
    assert "the trend of the last 6 months" in projection["difficulty_scenario"]
    assert projection["price_scenario"].startswith("ARIMA(1,1,0) forecast")
    # The trend's monthly growth, compounded over 119 days, is where the projection's difficulty ends.
    growth = Decimal(projection["difficulty_growth_pct_per_month"])
    start = Decimal(response.json()["market"]["difficulty"]["value"])
    expected = start * (1 + growth / 100) ** (Decimal(119) / Decimal("30.4375"))
    assert abs(Decimal(projection["final_difficulty"]) / expected - 1) < Decimal("1e-9")


def test_calculate_reports_setup_and_scenario_errors_together() -> None:
    response = APIClient().post(
        CALCULATE,
        {"power_w": "-1", "electricity_usd_per_kwh": "0.05", "horizon_days": 0, "price_scenario": "forecast"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"hashrate_ths", "power_w", "horizon_days", "price_scenario"}
