"""Route access policies: every route declares exactly one, and one middleware enforces it.

A view declares its policy with `@access(...)` (functions), an `access_policy` attribute (class-based
views and DRF views), or, for routes of third-party apps, an entry in `THIRD_PARTY_POLICIES`. A route
without a policy is refused (and `tests/test_route_policies.py` fails), so nothing is public by accident.
DRF views are checked by `HasAccessPolicy` instead, because API keys authenticate inside DRF.
"""

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch
from django.views.defaults import permission_denied

from .choices import ALL_ROLES, OPERATOR_ROLES, STAFF_ROLES, ApiScope, Role


class PolicyKind(enum.StrEnum):
    PUBLIC = "public"
    LOGGED_IN = "logged_in"
    ROLES = "roles"
    API_KEY = "api_key"


@dataclass(frozen=True)
class AccessPolicy:
    """Who may use a route: anyone, any signed-in user, a set of roles, or API keys with scopes.

    `scopes` lets an API key in as well, when the key holds every listed scope and its owner holds
    one of `roles`; `PolicyKind.API_KEY` routes accept API keys only.
    """

    kind: PolicyKind
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    def allows_role(self, role: str) -> bool:
        if self.kind in (PolicyKind.PUBLIC, PolicyKind.LOGGED_IN):
            return True
        return role in self.roles

    def allows_key_scopes(self, scopes: Iterable[str]) -> bool:
        return bool(self.scopes) and self.scopes.issubset(set(scopes))

    def describe(self) -> str:
        if self.kind in (PolicyKind.PUBLIC, PolicyKind.LOGGED_IN):
            return self.kind.value
        parts = []
        if self.kind == PolicyKind.ROLES:
            parts.append("roles " + ",".join(sorted(self.roles)))
        if self.scopes:
            parts.append("api key " + ",".join(sorted(self.scopes)))
        return "; ".join(parts)


PUBLIC = AccessPolicy(PolicyKind.PUBLIC)
LOGGED_IN = AccessPolicy(PolicyKind.LOGGED_IN)


def roles(*allowed: Role, scopes: Iterable[ApiScope] = ()) -> AccessPolicy:
    """Signed-in users holding one of `allowed` (and, with `scopes`, API keys of such users)."""
    return AccessPolicy(PolicyKind.ROLES, frozenset(allowed), frozenset(scopes))


def api_key(*scopes: ApiScope, owner_roles: Iterable[Role] = ALL_ROLES) -> AccessPolicy:
    """API keys only, holding every one of `scopes`."""
    return AccessPolicy(PolicyKind.API_KEY, frozenset(owner_roles), frozenset(scopes))


STAFF = roles(*STAFF_ROLES)
OPERATORS = roles(*OPERATOR_ROLES)
ANY_ROLE = roles(*ALL_ROLES)

# Third-party routes, keyed by (URL namespace, URL name); "*" matches any name in the namespace.
THIRD_PARTY_POLICIES: dict[tuple[str, str], AccessPolicy] = {
    ("admin", "login"): PUBLIC,
    ("admin", "logout"): PUBLIC,
    ("admin", "*"): STAFF,
    # django-allauth (no namespace): public pages of the sign-in flow...
    ("", "account_login"): PUBLIC,
    ("", "account_signup"): PUBLIC,
    ("", "account_logout"): PUBLIC,
    ("", "account_inactive"): PUBLIC,
    ("", "account_email_verification_sent"): PUBLIC,
    ("", "account_confirm_email"): PUBLIC,
    ("", "account_reset_password"): PUBLIC,
    ("", "account_reset_password_done"): PUBLIC,
    ("", "account_reset_password_from_key"): PUBLIC,
    ("", "account_reset_password_from_key_done"): PUBLIC,
    ("", "account_confirm_login_code"): PUBLIC,
    # ...and the pages that manage a signed-in account.
    ("", "account_email"): LOGGED_IN,
    ("", "account_change_password"): LOGGED_IN,
    ("", "account_set_password"): LOGGED_IN,
    ("", "account_reauthenticate"): LOGGED_IN,
}

_V = TypeVar("_V", bound=Callable[..., HttpResponse])


def access(policy: AccessPolicy) -> Callable[[_V], _V]:
    """Declare the access policy of a function view."""

    def decorate(view: _V) -> _V:
        view.access_policy = policy  # type: ignore[attr-defined]  # read by policy_for_view
        return view

    return decorate


def policy_for_view(func: Callable[..., object], *, namespace: str, url_name: str | None) -> AccessPolicy | None:
    """The policy declared for a resolved view, or None when it declares none."""
    for holder in (func, getattr(func, "view_class", None), getattr(func, "cls", None)):
        policy = getattr(holder, "access_policy", None)
        if isinstance(policy, AccessPolicy):
            return policy
    found = THIRD_PARTY_POLICIES.get((namespace, url_name or ""))
    if found is None and namespace:
        found = THIRD_PARTY_POLICIES.get((namespace, "*"))
    return found


def is_drf_view(func: Callable[..., object]) -> bool:
    return getattr(func, "cls", None) is not None


def policy_for_match(match: ResolverMatch) -> AccessPolicy | None:
    return policy_for_view(match.func, namespace=match.namespace, url_name=match.url_name)


def request_role(request: HttpRequest) -> str | None:
    user = request.user
    if not user.is_authenticated:
        return None
    return str(getattr(user, "role", ""))


class AccessPolicyMiddleware:
    """Enforces the declared policy of every non-DRF route; refuses routes that declare none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: object, view_kwargs: object
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None:
            return None
        policy = policy_for_match(match)
        if policy is None:
            return permission_denied(request, PermissionDenied("This route declares no access policy."))
        if is_drf_view(view_func):
            return None  # HasAccessPolicy checks it after DRF authentication
        if policy.kind == PolicyKind.PUBLIC:
            return None
        role = request_role(request)
        if role is None:
            login_url = "admin:login" if match.namespace == "admin" else settings.LOGIN_URL
            return redirect_to_login(request.get_full_path(), login_url)
        if policy.kind == PolicyKind.API_KEY or not policy.allows_role(role):
            return permission_denied(request, PermissionDenied("Your role may not open this page."))
        return None
