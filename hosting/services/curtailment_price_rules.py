"""Energy price rules: curtail the miners that lose money at the hour's power price, and bring them back later.

A miner's break-even power price is what its hashrate earns per kWh it draws:
    hashprice (USD/TH/day) x hashrate (TH/s) x (1 - pool fee) / (power (kW) x 24 h)   in USD/kWh,
times 1000 for USD/MWh. Above it the miner costs more in power than it earns (issue 7, "Price rules").

Once an hour (the site's price hours) the rule compares the hour's price with the break-evens:
- an hour counts "above" when the price exceeds the break-even of at least one running miner (online, fresh
  telemetry, in no plan); after `persist_intervals` such hours in a row the rule makes a plan that curtails
  exactly the running miners whose break-even is below the price then;
- while plans of the rule hold miners, an hour counts "below" when the price is under the break-even of every
  miner the newest of them curtailed (their figures from before the shed); after `resume_intervals` such
  hours in a row that plan is ended early (recover now), or cancelled if it has not started.
A price that keeps rising makes a further plan for the miners it newly puts under water; as it falls, plans
are resumed newest first, since the newest was made at the highest price and holds the miners that earn
again first. An hour that breaks a run sets its count back to 0, so a price that swings above and below every
other hour never acts: the persistence is the hysteresis that keeps miners from cycling. An hour the rule
cannot judge (no price stored, no hashprice, no miner with fresh telemetry) is said so in the log and neither
counts nor breaks a run. Every judged hour, and the first failed attempt at one, writes a decision row with
its figures and its reason in words.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from hosting.choices import CurtailmentSource, CurtailmentStatus, CurtailmentStrategy, CurtailmentTargetKind
from hosting.models import CurtailmentPlan, CurtailmentPlanMiner, CurtailmentPriceRule, CurtailmentRuleDecision, Site
from hosting.services.curtailment_execution import curtailment_plan_cancel, curtailment_plan_recover_now
from hosting.services.curtailment_planner import Eligibility, Strategy, Target, TargetKind, curtailment_plan
from hosting.services.curtailment_plans import SiteFleet, curtailment_site_fleet, plan_miner_rows
from hosting.services.energy_prices import energy_price_at, energy_price_interval_start
from mining_platform.core.errors import DomainError, InvalidInputError
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

Action = CurtailmentRuleDecision.Action

_FIGURE = Decimal("0.001")
_HASHPRICE = Decimal("0.00000001")
# Bounds of the rule's settings (also database constraints): a week of hours at most.
MAX_INTERVALS = 168
MAX_HOLD_MINUTES = 1440


@dataclass(frozen=True)
class BreakEven:
    """One miner's break-even power price at the current hashprice, from the figures it was judged on."""

    miner_id: int
    power_w: int
    hashrate_ths: Decimal
    usd_per_mwh: Decimal


@dataclass(frozen=True)
class RuleSettings:
    """What an operator sets on a rule."""

    enabled: bool
    persist_intervals: int
    resume_intervals: int
    pool_fee_pct: Decimal
    max_curtail_hours: int
    hold_minutes: int


def break_even_usd_per_mwh(
    *, hashprice_usd_per_th_day: Decimal, hashrate_ths: Decimal, power_w: int, pool_fee_pct: Decimal
) -> Decimal | None:
    """The power price (USD/MWh) at which the miner's pool revenue pays exactly for its power; None at no draw."""
    if power_w <= 0:
        return None
    revenue_per_day = hashprice_usd_per_th_day * hashrate_ths * (1 - pool_fee_pct / 100)
    energy_mwh_per_day = Decimal(power_w) * 24 / 1_000_000
    return (revenue_per_day / energy_mwh_per_day).quantize(_FIGURE)


def _break_evens(
    *, figures: Iterable[tuple[int, int, Decimal]], hashprice: Decimal, pool_fee_pct: Decimal
) -> list[BreakEven]:
    result = []
    for miner_id, power_w, hashrate_ths in figures:
        value = break_even_usd_per_mwh(
            hashprice_usd_per_th_day=hashprice, hashrate_ths=hashrate_ths, power_w=power_w, pool_fee_pct=pool_fee_pct
        )
        if value is not None:
            result.append(BreakEven(miner_id=miner_id, power_w=power_w, hashrate_ths=hashrate_ths, usd_per_mwh=value))
    return result


