"""Projection scenarios: how difficulty and the BTC price move, from the user's values or from the data.

- Difficulty: a growth per month given by the user, or the trend of the stored retargets over the last
  months (the compound monthly rate between the newest retarget and the one that many months before it).
- Price: flat, a growth per month, or the newest ARIMA forecast of the price. The forecast's relative path
  (each day's mean over the last close the model saw) is applied from the snapshot price, so a forecast
  made on yesterday's close and the price of this minute agree on day 0. The stored forecasts have no
  drift term, so after their last day the price holds at the last forecast value, as the model itself says.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, localcontext

from analytics.models import Forecast, PriceCandle
from analytics.selectors import difficulty_adjustment_list, forecast_list
from analytics.services.forecasts import TARGET_PRICE, forecast_sources
from calculator.services.profitability import (
    DAYS_PER_MONTH,
    HUNDRED,
    ONE,
    MarketPath,
    MarketSnapshot,
    PricePath,
    PricePathKind,
    market_path_build,
)
from mining_platform.core.errors import InvalidInputError

DEFAULT_HORIZON_DAYS = 365
DEFAULT_TREND_MONTHS = 12
TREND_MONTH_CHOICES = (3, 6, 12, 24)


class DifficultyScenario:
    VALUE = "value"
    TREND = "trend"
    CHOICES = (VALUE, TREND)


class PriceScenario:
    FLAT = PricePathKind.FLAT.value
    GROWTH = PricePathKind.GROWTH.value
    FORECAST = "forecast"
    CHOICES = (FLAT, GROWTH, FORECAST)


@dataclass(frozen=True)
class DifficultyTrend:
    """The compound monthly growth of difficulty between two retargets."""

    growth_pct_per_month: Decimal
    months: int
    from_height: int
    from_at: datetime
    to_height: int
    to_at: datetime


@dataclass(frozen=True)
class Scenario:
    """A market path and, in words, how its difficulty and price were chosen."""

    path: MarketPath
    difficulty_label: str
    price_label: str


def _invalid(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"Some values are not valid: {field}.", fields={field: [message]})


def _given(data: Mapping[str, object], key: str, default: object) -> object:
    """The value under `key`, or `default` when it is missing, null or blank."""
    value = data.get(key)
    return default if value is None or value == "" else value


def difficulty_trend(*, now: datetime, months: int = DEFAULT_TREND_MONTHS) -> DifficultyTrend:
    """The monthly growth of difficulty over the `months` before the newest retarget at or before `now`."""
    retargets = difficulty_adjustment_list().filter(start_time__lte=now)
    newest = retargets.order_by("-height").first()
    if newest is None:
        raise _invalid("difficulty_scenario", "has no difficulty history to take a trend from")
    since = newest.start_time - timedelta(days=float(DAYS_PER_MONTH) * months)
    oldest = retargets.filter(start_time__lte=since).order_by("-height").first()
    if oldest is None:
        raise _invalid("difficulty_trend_months", f"goes back further than the stored difficulty history ({months})")
    elapsed_days = Decimal((newest.start_time - oldest.start_time).total_seconds()) / Decimal(86_400)
    with localcontext() as context:
        context.prec = 40
        monthly = (newest.difficulty / oldest.difficulty) ** (DAYS_PER_MONTH / elapsed_days)
        growth = (monthly - ONE) * HUNDRED
    return DifficultyTrend(
        growth_pct_per_month=growth,
        months=months,
        from_height=oldest.height,
        from_at=oldest.start_time,
        to_height=newest.height,
        to_at=newest.start_time,
    )


def _forecast_base_close(*, forecast: Forecast) -> Decimal | None:
    """The daily close the forecast started from (its history's last day), from its data mode's source."""
    source, _ = forecast_sources()
    day_start = datetime.combine(forecast.history_end, time(), tzinfo=UTC)
    candle = (
        PriceCandle.objects.filter(source=source, interval="1d", open_time__gte=day_start)
        .filter(open_time__lt=day_start + timedelta(days=1))
        .first()
    )
    return None if candle is None else candle.close


def price_forecast_path(*, market: MarketSnapshot) -> tuple[PricePath, str]:
    """The newest price forecast made on history up to the snapshot, as a path from the snapshot price."""
    forecast = forecast_list(target=TARGET_PRICE).filter(history_end__lte=market.as_of.date()).first()
    if forecast is None or not forecast.points:
        raise _invalid("price_scenario", "has no stored price forecast yet; choose flat or growth")
    base = _forecast_base_close(forecast=forecast)
    means = [Decimal(str(point["mean"])) for point in forecast.points]
    if base is None or base <= 0:
        # Without the close it started from, the first forecast day stands for day 0's level.
        base = means[0]
    start_on = market.as_of.date()
    with localcontext() as context:
        context.prec = 40
        points = tuple(
            (start_on + timedelta(days=step), market.btc_price_usd * mean / base)
            for step, mean in enumerate(means, start=1)
        )
    label = (
        f"ARIMA{forecast.order} forecast from the close of {forecast.history_end:%Y-%m-%d}, "
        f"{len(means)} days applied from today's price, then held at its last value"
    )
    return PricePath(kind=PricePathKind.SERIES, points=points), label


def _trend_months(data: Mapping[str, object]) -> int:
    months = _given(data, "difficulty_trend_months", DEFAULT_TREND_MONTHS)
    if isinstance(months, str) and months.strip().isdigit():
        months = int(months)
    if not isinstance(months, int) or isinstance(months, bool) or months not in TREND_MONTH_CHOICES:
        choices = ", ".join(str(choice) for choice in TREND_MONTH_CHOICES)
        raise _invalid("difficulty_trend_months", f"must be one of {choices}")
    return months


def _difficulty_growth(*, data: Mapping[str, object], now: datetime) -> tuple[object, str]:
    scenario = _given(data, "difficulty_scenario", DifficultyScenario.VALUE)
    if scenario == DifficultyScenario.TREND:
        trend = difficulty_trend(now=now, months=_trend_months(data))
        label = (
            f"{trend.growth_pct_per_month:+.2f} % a month: the trend of the last {trend.months} months "
            f"(retarget at block {trend.from_height:,} on {trend.from_at:%Y-%m-%d} to block {trend.to_height:,} "
            f"on {trend.to_at:%Y-%m-%d})"
        )
        return trend.growth_pct_per_month, label
    if scenario != DifficultyScenario.VALUE:
        raise _invalid("difficulty_scenario", "must be value or trend")
    growth = _given(data, "difficulty_growth_pct_per_month", Decimal(0))
    return growth, f"{growth} % a month (your value)"


def _price_path(*, data: Mapping[str, object], market: MarketSnapshot) -> tuple[PricePath, str]:
    scenario = _given(data, "price_scenario", PriceScenario.FLAT)
    if scenario == PriceScenario.FORECAST:
        return price_forecast_path(market=market)
    if scenario == PriceScenario.GROWTH:
        growth = _given(data, "price_growth_pct_per_month", Decimal(0))
        try:
            path = PricePath(kind=PricePathKind.GROWTH, growth_pct_per_month=growth)  # type: ignore[arg-type]  # checked in __post_init__
        except InvalidInputError as error:
            # The engine names the path's field; forms and the API call it price_growth_pct_per_month.
            raise _invalid(
                "price_growth_pct_per_month", "; ".join(error.fields.get("price_path.growth_pct_per_month", []))
            ) from error
        return path, f"{path.growth_pct_per_month} % a month from today's price"
    if scenario != PriceScenario.FLAT:
        raise _invalid("price_scenario", "must be flat, growth or forecast")
    return PricePath(), "flat at today's price"


def scenario_build(*, data: Mapping[str, object], market: MarketSnapshot) -> Scenario:
    """The market path of the form or API fields: horizon_days, the difficulty and the price scenario.

    Every bad field is reported at once, so a form shows them all.
    """
    errors: dict[str, list[str]] = {}
    growth: object = Decimal(0)
    difficulty_label = price_label = ""
    price_path = PricePath()
    try:
        growth, difficulty_label = _difficulty_growth(data=data, now=market.as_of)
    except InvalidInputError as error:
        errors.update(error.fields)
    try:
        price_path, price_label = _price_path(data=data, market=market)
    except InvalidInputError as error:
        errors.update(error.fields)
    try:
        path = market_path_build(
            market=market,
            horizon_days=_given(data, "horizon_days", DEFAULT_HORIZON_DAYS),  # type: ignore[arg-type]  # checked by the engine
            difficulty_growth_pct_per_month=growth,  # type: ignore[arg-type]  # checked by the engine
            price_path=price_path,
        )
    except InvalidInputError as error:
        errors.update(error.fields)
    if errors:
        raise InvalidInputError(f"Some values are not valid: {', '.join(sorted(errors))}.", fields=errors)
    return Scenario(path=path, difficulty_label=difficulty_label, price_label=price_label)
