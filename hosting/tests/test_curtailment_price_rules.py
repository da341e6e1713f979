"""The energy price rule on a moving clock: persistence, hysteresis, resume, missing hours, and its decision log."""

import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client
from playwright.sync_api import FilePayload, Page
from pytest_django import DjangoAssertNumQueries
from pytest_django.live_server_helper import LiveServer

from analytics.models import DifficultyAdjustment, MarketAnalytics, NetworkStats
from analytics.selectors import REPLAY_SOURCE
from calculator.services.market_inputs import market_snapshot_current
from calculator.services.profitability import hashprice_usd_per_th_day
from hosting.choices import CurtailmentSource, CurtailmentStatus, CurtailmentTargetKind, MinerStatus
from hosting.models import (
    CurtailmentPlan,
    CurtailmentPriceRule,
    CurtailmentRuleDecision,
    Miner,
    MinerLatest,
    Site,
    SiteEnergyPrice,
)
from hosting.schedules import SCHEDULES
from hosting.services.curtailment_price_rules import (
    RuleSettings,
    break_even_usd_per_mwh,
    curtailment_price_rule_evaluate,
    curtailment_price_rule_save,
)
from hosting.tasks import curtailment_price_rules_evaluate_task
from hosting.tests.factories import MinerFactory, SiteFactory
from mining_platform.core.choices import Role
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User
from mining_platform.core.tests.factories import TEST_PASSWORD, UserFactory
from tests.browser import chromium

pytestmark = pytest.mark.django_db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Hour 0 of every test; the clock moves on from here a price hour at a time.
START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
FEE = Decimal("2.00")
Action = CurtailmentRuleDecision.Action


def _market_rows() -> None:
    """Market rows as the shipped history leaves them: daily difficulty and fees, retargets, one price."""
    for days, difficulty in ((2, "148000000000000"), (1, "149000000000000")):
        NetworkStats.objects.create(
            source=REPLAY_SOURCE,
            recorded_at=START - timedelta(days=days),
            difficulty=Decimal(difficulty),
            fees_btc_per_day=Decimal("5.76"),
        )
    DifficultyAdjustment.objects.create(
        height=923_328, start_time=START - timedelta(days=5), bits="17025ced", difficulty=Decimal("149000000000000")
    )
    MarketAnalytics.objects.create(
        collected_at=START - timedelta(minutes=2),
        mode="replay",
        price_usd=Decimal("90500.00"),
        sources_asked=1,
        sources_answered=1,
    )


@pytest.fixture
def hashprice() -> Decimal:
    """The market rows, and the hashprice they give at the start."""
    _market_rows()
    return hashprice_usd_per_th_day(market=market_snapshot_current(now=START).snapshot)


@pytest.fixture
def site() -> Site:
    return SiteFactory.create(time_zone="UTC")


def _miner(site: Site, *, hashrate: float, power_w: int) -> Miner:
    miner = MinerFactory.create(site=site, status=MinerStatus.ONLINE)
    MinerLatest.objects.create(
        miner=miner, recorded_at=START, outcome="ok", hashrate_ths=hashrate, power_w=power_w, is_sleeping=False
    )
    return miner


def _break_even(hashprice: Decimal, *, hashrate: float, power_w: int) -> Decimal:
    value = break_even_usd_per_mwh(
        hashprice_usd_per_th_day=hashprice, hashrate_ths=Decimal(str(hashrate)), power_w=power_w, pool_fee_pct=FEE
    )
    assert value is not None
    return value


def _rule(site: Site, *, persist: int = 2, resume: int = 2) -> CurtailmentPriceRule:
    return curtailment_price_rule_save(
        site=site,
        values=RuleSettings(
            enabled=True,
            persist_intervals=persist,
            resume_intervals=resume,
            pool_fee_pct=FEE,
            max_curtail_hours=24,
            hold_minutes=10,
        ),
        by=None,
        now=START,
    )


def _prices(site: Site, prices: Sequence[Decimal | None]) -> None:
    """Hour i of the test costs prices[i]; None leaves the hour without a price."""
    SiteEnergyPrice.objects.bulk_create(
        SiteEnergyPrice(
            site=site, starts_at=START + timedelta(hours=i), price_usd_per_mwh=price, source="upload", updated_at=START
        )
        for i, price in enumerate(prices)
        if price is not None
    )


def _at(hour: int, minute: int = 1) -> datetime:
    """A moment in hour `hour`; the running miners report just before it, as telemetry would."""
    now = START + timedelta(hours=hour, minutes=minute)
    MinerLatest.objects.filter(is_sleeping=False).update(recorded_at=now - timedelta(seconds=20))
    return now


