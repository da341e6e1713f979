"""Top navigation per role: each entry names the URL and the roles that see it."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from .choices import ALL_ROLES, OPERATOR_ROLES, STAFF_ROLES, Role


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    icon: str


_ITEMS: tuple[tuple[str, str, str, frozenset[str] | None], ...] = (
    # (label, URL name, bootstrap icon, roles that see it; None: everyone)
    ("Dashboard", "core:main", "speedometer2", frozenset({Role.CLIENT, *OPERATOR_ROLES})),
    ("Sites", "hosting:site-list", "buildings", frozenset(OPERATOR_ROLES)),
    ("Devices", "hosting:device-list", "cpu", frozenset(OPERATOR_ROLES)),
    ("Curtailment", "hosting:curtailment", "lightning-charge", frozenset(OPERATOR_ROLES)),
    ("Calculator", "calculator:page", "calculator", None),
    ("Analytics", "analytics:market", "graph-up", frozenset(ALL_ROLES)),
    ("Customers", "crm:customer-list", "people", frozenset(STAFF_ROLES)),
    ("My account", "core:account", "person-badge", frozenset({Role.CLIENT, *OPERATOR_ROLES})),
    ("Back office", "admin:index", "shield-lock", frozenset(STAFF_ROLES)),
)


def navigation_for(user: AbstractBaseUser | AnonymousUser) -> list[NavItem]:
    role = getattr(user, "role", None) if user.is_authenticated else None
    return [
        NavItem(label=label, url=reverse(name), icon=icon)
        for label, name, icon, allowed in _ITEMS
        if allowed is None or (role is not None and role in allowed)
    ]
