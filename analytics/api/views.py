"""Analytics API: market and network history, indicators, signals, forecasts, status, estimates, export.

Read-only. Any signed-in user may read it, and so may an API key holding market:read.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.exports import EXPORT_SERIES, XLSX_CONTENT_TYPE, export_dataset_get, export_workbook_render
from analytics.models import (
    DifficultyAdjustment,
    Forecast,
    MarketAnalytics,
    MarketSignal,
    NetworkStats,
    PriceCandle,
    TechnicalIndicator,
)
from analytics.selectors import (
    difficulty_adjustment_list,
    forecast_list,
    market_analytics_latest,
    market_analytics_list,
    market_price_latest,
    market_signal_list,
    network_difficulty_latest,
    network_estimates_latest,
    network_stats_list,
    price_candle_list,
    technical_indicator_list,
)
from analytics.services.forecasts import forecast_sources
from mining_platform.core.cache import FALLBACK, STALE, CachedValue
from mining_platform.core.choices import ALL_ROLES, ApiScope
from mining_platform.core.errors import UpstreamUnavailableError
from mining_platform.core.rbac import roles

from .filters import (
    DifficultyAdjustmentFilter,
    ForecastFilter,
    MarketAnalyticsFilter,
    MarketSignalFilter,
    NetworkStatsFilter,
    PriceCandleFilter,
    TechnicalIndicatorFilter,
)
from .serializers import (
    AnalyticsErrorSerializer,
    DifficultyAdjustmentSerializer,
    ForecastSerializer,
    MarketAnalyticsSerializer,
    MarketSignalSerializer,
    MarketStatusSerializer,
    NetworkEstimatesSerializer,
    NetworkStatsQuerySerializer,
    NetworkStatsSerializer,
    PriceCandleQuerySerializer,
    PriceCandleSerializer,
    TechnicalIndicatorQuerySerializer,
    TechnicalIndicatorSerializer,
)

MARKET_READERS = roles(*ALL_ROLES, scopes=[ApiScope.MARKET_READ])

M = TypeVar("M", bound=Model)
T = TypeVar("T")

_ERRORS = {
    400: OpenApiResponse(
        AnalyticsErrorSerializer, description="A bad parameter (code invalid_input), named in fields."
    ),
    403: OpenApiResponse(AnalyticsErrorSerializer, description="Not signed in, or an API key without market:read."),
}


class AnalyticsPagination(LimitOffsetPagination):
    # The hourly history is 90 days (2160 candles): two pages at most.
    default_limit = 100
    max_limit = 1000


def _query(serializer_class: type[serializers.Serializer[object]], request: Request) -> Mapping[str, object]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    validated: Mapping[str, object] = query.validated_data
    return validated


class AnalyticsListViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[M]):
    access_policy = MARKET_READERS
    pagination_class = AnalyticsPagination

    def _schema_only(self) -> bool:
        # drf-spectacular calls get_queryset on a fake view with no real query.
        return bool(getattr(self, "swagger_fake_view", False))


@extend_schema_view(
    list=extend_schema(
        parameters=[PriceCandleQuerySerializer], responses={200: PriceCandleSerializer(many=True), **_ERRORS}
    )
)
class PriceCandleViewSet(AnalyticsListViewSet[PriceCandle]):
    """BTC/USD candles of one source and interval, oldest first."""

    serializer_class = PriceCandleSerializer
    filterset_class = PriceCandleFilter

    def get_queryset(self) -> QuerySet[PriceCandle]:
        if self._schema_only():
            return PriceCandle.objects.none()
        query = _query(PriceCandleQuerySerializer, self.request)
        source = str(query.get("source") or forecast_sources()[0])
        return price_candle_list(source=source, interval=str(query["interval"]))


@extend_schema_view(
    list=extend_schema(
        parameters=[TechnicalIndicatorQuerySerializer],
        responses={200: TechnicalIndicatorSerializer(many=True), **_ERRORS},
    )
)
class TechnicalIndicatorViewSet(AnalyticsListViewSet[TechnicalIndicator]):
    """RSI (14), MACD (12, 26, 9) and Bollinger bands (20, 2) of one candle series, oldest first."""

    serializer_class = TechnicalIndicatorSerializer
    filterset_class = TechnicalIndicatorFilter

    def get_queryset(self) -> QuerySet[TechnicalIndicator]:
        if self._schema_only():
            return TechnicalIndicator.objects.none()
        query = _query(TechnicalIndicatorQuerySerializer, self.request)
        return technical_indicator_list(series=str(query["series"]))


@extend_schema_view(list=extend_schema(responses={200: MarketSignalSerializer(many=True), **_ERRORS}))
class MarketSignalViewSet(AnalyticsListViewSet[MarketSignal]):
    """Signals (RSI overbought or oversold, MACD crosses, band breaks) with their reasons, newest first."""

    serializer_class = MarketSignalSerializer
    filterset_class = MarketSignalFilter

    def get_queryset(self) -> QuerySet[MarketSignal]:
        return market_signal_list()


@extend_schema_view(list=extend_schema(responses={200: ForecastSerializer(many=True), **_ERRORS}))
class ForecastViewSet(AnalyticsListViewSet[Forecast]):
    """ARIMA forecasts of price and difficulty with their daily means and intervals, newest first."""

    serializer_class = ForecastSerializer
    filterset_class = ForecastFilter

    def get_queryset(self) -> QuerySet[Forecast]:
        return forecast_list()


@extend_schema_view(
    list=extend_schema(
        parameters=[NetworkStatsQuerySerializer], responses={200: NetworkStatsSerializer(many=True), **_ERRORS}
    )
)
class NetworkStatsViewSet(AnalyticsListViewSet[NetworkStats]):
    """Difficulty, hash rate, height and fees of one network source, oldest first."""

    serializer_class = NetworkStatsSerializer
    filterset_class = NetworkStatsFilter

    def get_queryset(self) -> QuerySet[NetworkStats]:
        if self._schema_only():
            return NetworkStats.objects.none()
        query = _query(NetworkStatsQuerySerializer, self.request)
        return network_stats_list(source=str(query.get("source") or forecast_sources()[1]))


@extend_schema_view(list=extend_schema(responses={200: DifficultyAdjustmentSerializer(many=True), **_ERRORS}))
class DifficultyAdjustmentViewSet(AnalyticsListViewSet[DifficultyAdjustment]):
    """Every retarget in height order: its first block, when it was mined, and the new difficulty."""

    serializer_class = DifficultyAdjustmentSerializer
    filterset_class = DifficultyAdjustmentFilter

    def get_queryset(self) -> QuerySet[DifficultyAdjustment]:
        return difficulty_adjustment_list()


@extend_schema_view(list=extend_schema(responses={200: MarketAnalyticsSerializer(many=True), **_ERRORS}))
class MarketAnalyticsViewSet(AnalyticsListViewSet[MarketAnalytics]):
    """Aggregation runs: the robust price, volume, completeness and each source's part, newest first."""

    serializer_class = MarketAnalyticsSerializer
    filterset_class = MarketAnalyticsFilter

    def get_queryset(self) -> QuerySet[MarketAnalytics]:
        return market_analytics_list()