def _run(rule: CurtailmentPriceRule, hours: Iterable[int]) -> list[CurtailmentRuleDecision | None]:
    return [curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(hour)) for hour in hours]


@pytest.fixture
def fleet(site: Site, hashprice: Decimal) -> dict[str, Miner]:
    """An old miner (lowest break-even), a middling one, and an efficient one."""
    return {
        "old": _miner(site, hashrate=60.0, power_w=3300),
        "mid": _miner(site, hashrate=100.0, power_w=3250),
        "new": _miner(site, hashrate=200.0, power_w=3500),
    }


def _levels(hashprice: Decimal) -> dict[str, Decimal]:
    """Prices between the miners' break-evens: below all, above the old one only, above old and mid."""
    old = _break_even(hashprice, hashrate=60.0, power_w=3300)
    mid = _break_even(hashprice, hashrate=100.0, power_w=3250)
    new = _break_even(hashprice, hashrate=200.0, power_w=3500)
    assert old < mid < new
    return {"low": old - 5, "over_old": (old + mid) / 2, "over_mid": (mid + new) / 2}


def test_break_even_is_revenue_per_day_over_energy_per_day() -> None:
    value = break_even_usd_per_mwh(
        hashprice_usd_per_th_day=Decimal("0.05"), hashrate_ths=Decimal(100), power_w=3000, pool_fee_pct=Decimal(2)
    )

    # 0.05 USD/TH/day x 100 TH/s x 0.98 = 4.90 USD/day over 3 kW x 24 h = 72 kWh: 0.068056 USD/kWh.
    assert value == Decimal("68.056")


