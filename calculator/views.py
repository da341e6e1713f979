"""Calculator API: the public miner model catalogue, single calculations and a user's history."""

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.models import User
from mining_platform.core.rbac import LOGGED_IN, PUBLIC

from .models import CalculationHistory, MinerModel
from .selectors import calculation_history_list_for_user, miner_model_list
from .serializers import (
    CalculationRunInputSerializer,
    CalculationSerializer,
    CalculatorErrorSerializer,
    MinerModelSerializer,
)
from .services.calculation import calculation_run


class MinerModelViewSet(viewsets.ReadOnlyModelViewSet[MinerModel]):
    """ASIC models with their nominal hashrate, power and efficiency (public, like the calculator)."""

    access_policy = PUBLIC
    serializer_class = MinerModelSerializer
    filterset_fields = ["make"]

    def get_queryset(self) -> QuerySet[MinerModel]:
        return miner_model_list()


_ERROR_400 = OpenApiResponse(
    CalculatorErrorSerializer, description="A bad input (code invalid_input); `fields` names each bad field."
)


class CalculationRunApi(APIView):
    """Run one profitability calculation at the current market and save it."""

    access_policy = PUBLIC

    @extend_schema(
        summary="Calculate profitability",
        description="Anyone may calculate (anonymous callers are rate limited). Pick `miner_model_id` from the "
        "catalogue or give `hashrate_ths` and `power_w`. The answer holds the key figures, the projection summary "
        "and every market figure with its source and age; the calculation is saved (for the user when signed in, "
        "with no personal data otherwise).",
        request=CalculationRunInputSerializer,
        responses={
            201: CalculationSerializer,
            400: _ERROR_400,
            503: OpenApiResponse(CalculatorErrorSerializer, description="No market data is stored at all."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = CalculationRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user if isinstance(request.user, User) else None
        row = calculation_run(data=serializer.validated_data, user=user, now=timezone.now())
        return Response(CalculationSerializer(row).data, status=status.HTTP_201_CREATED)


class CalculationHistoryListApi(generics.ListAPIView[CalculationHistory]):
    """The signed-in user's own saved calculations, newest first."""

    access_policy = LOGGED_IN
    serializer_class = CalculationSerializer

    @extend_schema(
        summary="My calculation history",
        responses={
            200: CalculationSerializer(many=True),
            401: OpenApiResponse(CalculatorErrorSerializer, description="Not signed in (not_authenticated)."),
        },
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[CalculationHistory]:
        if getattr(self, "swagger_fake_view", False) or not isinstance(self.request.user, User):
            # drf-spectacular builds the schema on a fake view with no signed-in user.
            return CalculationHistory.objects.none()
        return calculation_history_list_for_user(user=self.request.user)
