"""The quote endpoint: one cached calculation as a plain Django view, for the calculator's hot path.

`GET /api/v1/calculator/quote?<the calculate API's fields>` answers what `POST .../calculate` answers
(a `uid` instead of an `id`: the row is written a moment later, through the history buffer) with none of
DRF's request handling (calculator/quote_http.py reads the query and throttles), the answer JSON encoded
once. Anonymous requests never reach this view under ASGI: calculator/asgi_quote.py answers them first.
drf-spectacular documents DRF views only, so CalculationQuoteSchema stands for this view in the schema
(see quote_schema_endpoints).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.errors import DomainError
from mining_platform.core.rbac import PUBLIC, access

from .quote_http import quote_cache_control, quote_caller, quote_error_answer, quote_query_data
from .serializers import CalculationRunInputSerializer, CalculatorErrorSerializer
from .services.history_buffer import calculation_quote


@access(PUBLIC)
@require_GET
def calculation_quote_view(request: HttpRequest) -> HttpResponse:
    """The quote for signed-in callers (and any request the ASGI fast path leaves to Django)."""
    user = request.user
    # Anonymous callers carry no session cookie, so this reads nothing from the database for them.
    user_id = user.pk if user.is_authenticated else None
    # The client's address as the server gives it (uvicorn takes X-Forwarded-For from trusted proxies).
    caller = quote_caller(user_id=user_id, remote_addr=request.META.get("REMOTE_ADDR", ""))
    try:
        # Reading the query costs no I/O; the throttle counts the request before anything else is done.
        data = quote_query_data(query=request.GET)
        quote = calculation_quote(data=data, user_id=user_id, caller=caller, now=timezone.now())
    except DomainError as error:
        refused = quote_error_answer(error)
        return HttpResponse(
            refused.body, status=refused.status, headers=refused.headers, content_type="application/json"
        )
    response = HttpResponse(quote.body, content_type="application/json")
    response["Cache-Control"] = quote_cache_control()
    return response


class CalculationQuoteSerializer(serializers.Serializer[object]):
    """A quote: the calculate API's answer, with the uid its history row is stored under."""

    uid = serializers.UUIDField(help_text="The calculation's id; its history row is stored under it shortly after.")
    created_at = serializers.DateTimeField()
    miner_model = serializers.IntegerField(allow_null=True, help_text="The catalogue model used, if any.")
    inputs = serializers.DictField(help_text="The inputs as given.")
    market = serializers.DictField(
        help_text="btc_price_usd, difficulty, block_height and fees_per_block_btc: value, source, "
        "age_seconds, fallback, shipped_history; and as_of."
    )
    results = serializers.DictField(help_text="As the calculate API's results.")


class CalculationQuoteSchema(APIView):
    """Stands for calculation_quote_view in the API schema; never routed (see quote_schema_endpoints)."""

    access_policy = PUBLIC
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        summary="Quote a calculation (cached, public)",
        description="The calculate API's figures for the same inputs, as query parameters, for repeated and "
        "public use: served from the calculator's caches, reusable by browsers and proxies for a short while "
        "(Cache-Control), and throttled per client address (anonymous) or per user (signed in; the calculation "
        "then joins the user's history). The calculation is recorded in the history a few seconds after it is "
        "answered, under its `uid`.",
        parameters=[CalculationRunInputSerializer],
        responses={
            200: CalculationQuoteSerializer,
            400: OpenApiResponse(
                CalculatorErrorSerializer, description="A bad input (code invalid_input); `fields` names each field."
            ),
            429: OpenApiResponse(CalculatorErrorSerializer, description="Throttled (code throttled); see Retry-After."),
            503: OpenApiResponse(CalculatorErrorSerializer, description="No market data is stored at all."),
        },
    )
    def get(self, request: Request) -> Response:
        raise NotImplementedError("calculation_quote_view answers this route")


def quote_schema_endpoints(
    endpoints: list[tuple[str, str, str, Callable[..., object]]], **kwargs: object
) -> list[tuple[str, str, str, Callable[..., object]]]:
    """drf-spectacular preprocessing hook (SPECTACULAR_SETTINGS): adds the quote route, documented by its stand-in."""
    path = reverse("calculator:calculation-quote")
    return [*endpoints, (path, f"^{path.lstrip('/')}$", "GET", CalculationQuoteSchema.as_view())]
