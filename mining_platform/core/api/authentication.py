"""DRF authentication by API key: `Authorization: Api-Key <key>`."""

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from mining_platform.core.errors import AuthenticationFailedError
from mining_platform.core.models import ApiKey, User
from mining_platform.core.services.api_keys import api_key_authenticate

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates as the key's owner; `request.auth` is the ApiKey, whose scopes policies check."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        try:
            api_key = api_key_authenticate(raw_key=raw_key.strip(), now=timezone.now())
        except AuthenticationFailedError as exc:
            raise exceptions.AuthenticationFailed(exc.message) from exc
        return api_key.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
