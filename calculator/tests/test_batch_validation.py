"""Batch files read and checked: row numbers as the user sees them, every problem at once, clear file errors."""

import io
from decimal import Decimal

import openpyxl
import pytest

from calculator.models import MinerModel
from calculator.services.batch_errors import PROBLEMS_KEPT, BatchInvalidError
from calculator.services.batch_files import SheetTable, batch_file_read
from calculator.services.batch_validation import BatchRow, batch_rows_validate, batch_table_from_fleet

pytestmark = pytest.mark.django_db

HEADER = "label,model,hashrate_ths,power_w,quantity,electricity_usd_per_kwh,pool_fee_pct,uptime_pct,hardware_cost_usd"


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _read(content: bytes, name: str = "fleet.csv", max_rows: int = 1000) -> SheetTable:
    return batch_file_read(name=name, content=content, max_rows=max_rows)


def _problems(error: BatchInvalidError) -> list[tuple[int | None, str, str]]:
    return [(p.row, p.column, p.message) for p in error.problems]


def _validate(*lines: str) -> list[BatchRow]:
    return batch_rows_validate(table=_read(_csv(*lines)))


def _refused(*lines: str) -> BatchInvalidError:
    with pytest.raises(BatchInvalidError) as excinfo:
        _validate(*lines)
    return excinfo.value


# ---------------------------------------------------------------- reading files


def test_batch_file_read_numbers_csv_rows_as_a_spreadsheet_shows_them_skipping_blank_ones() -> None:
    content = _csv(HEADER, "a,Antminer S19 Pro,,,1,0.05,,,", "", ",,,,,,,,", "d,,100,3000,2,0.06,,,")

    table = _read(content)

    assert table.header[:3] == ("label", "model", "hashrate_ths")
    assert [row.number for row in table.rows] == [2, 5]
    assert table.rows[1].cells[:5] == ("d", "", "100", "3000", "2")


def test_batch_file_read_takes_semicolons_from_a_decimal_comma_locale_and_drops_the_byte_order_mark() -> None:
    content = "\ufefflabel;model;quantity;electricity_usd_per_kwh\nx;Antminer S9;3;0.05\n".encode()

    table = _read(content)

    assert table.header == ("label", "model", "quantity", "electricity_usd_per_kwh")
    assert table.rows[0].cells == ("x", "Antminer S9", "3", "0.05")


def test_batch_file_read_reads_the_first_sheet_of_a_workbook_with_typed_cells_and_row_numbers() -> None:
    content = _xlsx(
        [
            ["model", "quantity", "electricity_usd_per_kwh"],
            ["Antminer S19", 4, 0.07],
            [],
            [None, None],
            ["M50", 2.0, 0.05],
        ]
    )

    table = _read(content, name="Fleet.XLSX")

    assert [row.number for row in table.rows] == [2, 5]
    assert table.rows[0].cells == ("Antminer S19", 4, 0.07)
    assert table.rows[1].cells == ("M50", 2.0, 0.05)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("fleet.pdf", b"%PDF-1.4", "Upload a .csv or .xlsx file, not .pdf."),
        ("fleet", b"a,b", "Upload a .csv or .xlsx file, not a file without an extension."),
        (
            "fleet.xls",
            b"\xd0\xcf\x11\xe0....",
            "Upload a .csv or .xlsx file, not .xls (an old Excel workbook: save it as .xlsx).",
        ),
        (
            "fleet.xlsx",
            b"\xd0\xcf\x11\xe0....",
            "This is an old Excel .xls workbook; save it as .xlsx (Excel Workbook) or CSV.",
        ),
        ("fleet.xlsx", b"label,quantity\n", "The file is not an Excel .xlsx workbook."),
        ("fleet.csv", b"", "The file is empty."),
        ("fleet.csv", b"\n\n  \n", "The file is empty."),
        ("fleet.csv", b"model,quantity\n\n", "The file has column names but no rows under them."),
        (
            "fleet.csv",
            b"\nmodel,quantity\nS9,1\n",
            "Row 1 is empty: it must hold the column names (download the template to see them).",
        ),
        (
            "fleet.csv",
            "model\nAntminer S9 \xe9\n".encode("latin-1"),
            "The CSV file is not UTF-8 text (byte 19); in Excel, save it as “CSV UTF-8”.",
        ),
    ],
)
def test_batch_file_read_refuses_what_is_not_a_batch_file_with_a_clear_message(
    name: str, content: bytes, message: str
) -> None:
    with pytest.raises(BatchInvalidError) as excinfo:
        _read(content, name=name)

    assert _problems(excinfo.value) == [(None, "file", message)]


