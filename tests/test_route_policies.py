"""Every route declares an access policy, and each policy lets in exactly the roles it names."""

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from chain.models import OutboxEvent
from crm.models import Customer
from hosting.models import Site
from hosting.tests.factories import MinerFactory
from mining_platform.core.choices import ApiScope, Role
from mining_platform.core.models import User
from mining_platform.core.rbac import AccessPolicy, PolicyKind, is_drf_view, policy_for_view
from mining_platform.core.services.api_keys import api_key_issue

from .routes import Route, iter_routes

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def _policy(route: Route) -> AccessPolicy | None:
    return policy_for_view(route.callback, namespace=route.namespace, url_name=route.name)


def test_every_route_declares_an_access_policy() -> None:
    missing = [route.pattern for route in iter_routes() if _policy(route) is None]

    assert missing == [], f"routes without an access policy: {missing}"


def _sample_kwargs(route: Route, objects: dict[str, int]) -> dict[str, object] | None:
    """URL arguments for a route: ids of rows every allowed role may see, dummies for tokens."""
    samples: dict[str, object] = {
        "key": "bad-key",
        "uidb36": "0",
        "pk": objects.get(route.pattern, 0),
        "miner_id": objects["miner"],
    }
    if any(c not in samples for c in route.converters):
        return None
    return {c: samples[c] for c in route.converters}


def _walked_routes(objects: dict[str, int]) -> list[tuple[Route, str, AccessPolicy]]:
    walked = []
    for route in iter_routes():
        policy = _policy(route)
        if route.qualified_name is None or policy is None:
            continue
        if route.namespace == "admin" and route.name not in ("index", "login", "core_user_changelist"):
            continue  # one sample stands for the admin's own views, which share one policy
        kwargs = _sample_kwargs(route, objects)
        if kwargs is None:
            continue
        try:
            url = reverse(route.qualified_name, kwargs=kwargs or None)
        except NoReverseMatch:
            continue
        walked.append((route, url, policy))
    return walked


def _is_login_redirect(response: object) -> bool:
    status = getattr(response, "status_code", 0)
    location = getattr(response, "headers", {}).get("Location", "")
    return status == 302 and location.startswith(LOGIN_PATHS)


@pytest.fixture
def route_objects(customer: Customer, site: Site) -> dict[str, int]:
    miner = MinerFactory.create(site=site, customer=customer)
    event = OutboxEvent.objects.create(
        event_type="site.created",
        aggregate_type="site",
        aggregate_id=str(site.pk),
        created_at=timezone.now(),
        available_at=timezone.now(),
    )
    return {
        "api/v1/crm/^customers/(?P<pk>[^/.]+)/$": customer.pk,
        "api/v1/hosting/^sites/(?P<pk>[^/.]+)/$": site.pk,
        "api/v1/chain/^outbox-events/(?P<pk>[^/.]+)/$": event.pk,
        "api/v1/hosting/^miners/(?P<pk>[^/.]+)/$": miner.pk,
        "miner": miner.pk,
    }


@pytest.mark.django_db
def test_anonymous_visitors_reach_only_public_routes(route_objects: dict[str, int]) -> None:
    client = APIClient()
    wrong = []

    for route, url, policy in _walked_routes(route_objects):
        response = client.get(url)
        if policy.kind == PolicyKind.PUBLIC:
            # A public page may still send a visitor to sign in as part of its own flow.
            ok = response.status_code not in (401, 403)
        elif is_drf_view(route.callback):
            ok = response.status_code in (401, 403)
        else:
            ok = _is_login_redirect(response)
        if not ok:
            wrong.append((url, policy.describe(), response.status_code))

    assert wrong == []


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_the_routes_its_policies_name(
    role: Role, role_users: dict[str, User], route_objects: dict[str, int]
) -> None:
    client = APIClient()
    client.force_login(role_users[role])
    wrong = []

    for _route, url, policy in _walked_routes(route_objects):
        response = client.get(url)
        allowed = policy.kind != PolicyKind.API_KEY and policy.allows_role(role)
        denied = response.status_code == 403
        if allowed and (denied or _is_login_redirect(response)):
            wrong.append((url, policy.describe(), "refused", response.status_code))
        if not allowed and not denied:
            wrong.append((url, policy.describe(), "let in", response.status_code))

    assert wrong == []


@pytest.mark.django_db
def test_api_keys_reach_routes_only_with_every_scope_the_policy_names(
    host_user: User, route_objects: dict[str, int]
) -> None:
    scoped = [(r, url, p) for r, url, p in _walked_routes(route_objects) if is_drf_view(r.callback) and p.scopes]
    assert scoped, "no API route accepts API keys; the walk would prove nothing"
    wrong = []

    for _route, url, policy in scoped:
        owner_allowed = policy.allows_role(host_user.role)
        with_scopes = api_key_issue(
            owner=host_user, name="with", scopes=policy.scopes, expires_at=None, now=timezone.now()
        )
        other_scopes = [s for s in ApiScope.values if s not in policy.scopes]
        without = api_key_issue(
            owner=host_user, name="without", scopes=other_scopes, expires_at=None, now=timezone.now()
        )
        granted = APIClient().get(url, HTTP_AUTHORIZATION=f"Api-Key {with_scopes.raw_key}")
        refused = APIClient().get(url, HTTP_AUTHORIZATION=f"Api-Key {without.raw_key}")
        if (granted.status_code == 403) == owner_allowed:
            wrong.append((url, "with scopes", granted.status_code))
        if refused.status_code != 403:
            wrong.append((url, "without scopes", refused.status_code))

    assert wrong == []


@pytest.mark.django_db
def test_the_walk_reaches_every_named_route_outside_the_admin(route_objects: dict[str, int]) -> None:
    walked = {route.pattern for route, _url, _policy in _walked_routes(route_objects)}

    missed = [
        route.pattern
        for route in iter_routes()
        if route.namespace != "admin" and route.name is not None and route.pattern not in walked
    ]

    assert missed == [], "give these routes sample URL arguments in _sample_kwargs"
