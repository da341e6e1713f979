"""A site's hourly energy prices: uploaded as CSV or Excel, or posted to the API, checked whole, stored idempotently.

Every value is checked before anything is written; one bad row refuses the whole file or request, and each
problem names its row (or list index) and column. A price is stored once per site and hour: sending the same
hours again replaces their prices, and an unchanged price is not written at all.

Times: a value with a UTC offset is taken as given; one without is read in the site's time zone (a utility's
price sheet is in local time). A local time that the clocks skip, or pass twice, when daylight saving time
changes cannot be placed, so it is refused with a request for the offset.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import transaction

from calculator.services.batch_errors import BatchInvalidError
from calculator.services.batch_files import SheetTable, batch_file_read
from hosting.models import Site, SiteEnergyPrice
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

# Two years of hours, with room: more than any price sheet holds, and a bound on one request's memory.
MAX_ROWS = 20_000
MAX_FILE_BYTES = 5 * 1024 * 1024
# Wider than any market's limits (ERCOT's cap is 5,000 USD/MWh; EU day-ahead floors are about -500), so only
# a wrong unit or a typo is refused.
PRICE_MIN_USD_PER_MWH = Decimal(-10_000)
PRICE_MAX_USD_PER_MWH = Decimal(100_000)
_PRICE_STEP = Decimal("0.001")
_OLDEST = timedelta(days=3650)
_FURTHEST = timedelta(days=400)
# Problems kept in the error; the rest are counted, so a file of garbage cannot fill memory.
_PROBLEMS_KEPT = 200
_BATCH = 2000

STARTS_AT = "starts_at"
PRICE_MWH = "price_usd_per_mwh"
PRICE_KWH = "price_usd_per_kwh"
TEMPLATE_CSV = "starts_at,price_usd_per_mwh\n2026-01-01T00:00:00+00:00,42.50\n2026-01-01T01:00:00+00:00,39.80\n"


@dataclass(frozen=True)
class EnergyPriceRow:
    """One checked price: the hour it starts (aware, UTC) and the price in USD per MWh."""

    starts_at: datetime
    price_usd_per_mwh: Decimal


@dataclass(frozen=True)
class EnergyPricesStored:
    """What a store did: hours new, hours whose price changed, hours sent again unchanged."""

    created: int
    updated: int
    unchanged: int
    first_starts_at: datetime | None
    last_starts_at: datetime | None

    @property
    def received(self) -> int:
        return self.created + self.updated + self.unchanged


class _Problems:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.count = 0

    def add(self, key: str, message: str) -> None:
        self.count += 1
        if len(self.fields) < _PROBLEMS_KEPT or key in self.fields:
            self.fields.setdefault(key, []).append(message)

    def raise_if_any(self, *, what: str) -> None:
        if not self.count:
            return
        hidden = self.count - sum(len(messages) for messages in self.fields.values())
        more = f" ({hidden} more not shown)" if hidden > 0 else ""
        raise InvalidInputError(f"{what} has {self.count} problems{more}; nothing was stored.", fields=self.fields)


def _site_zone(site: Site) -> ZoneInfo:
    return ZoneInfo(str(site.time_zone))


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _place_local(naive: datetime, zone: ZoneInfo) -> datetime | str:
    """The aware moment of a wall-clock time in `zone`, or why it has none."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks skip it); give the UTC offset"
    return f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks go back); give the UTC offset"


