"""History charts' data: `GET /hosting/api/series?scope=site|client|miner&id=<id>&range=1h|6h|24h|7d|30d`.

The answer, for Chart.js as it is (times in epoch milliseconds, UTC):
`{"scope", "id", "range", "start", "end", "resolution", "points": [{"t", "hashrate_ths", "power_kw",
"temp_max_c", "online_share", "miners"}, ...]}`; errors in the API's envelope (400, 403, 404).
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.choices import ALL_ROLES, ApiScope
from mining_platform.core.errors import PermissionDeniedError
from mining_platform.core.rbac import roles

from .live.scopes import SCOPE_KINDS, SCOPE_MINER, live_scope_authorize, live_scope_parse
from .selectors_series import SERIES_RANGES, SeriesPoint, telemetry_series
from .serializers import ApiErrorSerializer


def _user_id(request: Request) -> int:
    user_id = getattr(request.user, "pk", None)
    if not isinstance(user_id, int):
        raise PermissionDeniedError("Sign in first.")
    return user_id


class SeriesQuerySerializer(serializers.Serializer[object]):
    scope = serializers.ChoiceField(choices=SCOPE_KINDS)
    id = serializers.CharField(required=False, allow_blank=True, default="")  # read by live_scope_parse
    range = serializers.ChoiceField(choices=list(SERIES_RANGES), default="24h")


class SeriesPointSerializer(serializers.Serializer[SeriesPoint]):
    t = serializers.SerializerMethodField(help_text="Start of the point, epoch milliseconds UTC.")
    hashrate_ths = serializers.FloatField()
    power_kw = serializers.FloatField()
    temp_max_c = serializers.FloatField(allow_null=True, help_text="Hottest board of the miners that answered.")
    online_share = serializers.FloatField(allow_null=True, help_text="Answered polls / polls, 0-1.")
    miners = serializers.IntegerField(help_text="Miners that answered.")

    def get_t(self, point: SeriesPoint) -> int:
        return int(point.t.timestamp() * 1000)

    def to_representation(self, instance: SeriesPoint) -> dict[str, object]:
        data = dict(super().to_representation(instance))
        for name in ("hashrate_ths", "power_kw", "temp_max_c", "online_share"):
            value = data[name]
            if isinstance(value, float):
                data[name] = round(value, 4)
        return data


class SeriesSerializer(serializers.Serializer[object]):
    scope = serializers.CharField()
    id = serializers.IntegerField()
    range = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    resolution = serializers.CharField(help_text='"raw" (per collection run), "5m" or "1h" (rollups).')
    points = SeriesPointSerializer(many=True)


class TelemetrySeriesApi(APIView):
    """Hashrate, power, temperature and online share of a site, a client's miners or one miner over a range."""

    access_policy = roles(*ALL_ROLES, scopes=[ApiScope.TELEMETRY_READ])

    @extend_schema(
        summary="History series of a site, a client's miners or one miner",
        description="Summed over the scope's miners: raw polls up to 6 h (a point per collection run), "
        "5-minute rollups up to 3 days, hourly ones beyond; the buckets after the newest rollup come from "
        "raw polls, so the series reaches the latest collection. Clients may read their own customer "
        "(id empty or null) and their own miners only.",
        parameters=[
            OpenApiParameter("scope", str, enum=list(SCOPE_KINDS), required=True),
            OpenApiParameter("id", int, description="Site, customer or miner id; empty for a client's own customer"),
            OpenApiParameter("range", str, enum=list(SERIES_RANGES), default="24h"),
        ],
        responses={
            200: SeriesSerializer,
            400: OpenApiResponse(ApiErrorSerializer, description="Unknown scope or range, or no id."),
            403: OpenApiResponse(
                ApiErrorSerializer, description="A scope of another customer, or a site for a client."
            ),
            404: OpenApiResponse(ApiErrorSerializer, description="No such site or miner, or not one of the caller's."),
        },
    )
    def get(self, request: Request) -> Response:
        query = SeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # The websocket's own reading and check, so a chart and the live rows beside it follow one rule
        # (an empty or "null" id names a client's own customer).
        kind, scope_id = live_scope_parse(kind=query.validated_data["scope"], scope_id=query.validated_data["id"])
        scope = live_scope_authorize(user_id=_user_id(request), kind=kind, scope_id=scope_id)
        end = timezone.now()
        start = end - SERIES_RANGES[query.validated_data["range"]]
        series = telemetry_series(
            miner_ids=[scope.id] if scope.kind == SCOPE_MINER else None,
            site_id=scope.site_id if scope.kind != SCOPE_MINER else None,
            customer_id=scope.customer_id if scope.kind != SCOPE_MINER else None,
            start=start,
            end=end,
        )
        data = {
            "scope": scope.kind,
            "id": scope.id,
            "range": query.validated_data["range"],
            "start": series.start,
            "end": series.end,
            "resolution": series.resolution,
            "points": series.points,
        }
        return Response(SeriesSerializer(data).data)
