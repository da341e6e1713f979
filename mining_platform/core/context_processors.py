"""Template context every page shares: site name, version and the navigation for the user's role."""

from django.conf import settings
from django.http import HttpRequest

from .navigation import NavItem, navigation_for


def platform(request: HttpRequest) -> dict[str, object]:
    nav: list[NavItem] = navigation_for(request.user)
    return {
        "site_name": settings.SITE_NAME,
        "platform_version": settings.PLATFORM_VERSION,
        "nav_items": nav,
    }
