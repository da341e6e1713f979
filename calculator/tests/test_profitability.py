"""The profitability model against hand-worked figures on the shipped history and Bitcoin's rules."""

from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, localcontext

import pytest

from analytics.offline_data import DATASETS, offline_dataset_rows
from calculator.services.profitability import (
    MarketSnapshot,
    MinerSetup,
    PricePath,
    PricePathKind,
    block_subsidy_btc,
    block_subsidy_sats,
    market_path_build,
    miner_setup_from_mapping,
    profitability_compute,
    profitability_project,
    profitability_project_totals,
)
from mining_platform.core.errors import InvalidInputError

CENT = Decimal("0.01")
TINY = Decimal("1e-20")


def _row(*, dataset_name: str, on: str) -> dict[str, str]:
    dataset = next(d for d in DATASETS if d.name == dataset_name)
    return next(r for r in offline_dataset_rows(dataset=dataset) if r["date"] == on)


def _market_on(*, on: str, tip_height: int) -> MarketSnapshot:
    """The market of one day of history: that day's difficulty, mean fees per block and close."""
    network = _row(dataset_name="btc_difficulty_daily", on=on)
    price = _row(dataset_name="btc_usd_daily", on=on)
    difficulty = Decimal(network["difficulty"])
    # Blockchain.com's hash rate is blocks x difficulty x 2^32 / 86,400 / 1e12 (analytics/data/PROVENANCE.md),
    # so the day's block count comes back as a whole number.
    blocks = (Decimal(network["hashrate_ths"]) * 10**12 * 86_400 / (difficulty * 2**32)).to_integral_value()
    return MarketSnapshot(
        btc_price_usd=Decimal(price["close"]),
        difficulty=difficulty,
        block_height=tip_height,
        fees_per_block_btc=Decimal(network["fees_btc"]) / blocks,
        as_of=datetime.fromisoformat(on).replace(tzinfo=UTC),
    )


def _s19_pro(**overrides: object) -> MinerSetup:
    values: dict[str, object] = {
        "hashrate_ths": Decimal(110),
        "power_w": Decimal(3250),
        "electricity_usd_per_kwh": Decimal("0.05"),
        "pool_fee_pct": Decimal(2),
        "hardware_cost_usd": Decimal(10_000),
    }
    values.update(overrides)
    return miner_setup_from_mapping(data=values)


@pytest.fixture
def june_2021() -> MarketSnapshot:
    # 2021-06-01: difficulty 21,047,730,572,452; 142 blocks and 47.27613502 BTC of fees that day; close
    # 36,693.30 USD. The period in effect began at height 685,440 on 2021-05-30
    # (btc_difficulty_adjustments.csv), so the tip is in the 6.25 BTC era.
    return _market_on(on="2021-06-01", tip_height=685_440)


@pytest.mark.parametrize(
    ("height", "subsidy"),
    [
        (0, "50"),
        (209_999, "50"),
        (210_000, "25"),
        (419_999, "25"),
        (420_000, "12.5"),
        (629_999, "12.5"),
        (630_000, "6.25"),
        (839_999, "6.25"),
        (840_000, "3.125"),
        (1_049_999, "3.125"),
        (1_050_000, "1.5625"),
        # 10 halvings: 5,000,000,000 >> 10 = 4,882,812 sats (the half satoshi is dropped, as in Core).
        (2_100_000, "0.04882812"),
    ],
)
def test_block_subsidy_btc_halves_at_the_exact_heights(height: int, subsidy: str) -> None:
    assert block_subsidy_btc(height) == Decimal(subsidy)


def test_block_subsidy_ends_after_the_last_satoshi_era() -> None:
    # 5e9 >> 32 = 1 sat (5e9 / 4,294,967,296 = 1.16); >> 33 = 0; Core returns 0 from 64 halvings on.
    assert block_subsidy_sats(height=32 * 210_000) == 1
    assert block_subsidy_sats(height=33 * 210_000 - 1) == 1
    assert block_subsidy_sats(height=33 * 210_000) == 0
    assert block_subsidy_sats(height=64 * 210_000) == 0
    assert block_subsidy_sats(height=10**12) == 0


