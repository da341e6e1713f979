"""The calculator pages: the public form, saved calculations reopened, and the what-if comparison."""

import json
import re
from decimal import Decimal

import pytest
from django.test import Client

from calculator.models import CalculationHistory, MinerModel
from calculator.templatetags.calculator_format import usd
from mining_platform.core.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_history")]

FORM = {
    "electricity_usd_per_kwh": "0.05",
    "pool_fee_pct": "2",
    "uptime_pct": "97",
    "quantity": "10",
    "hardware_cost_usd": "3000",
    "horizon_days": "730",
    "difficulty_scenario": "value",
    "difficulty_growth_pct_per_month": "1.5",
    "price_scenario": "flat",
}


def _model(name: str = "Antminer S21") -> MinerModel:
    return MinerModel.objects.get(make="Bitmain", model=name)


def _json_script(html: str, element_id: str) -> object:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None, element_id
    return json.loads(match.group(1))


def test_calculator_page_is_public_with_the_catalogue_and_todays_market_figures(client: Client) -> None:
    response = client.get("/calculator")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{_model().pk}">Antminer S21 ·' in html
    for figure in ("btc_price_usd", "difficulty", "block_height", "fees_per_block_btc"):
        assert f'data-market-figure="{figure}"' in html
    assert 'data-empty="results"' in html
    assert 'id="history-panel"' not in html  # anonymous visitors have no history


def test_anonymous_calculation_shows_the_figures_and_the_chart_and_saves_no_user(client: Client) -> None:
    response = client.post("/calculator/calculate", {**FORM, "miner_model_id": str(_model().pk)})

    html = response.content.decode()
    assert response.status_code == 200
    row = CalculationHistory.objects.get()
    assert row.user is None
    results = row.results
    assert f'data-kpi="profit-day">{usd(results["per_day"]["profit_usd"])}<' in html
    chart = _json_script(html, "projection-data")
    assert isinstance(chart, dict)
    assert chart == results["chart"]
    # The chart ends on the horizon's last day and marks the payback day on its line.
    assert chart["day"][-1] == 729
    if results["projection"]["payback_on"] is not None:
        assert chart["payback_day"] in chart["day"]
    assert "not saved to an account" in html


def test_every_bad_field_is_named_on_the_form_and_nothing_is_saved(client: Client) -> None:
    response = client.post(
        "/calculator/calculate",
        {**FORM, "electricity_usd_per_kwh": "abc", "uptime_pct": "120", "horizon_days": "0"},
    )

    html = response.content.decode()
    assert response.status_code == 400
    for field in ("hashrate_ths", "power_w", "electricity_usd_per_kwh", "uptime_pct", "horizon_days"):
        assert f'data-error-for="{field}"' in html, field
    assert "Uptime (%) must be 100 or less." in html
    assert CalculationHistory.objects.count() == 0


def test_signed_in_calculation_is_saved_and_reopens_with_its_inputs(client: Client, client_user: User) -> None:
    client.force_login(client_user)

    response = client.post(
        "/calculator/calculate", {**FORM, "hashrate_ths": "150", "power_w": "3100", "electricity_usd_per_kwh": "0.071"}
    )

    row = CalculationHistory.objects.get()
    assert row.user == client_user
    assert response.status_code == 302
    assert response["Location"] == f"/calculator/history/{row.pk}"
    reopened = client.get(response["Location"]).content.decode()
    assert 'name="electricity_usd_per_kwh" value="0.071"' in reopened
    assert 'name="hashrate_ths" value="150"' in reopened
    assert f'data-history-row="{row.pk}"' in reopened
    assert f'data-kpi="profit-day">{usd(row.results["per_day"]["profit_usd"])}<' in reopened


