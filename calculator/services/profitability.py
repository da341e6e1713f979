"""The mining profitability model: pure functions over frozen dataclasses, Decimal throughout.

Units are in the names (STYLE.md section 3): `_ths` TH/s, `_w` watts, `_kwh` kilowatt-hours, `_usd` US
dollars, `_btc` bitcoin, `_pct` percent (0-100), `_per_day` per 24 hours. Every formula and its source is
listed in the README section "Profitability model".

Conventions that the figures depend on:
- a month is 30.4375 days (365.25 / 12) and a year 365.25 days, so twelve months make one year;
- the network produces one block every 600 s (144 a day), Bitcoin's target spacing, which the
  2016-block retarget keeps on average; that is how the halving date is estimated from the height;
- uptime scales revenue only (a miner that is faulty or rebooting is still billed for its slot and
  most of its power); curtailment is planned time off, which removes both revenue and energy.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from enum import StrEnum

from mining_platform.core.errors import InvalidInputError

SATS_PER_BTC = 100_000_000
HALVING_INTERVAL_BLOCKS = 210_000
INITIAL_SUBSIDY_SATS = 50 * SATS_PER_BTC
# Bitcoin Core's GetBlockSubsidy: a right shift by 64 or more is undefined in C++, so Core returns 0 there.
MAX_HALVINGS = 64
TARGET_BLOCK_SECONDS = 600
BLOCKS_PER_DAY = 86_400 // TARGET_BLOCK_SECONDS
SECONDS_PER_DAY = Decimal(86_400)
# Difficulty 1 (the target 0xFFFF x 2^208) takes 2^48 / 0xFFFF hashes per block on average, about 2^32.
# Pools, explorers and Blockchain.com's hash rate series all use 2^32, so the figures compare.
HASHES_PER_DIFFICULTY = Decimal(2**32)
HASHES_PER_TH = Decimal(10**12)
HOURS_PER_DAY = Decimal(24)
DAYS_PER_MONTH = Decimal("30.4375")
DAYS_PER_YEAR = Decimal("365.25")
HOURS_PER_MONTH = Decimal("730.5")  # 30.4375 days x 24 h
MAX_HORIZON_DAYS = 3_653  # ten years
MAX_INPUT_EXPONENT = 40
HUNDRED = Decimal(100)
ZERO = Decimal(0)
ONE = Decimal(1)

# 40 significant digits: far above any money precision, so a fleet of millions of machines keeps every
# cent, and inexact divisions (blocks per day) carry no visible rounding. Inputs are capped at 10^40
# (MAX_INPUT_EXPONENT), so no product of them comes near Decimal's exponent limit.
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)


def block_subsidy_sats(*, height: int) -> int:
    """The block subsidy at `height` in satoshis: 50 BTC halved every 210,000 blocks, 0 after 64 halvings."""
    errors: dict[str, list[str]] = {}
    height = _check_whole(errors, "block_height", height, minimum=0)
    _raise_if_any(errors)
    halvings = height // HALVING_INTERVAL_BLOCKS
    if halvings >= MAX_HALVINGS:
        return 0
    # Integer shift as in Bitcoin Core: from the 10th halving on the half satoshi is dropped, and from
    # the 33rd the subsidy is 0.
    return INITIAL_SUBSIDY_SATS >> halvings


def block_subsidy_btc(height: int) -> Decimal:
    """The block subsidy at `height` in BTC (exact: satoshis / 1e8)."""
    return Decimal(block_subsidy_sats(height=height)) / SATS_PER_BTC


def _subsidy_sats_sum(*, first_height: int, last_height: int) -> int:
    """The total subsidy of blocks first_height..last_height inclusive, in satoshis."""
    total = 0
    height = first_height
    while height <= last_height:
        era_end = (height // HALVING_INTERVAL_BLOCKS + 1) * HALVING_INTERVAL_BLOCKS - 1
        stop = min(era_end, last_height)
        total += (stop - height + 1) * block_subsidy_sats(height=height)
        height = stop + 1
    return total


class PricePathKind(StrEnum):
    FLAT = "flat"
    GROWTH = "growth"
    SERIES = "series"


def _to_decimal(value: object) -> Decimal | None:
    """A finite Decimal from an int, Decimal, float or text, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        # Through repr so 0.1 stays 0.1 rather than its binary expansion.
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _check_number(
    errors: dict[str, list[str]],
    name: str,
    value: object,
    *,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    strictly_positive: bool = False,
) -> Decimal:
    """Validate one numeric field, recording a message under its name; returns the value as Decimal."""
    number = _to_decimal(value)
    if number is None:
        errors.setdefault(name, []).append("must be a number")
        return ZERO
    if number.adjusted() >= MAX_INPUT_EXPONENT:
        errors.setdefault(name, []).append("is too large")
        return ZERO
    if strictly_positive and number <= 0:
        errors.setdefault(name, []).append("must be greater than 0")
    elif minimum is not None and number < minimum:
        errors.setdefault(name, []).append(f"must be {minimum} or more")
    if maximum is not None and number > maximum:
        errors.setdefault(name, []).append(f"must be {maximum} or less")
    return number


