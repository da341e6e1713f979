"""The quote endpoint: one cached calculation as a plain Django view, for the calculator's hot path.

`GET /api/v1/calculator/quote?<the calculate API's fields>` answers what `POST .../calculate` answers
(a `uid` instead of an `id`: the row is written a moment later, through the history buffer) with none of
DRF's request handling: the query is read by parsers built once from the calculate API's input
serializer (the same fields, and DRF's messages for each bad one), callers are throttled by a Redis
counter per client (anonymous, by address) or per signed-in user, and the answer is JSON encoded once.
drf-spectacular documents DRF views only, so CalculationQuoteSchema stands for this view in the schema
(see quote_schema_endpoints).
"""

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, DecimalException

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import fields as drf_fields
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.errors import DomainError, InvalidInputError, UpstreamUnavailableError
from mining_platform.core.rbac import PUBLIC, access

from .serializers import CalculationRunInputSerializer, CalculatorErrorSerializer
from .services.history_buffer import QuoteCaller, QuoteThrottledError, calculation_quote

_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# As DRF's IntegerField: "12.0" is 12, "12.5" is not an integer.
_INTEGER_ZEROS = re.compile(r"\.0*\s*$")


class _BadValueError(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class _Param:
    """How one query parameter is read: as the calculate API's serializer field of the same name reads it."""

    name: str
    read: Callable[[str], object]
    required: bool
    blank_is_null: bool  # a blank value means "not given" (the field's allow_null)
    required_message: str


def _decimal_reader(field: drf_fields.DecimalField) -> Callable[[str], object]:
    invalid, too_long = str(field.error_messages["invalid"]), str(field.error_messages["max_string_length"])

    def read(text: str) -> object:
        text = text.strip()
        if len(text) > field.MAX_STRING_LENGTH:
            raise _BadValueError(too_long)
        try:
            value = Decimal(text)
        except DecimalException:
            raise _BadValueError(invalid) from None
        if not value.is_finite():
            raise _BadValueError(invalid)
        return value

    return read


def _integer_reader(field: drf_fields.IntegerField) -> Callable[[str], object]:
    invalid, too_long = str(field.error_messages["invalid"]), str(field.error_messages["max_string_length"])

    def read(text: str) -> object:
        if len(text) > field.MAX_STRING_LENGTH:
            raise _BadValueError(too_long)
        try:
            return int(_INTEGER_ZEROS.sub("", text))
        except ValueError:
            raise _BadValueError(invalid) from None

    return read


def _choice_reader(field: drf_fields.ChoiceField) -> Callable[[str], object]:
    values = dict(field.choice_strings_to_values)
    invalid = str(field.error_messages["invalid_choice"])

    def read(text: str) -> object:
        if text in values:
            return values[text]
        raise _BadValueError(invalid.format(input=text))

    return read


@functools.cache
def _params() -> tuple[_Param, ...]:
    """One reader per field of the calculate API's input, built once per process."""
    params = []
    for name, field in CalculationRunInputSerializer().fields.items():
        read: Callable[[str], object]
        if isinstance(field, drf_fields.DecimalField):
            read = _decimal_reader(field)
            blank_is_null = field.allow_null  # DRF's DecimalField takes a blank value for null when it may be
        elif isinstance(field, drf_fields.IntegerField):
            read, blank_is_null = _integer_reader(field), False
        elif isinstance(field, drf_fields.ChoiceField):
            read, blank_is_null = _choice_reader(field), False
        else:
            raise TypeError(f"the quote cannot read {name} ({type(field).__name__}) from a query")
        params.append(_Param(name, read, field.required, blank_is_null, str(field.error_messages["required"])))
    return tuple(params)


def _query_data(*, query: Mapping[str, str]) -> dict[str, object]:
    """The calculate API's validated fields from query parameters; InvalidInputError naming every bad one."""
    data: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for param in _params():
        text = query.get(param.name)
        if text is None:
            if param.required:
                errors[param.name] = [param.required_message]
            continue
        if param.blank_is_null and not text.strip():
            data[param.name] = None
            continue
        try:
            data[param.name] = param.read(text)
        except _BadValueError as bad:
            errors[param.name] = [bad.message]
    if errors:
        # As DRF's validation errors reach the API's envelope (mining_platform/core/api/exception_handler.py).
        raise InvalidInputError("The input is not valid.", fields=errors)
    return data


@functools.cache
def _rates(text: str) -> tuple[tuple[int, int], ...]:
    """(requests, seconds) pairs of a rate setting such as "5/s,120/min"; blank means no limit."""
    rates = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        count, _, period = part.partition("/")
        seconds = _PERIOD_SECONDS.get(period.strip()[:1])
        if not count.strip().isdigit() or seconds is None:
            raise ImproperlyConfigured(f"A quote rate is count/period with a period of s, min, h or d, not {part!r}.")
        rates.append((int(count), seconds))
    return tuple(rates)


def _error(error: DomainError, *, headers: Mapping[str, str] | None = None) -> JsonResponse:
    body = {"error": {"code": error.code, "message": error.message, "fields": error.fields}}
    return JsonResponse(body, status=error.http_status, headers=headers)


@access(PUBLIC)
@require_GET
def calculation_quote_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    # Anonymous callers carry no session cookie, so this reads nothing from the database for them.
    user_id = user.pk if user.is_authenticated else None
    if user_id is None:
        # The client's address as the server gives it (uvicorn takes X-Forwarded-For from trusted proxies).
        caller = QuoteCaller(
            ident=f"ip:{request.META.get('REMOTE_ADDR', '')}", limits=_rates(settings.CALCULATOR_QUOTE_RATE_ANON)
        )
    else:
        caller = QuoteCaller(ident=f"user:{user_id}", limits=_rates(settings.CALCULATOR_QUOTE_RATE_USER))
    try:
        # Reading the query costs no I/O; the throttle counts the request before anything else is done.
        data = _query_data(query=request.GET)
        quote = calculation_quote(data=data, user_id=user_id, caller=caller, now=timezone.now())
    except QuoteThrottledError as error:
        return _error(error, headers={"Retry-After": str(error.wait_seconds)})
    except UpstreamUnavailableError as error:
        return _error(error, headers={"Retry-After": str(error.retry_after_s)})
    except DomainError as error:
        return _error(error)
    response = HttpResponse(quote.body, content_type="application/json")
    # The same query gives the same figures until the market cache moves on: browsers and proxies may reuse it.
    response["Cache-Control"] = f"public, max-age={settings.CALCULATOR_QUOTE_MAX_AGE_SECONDS}"
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