def test_block_subsidy_sums_to_the_bitcoin_supply_cap() -> None:
    total = sum(210_000 * block_subsidy_sats(height=era * 210_000) for era in range(70))

    assert total == 2_099_999_997_690_000  # 20,999,999.9769 BTC, just under 21 million


def test_block_subsidy_rejects_a_negative_height() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        block_subsidy_btc(-1)

    assert excinfo.value.fields == {"block_height": ["must be 0 or more"]}


def test_profitability_compute_matches_a_hand_worked_s19_pro_on_2021_06_01(june_2021: MarketSnapshot) -> None:
    result = profitability_compute(setup=_s19_pro(), market=june_2021)

    # fees per block = 47.27613502 / 142 = 0.332930528 BTC; reward = 6.25 + 0.332930528 = 6.582930528 BTC
    assert result.subsidy_btc == Decimal("6.25")
    assert result.reward_per_block_btc.quantize(Decimal("1e-9")) == Decimal("6.582930528")
    # blocks/day = 110e12 x 86,400 / (21,047,730,572,452 x 4,294,967,296)
    #            = 9.504e18 / 9.0400e22 = 0.000105133541 (one block every 9,511.7 days)
    assert result.economics.expected_blocks_per_day.quantize(Decimal("1e-12")) == Decimal("0.000105133541")
    # revenue = 0.000105133541 x 6.582930528 x (1 - 0.02) x 1 = 0.000678245058 BTC
    #         x 36,693.30 USD = 24.89 USD
    assert result.per_day.revenue_btc.quantize(Decimal("1e-12")) == Decimal("0.000678245058")
    assert result.per_day.revenue_usd.quantize(CENT) == Decimal("24.89")
    # cost = 3,250 W x 24 h = 78 kWh x 0.05 USD/kWh = 3.90 USD, exactly
    assert result.economics.energy_kwh == Decimal(78)
    assert result.per_day.cost_usd == Decimal("3.90")
    # profit = 24.887049 - 3.90 = 20.987049 USD = 20.987049 / 36,693.30 = 0.000571959 BTC
    assert result.per_day.profit_usd.quantize(Decimal("1e-6")) == Decimal("20.987049")
    assert result.per_day.profit_btc.quantize(Decimal("1e-9")) == Decimal("0.000571959")
    # month = x 30.4375 = 638.79 USD; year = x 365.25 = 7,665.52 USD
    assert result.per_month.profit_usd.quantize(CENT) == Decimal("638.79")
    assert result.per_year.profit_usd.quantize(CENT) == Decimal("7665.52")
    # hashprice = 1e12 x 86,400 / (D x 2^32) x 6.582930528 x 36,693.30 = 0.2309 USD per TH per day
    assert result.hashprice_usd_per_th_day.quantize(Decimal("1e-4")) == Decimal("0.2309")
    # break-even electricity = 24.887049 USD / 78 kWh = 0.3191 USD/kWh
    assert result.break_even_electricity_usd_per_kwh is not None
    assert result.break_even_electricity_usd_per_kwh.quantize(Decimal("1e-4")) == Decimal("0.3191")
    # break-even price = 3.90 USD / 0.000678245058 BTC = 5,750.13 USD
    assert result.break_even_btc_price_usd is not None
    assert result.break_even_btc_price_usd.quantize(CENT) == Decimal("5750.13")
    # 3,250 W / 110 TH/s = 29.545 J/TH
    assert result.efficiency_j_per_th.quantize(Decimal("0.001")) == Decimal("29.545")
    # payback = 10,000 / 20.987049 = 476.48 days; ROI = 7,665.52 / 10,000 = 76.66 % a year
    assert result.pays_back is True
    assert result.payback_days is not None
    assert result.payback_days.quantize(CENT) == Decimal("476.48")
    assert result.roi_pct_per_year is not None
    assert result.roi_pct_per_year.quantize(CENT) == Decimal("76.66")