def _unavailable(error: str) -> dict[str, object]:
    return {
        "state": "unavailable",
        "stale": False,
        "fallback": False,
        "cache_age_seconds": None,
        "age_seconds": None,
        "error": error,
    }


def _cache_state(cached: CachedValue[T], *, at: datetime, now: datetime) -> dict[str, object]:
    return {
        "state": cached.state,
        "stale": cached.state in (STALE, FALLBACK),
        "fallback": cached.state == FALLBACK,
        "cache_age_seconds": round(cached.age_seconds, 3),
        # In replay mode the figure is from the shipped history, so this age is large on purpose.
        "age_seconds": round((now - at).total_seconds(), 3),
        "error": "",
    }


def _price_status(*, now: datetime) -> dict[str, object]:
    try:
        cached = market_price_latest()
    except UpstreamUnavailableError as exc:
        return (
            _unavailable(exc.message)
            | dict.fromkeys(("price_usd", "at", "sources_answered", "sources_asked"))
            | {"mode": ""}
        )
    price = cached.value
    return _cache_state(cached, at=price.at, now=now) | {
        "price_usd": price.price_usd,
        "at": price.at,
        "mode": price.mode,
        "sources_answered": price.sources_answered,
        "sources_asked": price.sources_asked,
    }


def _difficulty_status(*, now: datetime) -> dict[str, object]:
    try:
        cached = network_difficulty_latest()
    except UpstreamUnavailableError as exc:
        return (
            _unavailable(exc.message)
            | dict.fromkeys(("difficulty", "at", "hashrate_ths", "block_height"))
            | {"source": ""}
        )
    difficulty = cached.value
    return _cache_state(cached, at=difficulty.at, now=now) | {
        "difficulty": difficulty.difficulty,
        "at": difficulty.at,
        "source": difficulty.source,
        "hashrate_ths": difficulty.hashrate_ths,
        "block_height": difficulty.block_height,
    }


