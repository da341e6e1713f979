"""Excel export of the market and network series: a selector builds a typed dataset, a renderer makes the file.

The registry names every series that can be exported, with its columns, their units and cell types. The
renderer never touches the database, so a dataset can be rendered anywhere (a view, a task) once it is
built. Excel keeps no time zone: every moment is written as naive UTC and the header says so.
"""

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from analytics.models import Forecast, Interval
from analytics.selectors import (
    difficulty_adjustment_list,
    market_signal_list,
    network_stats_list,
    price_candle_list,
    technical_indicator_list,
)
from analytics.services.forecasts import TARGET_DIFFICULTY, TARGET_PRICE, forecast_sources
from mining_platform.core.errors import InvalidInputError

# Excel's own limit is 1,048,576 rows a sheet; a smaller cap keeps one request's memory bounded.
EXPORT_MAX_ROWS = 200_000
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Cell = date | datetime | Decimal | float | int | str | None
Row = tuple[Cell, ...]


class CellKind(StrEnum):
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"


_NUMBER_FORMATS = {
    CellKind.DATE: "yyyy-mm-dd",
    CellKind.DATETIME: "yyyy-mm-dd hh:mm:ss",
    CellKind.INTEGER: "0",
}


@dataclass(frozen=True)
class ExportColumn:
    """One column: its header (name and unit, as the file shows it) and the type of its cells."""

    header: str
    kind: CellKind


@dataclass(frozen=True)
class ExportSeries:
    """An exportable series: its name (as requested), sheet title, columns, and how to read its rows."""

    name: str
    title: str
    description: str
    columns: tuple[ExportColumn, ...]
    read: Callable[[datetime | None, datetime | None], Iterable[Row]]


