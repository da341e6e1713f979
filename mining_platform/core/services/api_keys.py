"""API keys: issue (shown once), authenticate, revoke."""

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from mining_platform.core.choices import ApiScope
from mining_platform.core.errors import AuthenticationFailedError, InvalidInputError, NotFoundError
from mining_platform.core.models import ApiKey, User

KEY_TAG = "mpk"  # makes leaked keys easy to spot by secret scanners
PREFIX_BYTES = 6
SECRET_BYTES = 32
# last_used_at is written at most this often per key, so busy keys do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to its owner once; never stored


def _hash(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(raw_key: str) -> tuple[str, str]:
    tag, _, rest = raw_key.partition("_")
    prefix, _, secret = rest.partition("_")
    if tag != KEY_TAG or not prefix or not secret:
        raise AuthenticationFailedError("The API key is malformed.")
    return prefix, secret


@transaction.atomic  # not durable: the admin calls it inside its own change-form transaction
def api_key_issue(
    *, owner: User, name: str, scopes: Iterable[str], expires_at: datetime | None, now: datetime
) -> IssuedApiKey:
    """Create a key for `owner`; the raw key is returned once and only its hash is kept."""
    scope_list = sorted(set(scopes))
    unknown = [s for s in scope_list if s not in ApiScope.values]
    if unknown:
        raise InvalidInputError(fields={"scopes": [f"unknown scope {s!r}" for s in unknown]})
    if not scope_list:
        raise InvalidInputError(fields={"scopes": ["give at least one scope"]})
    if expires_at is not None and expires_at <= now:
        raise InvalidInputError(fields={"expires_at": ["must be in the future"]})
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    api_key = ApiKey(
        owner=owner,
        name=name,
        prefix=prefix,
        key_hash=_hash(secret),
        scopes=scope_list,
        expires_at=expires_at,
    )
    api_key.full_clean()
    api_key.save()
    return IssuedApiKey(api_key=api_key, raw_key=f"{KEY_TAG}_{prefix}_{secret}")


def api_key_authenticate(*, raw_key: str, now: datetime) -> ApiKey:
    """The live key matching `raw_key`; raises AuthenticationFailedError naming why it is refused."""
    prefix, secret = _parse(raw_key)
    api_key = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(secret)):
        raise AuthenticationFailedError("The API key is not valid.")
    if api_key.revoked_at is not None:
        raise AuthenticationFailedError("The API key has been revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise AuthenticationFailedError("The API key has expired.")
    if not api_key.owner.is_active:
        raise AuthenticationFailedError("The owner of this API key is inactive.")
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


@transaction.atomic  # not durable: admin actions may run inside a transaction
def api_key_revoke(*, api_key_id: int, now: datetime) -> ApiKey:
    """Revoke a key; revoking twice keeps the first revocation time."""
    api_key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
    if api_key is None:
        raise NotFoundError(f"API key {api_key_id} does not exist.")
    if api_key.revoked_at is None:
        api_key.revoked_at = now
        api_key.save(update_fields=["revoked_at"])
    return api_key