class MarketStatusApi(APIView):
    """The latest price and difficulty as the cache manager serves them, and the newest aggregation run."""

    access_policy = MARKET_READERS

    @extend_schema(
        summary="Market status",
        description="Latest BTC price and network difficulty through the cache (5 and 15 minutes), each with "
        "its age, whether it is stale or a fallback after a failed source, and the newest aggregation run with "
        "every source's last value, latency and error. A figure never obtained is `unavailable`, not an error.",
        responses={200: MarketStatusSerializer, 403: _ERRORS[403]},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        body = {
            "mode": settings.MARKET_DATA_SOURCE,
            "price": _price_status(now=now),
            "difficulty": _difficulty_status(now=now),
            "last_run": market_analytics_latest(mode=settings.MARKET_DATA_SOURCE),
        }
        return Response(MarketStatusSerializer(body).data)


class NetworkEstimatesApi(APIView):
    """The next difficulty adjustment (date and percentage) and the next halving."""

    access_policy = MARKET_READERS

    @extend_schema(
        summary="Next retarget and halving",
        description="Estimated from the current epoch's block pace in the stored history of the current data "
        "mode (the shipped files when that cannot give one), as of the last complete UTC day.",
        responses={200: NetworkEstimatesSerializer, 403: _ERRORS[403]},
    )
    def get(self, request: Request) -> Response:
        estimates = network_estimates_latest(now=timezone.now())
        progress = estimates.progress
        body = {
            "as_of": progress.as_of,
            "basis": progress.basis,
            "epoch_height": progress.epoch.height,
            "epoch_difficulty": progress.epoch.difficulty,
            "epoch_started_at": progress.started_at,
            "blocks_mined": progress.blocks_mined,
            "height": estimates.height,
            "retarget": {
                "next_height": estimates.retarget.next_height,
                "expected_at": estimates.retarget.expected_at,
                "mean_block_seconds": estimates.retarget.mean_block_seconds,
                "change_pct": estimates.retarget.change_pct,
                "next_difficulty": estimates.retarget.next_difficulty,
            },
            "halving": {
                "next_height": estimates.halving.next_height,
                "blocks_remaining": estimates.halving.blocks_remaining,
                "expected_at": estimates.halving.expected_at,
                "subsidy_now_sats": estimates.halving.subsidy_now_sats,
                "subsidy_after_sats": estimates.halving.subsidy_after_sats,
            },
        }
        return Response(NetworkEstimatesSerializer(body).data)


class ExportQuerySerializer(serializers.Serializer[object]):
    series = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=False,
        help_text=f"Repeat for several sheets. One of: {', '.join(EXPORT_SERIES)}.",
    )
    start = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive; a bare date is 00:00 UTC.")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")


class MarketSeriesExportApi(APIView):
    """Any market or network series as an Excel workbook, a sheet per series."""

    access_policy = MARKET_READERS

    @extend_schema(
        summary="Export series to Excel",
        description="A workbook with one sheet per requested series: a header row naming each column and its "
        "unit, then one typed row per point (dates as dates, numbers as numbers), times in UTC.",
        parameters=[
            OpenApiParameter(
                "series",
                str,
                many=True,
                required=True,
                enum=list(EXPORT_SERIES),
                explode=True,
                description="The series to export; repeat the parameter for several sheets.",
            ),
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601, inclusive."),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601, exclusive."),
        ],
        responses={
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The workbook."),
            **_ERRORS,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        query = ExportQuerySerializer(
            data={
                "series": request.query_params.getlist("series"),
                **{k: request.query_params[k] for k in ("start", "end") if k in request.query_params},
            }
        )
        query.is_valid(raise_exception=True)
        start = query.validated_data.get("start")
        end = query.validated_data.get("end")
        dataset = export_dataset_get(series=query.validated_data["series"], start=start, end=end)
        content = export_workbook_render(dataset=dataset)
        response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
        name = "_".join(sheet.name for sheet in dataset.sheets)
        span = "".join(f"_{moment.astimezone(UTC):%Y%m%d}" for moment in (start, end) if moment is not None)
        response["Content-Disposition"] = f'attachment; filename="{name}{span}.xlsx"'
        return response
