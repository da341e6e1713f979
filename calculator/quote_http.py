"""Reading a quote request and shaping its answer, shared by the Django view and the ASGI fast path.

The query is read by parsers built once from the calculate API's input serializer (the same fields, and
DRF's messages for each bad one); callers are throttled per address (anonymous) or per signed-in user.
"""

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, DecimalException

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework import fields as drf_fields

from mining_platform.core.errors import DomainError, InvalidInputError, UpstreamUnavailableError

from .serializers import CalculationRunInputSerializer
from .services.history_buffer import QuoteCaller, QuoteThrottledError

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


def quote_query_data(*, query: Mapping[str, str]) -> dict[str, object]:
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
def quote_rates(text: str) -> tuple[tuple[int, int], ...]:
    """(requests, seconds) pairs of a rate setting such as "5/s,120/min"; blank means no limit."""
    rates = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        count, _, period = part.partition("/")
        seconds = _PERIOD_SECONDS.get(period.strip()[:1])
        if not count.strip().isdigit() or seconds is None:
            raise ImproperlyConfigured(f"A quote rate is count/period with a period of s, min, h or d, not {part!r}.")
        rates.append((int(count), seconds))
    return tuple(rates)


def quote_caller(*, user_id: int | None, remote_addr: str) -> QuoteCaller:
    """Who the throttle counts: the signed-in user, else the client's address as the server gives it."""
    if user_id is None:
        return QuoteCaller(ident=f"ip:{remote_addr}", limits=quote_rates(settings.CALCULATOR_QUOTE_RATE_ANON))
    return QuoteCaller(ident=f"user:{user_id}", limits=quote_rates(settings.CALCULATOR_QUOTE_RATE_USER))


@dataclass(frozen=True)
class QuoteErrorAnswer:
    status: int
    body: bytes
    headers: dict[str, str]


def quote_error_answer(error: DomainError) -> QuoteErrorAnswer:
    """The API's error envelope for a refused quote, with Retry-After where waiting helps."""
    headers = {}
    if isinstance(error, QuoteThrottledError):
        headers["Retry-After"] = str(error.wait_seconds)
    elif isinstance(error, UpstreamUnavailableError):
        headers["Retry-After"] = str(error.retry_after_s)
    body = {"error": {"code": error.code, "message": error.message, "fields": error.fields}}
    return QuoteErrorAnswer(status=error.http_status, body=json.dumps(body).encode(), headers=headers)


def quote_cache_control() -> str:
    # The same query gives the same figures until the market cache moves on: browsers and proxies may reuse it.
    return f"public, max-age={settings.CALCULATOR_QUOTE_MAX_AGE_SECONDS}"
