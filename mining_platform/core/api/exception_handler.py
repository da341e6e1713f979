"""One error envelope for the REST API: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from mining_platform.core.errors import DomainError, UpstreamUnavailableError

logger = logging.getLogger(__name__)


def _envelope(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def domain_error_json(error: DomainError) -> JsonResponse:
    """The envelope for a plain Django view's JSON endpoint (DRF views get it from the handler below)."""
    return JsonResponse(_envelope(error.code, error.message, error.fields), status=error.http_status)


def _drf_fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for name, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _drf_fields(value).items():
                    out[f"{name}.{sub}"] = msgs
            else:
                out[str(name)] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turns DomainError, Django ValidationError and DRF's own errors into the envelope."""
    if isinstance(exc, DomainError):
        headers = {}
        if isinstance(exc, UpstreamUnavailableError):
            headers["Retry-After"] = str(exc.retry_after_s)
        return Response(_envelope(exc.code, exc.message, exc.fields), status=exc.http_status, headers=headers)
    if isinstance(exc, DjangoValidationError):
        fields = {
            k: [str(m) for m in v] for k, v in getattr(exc, "message_dict", {"non_field_errors": exc.messages}).items()
        }
        return Response(
            _envelope("invalid_input", "The input is not valid.", fields), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        logger.error("Unhandled API error", exc_info=exc)
        return Response(
            _envelope("server_error", "An unexpected error occurred."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid_input"
        if isinstance(exc, exceptions.ValidationError):
            response.data = _envelope("invalid_input", "The input is not valid.", _drf_fields(exc.detail))
        else:
            response.data = _envelope(str(code), str(exc.detail))
    return response
