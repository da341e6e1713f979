"""Reads behind the client dashboard and the miner page: a customer's miners and their month in figures
(uptime, energy and its cost, an estimate of the BTC mined), and one miner with its alerts and operations.

Hourly figures come from the shared history series (hourly rollups, raw polls for the open hour). The BTC
estimate prices each hour's hashrate at the network's difficulty and reward of its day from the shipped
network history, with the calculator's own formula: it is the pool's expected value, before pool fees.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Count, Q

from analytics.models import NetworkStats
from analytics.selectors import REPLAY_SOURCE, difficulty_adjustment_list, network_stats_list, replay_network_at
from calculator.services.profitability import (
    BLOCKS_PER_DAY,
    SATS_PER_BTC,
    TARGET_BLOCK_SECONDS,
    MarketSnapshot,
    block_subsidy_btc,
    hashprice_usd_per_th_day,
)

from .live.scopes import LiveScope
from .live.snapshots import (
    LiveAlert,
    LiveOperation,
    LiveRow,
    LiveSummary,
    live_alerts_for_scope,
    live_operation,
    live_rows_for_scope,
    live_rows_parse,
    live_summaries,
    live_summary_from_rows,
)
from .models import Miner, MinerLatest, MinerOperation, Site
from .selectors_series import SeriesPoint, telemetry_hourly

HOUR = timedelta(hours=1)
OPERATIONS_SHOWN = 50
_KWH = Decimal("0.001")
_CENT = Decimal("0.01")
_SATOSHI = Decimal("0.00000001")


def _decimal(value: float) -> Decimal:
    # Through repr, so 0.1 stays 0.1 rather than its binary expansion.
    return Decimal(repr(value))


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def month_start(*, now: datetime) -> datetime:
    """Midnight UTC of the first day of `now`'s month: the month the figures cover."""
    return datetime.combine(now.astimezone(UTC).date().replace(day=1), time(), tzinfo=UTC)


# --- the network's reward per TH/s and day ---------------------------------------------------------------


@dataclass(frozen=True)
class NetworkDay:
    """What one TH/s earned on one day, and what it is made of."""

    day: date
    difficulty: Decimal
    block_height: int  # estimated from the last retarget at one block per 600 s
    fees_per_block_btc: Decimal
    btc_per_th_day: Decimal
    recorded_on: date  # the day of the network figures used (the newest on or before `day`)


def _row_fee(row: NetworkStats) -> Decimal | None:
    """Average fees per block of a network row: its own figure, else its day's fees over 144 blocks."""
    if row.avg_fee_per_block_btc is not None:
        return row.avg_fee_per_block_btc
    if row.fees_btc_per_day is not None:
        return row.fees_btc_per_day / BLOCKS_PER_DAY
    return None


def network_days(*, first: date, last: date) -> dict[date, NetworkDay]:
    """Each day of [first, last] priced from the shipped network history; empty when it is not loaded.

    A day without figures of its own (the shipped files end before today) takes the newest before it, and
    so does a day without fee figures. The block height, which sets the subsidy, is counted from the
    newest retarget at one block per 600 s.
    """
    first_at = datetime.combine(first, time(), tzinfo=UTC)
    after_last = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    before = replay_network_at(at=first_at)
    rows = ([] if before is None else [before]) + [
        row for row in network_stats_list(source=REPLAY_SOURCE, start=first_at, end=after_last) if row != before
    ]
    retarget = difficulty_adjustment_list().filter(start_time__lt=after_last).order_by("-height").first()
    if not rows or retarget is None:
        return {}
    fee = None if before is None else _row_fee(before)
    if fee is None:
        # The shipped fee column ends before the difficulty one: the newest fees before `first` carry on.
        with_fees = (
            network_stats_list(source=REPLAY_SOURCE, end=first_at)
            .filter(Q(avg_fee_per_block_btc__isnull=False) | Q(fees_btc_per_day__isnull=False))
            .last()
        )
        fee = None if with_fees is None else _row_fee(with_fees)
    days: dict[date, NetworkDay] = {}
    index = 0
    current = None
    day = first
    while day <= last:
        day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        while index < len(rows) and rows[index].recorded_at < day_end:
            current = rows[index]
            row_fee = _row_fee(current)
            fee = fee if row_fee is None else row_fee
            index += 1
        if current is not None:
            middle = day_end - timedelta(hours=12)
            height = retarget.height + int((middle - retarget.start_time).total_seconds()) // TARGET_BLOCK_SECONDS
            # No fee figures at all: the subsidy alone understates the reward, never overstates it.
            fees = Decimal(0) if fee is None else fee
            # Priced at 1 USD per BTC, the calculator's hashprice is the BTC one TH/s earns in a day.
            snapshot = MarketSnapshot(
                btc_price_usd=Decimal(1),
                difficulty=current.difficulty,
                block_height=max(0, height),
                fees_per_block_btc=fees,
                as_of=day_end - timedelta(days=1),
            )
            days[day] = NetworkDay(
                day=day,
                difficulty=current.difficulty,
                block_height=max(0, height),
                fees_per_block_btc=fees,
                btc_per_th_day=hashprice_usd_per_th_day(market=snapshot),
                recorded_on=current.recorded_at.astimezone(UTC).date(),
            )
        day += timedelta(days=1)
    return days


