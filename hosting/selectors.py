"""Reads of hosting data."""

from django.db.models import QuerySet

from .models import Site


def site_list() -> QuerySet[Site]:
    """Every site, by name (sites are the operator's own; clients reach them through their miners)."""
    return Site.objects.order_by("name")
