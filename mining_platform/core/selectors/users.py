"""Reads about users and their credentials."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from mining_platform.core.errors import PermissionDeniedError
from mining_platform.core.models import ApiKey, User, Wallet


@dataclass(frozen=True)
class AccountSummary:
    user: User
    customer_name: str | None
    wallets: list[Wallet]
    api_keys: list[ApiKey]


def account_summary_for_user(*, user: AbstractBaseUser | AnonymousUser) -> AccountSummary:
    """The signed-in user's own profile, wallets and API keys."""
    if not isinstance(user, User):
        raise PermissionDeniedError("Sign in to see your account.")
    return AccountSummary(
        user=user,
        customer_name=user.customer.name if user.customer is not None else None,
        wallets=list(user.wallets.order_by("created_at")),
        api_keys=list(user.api_keys.order_by("-created_at")),
    )