def _check_whole(errors: dict[str, list[str]], name: str, value: object, *, minimum: int) -> int:
    number = _to_decimal(value)
    if number is None or number != number.to_integral_value():
        errors.setdefault(name, []).append("must be a whole number")
        return minimum
    if number.adjusted() >= MAX_INPUT_EXPONENT:
        errors.setdefault(name, []).append("is too large")
        return minimum
    whole = int(number)
    if whole < minimum:
        errors.setdefault(name, []).append(f"must be {minimum} or more")
    return whole


def _is_aware_datetime(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _price_path_kind(value: object) -> PricePathKind | None:
    if isinstance(value, str) and value in {kind.value for kind in PricePathKind}:
        return PricePathKind(value)
    return None


def _point_date(point: object) -> date | None:
    """The date of a (date, price) pair, or None when the point is not such a pair."""
    if isinstance(point, tuple) and len(point) == 2 and isinstance(point[0], date):
        return point[0]
    return None


def _raise_if_any(errors: Mapping[str, Sequence[str]]) -> None:
    if errors:
        names = ", ".join(sorted(errors))
        raise InvalidInputError(f"Some values are not valid: {names}.", fields=errors)


@dataclass(frozen=True)
class MinerSetup:
    """What the user runs and pays: per-unit specs, the number of units and the tariffs.

    Fields may be given as Decimal, int or numeric text; they are checked and stored as Decimal (the
    quantity as int). Any bad value raises InvalidInputError naming every bad field at once.
    """

    hashrate_ths: Decimal  # per unit, TH/s
    power_w: Decimal  # per unit at the wall, W
    electricity_usd_per_kwh: Decimal
    pool_fee_pct: Decimal = ZERO  # share of revenue kept by the pool, 0-100
    uptime_pct: Decimal = HUNDRED  # share of the running time that earns, 0-100
    hardware_cost_usd: Decimal = ZERO  # per unit
    hosting_fee_usd_per_month: Decimal = ZERO  # per unit, billed whether it runs or not
    hosting_fee_usd_per_kwh: Decimal = ZERO  # on top of electricity, per kWh drawn
    curtailment_hours_per_month: Decimal = ZERO  # expected hours switched off per month
    quantity: int = 1

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        checked = {
            "hashrate_ths": _check_number(errors, "hashrate_ths", self.hashrate_ths, strictly_positive=True),
            "power_w": _check_number(errors, "power_w", self.power_w, strictly_positive=True),
            "electricity_usd_per_kwh": _check_number(
                errors, "electricity_usd_per_kwh", self.electricity_usd_per_kwh, minimum=ZERO
            ),
            "pool_fee_pct": _check_number(errors, "pool_fee_pct", self.pool_fee_pct, minimum=ZERO, maximum=HUNDRED),
            "uptime_pct": _check_number(errors, "uptime_pct", self.uptime_pct, minimum=ZERO, maximum=HUNDRED),
            "hardware_cost_usd": _check_number(errors, "hardware_cost_usd", self.hardware_cost_usd, minimum=ZERO),
            "hosting_fee_usd_per_month": _check_number(
                errors, "hosting_fee_usd_per_month", self.hosting_fee_usd_per_month, minimum=ZERO
            ),
            "hosting_fee_usd_per_kwh": _check_number(
                errors, "hosting_fee_usd_per_kwh", self.hosting_fee_usd_per_kwh, minimum=ZERO
            ),
            "curtailment_hours_per_month": _check_number(
                errors,
                "curtailment_hours_per_month",
                self.curtailment_hours_per_month,
                minimum=ZERO,
                maximum=HOURS_PER_MONTH,
            ),
        }
        quantity = _check_whole(errors, "quantity", self.quantity, minimum=1)
        _raise_if_any(errors)
        for name, number in checked.items():
            # Frozen: normalise the validated values once, here, so every later read is a Decimal.
            object.__setattr__(self, name, number)
        object.__setattr__(self, "quantity", quantity)


@dataclass(frozen=True)
class MarketSnapshot:
    """The market and network state the figures are computed at."""

    btc_price_usd: Decimal
    difficulty: Decimal
    block_height: int  # height of the chain tip; the next block mined is block_height + 1
    fees_per_block_btc: Decimal  # average transaction fees paid per block, excluding the subsidy
    as_of: datetime  # aware

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        price = _check_number(errors, "btc_price_usd", self.btc_price_usd, strictly_positive=True)
        difficulty = _check_number(errors, "difficulty", self.difficulty, strictly_positive=True)
        height = _check_whole(errors, "block_height", self.block_height, minimum=0)
        fees = _check_number(errors, "fees_per_block_btc", self.fees_per_block_btc, minimum=ZERO)
        if not _is_aware_datetime(self.as_of):
            errors.setdefault("as_of", []).append("must be a date and time with a time zone")
        _raise_if_any(errors)
        object.__setattr__(self, "btc_price_usd", price)
        object.__setattr__(self, "difficulty", difficulty)
        object.__setattr__(self, "block_height", height)
        object.__setattr__(self, "fees_per_block_btc", fees)


def miner_setup_from_mapping(*, data: Mapping[str, object]) -> MinerSetup:
    """Build a MinerSetup from form or file values (text or numbers); unknown keys are reported."""
    known = {f.name for f in fields(MinerSetup)}
    unknown = sorted(set(data) - known)
    if unknown:
        _raise_if_any({name: ["is not a known field"] for name in unknown})
    missing = [name for name in ("hashrate_ths", "power_w", "electricity_usd_per_kwh") if name not in data]
    errors: dict[str, list[str]] = {name: ["is required"] for name in missing}
    # A stand-in for each missing value, so the other fields are checked too and every error shows at once.
    values = {**dict.fromkeys(missing, ONE), **data}
    try:
        # The dataclass checks every value and converts it; the mapping's values are passed through untyped.
        setup = MinerSetup(**values)  # type: ignore[arg-type]  # values are validated in __post_init__
    except InvalidInputError as error:
        for name, messages in error.fields.items():
            errors.setdefault(name, []).extend(messages)
    _raise_if_any(errors)
    return setup


@dataclass(frozen=True)
class PeriodFigures:
    """Revenue, cost and profit over one period, in USD and in BTC (USD converted at the market price)."""

    revenue_usd: Decimal
    revenue_btc: Decimal
    cost_usd: Decimal
    cost_btc: Decimal
    profit_usd: Decimal
    profit_btc: Decimal

    def scaled(self, factor: Decimal) -> "PeriodFigures":
        with localcontext(_CONTEXT):
            return PeriodFigures(
                revenue_usd=self.revenue_usd * factor,
                revenue_btc=self.revenue_btc * factor,
                cost_usd=self.cost_usd * factor,
                cost_btc=self.cost_btc * factor,
                profit_usd=self.profit_usd * factor,
                profit_btc=self.profit_btc * factor,
            )


@dataclass(frozen=True)
class DayEconomics:
    """One day of mining at given difficulty, subsidy, fees and price (the core of every figure)."""

    expected_blocks_per_day: Decimal  # of the whole setup (all units), before fees, uptime and curtailment
    running_fraction: Decimal  # share of the day switched on after curtailment, 0-1
    revenue_btc: Decimal
    revenue_usd: Decimal
    energy_kwh: Decimal
    electricity_cost_usd: Decimal
    hosting_cost_usd: Decimal
    cost_usd: Decimal
    profit_usd: Decimal


def _btc_per_th_day(*, difficulty: Decimal, reward_per_block_btc: Decimal) -> Decimal:
    """Expected BTC one TH/s earns in 24 h at `difficulty` and `reward_per_block_btc` (before fees and uptime)."""
    with localcontext(_CONTEXT):
        return HASHES_PER_TH * SECONDS_PER_DAY / (difficulty * HASHES_PER_DIFFICULTY) * reward_per_block_btc


@dataclass(frozen=True)
class _SetupDaily:
    """What a setup earns and pays per day that does not depend on the network or the price.

    A projection applies it to every day of a market path, so the per-day work is two products.
    """

    earning_ths: Decimal  # hashrate that earns: units x TH/s x (1 - pool fee) x uptime x running share
    running_fraction: Decimal
    energy_kwh: Decimal
    electricity_cost_usd: Decimal
    hosting_cost_usd: Decimal
    cost_usd: Decimal


def _setup_daily(setup: MinerSetup) -> _SetupDaily:
    with localcontext(_CONTEXT):
        quantity = Decimal(setup.quantity)
        running = ONE - setup.curtailment_hours_per_month / HOURS_PER_MONTH
        earning = (
            setup.hashrate_ths
            * quantity
            * (ONE - setup.pool_fee_pct / HUNDRED)
            * (setup.uptime_pct / HUNDRED)
            * running
        )
        energy_kwh = setup.power_w * quantity / 1000 * HOURS_PER_DAY * running
        electricity = energy_kwh * setup.electricity_usd_per_kwh
        hosting = (
            energy_kwh * setup.hosting_fee_usd_per_kwh + setup.hosting_fee_usd_per_month * quantity / DAYS_PER_MONTH
        )
        return _SetupDaily(
            earning_ths=earning,
            running_fraction=running,
            energy_kwh=energy_kwh,
            electricity_cost_usd=electricity,
            hosting_cost_usd=hosting,
            cost_usd=electricity + hosting,
        )


def _day_economics(
    *,
    setup: MinerSetup,
    difficulty: Decimal,
    reward_per_block_btc: Decimal,
    btc_price_usd: Decimal,
) -> DayEconomics:
    daily = _setup_daily(setup)
    with localcontext(_CONTEXT):
        blocks = (
            setup.hashrate_ths * setup.quantity * HASHES_PER_TH * SECONDS_PER_DAY / (difficulty * HASHES_PER_DIFFICULTY)
        )
        revenue_btc = daily.earning_ths * _btc_per_th_day(
            difficulty=difficulty, reward_per_block_btc=reward_per_block_btc
        )
        revenue_usd = revenue_btc * btc_price_usd
        return DayEconomics(
            expected_blocks_per_day=blocks,
            running_fraction=daily.running_fraction,
            revenue_btc=revenue_btc,
            revenue_usd=revenue_usd,
            energy_kwh=daily.energy_kwh,
            electricity_cost_usd=daily.electricity_cost_usd,
            hosting_cost_usd=daily.hosting_cost_usd,
            cost_usd=daily.cost_usd,
            profit_usd=revenue_usd - daily.cost_usd,
        )


@dataclass(frozen=True)
class ProfitabilityResult:
    """Every figure at one market snapshot; None marks a figure that does not exist (see each field)."""

    subsidy_btc: Decimal  # per block at the next height
    reward_per_block_btc: Decimal  # subsidy + average fees
    economics: DayEconomics
    per_day: PeriodFigures
    per_month: PeriodFigures  # 30.4375 days
    per_year: PeriodFigures  # 365.25 days
    hashprice_usd_per_th_day: Decimal  # network value of 1 TH/s for a day, before pool fee and uptime
    efficiency_j_per_th: Decimal
    # Electricity price at which profit is 0; may be negative (loses money on free power). None when
    # the setup draws no energy (curtailed all month).
    break_even_electricity_usd_per_kwh: Decimal | None
    # BTC price at which profit is 0; None when it earns no BTC (uptime 0 or curtailed all month).
    break_even_btc_price_usd: Decimal | None
    total_hardware_cost_usd: Decimal
    roi_pct_per_year: Decimal | None  # yearly profit over hardware cost; None when the hardware is free
    pays_back: bool  # False when profit per day is 0 or less
    payback_days: Decimal | None  # None exactly when pays_back is False


def hashprice_usd_per_th_day(*, market: MarketSnapshot) -> Decimal:
    """What 1 TH/s earns in a day at the snapshot (subsidy at the next height and fees, at the price)."""
    reward = block_subsidy_btc(market.block_height + 1) + market.fees_per_block_btc
    with localcontext(_CONTEXT):
        return _btc_per_th_day(difficulty=market.difficulty, reward_per_block_btc=reward) * market.btc_price_usd


def profitability_compute(*, setup: MinerSetup, market: MarketSnapshot) -> ProfitabilityResult:
    """Daily, monthly and yearly figures, hashprice, break-evens, ROI and payback at one snapshot."""
    subsidy = block_subsidy_btc(market.block_height + 1)
    with localcontext(_CONTEXT):
        reward = subsidy + market.fees_per_block_btc
        day = _day_economics(
            setup=setup, difficulty=market.difficulty, reward_per_block_btc=reward, btc_price_usd=market.btc_price_usd
        )
        price = market.btc_price_usd
        per_day = PeriodFigures(
            revenue_usd=day.revenue_usd,
            revenue_btc=day.revenue_btc,
            cost_usd=day.cost_usd,
            cost_btc=day.cost_usd / price,
            profit_usd=day.profit_usd,
            profit_btc=day.profit_usd / price,
        )
        hashprice = hashprice_usd_per_th_day(market=market)
        fixed_hosting = setup.hosting_fee_usd_per_month * setup.quantity / DAYS_PER_MONTH
        break_even_kwh = (
            None
            if day.energy_kwh == 0
            else (day.revenue_usd - fixed_hosting) / day.energy_kwh - setup.hosting_fee_usd_per_kwh
        )
        break_even_price = None if day.revenue_btc == 0 else day.cost_usd / day.revenue_btc
        hardware = setup.hardware_cost_usd * setup.quantity
        per_year = per_day.scaled(DAYS_PER_YEAR)
        roi = None if hardware == 0 else per_year.profit_usd / hardware * HUNDRED
        pays_back = day.profit_usd > 0
        payback = (hardware / day.profit_usd) if pays_back else None
        return ProfitabilityResult(
            subsidy_btc=subsidy,
            reward_per_block_btc=reward,
            economics=day,
            per_day=per_day,
            per_month=per_day.scaled(DAYS_PER_MONTH),
            per_year=per_year,
            hashprice_usd_per_th_day=hashprice,
            efficiency_j_per_th=setup.power_w / setup.hashrate_ths,
            break_even_electricity_usd_per_kwh=break_even_kwh,
            break_even_btc_price_usd=break_even_price,
            total_hardware_cost_usd=hardware,
            roi_pct_per_year=roi,
            pays_back=pays_back,
            payback_days=payback,
        )


@dataclass(frozen=True)
class PricePath:
    """How the BTC price moves over a projection.

    flat: the snapshot price every day. growth: `growth_pct_per_month` compounded daily. series: explicit
    (date, price) points such as a forecast's; each day takes the last point on or before it (the snapshot
    price before the first point, the last point after the end).
    """

    kind: PricePathKind = PricePathKind.FLAT
    growth_pct_per_month: Decimal = ZERO
    points: tuple[tuple[date, Decimal], ...] = ()

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        kind = _price_path_kind(self.kind)
        if kind is None:
            errors["price_path.kind"] = ["must be flat, growth or series"]
        growth = _check_number(
            errors, "price_path.growth_pct_per_month", self.growth_pct_per_month, minimum=Decimal(-99)
        )
        checked: list[tuple[date, Decimal]] = []
        for index, point in enumerate(self.points):
            name = f"price_path.points[{index}]"
            point_on = _point_date(point)
            if point_on is None:
                errors.setdefault(name, []).append("must be a (date, price) pair")
                continue
            checked.append((point_on, _check_number(errors, name, point[1], strictly_positive=True)))
        if self.kind == PricePathKind.SERIES and not self.points:
            errors.setdefault("price_path.points", []).append("must hold at least one point")
        dates = [on for on, _ in checked]
        if len(set(dates)) != len(dates):
            errors.setdefault("price_path.points", []).append("must not repeat a date")
        _raise_if_any(errors)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "growth_pct_per_month", growth)
        object.__setattr__(self, "points", tuple(sorted(checked)))


