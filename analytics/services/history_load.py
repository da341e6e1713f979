"""Import of the shipped market and network history (analytics/data/) into the database.

Every row is parsed and checked before anything is written, and the writes share one transaction, so a
bad file leaves the tables as they were. Rows are upserted on their unique keys: a second run over the
same files changes no row count.
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import TypeVar

from django.db import models, transaction

from analytics.models import DifficultyAdjustment, Interval, NetworkStats, PriceCandle
from analytics.offline_data import DATASETS, OfflineDataset, offline_dataset_rows
from analytics.selectors import REPLAY_SOURCE
from mining_platform.core.errors import InvalidInputError

logger = logging.getLogger(__name__)

# Error messages list at most this many bad cells; the count says how many there were in all.
_MAX_REPORTED_ERRORS = 20
_BATCH_SIZE = 2000
# A retarget happens every 2016 blocks (Bitcoin consensus rule).
_RETARGET_BLOCKS = 2016

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class TableLoad:
    """What one load did to one kind of row: rows read from the files, rows new to the table, rows updated."""

    name: str
    rows: int
    created: int
    updated: int


@dataclass(frozen=True)
class HistoryLoadResult:
    tables: tuple[TableLoad, ...]

    @property
    def created(self) -> int:
        return sum(t.created for t in self.tables)


class _BadCellError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _dataset(name: str) -> OfflineDataset:
    return next(d for d in DATASETS if d.name == name)


def _numbered_rows(dataset: OfflineDataset) -> Iterator[tuple[int, dict[str, str]]]:
    # Line 1 is the header and the files hold no quoted line breaks, so the n-th record is on line n + 1.
    for index, row in enumerate(offline_dataset_rows(dataset=dataset)):
        yield index + 2, row


def _decimal(row: dict[str, str], column: str, *, digits: int, places: int) -> Decimal:
    """The cell as a Decimal rounded to its field's places (fee and difficulty cells carry float noise).

    `digits` and `places` are the field's max_digits and decimal_places: a value too large to store is
    reported here with its line rather than as a database error.
    """
    text = (row.get(column) or "").strip()
    if not text:
        raise _BadCellError(column, "is empty")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _BadCellError(column, f"is not a number ({text!r})") from None
    if not value.is_finite():
        raise _BadCellError(column, f"is not a finite number ({text!r})")
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if abs(value) >= Decimal(10) ** (digits - places):
        raise _BadCellError(column, f"{text} has more than {digits - places} digits before the point")
    return value


def _optional_decimal(row: dict[str, str], column: str, *, digits: int, places: int) -> Decimal | None:
    """As `_decimal`, but an empty cell (a value the sources do not have) is None."""
    return _decimal(row, column, digits=digits, places=places) if (row.get(column) or "").strip() else None


def _positive(value: Decimal, column: str) -> Decimal:
    if value <= 0:
        raise _BadCellError(column, f"must be positive, not {value}")
    return value


def _utc_day(row: dict[str, str], column: str) -> datetime:
    text = (row.get(column) or "").strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _BadCellError(column, f"is not a YYYY-MM-DD date ({text!r})") from None
    return datetime.combine(day, time(), tzinfo=UTC)


def _utc_instant(row: dict[str, str], column: str) -> datetime:
    text = (row.get(column) or "").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadCellError(column, f"is not an ISO-8601 time ({text!r})") from None
    if moment.utcoffset() != timedelta(0):
        raise _BadCellError(column, f"must be a UTC time ending in Z ({text!r})")
    return moment.astimezone(UTC)


def _candle(row: dict[str, str], *, interval: str, open_time: datetime) -> PriceCandle:
    o, h, lo, c = (_positive(_decimal(row, k, digits=18, places=2), k) for k in ("open", "high", "low", "close"))
    if lo > min(o, c):
        raise _BadCellError("low", f"{lo} is above the open or close")
    if h < max(o, c):
        raise _BadCellError("high", f"{h} is below the open or close")
    volume = _optional_decimal(row, "volume_btc", digits=24, places=8)
    if volume is not None and volume < 0:
        raise _BadCellError("volume_btc", f"must not be negative, not {volume}")
    return PriceCandle(
        source=REPLAY_SOURCE, interval=interval, open_time=open_time, open=o, high=h, low=lo, close=c, volume_btc=volume
    )


def _daily_candle(row: dict[str, str]) -> PriceCandle:
    return _candle(row, interval=Interval.DAY, open_time=_utc_day(row, "date"))


def _hourly_candle(row: dict[str, str]) -> PriceCandle:
    open_time = _utc_instant(row, "datetime_utc")
    if (open_time.minute, open_time.second, open_time.microsecond) != (0, 0, 0):
        raise _BadCellError("datetime_utc", f"{open_time:%H:%M:%S} is not the start of an hour")
    return _candle(row, interval=Interval.HOUR, open_time=open_time)


def _network_stats(row: dict[str, str]) -> NetworkStats:
    hashrate = _optional_decimal(row, "hashrate_ths", digits=30, places=9)
    if hashrate is not None and hashrate <= 0:
        raise _BadCellError("hashrate_ths", f"must be positive, not {hashrate}")
    fees = _optional_decimal(row, "fees_btc", digits=18, places=8)
    if fees is not None and fees < 0:
        raise _BadCellError("fees_btc", f"must not be negative, not {fees}")
    return NetworkStats(
        source=REPLAY_SOURCE,
        recorded_at=_utc_day(row, "date"),
        difficulty=_positive(_decimal(row, "difficulty", digits=30, places=4), "difficulty"),
        # Hash rate is a statistic (blocks seen times difficulty), stored as a float like the model says.
        hashrate_ths=None if hashrate is None else float(hashrate),
        fees_btc_per_day=fees,
    )


def _difficulty_adjustment(row: dict[str, str]) -> DifficultyAdjustment:
    text = (row.get("height") or "").strip()
    if not text.isdigit() or int(text) == 0 or int(text) % _RETARGET_BLOCKS:
        raise _BadCellError("height", f"must be a positive multiple of {_RETARGET_BLOCKS} ({text!r})")
    bits = (row.get("bits") or "").strip().lower()
    if len(bits) != 8 or any(ch not in "0123456789abcdef" for ch in bits):
        raise _BadCellError("bits", f"must be 8 hex digits ({bits!r})")
    # Periods after the last known block header carry only their first day (PROVENANCE.md section 3):
    # they start at 00:00 UTC of that day.
    has_time = bool((row.get("start_time_utc") or "").strip())
    start = _utc_instant(row, "start_time_utc") if has_time else _utc_day(row, "start_date")
    return DifficultyAdjustment(
        height=int(text),
        start_time=start,
        bits=bits,
        difficulty=_positive(_decimal(row, "difficulty", digits=30, places=4), "difficulty"),
    )


def _parse(dataset: OfflineDataset, build: Callable[[dict[str, str]], M], errors: dict[str, list[str]]) -> list[M]:
    """Every row of the file built into an unsaved model; bad cells go to `errors` keyed file:line.column."""
    objects: list[M] = []
    for line, row in _numbered_rows(dataset):
        try:
            objects.append(build(row))
        except _BadCellError as exc:
            errors.setdefault(f"{dataset.filename}:{line}.{exc.column}", []).append(str(exc))
    return objects


def _upsert(
    name: str,
    model: type[M],
    objects: Sequence[M],
    *,
    existing: models.QuerySet[M],
    unique: list[str],
    update: list[str],
) -> TableLoad:
    """Insert or update on the unique key; must run inside the caller's transaction."""
    before = existing.count()
    model._default_manager.bulk_create(
        objects, batch_size=_BATCH_SIZE, update_conflicts=True, unique_fields=unique, update_fields=update
    )
    created = existing.count() - before
    return TableLoad(name=name, rows=len(objects), created=created, updated=len(objects) - created)


