"""Hosting pages and API."""

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import viewsets

from mining_platform.core.choices import OPERATOR_ROLES, ApiScope
from mining_platform.core.rbac import OPERATORS, access, roles

from .models import Site
from .selectors import site_list as site_list_selector
from .serializers import SiteSerializer


@access(OPERATORS)
def site_list(request: HttpRequest) -> HttpResponse:
    return render(request, "hosting/site_list.html", {"sites": site_list_selector()})


class SiteViewSet(viewsets.ReadOnlyModelViewSet[Site]):
    """Mining sites, with their power capacity and energy price."""

    access_policy = roles(*OPERATOR_ROLES, scopes=[ApiScope.MINERS_READ])
    serializer_class = SiteSerializer

    def get_queryset(self) -> QuerySet[Site]:
        return site_list_selector()