def test_batch_file_read_refuses_a_workbook_named_csv_and_a_broken_workbook() -> None:
    workbook = _xlsx([["model"], ["S9"]])

    with pytest.raises(BatchInvalidError) as named_csv:
        _read(workbook, name="fleet.csv")
    with pytest.raises(BatchInvalidError) as broken:
        _read(workbook[:200], name="fleet.xlsx")

    assert named_csv.value.message == "This file is an Excel workbook named .csv; upload it with the .xlsx extension."
    assert broken.value.message.startswith("The Excel file cannot be read:")


def test_batch_file_read_refuses_more_rows_than_the_limit_but_not_as_many() -> None:
    lines = [HEADER] + [f"r{i},Antminer S9,,,1,0.05,,," for i in range(5)]

    exactly = _read(_csv(*lines), max_rows=5)
    with pytest.raises(BatchInvalidError) as excinfo:
        _read(_csv(*lines, "r5,Antminer S9,,,1,0.05,,,"), max_rows=5)

    assert len(exactly.rows) == 5
    assert excinfo.value.message == "The file has more than 5 rows; split it into batches of at most 5."


# ---------------------------------------------------------------- the columns


def test_batch_rows_validate_names_unknown_duplicate_and_missing_columns_at_once() -> None:
    error = _refused("model,hashrate,electricity_usd_per_kwh,model,colour", "S9,1,0.05,S9,red")

    assert _problems(error) == [
        (None, "hashrate", 'is not a known column; did you mean "hashrate_ths"?'),
        (None, "model", "appears twice (columns A and D)"),
        (
            None,
            "colour",
            "is not a known column; the columns are label, model, hashrate_ths, power_w, quantity, "
            "electricity_usd_per_kwh, pool_fee_pct, uptime_pct, hardware_cost_usd, hosting_fee_usd_per_month, "
            "hosting_fee_usd_per_kwh, curtailment_hours_per_month",
        ),
        (None, "quantity", "column is missing"),
    ]
    assert error.row_count == 0


def test_batch_rows_validate_asks_for_a_model_column_or_both_spec_columns() -> None:
    error = _refused("hashrate_ths,quantity,electricity_usd_per_kwh", "100,1,0.05")

    assert _problems(error) == [(None, "model", "column is missing: give a model column, or power_w")]


def test_batch_rows_validate_reads_column_names_in_any_case_and_order() -> None:
    rows = _validate(" Quantity ,Electricity USD per kWh,MODEL", "3,0.05,antminer s19 pro")

    assert rows[0].setup.quantity == 3
    assert rows[0].model_name == "Bitmain Antminer S19 Pro"


# ---------------------------------------------------------------- the rows


def test_batch_rows_validate_finds_a_catalogue_model_by_make_and_model_by_model_alone_and_by_id() -> None:
    s19 = MinerModel.objects.get(make="Bitmain", model="Antminer S19 Pro")

    rows = _validate(
        "model,quantity,electricity_usd_per_kwh",
        "  BITMAIN   antminer s19 pro ,1,0.05",
        "Antminer S19 Pro,2,0.05",
        f"{s19.pk},3,0.05",
    )

    assert [(r.miner_model_id, r.setup.hashrate_ths, r.setup.power_w) for r in rows] == [
        (s19.pk, Decimal("110.00"), Decimal(3250))
    ] * 3
    assert [r.row for r in rows] == [2, 3, 4]


def test_batch_rows_validate_lets_custom_specs_override_the_models_and_fills_defaults() -> None:
    rows = _validate(HEADER, "tuned,Antminer S19 Pro,121.5,3400,10,0.05,,,", "own,,95,3250,1,0.045,2,97,1800")

    tuned, own = rows
    assert (tuned.label, tuned.setup.hashrate_ths, tuned.setup.power_w) == ("tuned", Decimal("121.5"), Decimal(3400))
    assert (tuned.setup.pool_fee_pct, tuned.setup.uptime_pct, tuned.setup.hardware_cost_usd) == (
        Decimal(0),
        Decimal(100),
        Decimal(0),
    )
    assert (own.miner_model_id, own.model_name, own.setup.uptime_pct) == (None, "", Decimal(97))