# --- a customer's month ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteEnergy:
    """A customer's energy at one site this month and what it costs at the site's price."""

    site_id: int
    site_name: str
    energy_kwh: Decimal
    price_usd_per_kwh: Decimal
    cost_usd: Decimal


@dataclass(frozen=True)
class ClientFigures:
    """A customer's miners over this month, the last 24 hours and the last 30 days."""

    month_start: datetime
    now: datetime
    uptime_24h: float | None  # answered polls / polls, 0-1
    uptime_30d: float | None
    energy_kwh: Decimal
    energy_cost_usd: Decimal
    energy_by_site: tuple[SiteEnergy, ...]
    btc_estimate: Decimal | None  # None without network history
    network_difficulty: Decimal | None  # of the newest day priced
    network_reward_btc: Decimal | None  # subsidy + average fees per block, of the newest day priced
    network_as_of: date | None  # the day of the newest network figures used

    @property
    def btc_estimate_sats(self) -> int | None:
        return None if self.btc_estimate is None else int(self.btc_estimate * SATS_PER_BTC)

    @property
    def uptime_24h_pct(self) -> float | None:
        return None if self.uptime_24h is None else self.uptime_24h * 100

    @property
    def uptime_30d_pct(self) -> float | None:
        return None if self.uptime_30d is None else self.uptime_30d * 100


def _hours(point: SeriesPoint, *, now: datetime) -> Decimal:
    """The share of an hour a point covers: a whole hour, or up to now for the open one."""
    covered = min(HOUR, now - point.t)
    return Decimal(int(covered.total_seconds())) / 3600


def _share(points: Sequence[SeriesPoint], *, since: datetime) -> float | None:
    counted = [p for p in points if p.t >= since]
    polls = sum(p.polls for p in counted)
    return sum(p.ok_polls for p in counted) / polls if polls else None


def _btc(hashrate_hours: Mapping[datetime, Decimal], *, network: Mapping[date, NetworkDay]) -> Decimal | None:
    if not network:
        return None
    total = Decimal(0)
    for hour, ths_hours in hashrate_hours.items():
        day = network.get(hour.date())
        if day is not None:
            total += ths_hours / 24 * day.btc_per_th_day
    return total.quantize(_SATOSHI, rounding=ROUND_HALF_EVEN)