@dataclass(frozen=True)
class PathDay:
    """One day of a market path; `index` 0 is the 24 hours from the snapshot time."""

    index: int
    on: date
    difficulty: Decimal
    btc_price_usd: Decimal
    subsidy_btc: Decimal  # mean subsidy of the network's blocks that day (mixed on the halving day)
    btc_per_th_day: Decimal  # expected BTC of 1 TH/s that day: subsidy and fees, before pool fee and uptime


@dataclass(frozen=True)
class MarketPath:
    """The network and the price day by day over a horizon: the same for every setup projected on it."""

    market: MarketSnapshot
    days: tuple[PathDay, ...]
    difficulty_growth_pct_per_month: Decimal
    price_path: PricePath
    halving_height: int  # the next halving after the snapshot height
    halving_at: datetime  # estimated at 600 s per block from the snapshot time
    halving_day: int | None  # index of the day holding the halving block, None past the horizon


@dataclass(frozen=True)
class ProjectionDay:
    """One projected day of a setup on a market path."""

    index: int
    on: date
    difficulty: Decimal
    btc_price_usd: Decimal
    subsidy_btc: Decimal
    revenue_btc: Decimal
    revenue_usd: Decimal
    cost_usd: Decimal
    profit_usd: Decimal
    cumulative_profit_usd: Decimal
    cumulative_profit_btc: Decimal  # each day's USD profit converted at that day's price