def test_rule_waits_for_the_set_hours_then_curtails_exactly_the_miners_losing_money(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    _prices(site, [level["over_mid"], level["over_mid"]])
    rule = _rule(site, persist=2)

    first, second = _run(rule, [0, 1])

    assert first is not None
    assert second is not None
    assert (first.action, first.consecutive_above, first.plan) == (Action.NONE, 1, None)
    assert "above for 1 hour(s) in a row, 2 needed" in first.reason
    assert (second.action, second.consecutive_above, second.miners_above, second.miners_below) == (
        Action.CURTAIL,
        2,
        2,
        1,
    )
    plan = CurtailmentPlan.objects.get()
    assert second.plan == plan
    assert set(plan.plan_miners.values_list("miner_id", flat=True)) == {fleet["old"].pk, fleet["mid"].pk}
    assert (plan.source, plan.status, plan.target_kind) == (
        CurtailmentSource.PRICE_RULE,
        CurtailmentStatus.PENDING,
        CurtailmentTargetKind.MINERS,
    )
    assert plan.planned_shed_kw == Decimal("6.550")
    assert plan.recover_at == second.at + timedelta(hours=24)
    assert second.curtail_threshold_usd_per_mwh == _break_even(hashprice, hashrate=60.0, power_w=3300)
    assert second.resume_threshold_usd_per_mwh is None
    assert "Curtailing exactly those 2 miners" in second.reason
    rule.refresh_from_db()
    assert (rule.active_plan, rule.consecutive_above) == (plan, 0)


def test_rule_never_curtails_on_a_price_that_swings_above_and_below_every_hour(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    _prices(site, [level["over_mid"], level["low"]] * 4)
    rule = _rule(site, persist=2)

    decisions = _run(rule, range(8))

    assert [d.action if d else None for d in decisions] == [Action.NONE] * 8
    assert [d.consecutive_above if d else None for d in decisions] == [1, 0] * 4
    assert not CurtailmentPlan.objects.exists()


def test_rule_keeps_miners_off_on_a_swinging_price_and_resumes_only_after_it_stays_below(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    high, low = level["over_old"], level["low"]
    # Curtailed at hour 1; then the price swings for four hours, then stays low.
    _prices(site, [high, high, low, high, low, high, low, low])
    rule = _rule(site, persist=2, resume=2)
    _run(rule, [0, 1])
    plan = CurtailmentPlan.objects.get()
    # The executor has shed it (that part is tested with the execution).
    CurtailmentPlan.objects.filter(pk=plan.pk).update(status=CurtailmentStatus.EXECUTED, executed_at=_at(1, 2))

    decisions = _run(rule, range(2, 8))

    actions = [d.action if d else None for d in decisions]
    assert actions == [Action.HOLD] * 5 + [Action.RESUME]
    assert [d.consecutive_below if d else None for d in decisions] == [1, 0, 1, 0, 1, 2]
    plan.refresh_from_db()
    resumed = decisions[-1]
    assert resumed is not None
    assert plan.recover_at == resumed.at
    assert resumed.plan == plan
    assert f"plan #{plan.pk} recovers its miners now" in resumed.reason
    assert CurtailmentPlan.objects.count() == 1


def test_rule_curtails_more_as_the_price_climbs_and_resumes_the_newest_plan_first(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    first, second, low = level["over_old"], level["over_mid"], level["low"]
    _prices(site, [first, first, second, second, first, first, low, low])
    rule = _rule(site, persist=2, resume=2)

    decisions = []
    for hour in range(8):
        decisions.append(curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(hour)))
        # The executor sheds each new plan within the minute (tested with the execution).
        CurtailmentPlan.objects.filter(status=CurtailmentStatus.PENDING).update(status=CurtailmentStatus.EXECUTED)

    older, newer = CurtailmentPlan.objects.order_by("id")
    assert set(older.plan_miners.values_list("miner_id", flat=True)) == {fleet["old"].pk}
    assert set(newer.plan_miners.values_list("miner_id", flat=True)) == {fleet["mid"].pk}
    assert [(d.action, d.plan_id) if d else None for d in decisions] == [
        (Action.NONE, None),
        (Action.CURTAIL, older.pk),
        (Action.HOLD, older.pk),
        (Action.CURTAIL, newer.pk),
        (Action.HOLD, newer.pk),
        # Back at the first level: the newer plan's miners earn again, the older plan's do not.
        (Action.RESUME, newer.pk),
        (Action.HOLD, older.pk),
        (Action.RESUME, older.pk),
    ]
    resumed = decisions[5]
    assert resumed is not None
    assert resumed.resume_threshold_usd_per_mwh == _break_even(hashprice, hashrate=100.0, power_w=3250)
    older.refresh_from_db()
    newer.refresh_from_db()
    assert newer.recover_at == resumed.at
    assert older.recover_at == START + timedelta(hours=7, minutes=1)


def test_rule_resumes_every_plan_whose_miners_earn_again_when_the_price_drops_below_all(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    first, second, low = level["over_old"], level["over_mid"], level["low"]
    _prices(site, [first, first, second, second, low, low])
    rule = _rule(site, persist=2, resume=2)

    decisions = []
    for hour in range(6):
        decisions.append(curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(hour)))
        CurtailmentPlan.objects.filter(status=CurtailmentStatus.PENDING).update(status=CurtailmentStatus.EXECUTED)

    resumed = decisions[-1]
    assert resumed is not None
    older, newer = CurtailmentPlan.objects.order_by("id")
    assert (resumed.action, resumed.plan_id) == (Action.RESUME, newer.pk)
    assert f"plan #{newer.pk} recovers its miners now; plan #{older.pk} recovers its miners now" in resumed.reason
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.recover_at == newer.recover_at == resumed.at
    rule.refresh_from_db()
    assert (rule.active_plan, rule.consecutive_below, rule.below_run_high_usd_per_mwh) == (None, 0, None)


def test_rule_cancels_its_plan_when_the_price_falls_before_the_plan_started(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    _prices(site, [level["over_old"], level["low"]])
    rule = _rule(site, persist=1, resume=1)

    curtailed, resumed = _run(rule, [0, 1])

    assert curtailed is not None
    assert resumed is not None
    assert (curtailed.action, resumed.action) == (Action.CURTAIL, Action.RESUME)
    plan = CurtailmentPlan.objects.get()
    assert plan.status == CurtailmentStatus.CANCELLED
    assert "had not started and is cancelled" in resumed.reason


def test_rule_says_so_and_does_nothing_for_an_hour_without_a_price(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    _prices(site, [level["over_old"], None, level["over_old"]])
    rule = _rule(site, persist=2)

    first, missing, missing_again, third = (
        curtailment_price_rule_evaluate(rule_id=rule.pk, now=now) for now in (_at(0), _at(1), _at(1, 30), _at(2))
    )

    assert first is not None
    assert missing is not None
    assert (missing.action, missing.price_usd_per_mwh, missing.consecutive_above) == (Action.NONE, None, 1)
    assert missing.reason.startswith("No price is stored for the hour from 2026-11-20 01:00 (UTC). Nothing done")
    # Told once per hour, not at every run of the beat.
    assert missing_again is None
    assert CurtailmentRuleDecision.objects.filter(interval_start=START + timedelta(hours=1)).count() == 1
    # The hour without a price neither counted nor broke the run.
    assert third is not None
    assert (third.action, third.consecutive_above) == (Action.CURTAIL, 2)


def test_rule_judges_a_price_posted_later_in_an_hour_it_could_not_judge(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    rule = _rule(site, persist=1)
    missing = curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(0))
    _prices(site, [level["over_old"]])

    judged = curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(0, 40))

    assert missing is not None
    assert judged is not None
    assert (missing.action, judged.action) == (Action.NONE, Action.CURTAIL)


def test_rule_counts_an_hour_once_however_often_it_runs(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    _prices(site, [level["over_old"]])
    rule = _rule(site, persist=3)

    decisions = [curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(0, minute)) for minute in (1, 2, 59)]

    assert [d is not None for d in decisions] == [True, False, False]
    rule.refresh_from_db()
    assert (rule.consecutive_above, rule.last_interval_at) == (1, START)


def test_rule_starts_counting_afresh_after_its_plan_ended_on_its_own(
    site: Site, fleet: dict[str, Miner], hashprice: Decimal
) -> None:
    level = _levels(hashprice)
    _prices(site, [level["over_old"]] * 4)
    rule = _rule(site, persist=2)
    _run(rule, [0, 1])
    ended = CurtailmentPlan.objects.get()
    # Its recovery time came with the price still high, and the monitor brought the miners back.
    CurtailmentPlan.objects.update(status=CurtailmentStatus.RECOVERED)
    MinerLatest.objects.update(is_sleeping=False)

    after_end, next_hour = _run(rule, [2, 3])

    assert after_end is not None
    assert next_hour is not None
    assert after_end.reason.startswith(f"Plan #{ended.pk} has ended without the rule (recovered); counts start afresh.")
    assert (after_end.action, after_end.consecutive_above) == (Action.NONE, 1)
    assert next_hour.action == Action.CURTAIL
    assert CurtailmentPlan.objects.count() == 2


def test_rule_says_so_and_does_nothing_without_market_data(site: Site) -> None:
    _miner(site, hashrate=100.0, power_w=3250)
    _prices(site, [Decimal("500")])
    rule = _rule(site, persist=1)

    decision = curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(0))

    assert decision is not None
    assert decision.action == Action.NONE
    assert decision.reason.startswith("No hashprice")
    assert not CurtailmentPlan.objects.exists()


def test_rule_that_is_off_does_nothing(site: Site, fleet: dict[str, Miner], hashprice: Decimal) -> None:
    _prices(site, [Decimal("10000")])
    rule = _rule(site, persist=1)
    CurtailmentPriceRule.objects.filter(pk=rule.pk).update(enabled=False)

    decision = curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(0))

    assert decision is None
    assert not CurtailmentRuleDecision.objects.exists()


def test_rule_save_names_each_bad_setting(site: Site) -> None:
    bad = RuleSettings(
        enabled=True,
        persist_intervals=0,
        resume_intervals=200,
        pool_fee_pct=Decimal(100),
        max_curtail_hours=1,
        hold_minutes=2000,
    )

    with pytest.raises(InvalidInputError) as excinfo:
        curtailment_price_rule_save(site=site, values=bad, by=None, now=START)

    assert set(excinfo.value.fields) == {"persist_intervals", "resume_intervals", "pool_fee_pct", "hold_minutes"}
    assert not CurtailmentPriceRule.objects.exists()


def test_beat_task_judges_enabled_rules_on_the_clock(site: Site) -> None:
    _market_rows()
    _miner(site, hashrate=60.0, power_w=3300)
    _prices(site, [Decimal("10000"), Decimal("10000")])
    _rule(site, persist=2)

    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        _at(0)
        first = curtailment_price_rules_evaluate_task.delay().get()
        again = curtailment_price_rules_evaluate_task.delay().get()
    with time_machine.travel(START + timedelta(hours=1, minutes=1), tick=False):
        _at(1)
        second = curtailment_price_rules_evaluate_task.delay().get()

    assert first == {"decisions": 1, "curtailed": 0, "resumed": 0}
    assert again == {"decisions": 0, "curtailed": 0, "resumed": 0}
    assert second == {"decisions": 1, "curtailed": 1, "resumed": 0}
    assert CurtailmentPlan.objects.filter(source=CurtailmentSource.PRICE_RULE).count() == 1


_DATASETS = """() => Chart.getChart(document.getElementById("price-chart")).data.datasets.map(
  (d) => [d.label, d.data.filter((p) => p.y !== null).length]
)"""


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 900})


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_price_page_shows_the_chart_the_rule_and_what_it_did(live_server: LiveServer, browser_page: Page) -> None:
    site = SiteFactory.create(name="Lake Farm", time_zone="UTC")
    _market_rows()
    for k in range(12):
        _miner(site, hashrate=60.0 + 12 * k, power_w=3300 - 10 * k)
    # Two days of prices swinging around 30 USD/MWh, with an afternoon spike in two steps.
    prices = {h: Decimal(str(round(30 + 10 * math.sin(h / 24 * 2 * math.pi), 2))) for h in range(-28, 68)}
    prices.update({h: Decimal("62.00") for h in range(12, 15)} | {h: Decimal("110.00") for h in range(15, 18)})
    _prices_around(site, prices)
    rule = _rule(site, persist=2, resume=2)
    for hour in range(22):
        curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(hour))
        # The executor sheds a new plan within the minute (tested with the execution).
        CurtailmentPlan.objects.filter(status=CurtailmentStatus.PENDING).update(status=CurtailmentStatus.EXECUTED)
    acted = CurtailmentRuleDecision.objects.filter(action__in=[Action.CURTAIL, Action.RESUME]).count()
    UserFactory.create(role=Role.HOST, email="ops@farm.example")
    page = browser_page
    errors: list[str] = []
    hosts: set[str] = set()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))

    with time_machine.travel(START + timedelta(hours=21, minutes=5), tick=True):
        _at(21, 5)
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=login]", "ops@farm.example")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(live_server.url + "/hosting/dashboard")
        page.goto(f"{live_server.url}/hosting/curtailment/prices?site={site.pk}")
        page.wait_for_load_state("networkidle")
        datasets = dict(page.evaluate(_DATASETS))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "curtailment_prices.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "curtailment_prices_top.png"))
        bad = b"starts_at,price_usd_per_mwh\n2026-11-22T10:00Z,41\n2026-11-22T10:30Z,42\n2026-11-22T11:00Z,n/a\n"
        page.set_input_files("#id_file", files=FilePayload(name="prices.csv", mimeType="text/csv", buffer=bad))
        page.click("#upload button[type=submit]")
        page.wait_for_selector("[data-upload-error]")
        problems = page.locator("[data-upload-error] li").all_inner_texts()
        page.locator("#upload").screenshot(path=str(ARTIFACTS / "curtailment_prices_upload_error.png"))

    assert errors == []
    assert hosts == {urlsplit(live_server.url).hostname}
    assert problems == [
        "Row 3, starts_at: '2026-11-22T10:30Z' is not the start of an hour in UTC",
        "Row 4, price_usd_per_mwh: not a number: 'n/a'",
    ]
    # Nothing of the refused file was stored: its good row's hour keeps the price it had.
    assert SiteEnergyPrice.objects.get(starts_at=START + timedelta(hours=58)).price_usd_per_mwh == prices[58]
    assert acted >= 3
    assert datasets["Price (USD/MWh)"] >= 96
    assert datasets["Lowest break-even now"] == 2
    assert datasets["Rule: curtail / resume"] == acted
    assert page.locator("#decision-log tbody").count() == 22
    assert page.locator("#decision-log tbody[data-action=curtail]").count() >= 2
    assert page.locator("#decision-log tbody[data-action=resume]").count() >= 1
    reason = page.locator("#decision-log tbody[data-action=curtail] [data-reason]").first.inner_text()
    assert "Curtailing exactly those" in reason