def test_batch_rows_validate_reports_every_bad_row_with_its_row_and_column_at_once() -> None:
    error = _refused(
        HEADER,
        "ok,Antminer S19 Pro,,,1,0.05,,,",
        "b,Antminer S19 Pro,,,ten,0.05,,,",  # 3: not a number
        "c,,100,,1,0.05,,,",  # 4: power missing without a model
        "d,Antminr S19 Pro,,,1,0.05,,,",  # 5: unknown model, close to one
        'e,Antminer S19 Pro,,,1,"0,05",,,',  # 6: a decimal comma
        "f,Antminer S19 Pro,,,2.5,0.05,,150,",  # 7: a fractional quantity and uptime over 100
        "g,,,,1,0.05,,,",  # 8: neither a model nor specs
        "h,Antminer S19 Pro,,,1,,,,-5",  # 9: electricity blank, negative hardware cost
        "i,,100.123456789,3000,2000000,0.05,,,",  # 10: too many decimals, quantity over the batch cap
        'j,Antminer S19 Pro,,,"1,000",0.05,,,',  # 11: a thousands separator is fine
    )

    assert _problems(error) == [
        (3, "quantity", "must be a number"),
        (4, "power_w", "is required when no model is given"),
        (5, "model", 'is not in the catalogue; did you mean "Bitmain Antminer S19 Pro"?'),
        (6, "electricity_usd_per_kwh", "must use a dot for decimals (0.05, not 0,05)"),
        (7, "quantity", "must be a whole number"),
        (7, "uptime_pct", "must be 100 or less"),
        (8, "model", "give a catalogue model, or hashrate_ths and power_w"),
        (9, "electricity_usd_per_kwh", "is required"),
        (9, "hardware_cost_usd", "must be 0 or more"),
        (10, "hashrate_ths", "has more than 8 decimal places"),
        (10, "quantity", "must be 1,000,000 or less in a batch"),
    ]
    assert [p.value for p in error.problems[:3]] == ["ten", "", "Antminr S19 Pro"]
    assert error.problem_count == 11
    assert error.row_count == 8
    assert error.fields["rows[7].uptime_pct"] == ["must be 100 or less"]
    assert error.message == "11 problems in 8 rows; nothing was computed."


def test_batch_rows_validate_reads_numbers_from_excel_cells_and_refuses_text_dates_and_booleans() -> None:
    content = _xlsx(
        [
            ["model", "quantity", "electricity_usd_per_kwh", "uptime_pct", "label"],
            ["Antminer S19 Pro", 2, 0.07, 97.5, 42],
            ["Antminer S19 Pro", True, "n/a", None, None],
        ]
    )

    with pytest.raises(BatchInvalidError) as excinfo:
        batch_rows_validate(table=_read(content, name="fleet.xlsx"))

    assert _problems(excinfo.value) == [
        (3, "quantity", "must be a number"),
        (3, "electricity_usd_per_kwh", "must be a number"),
    ]


def test_batch_rows_validate_keeps_the_first_problems_and_counts_them_all() -> None:
    lines = ["model,quantity,electricity_usd_per_kwh"] + ["Antminer S9,x,y"] * (PROBLEMS_KEPT)

    error = _refused(*lines)

    assert len(error.problems) == PROBLEMS_KEPT
    assert error.problem_count == 2 * PROBLEMS_KEPT
    assert error.row_count == PROBLEMS_KEPT
    assert error.problems[-1].row == PROBLEMS_KEPT // 2 + 1


def test_batch_table_from_fleet_numbers_the_rows_as_the_page_shows_them_and_skips_blank_ones() -> None:
    fleet = [
        {"model": "", "hashrate_ths": "", "quantity": ""},
        {"model": "Antminer S9", "quantity": "3", "electricity_usd_per_kwh": "0.05"},
    ]

    rows = batch_rows_validate(table=batch_table_from_fleet(rows=fleet))

    assert [(r.row, r.setup.quantity) for r in rows] == [(2, 3)]


def test_batch_rows_validate_refuses_a_fleet_without_rows() -> None:
    with pytest.raises(BatchInvalidError) as excinfo:
        batch_rows_validate(table=batch_table_from_fleet(rows=[{"model": ""}]))

    assert _problems(excinfo.value) == [(None, "rows", "There are no rows to compute: fill in at least one row.")]