def test_a_saved_calculation_is_its_owners_alone(client: Client, client_user: User, host_user: User) -> None:
    client.force_login(client_user)
    client.post("/calculator/calculate", {**FORM, "miner_model_id": str(_model().pk)})
    row = CalculationHistory.objects.get()

    client.force_login(host_user)
    assert client.get(f"/calculator/history/{row.pk}").status_code == 404
    assert f'data-history-row="{row.pk}"' not in client.get("/calculator/history").content.decode()

    client.logout()
    response = client.get(f"/calculator/history/{row.pk}")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_history_page_lists_the_users_calculations_newest_first(client: Client, client_user: User) -> None:
    client.force_login(client_user)
    for price in ("0.04", "0.09"):
        client.post(
            "/calculator/calculate", {**FORM, "miner_model_id": str(_model().pk), "electricity_usd_per_kwh": price}
        )

    html = client.get("/calculator/history").content.decode()

    rows = re.findall(r'data-history-row="(\d+)"', html)
    assert [int(pk) for pk in rows] == list(
        CalculationHistory.objects.filter(user=client_user).order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    assert "$0.09/kWh" in html


def test_history_page_has_an_empty_state(client: Client, client_user: User) -> None:
    client.force_login(client_user)

    assert 'data-empty="history"' in client.get("/calculator/history").content.decode()


def _compare_query(**slots: str) -> dict[str, str]:
    return {**FORM, **slots}


def test_compare_puts_models_side_by_side_at_the_same_market(client: Client) -> None:
    s21, s19 = _model("Antminer S21"), _model("Antminer S19 XP")

    response = client.get(
        "/calculator/compare",
        _compare_query(
            model_0=str(s21.pk), hardware_cost_usd_0="4000", model_1=str(s19.pk), hardware_cost_usd_1="1500"
        ),
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-compare-row="{s21.pk}"' in html
    assert f'data-compare-row="{s19.pk}"' in html
    chart = _json_script(html, "compare-data")
    assert isinstance(chart, dict)
    assert [series["label"] for series in chart["series"]] == [str(s21), str(s19)]
    # Compared per unit: the S21's net position starts at its first day's profit (a few dollars) less 4,000.
    assert -4_000 < chart["series"][0]["net_usd"][0] < -3_980
    # The same electricity and market for both: the more efficient S21 (17.5 J/TH) earns more per TH.
    assert "most profit" in html.split(f'data-compare-row="{s21.pk}"')[1].split("</tr>")[0]
    assert CalculationHistory.objects.count() == 0  # comparisons are not saved


def test_compare_needs_two_models_and_names_a_bad_hardware_cost(client: Client) -> None:
    one = client.get("/calculator/compare", _compare_query(model_0=str(_model().pk)))
    assert one.status_code == 400
    assert 'data-error-for="model_0"' in one.content.decode()

    bad = client.get(
        "/calculator/compare",
        _compare_query(model_0=str(_model().pk), model_1=str(_model("Antminer S19 XP").pk), hardware_cost_usd_1="-5"),
    )
    html = bad.content.decode()
    assert bad.status_code == 400
    assert 'data-error-for="hardware_cost_usd_1"' in html
    assert 'data-error-for="hardware_cost_usd_0"' not in html


def test_compare_page_without_a_query_shows_its_empty_state(client: Client) -> None:
    response = client.get("/calculator/compare")

    assert response.status_code == 200
    assert 'data-empty="compare"' in response.content.decode()


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [("1234.5", 2, "$1,234.50"), ("-0.994", 2, "-$0.99"), ("-0.004", 2, "$0.00"), (None, 2, "—"), ("x", 0, "—")],
)
def test_usd_shows_a_loss_before_the_dollar_sign(value: object, digits: int, text: str) -> None:
    assert usd(value, digits) == text


def test_results_of_identical_requests_come_from_the_cache_and_match(client: Client) -> None:
    data = {**FORM, "miner_model_id": str(_model().pk)}
    client.post("/calculator/calculate", data)
    client.post("/calculator/calculate", data)

    first, second = CalculationHistory.objects.order_by("id")
    assert first.results == second.results
    assert Decimal(first.results["per_day"]["profit_usd"]) != 0