def _prices_around(site: Site, prices: dict[int, Decimal]) -> None:
    SiteEnergyPrice.objects.bulk_create(
        SiteEnergyPrice(
            site=site, starts_at=START + timedelta(hours=h), price_usd_per_mwh=price, source="upload", updated_at=START
        )
        for h, price in prices.items()
    )


def test_beat_runs_the_price_rules_every_minute() -> None:
    jobs = {job.name: job for job in SCHEDULES}

    job = jobs["hosting.curtailment_price_rules_evaluate"]

    assert (job.task, job.every_seconds) == ("hosting.curtailment_price_rules_evaluate", 60)


def test_price_page_reads_a_bounded_number_of_queries_however_long_the_log(
    site: Site, hashprice: Decimal, host_user: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for k in range(20):
        _miner(site, hashrate=60.0 + 12 * k, power_w=3300)
    _prices_around(site, {h: Decimal(20 + 3 * (h % 30)) for h in range(-40, 40)})
    rule = _rule(site, persist=1, resume=3)
    for hour in range(30):
        curtailment_price_rule_evaluate(rule_id=rule.pk, now=_at(hour))
    assert CurtailmentPlan.objects.count() >= 3
    client = Client()
    client.force_login(host_user)
    now = _at(29, 30)

    with time_machine.travel(now, tick=False), django_assert_max_num_queries(20):
        response = client.get(f"/hosting/curtailment/prices?site={site.pk}")

    assert response.status_code == 200
    assert response.content.decode().count("data-reason") == 30