@dataclass(frozen=True)
class ExportSheet:
    """The rows of one series in the requested range, ready to render."""

    name: str
    title: str
    columns: tuple[ExportColumn, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class ExportDataset:
    """Every requested series over [start, end), in the order asked."""

    start: datetime | None
    end: datetime | None
    sheets: tuple[ExportSheet, ...]


def _first_day_from(moment: datetime) -> date:
    """The first UTC day whose midnight is at or after `moment`."""
    utc = moment.astimezone(UTC)
    return utc.date() if utc.time() == time() else utc.date() + timedelta(days=1)


def _candle_reader(interval: str) -> Callable[[datetime | None, datetime | None], Iterable[Row]]:
    def read(start: datetime | None, end: datetime | None) -> Iterable[Row]:
        price_source, _network_source = forecast_sources()
        rows = price_candle_list(source=price_source, interval=interval, start=start, end=end).values_list(
            "open_time", "open", "high", "low", "close", "volume_btc"
        )
        # A daily candle is its UTC day; an hourly one keeps its hour.
        if interval == Interval.DAY:
            return [(at.astimezone(UTC).date(), *rest) for at, *rest in rows]
        return [tuple(row) for row in rows]

    return read


def _indicator_reader(series: str) -> Callable[[datetime | None, datetime | None], Iterable[Row]]:
    def read(start: datetime | None, end: datetime | None) -> Iterable[Row]:
        rows = technical_indicator_list(series=series, start=start, end=end).values_list(
            "at", "close", "rsi_14", "macd", "macd_signal", "macd_hist", "bb_mid", "bb_upper", "bb_lower"
        )
        return [tuple(row) for row in rows]

    return read


def _network_stats_rows(start: datetime | None, end: datetime | None) -> Iterable[Row]:
    _price_source, network_source = forecast_sources()
    rows = network_stats_list(source=network_source, start=start, end=end).values_list(
        "recorded_at", "difficulty", "hashrate_ths", "block_height", "fees_btc_per_day", "avg_fee_per_block_btc"
    )
    return [tuple(row) for row in rows]


def _difficulty_adjustment_rows(start: datetime | None, end: datetime | None) -> Iterable[Row]:
    adjustments = difficulty_adjustment_list()
    if start is not None:
        adjustments = adjustments.filter(start_time__gte=start)
    if end is not None:
        adjustments = adjustments.filter(start_time__lt=end)
    return [tuple(row) for row in adjustments.values_list("height", "start_time", "bits", "difficulty")]


def _signal_rows(start: datetime | None, end: datetime | None) -> Iterable[Row]:
    signals = market_signal_list(start=start, end=end).order_by("at", "series", "kind")
    return [tuple(row) for row in signals.values_list("at", "series", "kind", "value", "threshold", "reason")]


def _forecast_reader(target: str) -> Callable[[datetime | None, datetime | None], Iterable[Row]]:
    def read(start: datetime | None, end: datetime | None) -> Iterable[Row]:
        # A forecast belongs to the range by the last day its model saw; each row is one day ahead.
        forecasts = Forecast.objects.filter(target=target)
        if start is not None:
            forecasts = forecasts.filter(history_end__gte=_first_day_from(start))
        if end is not None:
            forecasts = forecasts.filter(history_end__lt=_first_day_from(end))
        rows: list[Row] = []
        for made_at, history_end, order, confidence, points in forecasts.order_by("history_end", "made_at").values_list(
            "made_at", "history_end", "order", "confidence", "points"
        ):
            rows.extend(
                (
                    date.fromisoformat(point["date"]),
                    point["mean"],
                    point["lower"],
                    point["upper"],
                    confidence,
                    history_end,
                    order,
                    made_at,
                )
                for point in points
            )
        return rows

    return read


_D, _DT, _N, _I, _T = CellKind.DATE, CellKind.DATETIME, CellKind.NUMBER, CellKind.INTEGER, CellKind.TEXT

_CANDLE_COLUMNS = (
    ExportColumn("Open (USD)", _N),
    ExportColumn("High (USD)", _N),
    ExportColumn("Low (USD)", _N),
    ExportColumn("Close (USD)", _N),
    ExportColumn("Volume (BTC)", _N),
)
_INDICATOR_COLUMNS = (
    ExportColumn("Time (UTC)", _DT),
    ExportColumn("Close (USD)", _N),
    ExportColumn("RSI 14 (0-100)", _N),
    ExportColumn("MACD 12/26 (USD)", _N),
    ExportColumn("MACD signal 9 (USD)", _N),
    ExportColumn("MACD histogram (USD)", _N),
    ExportColumn("Bollinger mid 20 (USD)", _N),
    ExportColumn("Bollinger upper 2 sd (USD)", _N),
    ExportColumn("Bollinger lower 2 sd (USD)", _N),
)


def _forecast_columns(unit: str) -> tuple[ExportColumn, ...]:
    return (
        ExportColumn("Day (UTC)", _D),
        ExportColumn(f"Mean ({unit})", _N),
        ExportColumn(f"Lower bound ({unit})", _N),
        ExportColumn(f"Upper bound ({unit})", _N),
        ExportColumn("Confidence (share)", _N),
        ExportColumn("History end (UTC day)", _D),
        ExportColumn("ARIMA order (p,d,q)", _T),
        ExportColumn("Made at (UTC)", _DT),
    )


EXPORT_SERIES: dict[str, ExportSeries] = {
    s.name: s
    for s in (
        ExportSeries(
            "btc_usd_1d",
            "BTC-USD daily",
            "Daily BTC/USD candles of the current data mode's source.",
            (ExportColumn("Day (UTC)", _D), *_CANDLE_COLUMNS),
            _candle_reader(Interval.DAY),
        ),
        ExportSeries(
            "btc_usd_1h",
            "BTC-USD hourly",
            "Hourly BTC/USD candles of the current data mode's source.",
            (ExportColumn("Hour start (UTC)", _DT), *_CANDLE_COLUMNS),
            _candle_reader(Interval.HOUR),
        ),
        ExportSeries(
            "indicators_btc_usd_1d",
            "Indicators daily",
            "RSI, MACD and Bollinger bands of the daily candles.",
            _INDICATOR_COLUMNS,
            _indicator_reader("btc_usd_1d"),
        ),
        ExportSeries(
            "indicators_btc_usd_1h",
            "Indicators hourly",
            "RSI, MACD and Bollinger bands of the hourly candles.",
            _INDICATOR_COLUMNS,
            _indicator_reader("btc_usd_1h"),
        ),
        ExportSeries(
            "signals",
            "Signals",
            "Signals raised on every indicator series.",
            (
                ExportColumn("Time (UTC)", _DT),
                ExportColumn("Series", _T),
                ExportColumn("Kind", _T),
                ExportColumn("Indicator value (its unit)", _N),
                ExportColumn("Threshold (its unit)", _N),
                ExportColumn("Reason", _T),
            ),
            _signal_rows,
        ),
        ExportSeries(
            "network_stats",
            "Network",
            "Difficulty, hash rate, height and fees of the current data mode's network source.",
            (
                ExportColumn("Recorded at (UTC)", _DT),
                ExportColumn("Difficulty", _N),
                ExportColumn("Hash rate (TH/s)", _N),
                ExportColumn("Block height", _I),
                ExportColumn("Fees (BTC/day)", _N),
                ExportColumn("Average fee per block (BTC)", _N),
            ),
            _network_stats_rows,
        ),
        ExportSeries(
            "difficulty_adjustments",
            "Difficulty adjustments",
            "Every retarget: first block height, its time, compact target and difficulty.",
            (
                ExportColumn("Height", _I),
                ExportColumn("Start time (UTC)", _DT),
                ExportColumn("Bits (hex)", _T),
                ExportColumn("Difficulty", _N),
            ),
            _difficulty_adjustment_rows,
        ),
        ExportSeries(
            "forecasts_btc_usd",
            "Forecasts BTC-USD",
            "ARIMA forecasts of the BTC/USD close, one row per day ahead.",
            _forecast_columns("USD"),
            _forecast_reader(TARGET_PRICE),
        ),
        ExportSeries(
            "forecasts_difficulty",
            "Forecasts difficulty",
            "ARIMA forecasts of the network difficulty, one row per day ahead.",
            _forecast_columns("difficulty"),
            _forecast_reader(TARGET_DIFFICULTY),
        ),
    )
}


def export_dataset_get(*, series: Sequence[str], start: datetime | None, end: datetime | None) -> ExportDataset:
    """The rows of each named series with times in [start, end); InvalidInputError names a bad parameter."""
    if not series:
        raise InvalidInputError(fields={"series": [f"name at least one of: {', '.join(EXPORT_SERIES)}"]})
    unknown = [name for name in series if name not in EXPORT_SERIES]
    if unknown:
        raise InvalidInputError(
            fields={"series": [f"unknown series {', '.join(unknown)}; use one of: {', '.join(EXPORT_SERIES)}"]}
        )
    if start is not None and end is not None and start >= end:
        raise InvalidInputError(fields={"end": ["must be after start"]})
    sheets = []
    for name in dict.fromkeys(series):  # each series once, in the order asked
        spec = EXPORT_SERIES[name]
        rows = tuple(spec.read(start, end))
        if len(rows) > EXPORT_MAX_ROWS:
            raise InvalidInputError(
                fields={"start": [f"{name} has {len(rows)} rows in this range, over {EXPORT_MAX_ROWS}; narrow it"]}
            )
        sheets.append(ExportSheet(name=name, title=spec.title, columns=spec.columns, rows=rows))
    return ExportDataset(start=start, end=end, sheets=tuple(sheets))


def _cell_value(value: Cell, kind: CellKind) -> Cell:
    if value is None:
        return None
    if isinstance(value, datetime):
        # Excel has no time zones: write the UTC wall time (the header says UTC).
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, Decimal):
        # Excel stores every number as a double; an integer column stays whole.
        return int(value) if kind == CellKind.INTEGER else float(value)
    return value


def export_workbook_render(*, dataset: ExportDataset) -> bytes:
    """The dataset as an .xlsx file: a sheet per series, a bold header row with units, typed cells."""
    book = Workbook()
    book.remove(book.active)  # a new workbook comes with one empty sheet
    bold = Font(bold=True)
    for sheet in dataset.sheets:
        page = book.create_sheet(title=sheet.title[:31])  # Excel's limit on sheet names
        page.append([column.header for column in sheet.columns])
        for cell in page[1]:
            cell.font = bold
        for row in sheet.rows:
            page.append([_cell_value(value, column.kind) for value, column in zip(row, sheet.columns, strict=True)])
        for index, column in enumerate(sheet.columns, start=1):
            letter = get_column_letter(index)
            page.column_dimensions[letter].width = max(12, len(column.header) + 2)
            number_format = _NUMBER_FORMATS.get(column.kind)
            if number_format is not None:
                for (cell,) in page.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = number_format
        page.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
