"""Projection scenarios on the shipped history: the difficulty trend and the ARIMA price path."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.models import Forecast
from calculator.services.profitability import MarketSnapshot, PricePathKind
from calculator.services.scenarios import difficulty_trend, price_forecast_path, scenario_build
from mining_platform.core.errors import InvalidInputError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_history")]

JUNE_2024 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _snapshot(*, price: str = "70000", as_of: datetime = JUNE_2024) -> MarketSnapshot:
    return MarketSnapshot(
        btc_price_usd=Decimal(price),
        difficulty=Decimal("84381461788831.34"),
        block_height=845_000,
        fees_per_block_btc=Decimal("0.1"),
        as_of=as_of,
    )


def _price_forecast(*, history_end: date, means: list[float]) -> Forecast:
    return Forecast.objects.create(
        target="btc_usd",
        made_at=datetime.combine(history_end, datetime.min.time(), tzinfo=UTC),
        history_end=history_end,
        order="(1,1,0)",
        criterion_value=-1.0,
        horizon_days=len(means),
        points=[
            {"date": f"2024-06-{day:02d}", "mean": mean, "lower": mean * 0.9, "upper": mean * 1.1}
            for day, mean in enumerate(means, start=1)
        ],
    )


def test_difficulty_trend_is_the_compound_monthly_growth_between_real_retargets() -> None:
    trend = difficulty_trend(now=JUNE_2024, months=12)

    # Newest retarget before 2024-06-01: block 844,704 (2024-05-23 06:18:50, 84,381,461,788,831.34).
    # Twelve months (365.25 days) before it is 2023-05-23 00:18:50; the retarget in force then began at
    # block 790,272 (2023-05-18 05:07:42, 49,549,703,178,592.68). 371.0494 days apart, the difficulty grew
    # 1.702966 times: 1.702966 ^ (30.4375 / 371.0494) = 1.044638, +4.4638 % a month.
    assert (trend.from_height, trend.to_height) == (790_272, 844_704)
    assert trend.growth_pct_per_month.quantize(Decimal("0.0001")) == Decimal("4.4638")


def test_difficulty_trend_over_more_months_than_the_history_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        difficulty_trend(now=datetime(2009, 3, 1, tzinfo=UTC), months=3)

    assert set(excinfo.value.fields) == {"difficulty_trend_months"}


def test_price_forecast_path_applies_the_forecast_change_from_the_snapshot_price() -> None:
    # The shipped daily close of 2024-05-31 is 67,477.00: the forecast's day 1 mean of 68,000 is +0.775 %.
    _price_forecast(history_end=date(2024, 5, 31), means=[68_000.0, 68_500.0])

    path, label = price_forecast_path(market=_snapshot())

    assert path.kind == PricePathKind.SERIES
    # 70,000 x 68,000 / 67,477 and 70,000 x 68,500 / 67,477, from the day after the snapshot.
    assert [(on, price.quantize(Decimal("0.01"))) for on, price in path.points] == [
        (date(2024, 6, 2), Decimal("70542.56")),
        (date(2024, 6, 3), Decimal("71061.25")),
    ]
    assert "ARIMA(1,1,0)" in label
    assert "2024-05-31" in label


def test_price_forecast_scenario_holds_the_last_forecast_value_after_its_horizon() -> None:
    _price_forecast(history_end=date(2024, 5, 31), means=[68_000.0, 68_500.0])

    scenario = scenario_build(data={"price_scenario": "forecast", "horizon_days": 5}, market=_snapshot())

    prices = [day.btc_price_usd.quantize(Decimal("0.01")) for day in scenario.path.days]
    assert prices == [Decimal("70000.00"), Decimal("70542.56"), *[Decimal("71061.25")] * 3]


def test_price_forecast_scenario_without_a_stored_forecast_names_the_field() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        scenario_build(data={"price_scenario": "forecast"}, market=_snapshot())

    assert set(excinfo.value.fields) == {"price_scenario"}


def test_trend_scenario_drives_the_projected_difficulty() -> None:
    scenario = scenario_build(
        data={"difficulty_scenario": "trend", "difficulty_trend_months": "12", "horizon_days": 31},
        market=_snapshot(),
    )

    # 30.4375 days of +4.4638 % a month compounded daily: day 30 is 30 / 30.4375 months in.
    growth = scenario.path.days[30].difficulty / scenario.path.days[0].difficulty
    expected = Decimal("1.044638") ** (Decimal(30) / Decimal("30.4375"))
    assert abs(growth - expected) < Decimal("0.000001")
    assert "+4.46 % a month" in scenario.difficulty_label


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"difficulty_scenario": "guess"}, "difficulty_scenario"),
        ({"difficulty_scenario": "trend", "difficulty_trend_months": "5"}, "difficulty_trend_months"),
        ({"price_scenario": "moon"}, "price_scenario"),
        ({"price_scenario": "growth", "price_growth_pct_per_month": "-100"}, "price_growth_pct_per_month"),
        ({"horizon_days": "ten"}, "horizon_days"),
    ],
)
def test_scenario_build_names_each_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        scenario_build(data=data, market=_snapshot())

    assert set(excinfo.value.fields) == {field}
