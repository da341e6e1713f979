"""The quote's fast path: anonymous GET quotes answered on the event loop, ahead of Django.

A public calculator's traffic is mostly anonymous repeats of the same few queries. Django's ASGI handler
costs each of them two thread hops and the whole middleware chain, several times the quote itself; this
small ASGI app answers them with the same body, status and headers the view gives (a test compares
the two) and hands every other request (signed in, another method, another path, a host Django would
refuse, a plain-HTTP request to a site that redirects to HTTPS) to Django unchanged.
"""

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.urls import reverse
from django.utils import timezone

from mining_platform.core.errors import DomainError
from mining_platform.core.request_id import HEADER as REQUEST_ID_HEADER
from mining_platform.core.request_id import request_id_from, request_id_var

from .quote_http import quote_cache_control, quote_caller, quote_error_answer, quote_query_data
from .services.quote_async import calculation_quote_async

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[..., Awaitable[Any]]
Send = Callable[..., Awaitable[Any]]
ASGIApp = Callable[..., Awaitable[Any]]


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def _is_secure(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    if scope.get("scheme") == "https":
        return True
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header is None:
        return False
    # "HTTP_X_FORWARDED_PROTO" names the header X-Forwarded-Proto.
    name = proxy_header[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
    return headers.get(name, b"").decode("latin-1").split(",")[0].strip() == proxy_header[1]


def _security_headers(*, secure: bool) -> list[tuple[bytes, bytes]]:
    """What Django's SecurityMiddleware and XFrameOptionsMiddleware add to the view's answer."""
    found = []
    if secure and settings.SECURE_HSTS_SECONDS:
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        found.append(("Strict-Transport-Security", value))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        found.append(("X-Content-Type-Options", "nosniff"))
    referrer_policy: object = settings.SECURE_REFERRER_POLICY
    if isinstance(referrer_policy, str) and referrer_policy:
        found.append(("Referrer-Policy", referrer_policy))
    elif isinstance(referrer_policy, list | tuple) and referrer_policy:
        found.append(("Referrer-Policy", ",".join(map(str, referrer_policy))))
    opener_policy = str(settings.SECURE_CROSS_ORIGIN_OPENER_POLICY or "")  # None in settings turns it off
    if opener_policy:
        found.append(("Cross-Origin-Opener-Policy", opener_policy))
    found.append(("X-Frame-Options", settings.X_FRAME_OPTIONS.upper()))
    return [(name.encode(), value.encode()) for name, value in found]


class QuoteFastPath:
    """Answers anonymous `GET /api/v1/calculator/quote` itself; passes everything else to `inner`."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    @cached_property
    def path(self) -> str:
        return reverse("calculator:calculation-quote")

    def _serves(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            return False
        if not settings.CALCULATOR_QUOTE_FAST_PATH or b"authorization" in headers:
            return False
        if settings.SECURE_SSL_REDIRECT and not _is_secure(scope, headers):
            return False  # Django answers with its redirect
        if settings.SESSION_COOKIE_NAME in parse_cookie(headers.get(b"cookie", b"").decode("latin-1")):
            return False  # possibly signed in: the user's quote joins their history
        host, _ = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
        return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope) if scope["type"] == "http" else {}
        if not self._serves(scope, headers):
            await self.inner(scope, receive, send)
            return
        request_id = request_id_from(headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1"))
        token = request_id_var.set(request_id)
        try:
            status, body, extra = await self._answer(scope, headers)
        finally:
            request_id_var.reset(token)
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
            (b"vary", b"Cookie"),
            *_security_headers(secure=_is_secure(scope, headers)),
            (REQUEST_ID_HEADER.encode(), request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        client = scope.get("client")
        caller = quote_caller(user_id=None, remote_addr=client[0] if client else "")
        try:
            data = quote_query_data(query=QueryDict(scope.get("query_string", b"").decode(errors="replace")))
            quote = await calculation_quote_async(data=data, user_id=None, caller=caller, now=timezone.now())
        except DomainError as error:
            refused = quote_error_answer(error)
            return refused.status, refused.body, [(k.encode(), v.encode()) for k, v in refused.headers.items()]
        return 200, quote.body.encode(), [(b"cache-control", quote_cache_control().encode())]