def _running_break_evens(*, fleet: SiteFleet, pool_fee_pct: Decimal) -> list[BreakEven]:
    """Break-evens of the miners that could be curtailed now (fresh, online, in no plan)."""
    if fleet.hashprice_usd_per_th_day is None:
        return []
    return _break_evens(
        figures=(
            (candidate.miner_id, candidate.power_w, Decimal(str(candidate.hashrate_ths)))
            for candidate in fleet.eligibility.candidates
        ),
        hashprice=fleet.hashprice_usd_per_th_day,
        pool_fee_pct=pool_fee_pct,
    )


def price_rule_plans_break_evens(
    *, plans: Sequence[CurtailmentPlan], hashprice: Decimal, pool_fee_pct: Decimal
) -> dict[int, list[BreakEven]]:
    """Break-evens of each plan's miners (by plan id) from their figures before the shed: they draw next to
    nothing now. One query for all the plans."""
    rows = CurtailmentPlanMiner.objects.filter(plan__in=[plan.pk for plan in plans]).values_list(
        "plan_id",
        "miner_id",
        "baseline_power_w",
        "baseline_hashrate_ths",
        "planned_power_change_w",
        "planned_hashrate_change_ths",
    )
    figures: dict[int, list[tuple[int, int, Decimal]]] = {plan.pk: [] for plan in plans}
    for plan_id, miner_id, baseline_power, baseline_hashrate, power_change, hashrate_change in rows:
        figures[plan_id].append(
            (
                miner_id,
                baseline_power if baseline_power is not None else abs(power_change),
                Decimal(str(baseline_hashrate)) if baseline_hashrate is not None else abs(hashrate_change),
            )
        )
    return {
        plan_id: _break_evens(figures=items, hashprice=hashprice, pool_fee_pct=pool_fee_pct)
        for plan_id, items in figures.items()
    }


@dataclass(frozen=True)
class FleetBreakEvens:
    """The running miners' break-evens at the current hashprice (none when no hashprice is known)."""

    hashprice_usd_per_th_day: Decimal | None
    break_evens: tuple[BreakEven, ...]


def price_rule_break_evens(*, site: Site, pool_fee_pct: Decimal, now: datetime) -> FleetBreakEvens:
    """Break-evens of the site's miners that could be curtailed now, lowest (first to go) first."""
    fleet = curtailment_site_fleet(site=site, now=now)
    running = sorted(_running_break_evens(fleet=fleet, pool_fee_pct=pool_fee_pct), key=lambda b: b.usd_per_mwh)
    return FleetBreakEvens(hashprice_usd_per_th_day=fleet.hashprice_usd_per_th_day, break_evens=tuple(running))


def curtailment_price_rule_get(*, site: Site) -> CurtailmentPriceRule:
    """The site's rule, or an unsaved one with the defaults (disabled) when it has none yet."""
    rule = CurtailmentPriceRule.objects.filter(site=site).select_related("active_plan").first()
    return rule if rule is not None else CurtailmentPriceRule(site=site)


def _check_settings(values: RuleSettings) -> None:
    errors: dict[str, list[str]] = {}
    for name, value in (
        ("persist_intervals", values.persist_intervals),
        ("resume_intervals", values.resume_intervals),
        ("max_curtail_hours", values.max_curtail_hours),
    ):
        if not 1 <= value <= MAX_INTERVALS:
            errors[name] = [f"must be between 1 and {MAX_INTERVALS} hours"]
    if not 0 <= values.hold_minutes <= MAX_HOLD_MINUTES:
        errors["hold_minutes"] = [f"must be between 0 and {MAX_HOLD_MINUTES} minutes"]
    if not values.pool_fee_pct.is_finite() or not 0 <= values.pool_fee_pct < 100:
        errors["pool_fee_pct"] = ["must be at least 0 and below 100 %"]
    elif values.pool_fee_pct != values.pool_fee_pct.quantize(Decimal("0.01")):
        errors["pool_fee_pct"] = ["at most two decimals"]
    if errors:
        raise InvalidInputError(fields=errors)