def _parse_starts_at(value: object, *, zone: ZoneInfo, now: datetime) -> datetime | str:
    """The hour's start as an aware UTC datetime, or the message saying what is wrong with it."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())  # midnight, placed on the site's clock below
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return f"not a date and time: {_shown(value)}; use ISO 8601, e.g. 2026-01-01T13:00:00+00:00"
    else:
        return "required: the start of the hour, e.g. 2026-01-01T13:00:00+00:00"
    if moment.tzinfo is None:
        placed = _place_local(moment, zone)
        if isinstance(placed, str):
            return placed
        moment = placed
    local = moment.astimezone(zone)
    if (local.minute, local.second, local.microsecond) != (0, 0, 0):
        return f"{_shown(value)} is not the start of an hour in {zone.key}"
    moment = moment.astimezone(UTC)
    if not now - _OLDEST <= moment <= now + _FURTHEST:
        return "must lie within 10 years before and 400 days after today"
    return moment


def _parse_price(value: object, *, per_kwh: bool) -> Decimal | str:
    """The price in USD/MWh (rounded to 0.001), or the message saying what is wrong with it."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        return "required: a number"
    if isinstance(value, int | float | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        # A spreadsheet in a locale with a decimal comma writes 42,5.
        if "," in text and "." not in text:
            text = text.replace(",", ".")
    else:
        return f"not a number: {_shown(value)}"
    try:
        price = Decimal(text)
    except InvalidOperation:
        return f"not a number: {_shown(value)}"
    if not price.is_finite():
        return f"not a number: {_shown(value)}"
    if per_kwh:
        price *= 1000
    price = price.quantize(_PRICE_STEP, rounding=ROUND_HALF_EVEN)
    if not PRICE_MIN_USD_PER_MWH <= price <= PRICE_MAX_USD_PER_MWH:
        low, high = PRICE_MIN_USD_PER_MWH, PRICE_MAX_USD_PER_MWH
        unit = f"{low / 1000:,} to {high / 1000:,} USD/kWh" if per_kwh else f"{low:,} to {high:,} USD/MWh"
        return f"{price:,} USD/MWh is outside {unit}; check the unit"
    return price


def energy_price_rows_check(
    *,
    site: Site,
    records: Iterable[tuple[str, Mapping[str, object]]],
    price_column: str,
    now: datetime,
    what: str,
) -> list[EnergyPriceRow]:
    """Check every record (a label such as `rows[5]`, and its values by column) and return them all, or raise.

    InvalidInputError names each problem as `<label>.<column>`; a second row for an hour already given
    is a problem of that row. Nothing is stored here.
    """
    zone = _site_zone(site)
    problems = _Problems()
    rows: list[EnergyPriceRow] = []
    first_label: dict[datetime, str] = {}
    for label, values in records:
        starts_at = _parse_starts_at(values.get(STARTS_AT), zone=zone, now=now)
        price = _parse_price(values.get(price_column), per_kwh=price_column == PRICE_KWH)
        if isinstance(starts_at, str):
            problems.add(f"{label}.{STARTS_AT}", starts_at)
        elif starts_at in first_label:
            problems.add(f"{label}.{STARTS_AT}", f"the same hour as {first_label[starts_at]}")
        else:
            first_label[starts_at] = label
        if isinstance(price, str):
            problems.add(f"{label}.{price_column}", price)
        if not isinstance(starts_at, str) and not isinstance(price, str):
            rows.append(EnergyPriceRow(starts_at=starts_at, price_usd_per_mwh=price))
    problems.raise_if_any(what=what)
    if not rows:
        raise InvalidInputError(f"{what} holds no prices; nothing was stored.", fields={"prices": ["no rows"]})
    return rows


def _price_column(table: SheetTable) -> tuple[dict[str, int], str]:
    """Column positions by name and the price column used; InvalidInputError when they are not right."""
    positions: dict[str, int] = {}
    for index, name in enumerate(table.header):
        key = name.strip().lower()
        if key and key in positions:
            raise InvalidInputError(fields={"file": [f"the column {key} appears twice in row 1"]})
        positions[key] = index
    problems: list[str] = []
    if STARTS_AT not in positions:
        problems.append(f"row 1 has no {STARTS_AT} column (the start of each hour)")
    prices = [column for column in (PRICE_MWH, PRICE_KWH) if column in positions]
    if not prices:
        problems.append(f"row 1 has no {PRICE_MWH} (or {PRICE_KWH}) column")
    elif len(prices) > 1:
        problems.append(f"give {PRICE_MWH} or {PRICE_KWH}, not both")
    if problems:
        raise InvalidInputError("The file's columns are not right; nothing was stored.", fields={"file": problems})
    return positions, prices[0]


def energy_prices_read_file(*, site: Site, name: str, content: bytes, now: datetime) -> list[EnergyPriceRow]:
    """Read and check a .csv or .xlsx price sheet; rows are numbered as a spreadsheet shows them (header 1)."""
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInputError(fields={"file": [f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"]})
    try:
        table = batch_file_read(name=name, content=content, max_rows=MAX_ROWS)
    except BatchInvalidError as exc:
        raise InvalidInputError(
            "The file cannot be read; nothing was stored.",
            fields={"file": [problem.message for problem in exc.problems]},
        ) from exc
    positions, price_column = _price_column(table)
    wanted = {STARTS_AT: positions[STARTS_AT], price_column: positions[price_column]}

    def records() -> Iterable[tuple[str, Mapping[str, object]]]:
        for row in table.rows:
            values = {column: row.cells[index] if index < len(row.cells) else None for column, index in wanted.items()}
            yield f"rows[{row.number}]", values

    return energy_price_rows_check(site=site, records=records(), price_column=price_column, now=now, what="The file")


@transaction.atomic
def energy_prices_store(
    *, site: Site, rows: Sequence[EnergyPriceRow], source: str, now: datetime
) -> EnergyPricesStored:
    """Insert new hours and replace changed prices in one transaction; unchanged hours are not written."""
    if source not in SiteEnergyPrice.Source.values:
        raise InvalidInputError(fields={"source": [f"must be one of {', '.join(SiteEnergyPrice.Source.values)}"]})
    if not rows:
        return EnergyPricesStored(created=0, updated=0, unchanged=0, first_starts_at=None, last_starts_at=None)
    first = min(row.starts_at for row in rows)
    last = max(row.starts_at for row in rows)
    stored = dict(
        SiteEnergyPrice.objects.filter(site=site, starts_at__range=(first, last)).values_list(
            "starts_at", "price_usd_per_mwh"
        )
    )
    changed = [row for row in rows if stored.get(row.starts_at) != row.price_usd_per_mwh]
    created = sum(1 for row in changed if row.starts_at not in stored)
    SiteEnergyPrice.objects.bulk_create(
        [
            SiteEnergyPrice(
                site=site,
                starts_at=row.starts_at,
                price_usd_per_mwh=row.price_usd_per_mwh,
                source=source,
                updated_at=now,
            )
            for row in changed
        ],
        batch_size=_BATCH,
        # A concurrent store of the same hour: the later one's price stands, and neither fails.
        update_conflicts=True,
        unique_fields=["site", "starts_at"],
        update_fields=["price_usd_per_mwh", "source", "updated_at"],
    )
    result = EnergyPricesStored(
        created=created,
        updated=len(changed) - created,
        unchanged=len(rows) - len(changed),
        first_starts_at=first,
        last_starts_at=last,
    )
    logger.info(
        "Energy prices stored: site_id=%s source=%s created=%d updated=%d unchanged=%d",
        site.pk,
        source,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


def energy_prices_upload(*, site: Site, name: str, content: bytes, now: datetime) -> EnergyPricesStored:
    """Check a whole price sheet and store it, or store nothing and name every bad row and column."""
    rows = energy_prices_read_file(site=site, name=name, content=content, now=now)
    return energy_prices_store(site=site, rows=rows, source=SiteEnergyPrice.Source.UPLOAD, now=now)


def energy_prices_post(*, site: Site, prices: Sequence[Mapping[str, object]], now: datetime) -> EnergyPricesStored:
    """Check prices posted to the API (`prices[i]` names a bad item) and store them all, or none."""
    if len(prices) > MAX_ROWS:
        raise InvalidInputError(fields={"prices": [f"at most {MAX_ROWS:,} hours in one request"]})
    rows = energy_price_rows_check(
        site=site,
        records=((f"prices[{index}]", item) for index, item in enumerate(prices)),
        price_column=PRICE_MWH,
        now=now,
        what="The request",
    )
    return energy_prices_store(site=site, rows=rows, source=SiteEnergyPrice.Source.API, now=now)


def energy_price_interval_start(*, site: Site, moment: datetime) -> datetime:
    """The start (UTC) of the site's price hour that holds `moment`: hours run on the site's clock."""
    local = moment.astimezone(_site_zone(site))
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def energy_price_at(*, site: Site, starts_at: datetime) -> Decimal | None:
    """The price stored for the hour starting at `starts_at`, or None when none is."""
    return (
        SiteEnergyPrice.objects.filter(site=site, starts_at=starts_at)
        .values_list("price_usd_per_mwh", flat=True)
        .first()
    )


def energy_prices_between(*, site: Site, start: datetime, end: datetime) -> list[EnergyPriceRow]:
    """The stored hours starting in [start, end), in order."""
    return [
        EnergyPriceRow(starts_at=starts_at, price_usd_per_mwh=price)
        for starts_at, price in SiteEnergyPrice.objects.filter(site=site, starts_at__gte=start, starts_at__lt=end)
        .order_by("starts_at")
        .values_list("starts_at", "price_usd_per_mwh")
    ]
