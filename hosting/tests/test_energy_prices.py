"""Hourly energy prices: uploads (CSV, Excel) and the API check everything first, name bad rows, store idempotently."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import Workbook
from rest_framework.test import APIClient

from hosting.models import CurtailmentPriceRule, Site, SiteEnergyPrice
from hosting.services.energy_prices import energy_price_interval_start, energy_prices_upload
from hosting.tests.factories import SiteFactory
from mining_platform.core.choices import ApiScope
from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 15, 12, 20, tzinfo=UTC)
PAGE = "/hosting/curtailment/prices"


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _stored(site: Site) -> list[tuple[datetime, Decimal, str]]:
    return list(
        SiteEnergyPrice.objects.filter(site=site)
        .order_by("starts_at")
        .values_list("starts_at", "price_usd_per_mwh", "source")
    )


def _api_path(site_id: int) -> str:
    return f"/api/v1/hosting/sites/{site_id}/energy-prices/"


def _hour(offset: int) -> str:
    """An hour near the real clock (the API and page check against it), as ISO 8601 in UTC."""
    start = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return (start + timedelta(hours=offset)).isoformat()


def test_energy_prices_upload_stores_every_hour_of_a_csv_file() -> None:
    site = SiteFactory.create()
    content = _csv(
        "starts_at,price_usd_per_mwh",
        "2026-01-15T10:00:00+00:00,42.5",
        "2026-01-15T11:00:00Z,118.2",
        "2026-01-15T13:00:00+01:00,-3.125",
    )

    stored = energy_prices_upload(site=site, name="prices.csv", content=content, now=NOW)

    assert (stored.created, stored.updated, stored.unchanged) == (3, 0, 0)
    assert _stored(site) == [
        (datetime(2026, 1, 15, 10, tzinfo=UTC), Decimal("42.500"), "upload"),
        (datetime(2026, 1, 15, 11, tzinfo=UTC), Decimal("118.200"), "upload"),
        (datetime(2026, 1, 15, 12, tzinfo=UTC), Decimal("-3.125"), "upload"),
    ]


def test_energy_prices_upload_reads_times_without_an_offset_on_the_site_clock() -> None:
    site = SiteFactory.create(time_zone="America/Chicago")
    content = _csv("starts_at,price_usd_per_kwh", "2026-01-15 06:00,0.0451")

    energy_prices_upload(site=site, name="prices.csv", content=content, now=NOW)

    # 06:00 in Chicago in January is 12:00 UTC; a kWh price is stored per MWh.
    assert _stored(site) == [(datetime(2026, 1, 15, 12, tzinfo=UTC), Decimal("45.100"), "upload")]


def test_energy_prices_upload_reads_an_excel_workbook_with_date_cells_and_numbers() -> None:
    site = SiteFactory.create(time_zone="UTC")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["starts_at", "price_usd_per_mwh"])
    # Excel date cells hold no time zone: naive on purpose, read on the site's clock.
    sheet.append([datetime(2026, 1, 15, 8), 35.75])  # noqa: DTZ001
    sheet.append([datetime(2026, 1, 15, 9), 41])  # noqa: DTZ001
    buffer = io.BytesIO()
    book.save(buffer)

    stored = energy_prices_upload(site=site, name="prices.xlsx", content=buffer.getvalue(), now=NOW)

    assert stored.created == 2
    assert _stored(site) == [
        (datetime(2026, 1, 15, 8, tzinfo=UTC), Decimal("35.750"), "upload"),
        (datetime(2026, 1, 15, 9, tzinfo=UTC), Decimal("41.000"), "upload"),
    ]


def test_energy_prices_upload_names_each_bad_row_and_column_and_stores_nothing() -> None:
    site = SiteFactory.create(time_zone="UTC")
    content = _csv(
        "starts_at,price_usd_per_mwh",
        "2026-01-15T10:00:00Z,42.5",  # row 2: good
        "2026-01-15T11:00:00Z,cheap",  # row 3
        "2026-01-15T12:30:00Z,40",  # row 4: not the start of an hour
        "",  # row 5: blank, skipped but counted
        "2026-01-15T10:00:00Z,44",  # row 6: the hour of row 2 again
        "yesterday,",  # row 7: both wrong
        "2026-01-15T14:00:00Z,250000",  # row 8: a unit mistake
    )

    with pytest.raises(InvalidInputError) as excinfo:
        energy_prices_upload(site=site, name="prices.csv", content=content, now=NOW)

    fields = excinfo.value.fields
    assert set(fields) == {
        "rows[3].price_usd_per_mwh",
        "rows[4].starts_at",
        "rows[6].starts_at",
        "rows[7].starts_at",
        "rows[7].price_usd_per_mwh",
        "rows[8].price_usd_per_mwh",
    }
    assert fields["rows[3].price_usd_per_mwh"] == ["not a number: 'cheap'"]
    assert "not the start of an hour" in fields["rows[4].starts_at"][0]
    assert fields["rows[6].starts_at"] == ["the same hour as rows[2]"]
    assert "check the unit" in fields["rows[8].price_usd_per_mwh"][0]
    assert "nothing was stored" in excinfo.value.message
    assert not SiteEnergyPrice.objects.exists()


@pytest.mark.parametrize(
    ("local", "message"),
    [("2026-03-29 02:00", "does not exist in Europe/Berlin"), ("2026-10-25 02:00", "happens twice in Europe/Berlin")],
)
def test_energy_prices_upload_refuses_a_local_time_the_clock_change_skips_or_repeats(local: str, message: str) -> None:
    site = SiteFactory.create(time_zone="Europe/Berlin")
    content = _csv("starts_at,price_usd_per_mwh", f"{local},50")

    with pytest.raises(InvalidInputError) as excinfo:
        energy_prices_upload(site=site, name="prices.csv", content=content, now=datetime(2026, 6, 1, tzinfo=UTC))

    assert message in excinfo.value.fields["rows[2].starts_at"][0]
    assert not SiteEnergyPrice.objects.exists()


def test_energy_prices_upload_refuses_a_file_without_the_columns_it_needs() -> None:
    site = SiteFactory.create()

    with pytest.raises(InvalidInputError) as excinfo:
        energy_prices_upload(site=site, name="prices.csv", content=_csv("hour,price", "2026-01-15T10:00Z,4"), now=NOW)

    assert excinfo.value.fields["file"] == [
        "row 1 has no starts_at column (the start of each hour)",
        "row 1 has no price_usd_per_mwh (or price_usd_per_kwh) column",
    ]


def test_energy_prices_upload_again_changes_nothing_and_a_new_price_replaces_the_old() -> None:
    site = SiteFactory.create(time_zone="UTC")
    first = _csv("starts_at,price_usd_per_mwh", "2026-01-15T10:00Z,42.5", "2026-01-15T11:00Z,50")
    energy_prices_upload(site=site, name="prices.csv", content=first, now=NOW)
    stamped = SiteEnergyPrice.objects.get(starts_at=datetime(2026, 1, 15, 10, tzinfo=UTC)).updated_at

    again = energy_prices_upload(site=site, name="prices.csv", content=first, now=NOW + timedelta(hours=1))
    changed = energy_prices_upload(
        site=site,
        name="prices.csv",
        content=_csv("starts_at,price_usd_per_mwh", "2026-01-15T10:00Z,42.5", "2026-01-15T11:00Z,61"),
        now=NOW + timedelta(hours=2),
    )

    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 1)
    assert [price for _, price, _ in _stored(site)] == [Decimal("42.500"), Decimal("61.000")]
    assert SiteEnergyPrice.objects.get(starts_at=datetime(2026, 1, 15, 10, tzinfo=UTC)).updated_at == stamped


def test_energy_price_interval_start_follows_the_site_clock_for_a_half_hour_zone() -> None:
    site = SiteFactory.create(time_zone="Asia/Kolkata")

    start = energy_price_interval_start(site=site, moment=datetime(2026, 1, 15, 12, 20, tzinfo=UTC))

    # 17:50 in Kolkata (UTC+05:30): its hour began at 17:00 local, 11:30 UTC.
    assert start == datetime(2026, 1, 15, 11, 30, tzinfo=UTC)


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _with_key(owner: User, scopes: list[str]) -> APIClient:
    issued = api_key_issue(owner=owner, name="price feed", scopes=scopes, expires_at=None, now=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    return client


def _body(*prices: tuple[str, object]) -> dict[str, object]:
    return {"prices": [{"starts_at": starts_at, "price_usd_per_mwh": price} for starts_at, price in prices]}


def test_energy_prices_api_stores_an_operators_prices_with_source_api(host_user: User) -> None:
    site = SiteFactory.create()

    response = _as(host_user).post(_api_path(site.pk), _body((_hour(1), "42.50"), (_hour(2), 118.2)), format="json")

    body = response.json()
    assert response.status_code == 200
    assert (body["received"], body["created"], body["updated"], body["unchanged"]) == (2, 2, 0, 0)
    assert datetime.fromisoformat(body["first_starts_at"]) == datetime.fromisoformat(_hour(1))
    assert datetime.fromisoformat(body["last_starts_at"]) == datetime.fromisoformat(_hour(2))
    assert [(price, source) for _, price, source in _stored(site)] == [
        (Decimal("42.500"), "api"),
        (Decimal("118.200"), "api"),
    ]


def test_energy_prices_api_accepts_a_key_with_curtailment_request_and_refuses_one_without(host_user: User) -> None:
    site = SiteFactory.create()
    body = _body((_hour(1), "40"))

    granted = _with_key(host_user, [ApiScope.CURTAILMENT_REQUEST]).post(_api_path(site.pk), body, format="json")
    refused = _with_key(host_user, [ApiScope.MINERS_READ]).post(_api_path(site.pk), body, format="json")

    assert granted.status_code == 200
    assert refused.status_code == 403
    assert SiteEnergyPrice.objects.filter(site=site).count() == 1


def test_energy_prices_api_refuses_anonymous_callers_and_clients(client_user: User) -> None:
    site = SiteFactory.create()
    body = _body((_hour(1), "40"))

    anonymous = APIClient().post(_api_path(site.pk), body, format="json")
    client = _as(client_user).post(_api_path(site.pk), body, format="json")

    assert anonymous.status_code in (401, 403)
    assert client.status_code == 403
    assert not SiteEnergyPrice.objects.exists()


def test_energy_prices_api_answers_404_for_a_site_that_does_not_exist(host_user: User) -> None:
    response = _as(host_user).post(_api_path(999_999), _body((_hour(1), "40")), format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_energy_prices_api_names_each_bad_item_and_stores_nothing(host_user: User) -> None:
    site = SiteFactory.create()

    response = _as(host_user).post(
        _api_path(site.pk), _body((_hour(1), "40"), ("soon", "41"), (_hour(3), None)), format="json"
    )

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "invalid_input"
    assert set(error["fields"]) == {"prices[1].starts_at", "prices[2].price_usd_per_mwh"}
    assert not SiteEnergyPrice.objects.exists()


def test_energy_prices_api_is_in_the_openapi_schema(host_user: User) -> None:
    response = _as(host_user).get("/api/schema/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/hosting/sites/{id}/energy-prices/" in text
    assert "EnergyPriceItem" in text


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_price_page_upload_names_bad_rows_and_stores_nothing(host_user: User) -> None:
    site = SiteFactory.create()
    upload = io.BytesIO(_csv("starts_at,price_usd_per_mwh", f"{_hour(0)},40", f"{_hour(1)},abc"))
    upload.name = "prices.csv"

    response = _logged_in(host_user).post(PAGE, {"form": "upload", "site": site.pk, "file": upload})

    assert response.status_code == 400
    assert "Row 3, price_usd_per_mwh: not a number: &#x27;abc&#x27;" in response.content.decode()
    assert not SiteEnergyPrice.objects.exists()


def test_price_page_upload_stores_the_file_and_says_what_it_did(host_user: User) -> None:
    site = SiteFactory.create()
    upload = io.BytesIO(_csv("starts_at,price_usd_per_mwh", f"{_hour(0)},40", f"{_hour(1)},45.5"))
    upload.name = "prices.csv"
    client = _logged_in(host_user)

    response = client.post(PAGE, {"form": "upload", "site": site.pk, "file": upload}, follow=True)

    assert response.redirect_chain == [(f"{PAGE}?site={site.pk}", 302)]
    assert "2 hourly prices read: 2 new, 0 changed, 0 already stored." in response.content.decode()
    assert SiteEnergyPrice.objects.filter(site=site, source="upload").count() == 2
    assert '"price": [40.0, 45.5]' in response.content.decode()


def test_price_page_is_for_operators_only(client_user: User, host_user: User) -> None:
    SiteFactory.create()

    anonymous = Client().get(PAGE)
    client = _logged_in(client_user).get(PAGE)
    host = _logged_in(host_user).get(PAGE)

    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/accounts/login/")
    assert client.status_code == 403
    assert host.status_code == 200
    assert 'id="price-data"' in host.content.decode()


def test_price_page_answers_404_for_a_site_that_does_not_exist(host_user: User) -> None:
    SiteFactory.create()

    response = _logged_in(host_user).get(f"{PAGE}?site=999999")

    assert response.status_code == 404


def test_price_page_without_sites_says_to_add_one(host_user: User) -> None:
    response = _logged_in(host_user).get(PAGE)

    assert response.status_code == 200
    assert 'data-empty="sites"' in response.content.decode()


def test_price_page_saves_the_rule_and_names_a_bad_setting(host_user: User) -> None:
    site = SiteFactory.create()
    form = {
        "form": "rule",
        "site": site.pk,
        "enabled": "on",
        "persist_intervals": "3",
        "resume_intervals": "4",
        "pool_fee_pct": "1.50",
        "max_curtail_hours": "12",
        "hold_minutes": "20",
    }
    client = _logged_in(host_user)

    bad = client.post(PAGE, {**form, "persist_intervals": "0"})
    saved = client.post(PAGE, form)

    assert bad.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in bad.content.decode()
    assert saved.status_code == 302
    rule = CurtailmentPriceRule.objects.get(site=site)
    assert (rule.enabled, rule.persist_intervals, rule.resume_intervals, rule.pool_fee_pct) == (
        True,
        3,
        4,
        Decimal("1.50"),
    )
    assert (rule.max_curtail_hours, rule.hold_minutes, rule.updated_by) == (12, 20, host_user)
