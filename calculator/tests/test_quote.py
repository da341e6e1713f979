"""The quote endpoint: the calculate API's figures and errors from a plain view, throttled, recorded later."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from analytics.models import DifficultyAdjustment, Forecast, MarketAnalytics, NetworkStats, PriceCandle
from analytics.selectors import MARKET_PRICE_CACHE_KEY
from calculator.models import CalculationHistory, MinerModel
from calculator.services.history_buffer import calculation_history_flush
from calculator.services.market_inputs import market_shared_key
from mining_platform.core.cache import cache_invalidate
from mining_platform.core.models import User
from mining_platform.core.periodic import declared_periodic_jobs

QUOTE = "/api/v1/calculator/quote"
CALCULATE = "/api/v1/calculator/calculate"
HISTORY = "/api/v1/calculator/history"
INPUTS = {
    "electricity_usd_per_kwh": "0.06",
    "pool_fee_pct": "2",
    "uptime_pct": "97",
    "hardware_cost_usd": "1800",
    "horizon_days": "365",
}

pytestmark = pytest.mark.django_db


def _flush() -> None:
    calculation_history_flush(batch_rows=100, max_batches=10)


@pytest.fixture
def s19() -> MinerModel:
    return MinerModel.objects.get(model="Antminer S19 Pro")


@pytest.mark.usefixtures("shipped_history")
def test_quote_answers_the_calculate_apis_figures_for_the_same_inputs(s19: MinerModel) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}

    quote = Client().get(QUOTE, query)
    saved = APIClient().post(CALCULATE, query, format="json")

    assert quote.status_code == 200, quote.content
    assert saved.status_code == 201
    answer, row = quote.json(), saved.json()
    assert answer["results"] == row["results"]
    assert answer["inputs"] == row["inputs"] == {"miner_model_id": s19.pk, **INPUTS, "horizon_days": 365}
    assert answer["miner_model"] == row["miner_model"] == s19.pk
    for figure in ("btc_price_usd", "difficulty", "block_height", "fees_per_block_btc"):
        assert answer["market"][figure]["value"] == row["market"][figure]["value"]
        assert answer["market"][figure]["source"] == row["market"][figure]["source"]
    assert quote.headers["Content-Type"] == "application/json"


@pytest.mark.usefixtures("shipped_history")
def test_a_repeated_quote_follows_the_market_when_it_moves(s19: MinerModel) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}
    first = Client().get(QUOTE, query).json()
    again = Client().get(QUOTE, query).json()
    # A new aggregated price, as the market refresh stores it; the shared state lives a second at most.
    MarketAnalytics.objects.create(
        collected_at=timezone.now(), mode="replay", price_usd=Decimal("250000"), sources_asked=1, sources_answered=1
    )
    cache_invalidate(key=MARKET_PRICE_CACHE_KEY)
    get_redis_connection("default").delete(market_shared_key())

    moved = Client().get(QUOTE, query).json()
    saved = APIClient().post(CALCULATE, query, format="json").json()

    assert again["results"] == first["results"]
    assert again["uid"] != first["uid"]
    assert moved["market"]["btc_price_usd"]["value"] == "250000.00"
    assert moved["results"] == saved["results"]
    assert Decimal(moved["results"]["per_day"]["revenue_usd"]) > Decimal(first["results"]["per_day"]["revenue_usd"])


@pytest.mark.usefixtures("shipped_history")
@override_settings(CALCULATOR_QUOTE_MAX_AGE_SECONDS=12)
def test_quote_may_be_reused_by_browsers_and_proxies_for_the_configured_seconds(s19: MinerModel) -> None:
    response = Client().get(QUOTE, {"miner_model_id": str(s19.pk), **INPUTS})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=12"


# Each bad input as both endpoints receive it: text in a query, the same text in a JSON body.
BAD_INPUTS = [
    pytest.param({"pool_fee_pct": "2"}, id="missing-electricity"),
    pytest.param({**INPUTS, "electricity_usd_per_kwh": "cheap"}, id="non-numeric"),
    pytest.param({**INPUTS, "electricity_usd_per_kwh": ""}, id="blank-required"),
    pytest.param({**INPUTS, "uptime_pct": "NaN", "pool_fee_pct": "Infinity"}, id="not-finite"),
    pytest.param({**INPUTS, "hardware_cost_usd": "9" * 1001}, id="too-long"),
    pytest.param({**INPUTS, "miner_model_id": "s19"}, id="non-integer-id"),
    pytest.param({**INPUTS, "horizon_days": "12.5"}, id="fractional-integer"),
    pytest.param({**INPUTS, "quantity": ""}, id="blank-integer"),
    pytest.param({**INPUTS, "price_scenario": "moon"}, id="bad-choice"),
    pytest.param({**INPUTS, "difficulty_trend_months": "5"}, id="bad-numeric-choice"),
    pytest.param({**INPUTS, "miner_model_id": "999999"}, id="not-in-catalogue"),
    pytest.param({**INPUTS, "hashrate_ths": "100", "uptime_pct": "150", "power_w": "-1"}, id="engine-ranges"),
    pytest.param({**INPUTS, "hashrate_ths": "100", "power_w": "3000", "horizon_days": "0"}, id="scenario"),
]


@pytest.mark.usefixtures("shipped_history")
@pytest.mark.parametrize("inputs", BAD_INPUTS)
def test_quote_names_each_bad_field_exactly_as_the_calculate_api_does(inputs: dict[str, str]) -> None:
    quote = Client().get(QUOTE, inputs)
    calculate = APIClient().post(CALCULATE, inputs, format="json")

    assert quote.status_code == calculate.status_code == 400
    assert quote.json() == calculate.json()
    assert quote.json()["error"]["fields"]
    assert not CalculationHistory.objects.exists()


@pytest.mark.usefixtures("shipped_history")
def test_quote_takes_blank_optional_numbers_as_not_given(s19: MinerModel) -> None:
    response = Client().get(QUOTE, {"miner_model_id": str(s19.pk), **INPUTS, "hashrate_ths": " ", "power_w": ""})

    assert response.status_code == 200, response.content
    assert response.json()["inputs"]["hashrate_ths"] is None


def test_quote_answers_503_with_retry_after_when_no_market_data_is_stored(s19: MinerModel) -> None:
    # Whatever another test of this module loaded goes (inside this test's transaction).
    for model in (PriceCandle, NetworkStats, DifficultyAdjustment, Forecast, MarketAnalytics):
        model.objects.all().delete()

    response = Client().get(QUOTE, {"miner_model_id": str(s19.pk), **INPUTS})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert response.headers["Retry-After"] == "30"


def test_quote_refuses_other_methods() -> None:
    response = Client().post(QUOTE, INPUTS)

    assert response.status_code == 405


@pytest.mark.usefixtures("shipped_history")
# An hour's window: the test never straddles two of them.
@override_settings(CALCULATOR_QUOTE_RATE_ANON="100/s,2/h")
def test_quote_throttles_anonymous_callers_per_address(s19: MinerModel) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}
    visitor = Client(REMOTE_ADDR="127.0.0.10")

    answered = [visitor.get(QUOTE, query).status_code for _ in range(3)]
    refused = visitor.get(QUOTE, query)
    other = Client(REMOTE_ADDR="127.0.0.11").get(QUOTE, query)

    assert answered == [200, 200, 429]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert refused.json()["error"]["fields"] == {}
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert other.status_code == 200


@pytest.mark.usefixtures("shipped_history")
@override_settings(CALCULATOR_QUOTE_RATE_ANON="", CALCULATOR_QUOTE_RATE_USER="1/h")
def test_quote_throttles_signed_in_users_per_user_whatever_their_address(
    client_user: User, host_user: User, s19: MinerModel
) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}
    first, second, other = (Client(REMOTE_ADDR=f"127.0.0.{n}") for n in (20, 21, 22))
    for browser, user in ((first, client_user), (second, client_user), (other, host_user)):
        browser.force_login(user)

    statuses = [first.get(QUOTE, query).status_code, second.get(QUOTE, query).status_code]
    others = other.get(QUOTE, query).status_code
    anonymous = [Client().get(QUOTE, query).status_code for _ in range(3)]

    assert statuses == [200, 429]
    assert others == 200
    assert anonymous == [200, 200, 200]  # a blank rate: no limit


@override_settings(CALCULATOR_QUOTE_RATE_ANON="5/fortnight")
def test_a_quote_rate_setting_that_cannot_be_read_is_refused_by_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="5/fortnight"):
        Client().get(QUOTE, INPUTS)


@pytest.mark.usefixtures("shipped_history")
def test_a_signed_in_users_quote_joins_their_history_once_the_buffer_is_flushed(
    client_user: User, s19: MinerModel
) -> None:
    browser = Client()
    browser.force_login(client_user)
    answer = browser.get(QUOTE, {"miner_model_id": str(s19.pk), **INPUTS}).json()
    before = CalculationHistory.objects.count()

    _flush()

    row = CalculationHistory.objects.get(uid=answer["uid"])
    assert before == 0
    assert row.user == client_user
    assert row.miner_model == s19
    assert (row.inputs, row.market, row.results) == (answer["inputs"], answer["market"], answer["results"])
    assert row.created_at.isoformat().replace("+00:00", "Z") == answer["created_at"]
    listed = browser.get(HISTORY).json()["results"]
    assert [item["id"] for item in listed] == [row.pk]
    assert browser.get(f"/calculator/history/{row.pk}").status_code == 200


@pytest.mark.usefixtures("shipped_history")
def test_an_anonymous_quote_is_recorded_without_a_user(s19: MinerModel) -> None:
    answer = Client().get(QUOTE, {"miner_model_id": str(s19.pk), **INPUTS}).json()

    _flush()

    row = CalculationHistory.objects.get(uid=answer["uid"])
    assert row.user is None
    assert row.created_at <= timezone.now()


def test_the_quote_is_in_the_api_schema_with_the_calculate_apis_inputs_as_query_parameters() -> None:
    out = StringIO()

    call_command("spectacular", "--format", "openapi-json", stdout=out)

    operation = json.loads(out.getvalue())["paths"][QUOTE]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["electricity_usd_per_kwh"]["in"] == "query"
    assert parameters["electricity_usd_per_kwh"]["required"] is True
    assert parameters["price_scenario"]["schema"]["enum"] == ["flat", "growth", "forecast"]
    assert {"200", "400", "429", "503"} <= set(operation["responses"])


def test_the_history_flush_is_a_declared_periodic_job() -> None:
    jobs = {job.name: job for job in declared_periodic_jobs()}

    assert jobs["calculator.calculation_history_flush"].task == "calculator.calculation_history_flush"
    assert jobs["calculator.calculation_history_flush"].every_seconds == settings.CALCULATOR_HISTORY_FLUSH_SECONDS