@transaction.atomic
def curtailment_price_rule_save(
    *, site: Site, values: RuleSettings, by: User | None, now: datetime
) -> CurtailmentPriceRule:
    """Create or change the site's rule. Switching it on starts its counts afresh."""
    _check_settings(values)
    rule = CurtailmentPriceRule.objects.select_for_update().filter(site=site).first() or CurtailmentPriceRule(site=site)
    if values.enabled and not rule.enabled:
        # Counts from before it was switched off describe hours long gone.
        rule.consecutive_above = 0
        _below_run_reset(rule)
        rule.last_interval_at = None
    rule.enabled = values.enabled
    rule.persist_intervals = values.persist_intervals
    rule.resume_intervals = values.resume_intervals
    rule.pool_fee_pct = values.pool_fee_pct
    rule.max_curtail_hours = values.max_curtail_hours
    rule.hold_minutes = values.hold_minutes
    rule.updated_at = now
    rule.updated_by = by
    rule.full_clean()
    rule.save()
    logger.info("Price rule saved: site_id=%s enabled=%s", site.pk, rule.enabled)
    return rule


def _below_run_reset(rule: CurtailmentPriceRule) -> None:
    rule.consecutive_below = 0
    rule.below_run_high_usd_per_mwh = None


def _usd(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f} USD/MWh"


def _hour(moment: datetime, site: Site) -> str:
    zone = ZoneInfo(str(site.time_zone))
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


