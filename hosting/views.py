"""Hosting pages and API."""

from datetime import timedelta

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.choices import ALL_ROLES, OPERATOR_ROLES, ApiScope
from mining_platform.core.rbac import OPERATORS, access, roles

from .filters import MinerFilter
from .models import Miner, Site
from .selectors import miner_get_for_user, miner_list_for_user, miner_status_counts, telemetry_history
from .selectors import site_list as site_list_selector
from .serializers import MinerSerializer, SiteSerializer, TelemetryQuerySerializer, TelemetrySerializer

DEVICES_PER_PAGE = 100


@access(OPERATORS)
def site_list(request: HttpRequest) -> HttpResponse:
    return render(request, "hosting/site_list.html", {"sites": site_list_selector()})


@access(OPERATORS)
def device_list(request: HttpRequest) -> HttpResponse:
    """Miners with their live status, filterable; the host's working list for batch actions."""
    filterset = MinerFilter(request.GET, queryset=miner_list_for_user(user=request.user))
    page = Paginator(filterset.qs, DEVICES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "hosting/device_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": query.urlencode(),
            "status_counts": miner_status_counts(queryset=filterset.qs),
        },
    )


class SiteViewSet(viewsets.ReadOnlyModelViewSet[Site]):
    """Mining sites, with their power capacity, energy price and alert thresholds."""

    access_policy = roles(*OPERATOR_ROLES, scopes=[ApiScope.MINERS_READ])
    serializer_class = SiteSerializer

    def get_queryset(self) -> QuerySet[Site]:
        return site_list_selector()


class MinerViewSet(viewsets.ReadOnlyModelViewSet[Miner]):
    """Miners with their latest reading. Clients see their own miners only."""

    access_policy = roles(*ALL_ROLES, scopes=[ApiScope.MINERS_READ])
    serializer_class = MinerSerializer
    filterset_class = MinerFilter

    def get_queryset(self) -> QuerySet[Miner]:
        return miner_list_for_user(user=self.request.user)


class MinerTelemetryApi(APIView):
    """A miner's latest reading and its history: raw polls up to 6 h, then 5-minute or hourly rollups."""

    access_policy = roles(*ALL_ROLES, scopes=[ApiScope.TELEMETRY_READ])

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO 8601; default 1 hour before end"),
            OpenApiParameter("end", str, description="ISO 8601; default now"),
        ],
        responses=TelemetrySerializer,
    )
    def get(self, request: Request, miner_id: int) -> Response:
        query = TelemetryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        miner = miner_get_for_user(miner_id=miner_id, user=request.user)
        end = query.validated_data.get("end") or timezone.now()
        start = query.validated_data.get("start") or end - timedelta(hours=1)
        history = telemetry_history(miner_id=miner.pk, start=start, end=end)
        return Response(
            TelemetrySerializer({"miner": miner, "resolution": history.resolution, "points": history.points}).data
        )
