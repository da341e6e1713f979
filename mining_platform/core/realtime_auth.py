"""Websocket authentication: the session cookie (browsers) or an `Authorization: Api-Key` header."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.utils import timezone

from .errors import AuthenticationFailedError
from .models import ApiKey
from .services.api_keys import api_key_authenticate

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[Any]]


@database_sync_to_async
def _key_for(raw_key: str) -> ApiKey | None:
    try:
        return api_key_authenticate(raw_key=raw_key, now=timezone.now())
    except AuthenticationFailedError:
        return None


class ApiKeyWebsocketMiddleware:
    """Puts the key's owner in scope["user"] and the key in scope["api_key"] when a key is sent."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(
        self, scope: Scope, receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]
    ) -> Any:
        headers = dict(scope.get("headers") or [])
        keyword, _, raw_key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if keyword == "Api-Key":
            api_key = await _key_for(raw_key.strip())
            if api_key is not None:
                scope = dict(scope, user=api_key.owner, api_key=api_key)
        return await self.inner(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Checks the Origin of browser connections against ALLOWED_HOSTS; lets header-less machines in.

    Browsers always send Origin on a websocket handshake, so a missing header means a non-browser
    client (an integration with an API key), which cross-site request forgery cannot reach.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(super().valid_origin(parsed_origin))


def browser_origin_validator(inner: ASGIApp) -> ASGIApp:
    return BrowserOriginValidator(inner, settings.ALLOWED_HOSTS)


def WebsocketAuthMiddleware(inner: ASGIApp) -> ASGIApp:  # noqa: N802  # named like Channels' stacks
    """Session authentication first, then an API key header may override the anonymous user."""
    return AuthMiddlewareStack(ApiKeyWebsocketMiddleware(inner))  # type: ignore[no-any-return]