def test_profitability_compute_never_pays_back_at_a_loss(june_2021: MarketSnapshot) -> None:
    # 0.40 USD/kWh is above the 0.3191 break-even: 78 kWh x 0.40 = 31.20 USD against 24.89 of revenue.
    result = profitability_compute(setup=_s19_pro(electricity_usd_per_kwh="0.40"), market=june_2021)

    assert result.per_day.profit_usd.quantize(CENT) == Decimal("-6.31")
    assert result.pays_back is False
    assert result.payback_days is None
    assert result.roi_pct_per_year is not None
    assert result.roi_pct_per_year < 0


def test_profitability_compute_never_pays_back_at_exactly_zero_profit_with_uptime_0(
    june_2021: MarketSnapshot,
) -> None:
    result = profitability_compute(setup=_s19_pro(uptime_pct=0, electricity_usd_per_kwh=0), market=june_2021)

    assert result.per_day.revenue_btc == 0
    assert result.per_day.profit_usd == 0
    assert result.pays_back is False
    assert result.payback_days is None
    assert result.break_even_btc_price_usd is None  # no price makes zero BTC pay


def test_profitability_compute_with_uptime_0_still_pays_for_power(june_2021: MarketSnapshot) -> None:
    result = profitability_compute(setup=_s19_pro(uptime_pct=0), market=june_2021)

    assert result.per_day.revenue_usd == 0
    assert result.per_day.cost_usd == Decimal("3.90")
    assert result.per_day.profit_usd == Decimal("-3.90")
    assert result.pays_back is False


def test_profitability_compute_curtailment_cuts_revenue_and_energy_alike(june_2021: MarketSnapshot) -> None:
    full = profitability_compute(setup=_s19_pro(), market=june_2021)

    # 73.05 h off out of 730.5 h a month (30.4375 x 24) = 10 % off.
    curtailed = profitability_compute(setup=_s19_pro(curtailment_hours_per_month="73.05"), market=june_2021)

    assert curtailed.economics.running_fraction == Decimal("0.9")
    assert curtailed.economics.energy_kwh == Decimal("70.2")  # 78 kWh x 0.9
    assert curtailed.per_day.cost_usd == Decimal("3.510")
    assert abs(curtailed.per_day.revenue_btc - full.per_day.revenue_btc * Decimal("0.9")) < TINY


def test_profitability_compute_adds_hosting_per_month_and_per_kwh(june_2021: MarketSnapshot) -> None:
    result = profitability_compute(
        setup=_s19_pro(hosting_fee_usd_per_month="60.875", hosting_fee_usd_per_kwh="0.01"), market=june_2021
    )

    # 60.875 USD / 30.4375 d = 2.00 USD a day, plus 78 kWh x 0.01 = 0.78 USD.
    assert result.economics.hosting_cost_usd == Decimal("2.78")
    assert result.per_day.cost_usd == Decimal("6.68")
    # break-even electricity leaves room for both fees: (24.887049 - 2.00) / 78 - 0.01 = 0.2834
    assert result.break_even_electricity_usd_per_kwh is not None
    assert result.break_even_electricity_usd_per_kwh.quantize(Decimal("1e-4")) == Decimal("0.2834")


def test_profitability_compute_scales_a_huge_fleet_exactly(june_2021: MarketSnapshot) -> None:
    single = profitability_compute(setup=_s19_pro(), market=june_2021)

    fleet = profitability_compute(setup=_s19_pro(quantity=10_000_000), market=june_2021)

    # 10 million S19 Pro: 1.1 ZH/s, 32.5 GW. Costs are exact; the other figures are the single unit's
    # digit for digit, times 10^7 (multiplied here with 60 digits, so the check itself rounds nothing).
    with localcontext(Context(prec=60)):
        revenue_times_n = single.per_day.revenue_usd * 10_000_000
        year_profit_times_n = single.per_year.profit_usd * 10_000_000
    assert fleet.per_day.cost_usd == Decimal(39_000_000)
    assert fleet.total_hardware_cost_usd == Decimal(100_000_000_000)
    assert fleet.per_day.revenue_usd == revenue_times_n
    assert fleet.per_year.profit_usd == year_profit_times_n
    assert fleet.payback_days is not None
    assert fleet.payback_days.quantize(CENT) == Decimal("476.48")