@dataclass(frozen=True)
class Projection:
    """A day-by-day projection with its totals, the payback point and the estimated halving."""

    days: tuple[ProjectionDay, ...]
    total_revenue_usd: Decimal
    total_cost_usd: Decimal
    total_profit_usd: Decimal
    total_profit_btc: Decimal
    net_usd: Decimal  # total profit less the hardware cost
    pays_back: bool
    payback_day: int | None  # first day whose cumulative profit reaches the hardware cost
    payback_on: date | None
    halving_height: int
    halving_at: datetime
    halving_day: int | None


def _price_on(
    *, path: PricePath, market: MarketSnapshot, on: date, previous: Decimal, daily_growth: Decimal
) -> Decimal:
    """The day's price: `previous` is the day before's (the snapshot price for day 0's growth step)."""
    if path.kind == PricePathKind.GROWTH:
        return previous * daily_growth
    if path.kind == PricePathKind.SERIES:
        price = market.btc_price_usd
        for point_on, point_price in path.points:
            if point_on > on:
                break
            price = point_price
        return price
    return market.btc_price_usd


def _daily_factor(*, pct_per_month: Decimal) -> Decimal:
    """The per-day factor that compounds to (1 + pct/100) over 30.4375 days."""
    with localcontext(_CONTEXT):
        return (ONE + pct_per_month / HUNDRED) ** (ONE / DAYS_PER_MONTH)