def _bad_history_error(errors: dict[str, list[str]]) -> InvalidInputError:
    shown = list(errors.items())[:_MAX_REPORTED_ERRORS]
    first = "; ".join(f"{where} {messages[0]}" for where, messages in shown[:3])
    return InvalidInputError(
        f"The shipped market history has {len(errors)} bad cell(s), nothing was loaded: {first}.",
        fields=dict(shown),
    )


def history_load(*, dry_run: bool = False) -> HistoryLoadResult:
    """Load the shipped candles, network stats and retargets (source "replay"); safe to run again.

    Raises InvalidInputError naming each bad cell as `<file>:<line>.<column>` before writing anything.
    A dry run checks every file and reports the rows read, writing nothing.
    """
    errors: dict[str, list[str]] = {}
    daily = _parse(_dataset("btc_usd_daily"), _daily_candle, errors)
    hourly = _parse(_dataset("btc_usd_hourly"), _hourly_candle, errors)
    network = _parse(_dataset("btc_difficulty_daily"), _network_stats, errors)
    retargets = _parse(_dataset("btc_difficulty_adjustments"), _difficulty_adjustment, errors)
    if errors:
        raise _bad_history_error(errors)
    if dry_run:
        counts = {
            "candles_1d": len(daily),
            "candles_1h": len(hourly),
            "network_stats": len(network),
            "difficulty_adjustments": len(retargets),
        }
        return HistoryLoadResult(
            tables=tuple(TableLoad(name=name, rows=rows, created=0, updated=0) for name, rows in counts.items())
        )
    return _history_write(daily=daily, hourly=hourly, network=network, retargets=retargets)


@transaction.atomic(durable=True)
def _history_write(
    *,
    daily: Sequence[PriceCandle],
    hourly: Sequence[PriceCandle],
    network: Sequence[NetworkStats],
    retargets: Sequence[DifficultyAdjustment],
) -> HistoryLoadResult:
    candle_fields = ["open", "high", "low", "close", "volume_btc"]
    candle_key = ["source", "interval", "open_time"]
    replay_candles = PriceCandle.objects.filter(source=REPLAY_SOURCE)
    tables = (
        _upsert(
            "candles_1d",
            PriceCandle,
            daily,
            existing=replay_candles.filter(interval=Interval.DAY),
            unique=candle_key,
            update=candle_fields,
        ),
        _upsert(
            "candles_1h",
            PriceCandle,
            hourly,
            existing=replay_candles.filter(interval=Interval.HOUR),
            unique=candle_key,
            update=candle_fields,
        ),
        _upsert(
            "network_stats",
            NetworkStats,
            network,
            existing=NetworkStats.objects.filter(source=REPLAY_SOURCE),
            unique=["source", "recorded_at"],
            update=["difficulty", "hashrate_ths", "fees_btc_per_day"],
        ),
        _upsert(
            "difficulty_adjustments",
            DifficultyAdjustment,
            retargets,
            existing=DifficultyAdjustment.objects.all(),
            unique=["height"],
            update=["start_time", "bits", "difficulty"],
        ),
    )
    for table in tables:
        logger.info(
            "Market history loaded: rows_of=%s rows=%d created=%d updated=%d",
            table.name,
            table.rows,
            table.created,
            table.updated,
        )
    return HistoryLoadResult(tables=tables)