def test_profitability_compute_takes_an_absurd_hashrate_without_overflow(june_2021: MarketSnapshot) -> None:
    result = profitability_compute(setup=_s19_pro(hashrate_ths="1e30", quantity=10**9), market=june_2021)

    assert result.per_day.revenue_usd.is_finite()
    assert result.per_day.revenue_usd > Decimal("1e35")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hashrate_ths", "abc", "must be a number"),
        ("hashrate_ths", 0, "must be greater than 0"),
        ("power_w", -3250, "must be greater than 0"),
        ("power_w", "NaN", "must be a number"),
        ("electricity_usd_per_kwh", "-0.01", "must be 0 or more"),
        ("pool_fee_pct", "101", "must be 100 or less"),
        ("uptime_pct", "100.5", "must be 100 or less"),
        ("uptime_pct", None, "must be a number"),
        ("hardware_cost_usd", "Infinity", "must be a number"),
        ("curtailment_hours_per_month", "731", "must be 730.5 or less"),
        ("quantity", "1.5", "must be a whole number"),
        ("quantity", 0, "must be 1 or more"),
        ("hosting_fee_usd_per_kwh", True, "must be a number"),
        ("hashrate_ths", "1e40", "is too large"),
    ],
)
def test_miner_setup_names_the_bad_field(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        _s19_pro(**{field: value})

    assert excinfo.value.fields == {field: [message]}
    assert excinfo.value.code == "invalid_input"


def test_miner_setup_reports_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        _s19_pro(hashrate_ths="", power_w="-1", uptime_pct="200")

    assert set(excinfo.value.fields) == {"hashrate_ths", "power_w", "uptime_pct"}


def test_miner_setup_from_mapping_reads_text_and_names_missing_and_unknown_fields() -> None:
    setup = miner_setup_from_mapping(
        data={"hashrate_ths": "110", "power_w": "3,250", "electricity_usd_per_kwh": "0.05"}
    )
    with pytest.raises(InvalidInputError) as missing:
        miner_setup_from_mapping(data={"hashrate_ths": "110"})
    with pytest.raises(InvalidInputError) as unknown:
        miner_setup_from_mapping(data={"hashrate_ths": "110", "power_w": "1", "electricity_usd_per_kwh": "0", "x": 1})

    assert (setup.hashrate_ths, setup.power_w, setup.quantity) == (Decimal(110), Decimal(3250), 1)
    assert missing.value.fields == {"power_w": ["is required"], "electricity_usd_per_kwh": ["is required"]}
    assert unknown.value.fields == {"x": ["is not a known field"]}


def test_market_snapshot_names_the_bad_field() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        MarketSnapshot(
            btc_price_usd=Decimal(0),
            difficulty=Decimal("-1"),
            block_height=-5,
            fees_per_block_btc=Decimal("-0.1"),
            as_of=datetime(2024, 1, 1),  # noqa: DTZ001 - the naive time is the input under test
        )

    assert excinfo.value.fields == {
        "btc_price_usd": ["must be greater than 0"],
        "difficulty": ["must be greater than 0"],
        "block_height": ["must be 0 or more"],
        "fees_per_block_btc": ["must be 0 or more"],
        "as_of": ["must be a date and time with a time zone"],
    }


def test_profitability_project_flat_repeats_the_single_day(june_2021: MarketSnapshot) -> None:
    single = profitability_compute(setup=_s19_pro(), market=june_2021)

    projection = profitability_project(setup=_s19_pro(), path=market_path_build(market=june_2021, horizon_days=30))

    assert len(projection.days) == 30
    assert projection.days[0].on == date(2021, 6, 1)
    assert projection.days[29].on == date(2021, 6, 30)
    assert projection.days[0].profit_usd == single.per_day.profit_usd
    assert abs(projection.total_profit_usd - single.per_day.profit_usd * 30) < TINY
    assert projection.net_usd == projection.total_profit_usd - 10_000
    assert projection.pays_back is False  # 30 x 20.99 USD is far from 10,000
    assert projection.payback_on is None
    # 685,440 -> 840,000 is 154,560 blocks at 600 s = 1,073.3 days, past the horizon.
    assert projection.halving_height == 840_000
    assert projection.halving_day is None
    assert projection.halving_at == june_2021.as_of + timedelta(days=1073, seconds=28_800)


def test_profitability_project_finds_the_payback_day(june_2021: MarketSnapshot) -> None:
    projection = profitability_project(setup=_s19_pro(), path=market_path_build(market=june_2021, horizon_days=600))

    # 10,000 / 20.987049 = 476.48 days: cumulative profit reaches 10,000 on the 477th day (index 476).
    assert projection.payback_day == 476
    assert projection.payback_on == date(2021, 6, 1) + timedelta(days=476)
    assert projection.days[475].cumulative_profit_usd < 10_000 <= projection.days[476].cumulative_profit_usd


def test_profitability_project_halves_the_subsidy_on_the_day_of_the_2024_halving() -> None:
    # Block 840,000 was the first block of 2024-04-20 (00:09 UTC); 151 blocks were mined on 04-19 and 145
    # on 04-18, so the tip at the start of 2024-04-18 was 839,999 - 151 - 145 = 839,703.
    market = _market_on(on="2024-04-18", tip_height=839_703)

    projection = profitability_project(setup=_s19_pro(), path=market_path_build(market=market, horizon_days=5))

    # 297 blocks to go at 144 a day: block 840,000 falls in day (297 - 1) // 144 = 2, 2024-04-20.
    assert projection.halving_day == 2
    assert projection.days[2].on == date(2024, 4, 20)
    assert projection.halving_at == datetime(2024, 4, 20, 1, 30, tzinfo=UTC)  # 297 x 600 s = 49.5 h
    assert [d.subsidy_btc for d in projection.days[:2]] == [Decimal("6.25"), Decimal("6.25")]
    # Day 2 holds blocks 839,992..840,135: 8 at 6.25 and 136 at 3.125, a mean of 475 / 144 BTC.
    assert projection.days[2].subsidy_btc.quantize(Decimal("1e-12")) == Decimal("3.298611111111")
    assert [d.subsidy_btc for d in projection.days[3:]] == [Decimal("3.125"), Decimal("3.125")]
    # With flat difficulty and price, revenue follows the reward: (3.125 + f) / (6.25 + f), f = 108.11277328 / 145.
    fees = Decimal("108.11277328000003") / 145
    ratio = projection.days[3].revenue_btc / projection.days[1].revenue_btc
    assert abs(ratio - (Decimal("3.125") + fees) / (Decimal("6.25") + fees)) < TINY


def test_profitability_project_compounds_difficulty_growth_daily(june_2021: MarketSnapshot) -> None:
    projection = profitability_project(
        setup=_s19_pro(),
        path=market_path_build(market=june_2021, horizon_days=488, difficulty_growth_pct_per_month=Decimal(10)),
    )

    # 10 % a month = 1.1 ** (1 / 30.4375) a day; 487 days are exactly 16 months: D x 1.1^16 = D x 4.594973
    days = projection.days
    assert days[0].difficulty == june_2021.difficulty
    daily = Decimal("1.1") ** (1 / Decimal("30.4375"))
    assert abs(days[1].difficulty / days[0].difficulty - daily) < TINY
    assert abs(days[487].difficulty / june_2021.difficulty - Decimal("1.1") ** 16) < TINY
    # revenue falls in step: the same reward over 4.59 times the difficulty
    assert abs(days[487].revenue_btc * Decimal("1.1") ** 16 - days[0].revenue_btc) < TINY


def test_profitability_project_follows_a_growing_price(june_2021: MarketSnapshot) -> None:
    path = PricePath(kind=PricePathKind.GROWTH, growth_pct_per_month=Decimal(-5))

    projection = profitability_project(
        setup=_s19_pro(), path=market_path_build(market=june_2021, horizon_days=62, price_path=path)
    )

    # -5 % a month, compounded daily: day 61 is 61 / 30.4375 = 2.00411 months in, so the price is
    # 36,693.30 x 0.95^2.00411 = 36,693.30 x 0.902315 = 33,108.73 USD.
    expected = Decimal("36693.3") * Decimal("0.95") ** (Decimal(61) / Decimal("30.4375"))
    assert abs(projection.days[61].btc_price_usd - expected) < Decimal("1e-15")
    assert projection.days[61].btc_price_usd.quantize(CENT) == Decimal("33108.73")


def test_profitability_project_holds_each_point_of_a_price_series(june_2021: MarketSnapshot) -> None:
    path = PricePath(
        kind=PricePathKind.SERIES,
        points=((date(2021, 6, 8), Decimal(40_000)), (date(2021, 6, 3), Decimal(30_000))),
    )

    projection = profitability_project(
        setup=_s19_pro(), path=market_path_build(market=june_2021, horizon_days=10, price_path=path)
    )

    prices = [d.btc_price_usd for d in projection.days]
    assert prices[:2] == [Decimal("36693.3")] * 2  # before the first point: the snapshot price
    assert prices[2:7] == [Decimal(30_000)] * 5  # 06-03 .. 06-07
    assert prices[7:] == [Decimal(40_000)] * 3  # from 06-08 on, held after the last point
    assert abs(projection.days[7].revenue_usd - projection.days[7].revenue_btc * 40_000) < TINY


def test_profitability_project_never_pays_back_at_a_loss(june_2021: MarketSnapshot) -> None:
    projection = profitability_project(
        setup=_s19_pro(electricity_usd_per_kwh="0.40"), path=market_path_build(market=june_2021, horizon_days=3650)
    )

    assert projection.pays_back is False
    assert projection.payback_day is None
    assert projection.payback_on is None
    assert projection.days[-1].cumulative_profit_usd < 0


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"horizon_days": 0}, {"horizon_days": ["must be 1 or more"]}),
        ({"horizon_days": 4000}, {"horizon_days": ["must be 3653 or less"]}),
        ({"horizon_days": "x"}, {"horizon_days": ["must be a whole number"]}),
        (
            {"horizon_days": 10, "difficulty_growth_pct_per_month": Decimal(-100)},
            {"difficulty_growth_pct_per_month": ["must be -99 or more"]},
        ),
    ],
)
def test_profitability_project_names_the_bad_field(
    june_2021: MarketSnapshot, kwargs: dict[str, object], fields: dict[str, list[str]]
) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        market_path_build(market=june_2021, **kwargs)  # type: ignore[arg-type]  # bad input on purpose

    assert excinfo.value.fields == fields


def test_price_path_names_its_bad_fields() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        PricePath(kind=PricePathKind.SERIES, points=((date(2021, 6, 1), Decimal(0)),))
    with pytest.raises(InvalidInputError) as empty:
        PricePath(kind=PricePathKind.SERIES)

    assert excinfo.value.fields == {"price_path.points[0]": ["must be greater than 0"]}
    assert empty.value.fields == {"price_path.points": ["must hold at least one point"]}


def test_profitability_project_totals_match_the_full_projection_without_its_days(june_2021: MarketSnapshot) -> None:
    path = market_path_build(market=june_2021, horizon_days=900, difficulty_growth_pct_per_month=Decimal(1))

    full = profitability_project(setup=_s19_pro(), path=path)
    totals = profitability_project_totals(setup=_s19_pro(), path=path)

    assert totals.days == ()
    assert (totals.total_profit_usd, totals.total_profit_btc, totals.net_usd) == (
        full.total_profit_usd,
        full.total_profit_btc,
        full.net_usd,
    )
    assert (totals.payback_day, totals.payback_on, totals.halving_day) == (
        full.payback_day,
        full.payback_on,
        full.halving_day,
    )
    assert full.payback_day is not None