def client_figures(*, customer_id: int, now: datetime) -> ClientFigures:
    """Uptime over 24 h and 30 days, this month's energy and its cost at each site's price, and the BTC
    this month's hashrate is expected to have earned.

    The hosting contract's own rate is not in the CRM yet: each site's energy price stands in.
    """
    start_of_month = month_start(now=now)
    thirty_days = _floor_hour(now - timedelta(days=30))
    day_ago = _floor_hour(now) - timedelta(hours=23)
    start = min(start_of_month, thirty_days)
    sites = list(
        Site.objects.filter(miners__customer_id=customer_id)
        .distinct()
        .order_by("name")
        .values_list("pk", "name", "energy_price_usd_per_kwh")
    )
    all_points: list[SeriesPoint] = []
    hashrate_hours: dict[datetime, Decimal] = defaultdict(Decimal)
    by_site = []
    for site_id, name, price in sites:
        points = telemetry_hourly(customer_id=customer_id, site_id=site_id, start=start, end=now)
        all_points += points
        energy = Decimal(0)
        for point in points:
            if point.t < start_of_month:
                continue
            hours = _hours(point, now=now)
            energy += _decimal(point.power_kw) * hours
            hashrate_hours[point.t] += _decimal(point.hashrate_ths) * hours
        kwh = energy.quantize(_KWH, rounding=ROUND_HALF_EVEN)
        by_site.append(
            SiteEnergy(
                site_id=site_id,
                site_name=name,
                energy_kwh=kwh,
                price_usd_per_kwh=price,
                cost_usd=(kwh * price).quantize(_CENT, rounding=ROUND_HALF_EVEN),
            )
        )
    network = network_days(first=start_of_month.date(), last=now.astimezone(UTC).date()) if sites else {}
    newest = network[max(network)] if network else None
    return ClientFigures(
        month_start=start_of_month,
        now=now,
        uptime_24h=_share(all_points, since=day_ago),
        uptime_30d=_share(all_points, since=thirty_days),
        energy_kwh=sum((s.energy_kwh for s in by_site), Decimal(0)),
        energy_cost_usd=sum((s.cost_usd for s in by_site), Decimal(0)),
        energy_by_site=tuple(by_site),
        btc_estimate=_btc(hashrate_hours, network=network) if sites else None,
        network_difficulty=None if newest is None else newest.difficulty,
        network_reward_btc=None
        if newest is None
        else block_subsidy_btc(newest.block_height + 1) + newest.fees_per_block_btc,
        network_as_of=None if newest is None else newest.recorded_on,
    )


@dataclass(frozen=True)
class ClientDashboard:
    """What the client dashboard shows first; live frames keep the rows and summary current after that."""

    customer_id: int
    customer_name: str
    rows: list[LiveRow]
    summary: LiveSummary
    figures: ClientFigures


def client_dashboard_get(*, scope: LiveScope, customer_name: str, now: datetime) -> ClientDashboard:
    """The dashboard of the customer of a client scope (checked by the caller)."""
    customer_id = scope.id
    return ClientDashboard(
        customer_id=customer_id,
        customer_name=customer_name,
        rows=live_rows_parse(rows=live_rows_for_scope(scope=scope)),
        summary=live_summaries(site_ids=[], customer_ids=[customer_id]).customers[customer_id],
        figures=client_figures(customer_id=customer_id, now=now),
    )


@dataclass(frozen=True)
class CustomerChoice:
    customer_id: int
    name: str
    miners: int


def customers_with_miners() -> list[CustomerChoice]:
    """Customers that have miners, by name, for an operator to pick whose dashboard to see."""
    rows = (
        Miner.objects.filter(customer__isnull=False)
        .values("customer_id", "customer__name")
        .annotate(miners=Count("pk"))
        .order_by("customer__name")
    )
    return [CustomerChoice(customer_id=r["customer_id"], name=r["customer__name"], miners=r["miners"]) for r in rows]


# --- one miner ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinerDetail:
    """One miner now, its recent alerts and its operation log (newest first)."""

    miner: Miner
    row: LiveRow | None
    summary: LiveSummary
    latest: MinerLatest | None
    alerts: list[LiveAlert]
    operations: list[LiveOperation]


def miner_detail_get(*, miner: Miner, scope: LiveScope) -> MinerDetail:
    """The miner page's data for a miner the caller may see (checked by the caller, with its live scope)."""
    rows = live_rows_parse(rows=live_rows_for_scope(scope=scope))
    operations = (
        MinerOperation.objects.filter(miner_id=miner.pk)
        .select_related("requested_by")
        .order_by("-requested_at", "-pk")[:OPERATIONS_SHOWN]
    )
    return MinerDetail(
        miner=miner,
        row=rows[0] if rows else None,
        summary=live_summary_from_rows(rows=rows),
        latest=MinerLatest.objects.filter(miner_id=miner.pk).first(),
        alerts=live_alerts_for_scope(scope=scope),
        operations=[live_operation(operation=op) for op in operations],
    )