def market_path_build(
    *,
    market: MarketSnapshot,
    horizon_days: int,
    difficulty_growth_pct_per_month: Decimal = ZERO,
    price_path: PricePath | None = None,
) -> MarketPath:
    """The market day by day: difficulty compounding daily, a price path, and the subsidy with the halving."""
    errors: dict[str, list[str]] = {}
    horizon = _check_whole(errors, "horizon_days", horizon_days, minimum=1)
    if not errors and horizon > MAX_HORIZON_DAYS:
        errors["horizon_days"] = [f"must be {MAX_HORIZON_DAYS} or less"]
    growth = _check_number(
        errors, "difficulty_growth_pct_per_month", difficulty_growth_pct_per_month, minimum=Decimal(-99)
    )
    _raise_if_any(errors)
    path = price_path or PricePath()
    difficulty_factor = _daily_factor(pct_per_month=growth)
    price_factor = _daily_factor(pct_per_month=path.growth_pct_per_month)
    start_on = market.as_of.date()
    halving_height = (market.block_height // HALVING_INTERVAL_BLOCKS + 1) * HALVING_INTERVAL_BLOCKS
    blocks_to_halving = halving_height - market.block_height
    halving_at = market.as_of + timedelta(seconds=blocks_to_halving * TARGET_BLOCK_SECONDS)
    # Block tip+n is found n x 600 s after the snapshot, so it falls in day (n - 1) // 144.
    halving_index = (blocks_to_halving - 1) // BLOCKS_PER_DAY
    days: list[PathDay] = []
    with localcontext(_CONTEXT):
        difficulty = market.difficulty
        price = market.btc_price_usd
        for index in range(horizon):
            on = start_on + timedelta(days=index)
            first = market.block_height + 1 + index * BLOCKS_PER_DAY
            subsidy_sats = _subsidy_sats_sum(first_height=first, last_height=first + BLOCKS_PER_DAY - 1)
            subsidy = Decimal(subsidy_sats) / SATS_PER_BTC / BLOCKS_PER_DAY
            if index:
                # Running products rather than factor**index: the same values to 30+ digits, far cheaper.
                difficulty *= difficulty_factor
                price = _price_on(path=path, market=market, on=on, previous=price, daily_growth=price_factor)
            elif path.kind == PricePathKind.SERIES:
                price = _price_on(path=path, market=market, on=on, previous=price, daily_growth=price_factor)
            days.append(
                PathDay(
                    index=index,
                    on=on,
                    difficulty=difficulty,
                    btc_price_usd=price,
                    subsidy_btc=subsidy,
                    btc_per_th_day=_btc_per_th_day(
                        difficulty=difficulty, reward_per_block_btc=subsidy + market.fees_per_block_btc
                    ),
                )
            )
    return MarketPath(
        market=market,
        days=tuple(days),
        difficulty_growth_pct_per_month=growth,
        price_path=path,
        halving_height=halving_height,
        halving_at=halving_at,
        halving_day=halving_index if halving_index < horizon else None,
    )


def profitability_project(*, setup: MinerSetup, path: MarketPath) -> Projection:
    """Project a setup's profit day by day along a market path, with its payback day."""
    return _project(setup=setup, path=path, keep_days=True)


def profitability_project_totals(*, setup: MinerSetup, path: MarketPath) -> Projection:
    """The same projection's totals and payback without the per-day rows (`days` is empty): for batches."""
    return _project(setup=setup, path=path, keep_days=False)


def _project(*, setup: MinerSetup, path: MarketPath, keep_days: bool) -> Projection:
    daily = _setup_daily(setup)
    cost = daily.cost_usd
    hardware = setup.hardware_cost_usd * setup.quantity
    days: list[ProjectionDay] = []
    payback_day: int | None = None
    with localcontext(_CONTEXT):
        cumulative_usd = ZERO
        cumulative_btc = ZERO
        total_revenue = ZERO
        for day in path.days:
            revenue_btc = daily.earning_ths * day.btc_per_th_day
            revenue_usd = revenue_btc * day.btc_price_usd
            profit = revenue_usd - cost
            cumulative_usd += profit
            cumulative_btc += profit / day.btc_price_usd
            total_revenue += revenue_usd
            if payback_day is None and profit > 0 and cumulative_usd >= hardware:
                payback_day = day.index
            if not keep_days:
                continue
            days.append(
                ProjectionDay(
                    index=day.index,
                    on=day.on,
                    difficulty=day.difficulty,
                    btc_price_usd=day.btc_price_usd,
                    subsidy_btc=day.subsidy_btc,
                    revenue_btc=revenue_btc,
                    revenue_usd=revenue_usd,
                    cost_usd=cost,
                    profit_usd=profit,
                    cumulative_profit_usd=cumulative_usd,
                    cumulative_profit_btc=cumulative_btc,
                )
            )
        total_cost = cost * len(path.days)
    start_on = path.days[0].on
    return Projection(
        days=tuple(days),
        total_revenue_usd=total_revenue,
        total_cost_usd=total_cost,
        total_profit_usd=cumulative_usd,
        total_profit_btc=cumulative_btc,
        net_usd=cumulative_usd - hardware,
        pays_back=payback_day is not None,
        payback_day=payback_day,
        payback_on=None if payback_day is None else start_on + timedelta(days=payback_day),
        halving_height=path.halving_height,
        halving_at=path.halving_at,
        halving_day=path.halving_day,
    )
