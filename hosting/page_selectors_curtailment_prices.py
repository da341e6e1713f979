"""Reads behind the energy price rule page: the price chart around now, the fleet's break-evens, the decision log."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from .models import CurtailmentPriceRule, CurtailmentRuleDecision, Site
from .services.curtailment_price_rules import (
    FleetBreakEvens,
    curtailment_price_rule_get,
    price_rule_break_evens,
    price_rule_plans_break_evens,
    price_rule_plans_holding,
)
from .services.energy_prices import energy_price_interval_start, energy_prices_between

# The chart shows two days back and two days ahead of the current hour.
CHART_BEFORE = timedelta(days=2)
CHART_AFTER = timedelta(days=2)
DECISIONS_SHOWN = 50


@dataclass(frozen=True)
class PricePage:
    """Everything the page shows for one site."""

    site: Site
    rule: CurtailmentPriceRule
    interval_start: datetime
    price_now_usd_per_mwh: Decimal | None
    fleet: FleetBreakEvens
    losing_now: int  # running miners whose break-even is below the current hour's price
    plans_holding: int  # the rule's plans that keep miners off
    miners_held: int
    resume_below_usd_per_mwh: Decimal | None  # the newest plan's lowest break-even now
    hours_stored: int  # in the chart's window
    hours_ahead: int  # stored hours after the current one
    chart: dict[str, object]
    decisions: list[CurtailmentRuleDecision]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _median(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def price_rule_decisions(*, site: Site) -> QuerySet[CurtailmentRuleDecision]:
    """The decisions of the site's price rule, newest first, with their plans."""
    return CurtailmentRuleDecision.objects.filter(rule__site=site).select_related("plan").order_by("-at", "-id")


def price_page(*, site: Site, now: datetime) -> PricePage:
    """The page for `site` at `now`."""
    rule = curtailment_price_rule_get(site=site)
    interval = energy_price_interval_start(site=site, moment=now)
    prices = energy_prices_between(site=site, start=interval - CHART_BEFORE, end=interval + CHART_AFTER)
    price_now = next((row.price_usd_per_mwh for row in prices if row.starts_at == interval), None)
    fleet = price_rule_break_evens(site=site, pool_fee_pct=rule.pool_fee_pct, now=now)
    figures = [b.usd_per_mwh for b in fleet.break_evens]
    plans = price_rule_plans_holding(site=site, now=now)
    hashprice = fleet.hashprice_usd_per_th_day
    by_plan = (
        {}
        if hashprice is None
        else price_rule_plans_break_evens(plans=plans, hashprice=hashprice, pool_fee_pct=rule.pool_fee_pct)
    )
    held = [by_plan[plan.pk] for plan in plans if plan.pk in by_plan]
    resume_below = min((b.usd_per_mwh for b in held[0]), default=None) if held else None
    decisions = list(price_rule_decisions(site=site)[:DECISIONS_SHOWN])
    chart: dict[str, object] = {
        "t": [_ms(row.starts_at) for row in prices],
        "price": [float(row.price_usd_per_mwh) for row in prices],
        "now": _ms(now),
        "start": _ms(interval - CHART_BEFORE),
        "end": _ms(interval + CHART_AFTER),
        "break_even": {
            "min": float(figures[0]) if figures else None,
            "median": float(median) if (median := _median(figures)) is not None else None,
            "max": float(figures[-1]) if figures else None,
        },
        "resume_below": None if resume_below is None else float(resume_below),
        "events": [
            {"t": _ms(d.at), "price": float(d.price_usd_per_mwh), "action": d.action, "plan": d.plan_id}
            for d in decisions
            if d.action in (CurtailmentRuleDecision.Action.CURTAIL, CurtailmentRuleDecision.Action.RESUME)
            and d.price_usd_per_mwh is not None
            and d.at >= interval - CHART_BEFORE
        ],
    }
    return PricePage(
        site=site,
        rule=rule,
        interval_start=interval,
        price_now_usd_per_mwh=price_now,
        fleet=fleet,
        losing_now=0 if price_now is None else sum(1 for value in figures if value < price_now),
        plans_holding=len(plans),
        miners_held=sum(len(evens) for evens in held),
        resume_below_usd_per_mwh=resume_below,
        hours_stored=len(prices),
        hours_ahead=sum(1 for row in prices if row.starts_at > interval),
        chart=chart,
        decisions=decisions,
    )
