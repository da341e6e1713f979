from decimal import Decimal
from io import BytesIO, StringIO
from pathlib import Path

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from calculator.tests.factories import MinerModelFactory
from crm.models import Customer
from hosting.models import Miner
from hosting.resources import MinerResource
from hosting.services.miner_import import miners_import
from hosting.tests.factories import SiteFactory
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User

HEADER = (
    "site,rack,position,ip,port,model,firmware,serial,customer,cgminer_enabled,nominal_hashrate_ths,nominal_power_w"
)


@pytest.fixture
def catalogue_and_site(customer: Customer) -> None:
    MinerModelFactory.create()
    SiteFactory.create(name="North hall")


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.mark.django_db
def test_import_creates_miners_taking_blank_nominal_figures_from_the_catalogue(catalogue_and_site: None) -> None:
    content = _csv(
        "North hall,A1,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,Acme Hashing,1,,",
        "North hall,A1,02,10.0.0.2,4028,Antminer S19 Pro,antminer_stock,SN2,,1,100,3000",
    )

    report = miners_import(content=content, file_format="csv")

    assert (report.new, report.updated) == (2, 0)
    first = Miner.objects.get(ip="10.0.0.1")
    assert (first.nominal_hashrate_ths, first.nominal_power_w, first.customer and first.customer.name) == (
        Decimal("110.00"),
        3250,
        "Acme Hashing",
    )
    assert Miner.objects.get(ip="10.0.0.2").customer is None


@pytest.mark.django_db
def test_importing_the_same_file_twice_updates_instead_of_duplicating(catalogue_and_site: None) -> None:
    content = _csv("North hall,A1,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,")
    miners_import(content=content, file_format="csv")

    report = miners_import(
        content=_csv("North hall,B7,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,"), file_format="csv"
    )

    assert (report.new, report.updated) == (0, 1)
    assert list(Miner.objects.values_list("rack", flat=True)) == ["B7"]


@pytest.mark.django_db
def test_a_file_with_bad_rows_writes_nothing_and_names_each_row_and_field(catalogue_and_site: None) -> None:
    content = _csv(
        "North hall,A1,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,",
        "North hall,A1,02,not-an-ip,4028,Antminer S19 Pro,antminer_stock,SN2,,1,,",
        "North hall,A1,03,10.0.0.3,4028,Antminer S19 Pro,teapot_os,SN3,,1,,",
    )

    with pytest.raises(InvalidInputError) as excinfo:
        miners_import(content=content, file_format="csv")

    assert set(excinfo.value.fields) == {"rows[3].ip", "rows[4].firmware"}
    assert not Miner.objects.exists()


@pytest.mark.django_db
def test_an_unknown_site_is_reported_for_its_row(catalogue_and_site: None) -> None:
    content = _csv("South hall,A1,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,")

    with pytest.raises(InvalidInputError) as excinfo:
        miners_import(content=content, file_format="csv")

    assert any(key.startswith("rows[2]") for key in excinfo.value.fields)
    assert not Miner.objects.exists()


@pytest.mark.django_db
def test_excel_files_import_like_csv(catalogue_and_site: None) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append(
        ["North hall", "C3", "09", "10.0.0.9", 4028, "Antminer S19 Pro", "antminer_stock", "SN9", "", 1, "", ""]
    )
    buffer = BytesIO()
    book.save(buffer)

    report = miners_import(content=buffer.getvalue(), file_format="xlsx")

    assert report.new == 1
    assert Miner.objects.get().rack == "C3"


@pytest.mark.django_db
def test_an_unknown_format_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        miners_import(content=b"", file_format="ods")

    assert "format" in excinfo.value.fields


@pytest.mark.django_db
def test_a_row_with_too_many_columns_is_refused_as_unreadable(catalogue_and_site: None) -> None:
    content = _csv("North hall,A1,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,,extra")

    with pytest.raises(InvalidInputError) as excinfo:
        miners_import(content=content, file_format="csv")

    assert "file" in excinfo.value.fields


@pytest.mark.django_db
def test_import_command_reports_bad_rows_and_writes_nothing(catalogue_and_site: None, tmp_path: Path) -> None:
    path = tmp_path / "miners.csv"
    path.write_bytes(_csv("North hall,A1,01,999.1.1.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,"))

    with pytest.raises(CommandError, match=r"rows\[2\]\.ip"):
        call_command("import_miners", str(path), stdout=StringIO())

    assert not Miner.objects.exists()


@pytest.mark.django_db
def test_export_writes_the_columns_import_reads_back(catalogue_and_site: None, owner_user: User) -> None:
    miners_import(
        content=_csv("North hall,A1,01,10.0.0.1,4028,Antminer S19 Pro,antminer_stock,SN1,,1,,"), file_format="csv"
    )

    exported = MinerResource().export().csv

    assert exported.splitlines()[0] == HEADER
    assert miners_import(content=exported.encode(), file_format="csv").skipped == 1


@pytest.mark.django_db
def test_admin_offers_import_and_export_of_miners(owner_user: User) -> None:
    browser = Client()
    browser.force_login(owner_user)

    assert browser.get("/admin/hosting/miner/import/").status_code == 200
    assert browser.get("/admin/hosting/miner/export/").status_code == 200
