from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from mining_platform.core.choices import ApiScope
from mining_platform.core.errors import AuthenticationFailedError, InvalidInputError
from mining_platform.core.models import ApiKey, User
from mining_platform.core.services.api_keys import api_key_authenticate, api_key_issue, api_key_revoke

ME = "/api/v1/me/"


def _issue(user: User, **overrides: object) -> tuple[ApiKey, str]:
    fields: dict[str, object] = {"name": "telemetry bridge", "scopes": [ApiScope.TELEMETRY_READ], "expires_at": None}
    fields.update(overrides)
    issued = api_key_issue(owner=user, now=timezone.now(), **fields)  # type: ignore[arg-type]
    return issued.api_key, issued.raw_key


def _get(raw_key: str, path: str = ME) -> object:
    return APIClient().get(path, HTTP_AUTHORIZATION=f"Api-Key {raw_key}")


@pytest.mark.django_db
def test_api_key_issue_stores_only_a_hash_and_a_visible_prefix(host_user: User) -> None:
    api_key, raw_key = _issue(host_user)

    secret = raw_key.split("_", 2)[2]
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert raw_key.startswith(f"mpk_{api_key.prefix}_")
    assert all(secret not in str(value) for value in stored.values())
    assert len(api_key.key_hash) == 64


@pytest.mark.django_db
def test_api_key_authenticates_as_its_owner_with_its_scopes(host_user: User) -> None:
    _api_key, raw_key = _issue(host_user, scopes=[ApiScope.TELEMETRY_READ, ApiScope.MINERS_CONTROL])

    response = _get(raw_key)

    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["id"] == host_user.pk
    assert sorted(body["scopes"]) == ["miners:control", "telemetry:read"]


@pytest.mark.django_db
def test_api_key_use_records_last_used_time(host_user: User) -> None:
    api_key, raw_key = _issue(host_user)

    _get(raw_key)

    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "expected"),
    [("revoked", "revoked"), ("expired", "expired"), ("wrong_secret", "not valid"), ("malformed", "malformed")],
)
def test_api_key_is_refused_with_a_reason(host_user: User, case: str, expected: str) -> None:
    api_key, raw_key = _issue(host_user)
    if case == "revoked":
        api_key_revoke(api_key_id=api_key.pk, now=timezone.now())
    elif case == "expired":
        ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "wrong_secret":
        raw_key = raw_key[:-4] + "AAAA"
    else:
        raw_key = "not-a-key"

    response = _get(raw_key)

    assert response.status_code == 401  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "authentication_failed"
    assert expected in error["message"]


@pytest.mark.django_db
def test_api_key_of_an_inactive_owner_is_refused(host_user: User) -> None:
    _api_key, raw_key = _issue(host_user)
    User.objects.filter(pk=host_user.pk).update(is_active=False)

    with pytest.raises(AuthenticationFailedError, match="inactive"):
        api_key_authenticate(raw_key=raw_key, now=timezone.now())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"scopes": ["telemetry:write"]}, "scopes"), ({"scopes": []}, "scopes"), ({"expires_at": "past"}, "expires_at")],
)
def test_api_key_issue_rejects_bad_input_and_writes_nothing(
    host_user: User, overrides: dict[str, object], field: str
) -> None:
    if overrides.get("expires_at") == "past":
        overrides["expires_at"] = timezone.now() - timedelta(days=1)

    with pytest.raises(InvalidInputError) as excinfo:
        _issue(host_user, **overrides)

    assert field in excinfo.value.fields
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_api_key_revoke_keeps_the_first_revocation_time(host_user: User) -> None:
    api_key, _raw = _issue(host_user)
    first = api_key_revoke(api_key_id=api_key.pk, now=timezone.now() - timedelta(hours=1)).revoked_at

    second = api_key_revoke(api_key_id=api_key.pk, now=timezone.now()).revoked_at

    assert first == second


@pytest.mark.django_db
def test_admin_shows_a_new_key_once_and_revokes_it(owner_user: User, host_user: User) -> None:
    client = APIClient()
    client.force_login(owner_user)

    response = client.post(
        reverse("admin:core_apikey_add"),
        {"name": "pool bridge", "owner": host_user.pk, "scopes": ["telemetry:read"], "expires_at": ""},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    raw_key = next(m.split(": ", 1)[1] for m in messages if "will not be shown again" in m)
    assert _get(raw_key).status_code == 200  # type: ignore[attr-defined]
    api_key = ApiKey.objects.get(name="pool bridge")
    client.post(
        reverse("admin:core_apikey_changelist"),
        {"action": "revoke", "_selected_action": [api_key.pk]},
    )
    assert _get(raw_key).status_code == 401  # type: ignore[attr-defined]
    change_page = client.get(reverse("admin:core_apikey_change", args=[api_key.pk])).content.decode()
    assert raw_key.split("_", 2)[2] not in change_page


@pytest.mark.django_db
def test_api_key_rate_limit_applies_per_key(host_user: User) -> None:
    _k1, first = _issue(host_user, name="first")
    _k2, second = _issue(host_user, name="second")
    rates = {"api_key": "3/min", "anon": "100/min", "user": "100/min"}

    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [_get(first).status_code for _ in range(4)]  # type: ignore[attr-defined]
        other = _get(second).status_code  # type: ignore[attr-defined]
        limited = _get(first)

    assert statuses == [200, 200, 200, 429]
    assert other == 200
    assert limited.json()["error"]["code"] == "throttled"  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_anonymous_rate_limit_applies_per_ip() -> None:
    rates = {"api_key": "100/min", "anon": "2/min", "user": "100/min"}
    schema = reverse("api-schema")

    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        here = [APIClient().get(schema, REMOTE_ADDR="10.0.0.1").status_code for _ in range(3)]
        elsewhere = APIClient().get(schema, REMOTE_ADDR="10.0.0.2").status_code

    assert here == [200, 200, 429]
    assert elsewhere == 200


def _rest_framework() -> dict[str, object]:
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)