def _ths(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def price_rule_plan_create(
    *, rule: CurtailmentPriceRule, fleet: SiteFleet, miner_ids: Sequence[int], now: datetime, note: str
) -> CurtailmentPlan:
    """A pending plan (source price_rule) turning off exactly `miner_ids`, all candidates of `fleet`.

    The planner is given only those miners and asked for all of them, so the plan's rows and figures are made
    as for any other plan. Runs in the caller's transaction.
    """
    wanted = set(miner_ids)
    chosen = tuple(candidate for candidate in fleet.eligibility.candidates if candidate.miner_id in wanted)
    if len(chosen) != len(wanted):
        raise InvalidInputError(fields={"miner_ids": ["every miner must be a candidate of the site's fleet"]})
    result = curtailment_plan(
        candidates=chosen,
        target=Target(kind=TargetKind.MINERS, value=len(chosen)),
        strategy=Strategy.PERFORMANCE_PRIORITY,
        hashprice_usd_per_th_day=fleet.hashprice_usd_per_th_day,
    )
    planned = {choice.miner_id for choice in result.choices}
    if planned != wanted:
        raise InvalidInputError(fields={"miner_ids": [f"the planner left out miners {sorted(wanted - planned)}"]})
    plan = CurtailmentPlan(
        site=rule.site,
        target_kind=CurtailmentTargetKind.MINERS,
        target_value=Decimal(len(chosen)),
        strategy=CurtailmentStrategy.PERFORMANCE_PRIORITY,
        status=CurtailmentStatus.PENDING,
        source=CurtailmentSource.PRICE_RULE,
        scheduled_start=now,
        # A safety net: the rule normally ends the plan itself once prices have come down.
        recover_at=now + timedelta(hours=rule.max_curtail_hours),
        hold_minutes=rule.hold_minutes,
        ramp_kw_per_minute=Decimal(settings.CURTAILMENT_RAMP_KW_PER_MINUTE),
        created_at=now,
        planned_shed_kw=Decimal(result.shed_w) / 1000,
        planned_hashrate_lost_ths=_ths(result.hashrate_lost_ths),
        note=note,
    )
    plan.full_clean()
    plan.save()
    own_fleet = replace(fleet, eligibility=Eligibility(candidates=chosen, excluded=()))
    CurtailmentPlanMiner.objects.bulk_create(plan_miner_rows(plan=plan, result=result, fleet=own_fleet, round_number=0))
    return plan


@dataclass
class _Judgement:
    """What one evaluation found and did, filled in as it goes and stored as the decision row."""

    interval_start: datetime
    price: Decimal | None = None
    hashprice: Decimal | None = None
    curtail_threshold: Decimal | None = None
    resume_threshold: Decimal | None = None
    break_evens: Sequence[BreakEven] = ()
    miners_above: int = 0
    miners_below: int = 0
    counted_above: int = 0  # the runs this hour reached (the rule's own counts restart after it acts)
    counted_below: int = 0
    action: str = Action.NONE
    reason: str = ""
    plan: CurtailmentPlan | None = None
    judged: bool = True


def _decision(*, rule: CurtailmentPriceRule, judgement: _Judgement, now: datetime) -> CurtailmentRuleDecision:
    figures = [b.usd_per_mwh for b in judgement.break_evens]
    hashprice = judgement.hashprice
    return CurtailmentRuleDecision.objects.create(
        rule=rule,
        at=now,
        interval_start=judgement.interval_start,
        price_usd_per_mwh=judgement.price,
        hashprice_usd_per_th_day=None if hashprice is None else hashprice.quantize(_HASHPRICE),
        curtail_threshold_usd_per_mwh=judgement.curtail_threshold,
        resume_threshold_usd_per_mwh=judgement.resume_threshold,
        break_even_min_usd_per_mwh=min(figures, default=None),
        break_even_max_usd_per_mwh=max(figures, default=None),
        miners_above=judgement.miners_above,
        miners_below=judgement.miners_below,
        consecutive_above=judgement.counted_above if judgement.judged else rule.consecutive_above,
        consecutive_below=judgement.counted_below if judgement.judged else rule.consecutive_below,
        action=judgement.action,
        reason=judgement.reason,
        plan=judgement.plan,
    )


def price_rule_plans_holding(*, site: Site, now: datetime) -> list[CurtailmentPlan]:
    """The site's price-rule plans that hold their miners off and are not being ended, newest first.

    The newest is resumed first: each plan was made at a higher price than the ones before it, so its
    miners have the higher break-evens and are the first to earn again as the price falls.
    """
    return list(
        CurtailmentPlan.objects.filter(
            site=site,
            source=CurtailmentSource.PRICE_RULE,
            status__in=(CurtailmentStatus.PENDING, CurtailmentStatus.EXECUTING, CurtailmentStatus.EXECUTED),
            recover_at__gt=now,
        ).order_by("-created_at", "-id")
    )


def _end_plan(*, plan: CurtailmentPlan, now: datetime) -> str:
    """Recover the plan's miners now, or cancel it if it has not started; says which."""
    if plan.status in (CurtailmentStatus.PENDING, CurtailmentStatus.DRAFT):
        curtailment_plan_cancel(plan=plan, by=None, now=now)
        return f"plan #{plan.pk} had not started and is cancelled"
    curtailment_plan_recover_now(plan=plan, by=None, now=now)
    return f"plan #{plan.pk} recovers its miners now"


def _plans_to_resume(
    *, plans: Sequence[CurtailmentPlan], held_by_plan: Mapping[int, Sequence[BreakEven]], run_high: Decimal | None
) -> list[CurtailmentPlan]:
    """The newest plan, and each next older one whose miners' break-evens all stayed above the run's prices."""
    ending = [plans[0]]
    for plan in plans[1:]:
        held = held_by_plan[plan.pk]
        if held and (run_high is None or min(b.usd_per_mwh for b in held) <= run_high):
            break
        ending.append(plan)
    return ending


def _running_side(
    *, rule: CurtailmentPriceRule, price: Decimal, running: Sequence[BreakEven], judgement: _Judgement
) -> tuple[list[BreakEven], str]:
    """Count the hour for curtailing; the running miners losing money at the price, and the words for it."""
    if not running:
        rule.consecutive_above = 0
        return [], "No other miner is running with fresh telemetry."
    losing = sorted((b for b in running if b.usd_per_mwh < price), key=lambda b: b.usd_per_mwh)
    judgement.curtail_threshold = min(b.usd_per_mwh for b in running)
    rule.consecutive_above = rule.consecutive_above + 1 if losing else 0
    judgement.counted_above = rule.consecutive_above
    if not losing:
        return [], (
            f"Price {_usd(price)} is at or below every running miner's break-even (lowest "
            f"{_usd(judgement.curtail_threshold)}): all {len(running)} earn more than their power costs."
        )
    return losing, (
        f"Price {_usd(price)} is above the break-even of {len(losing)} of {len(running)} running miners "
        f"({_usd(losing[0].usd_per_mwh)} to {_usd(losing[-1].usd_per_mwh)}); above for "
        f"{rule.consecutive_above} hour(s) in a row, {rule.persist_intervals} needed."
    )


def _held_side(
    *,
    rule: CurtailmentPriceRule,
    price: Decimal,
    plan: CurtailmentPlan | None,
    held: Sequence[BreakEven],
    judgement: _Judgement,
) -> str:
    """Count the hour for resuming the newest plan; the words for it."""
    if plan is None:
        _below_run_reset(rule)
        return ""
    high = rule.below_run_high_usd_per_mwh
    if not held:
        # A plan without miners to judge holds nothing worth keeping off.
        rule.consecutive_below = rule.resume_intervals
        rule.below_run_high_usd_per_mwh = price if high is None else max(high, price)
        judgement.counted_below = rule.consecutive_below
        return f"Plan #{plan.pk} holds no miner with figures to judge."
    judgement.resume_threshold = min(b.usd_per_mwh for b in held)
    losing = sum(1 for b in held if b.usd_per_mwh < price)
    if price >= judgement.resume_threshold:
        _below_run_reset(rule)
        return (
            f"Against plan #{plan.pk}: the price is above the break-even of {losing} of the {len(held)} miners it "
            f"curtailed (lowest {_usd(judgement.resume_threshold)}); they stay off until the price has stayed "
            f"below that for {rule.resume_intervals} hour(s)."
        )
    rule.consecutive_below += 1
    rule.below_run_high_usd_per_mwh = price if high is None else max(high, price)
    judgement.counted_below = rule.consecutive_below
    return (
        f"Against plan #{plan.pk}: the price is below the break-even of all {len(held)} miners it curtailed "
        f"(lowest {_usd(judgement.resume_threshold)}); below for {rule.consecutive_below} hour(s) in a row, "
        f"{rule.resume_intervals} needed."
    )


def _judge(*, rule: CurtailmentPriceRule, judgement: _Judgement, now: datetime) -> None:
    site = rule.site
    plans = price_rule_plans_holding(site=site, now=now)
    prefix = ""
    previous = rule.active_plan
    if previous is not None and previous.pk not in {plan.pk for plan in plans}:
        # It ended without the rule: its recovery time came, or an operator ended or cancelled it.
        state = previous.get_status_display().lower()
        prefix = f"Plan #{previous.pk} has ended without the rule ({state}); counts start afresh. "
        rule.consecutive_above = 0
        _below_run_reset(rule)
    top = plans[0] if plans else None
    rule.active_plan = top
    price = judgement.price = energy_price_at(site=site, starts_at=judgement.interval_start)
    if price is None:
        judgement.judged = False
        judgement.reason = (
            f"{prefix}No price is stored for the hour from {_hour(judgement.interval_start, site)}. Nothing done: "
            f"miners stay as they are and the counts are kept (above {rule.consecutive_above}, below "
            f"{rule.consecutive_below})."
        )
        return
    fleet = curtailment_site_fleet(site=site, now=now)
    hashprice = judgement.hashprice = fleet.hashprice_usd_per_th_day
    if hashprice is None:
        judgement.judged = False
        judgement.reason = (
            f"{prefix}No hashprice: the market data (BTC price and difficulty) is unavailable, so no break-even "
            f"can be worked out. Nothing done; counts kept."
        )
        return
    running = _running_break_evens(fleet=fleet, pool_fee_pct=rule.pool_fee_pct)
    held_by_plan = price_rule_plans_break_evens(plans=plans, hashprice=hashprice, pool_fee_pct=rule.pool_fee_pct)
    if not running and top is None:
        judgement.judged = False
        judgement.reason = (
            f"{prefix}No miner can be judged: none is online with telemetry from the last "
            f"{settings.CURTAILMENT_FRESH_SECONDS} s and outside a plan. Nothing done; counts kept "
            f"(above {rule.consecutive_above}, below {rule.consecutive_below})."
        )
        return
    everyone = [*running, *(b for evens in held_by_plan.values() for b in evens)]
    judgement.break_evens = everyone
    judgement.miners_above = sum(1 for b in everyone if b.usd_per_mwh < price)
    judgement.miners_below = len(everyone) - judgement.miners_above
    losing, running_words = _running_side(rule=rule, price=price, running=running, judgement=judgement)
    held_words = _held_side(
        rule=rule, price=price, plan=top, held=held_by_plan[top.pk] if top else [], judgement=judgement
    )
    words = [prefix + running_words, held_words]
    if len(plans) > 1:
        words.append(f"{len(plans)} plans of the rule hold miners; the newest is resumed first.")
    if top is not None and rule.consecutive_below >= rule.resume_intervals:
        ending = _plans_to_resume(plans=plans, held_by_plan=held_by_plan, run_high=rule.below_run_high_usd_per_mwh)
        words.append("Resuming: " + "; ".join(_end_plan(plan=plan, now=now) for plan in ending) + ".")
        if len(ending) > 1:
            words.append(
                f"The price stayed below every miner's break-even in the older plan(s) too, all {rule.consecutive_below} "
                f"hours (at most {_usd(rule.below_run_high_usd_per_mwh)})."
            )
        _below_run_reset(rule)
        rule.active_plan = plans[len(ending)] if len(plans) > len(ending) else None
        judgement.action, judgement.plan = Action.RESUME, top
        logger.info("Price rule resumes: site_id=%s plan_ids=%s price=%s", site.pk, [plan.pk for plan in ending], price)
    elif losing and rule.consecutive_above >= rule.persist_intervals:
        shed_kw = Decimal(sum(b.power_w for b in losing)) / 1000
        words.append(
            f"Curtailing exactly those {len(losing)} miners (about {shed_kw:,.1f} kW) until the price has stayed "
            f"below their break-even for {rule.resume_intervals} hour(s), at most {rule.max_curtail_hours} h."
        )
        note = "Energy price rule: " + " ".join(w for w in words if w)
        plan = price_rule_plan_create(
            rule=rule, fleet=fleet, miner_ids=[b.miner_id for b in losing], now=now, note=note
        )
        words[-1] += f" Plan #{plan.pk}."
        rule.consecutive_above = 0
        _below_run_reset(rule)
        rule.active_plan = plan
        judgement.action, judgement.plan = Action.CURTAIL, plan
        logger.info(
            "Price rule curtails: site_id=%s plan_id=%s miners=%d price=%s", site.pk, plan.pk, len(losing), price
        )
    elif top is not None:
        judgement.action, judgement.plan = Action.HOLD, top
        words.append("The curtailed miners stay off." if not losing else "Waiting before curtailing more.")
    else:
        words.append("Waiting before curtailing." if losing else "Nothing to do.")
    judgement.reason = " ".join(w for w in words if w)


def curtailment_price_rule_evaluate(*, rule_id: int, now: datetime) -> CurtailmentRuleDecision | None:
    """Judge the rule's current price hour once; None when it is off, or this hour is already decided.

    An hour it cannot judge is tried again on later runs, but logged only the first time.
    """
    with transaction.atomic():
        # Locked: two runs at once must not count one hour twice or make two plans.
        rule = CurtailmentPriceRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None or not rule.enabled:
            return None
        interval = energy_price_interval_start(site=rule.site, moment=now)
        if rule.last_interval_at == interval:
            return None
        judgement = _Judgement(interval_start=interval)
        state = (rule.consecutive_above, rule.consecutive_below, rule.below_run_high_usd_per_mwh, rule.active_plan)
        try:
            with transaction.atomic():  # a failed plan or recovery leaves nothing half-written
                _judge(rule=rule, judgement=judgement, now=now)
        except DomainError as exc:
            rule.consecutive_above, rule.consecutive_below, rule.below_run_high_usd_per_mwh, rule.active_plan = state
            judgement = _Judgement(interval_start=interval, price=judgement.price, judged=False)
            problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.fields.items())
            judgement.reason = f"Could not act: {exc.message} {problems}".strip()
            logger.warning("Price rule could not act: rule_id=%s code=%s", rule.pk, exc.code)
        if judgement.judged:
            rule.last_interval_at = interval
        rule.save(
            update_fields=[
                "consecutive_above",
                "consecutive_below",
                "below_run_high_usd_per_mwh",
                "last_interval_at",
                "active_plan",
            ]
        )
        if not judgement.judged and CurtailmentRuleDecision.objects.filter(rule=rule, interval_start=interval).exists():
            return None
        return _decision(rule=rule, judgement=judgement, now=now)


def curtailment_price_rules_evaluate(*, now: datetime) -> list[CurtailmentRuleDecision]:
    """Evaluate every enabled rule (each in its own transaction); the beat task calls it every minute."""
    decisions = []
    for rule_id in CurtailmentPriceRule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True):
        decision = curtailment_price_rule_evaluate(rule_id=rule_id, now=now)
        if decision is not None:
            decisions.append(decision)
    return decisions
