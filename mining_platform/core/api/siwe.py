"""Sign-In with Ethereum endpoints: a nonce for the wallet to sign, then the signed message back."""

from django.conf import settings
from django.contrib.auth import login
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.models import User
from mining_platform.core.rbac import PUBLIC
from mining_platform.core.services.siwe import siwe_login, siwe_nonce_issue

# Bounds the work of parsing and ecrecover; a real EIP-4361 message is a few hundred characters.
MESSAGE_MAX_LENGTH = 4000


class SiweNonceSerializer(serializers.Serializer[object]):
    nonce = serializers.CharField(help_text="Put this in the message's Nonce field; it signs in once.")
    expires_at = serializers.DateTimeField(help_text="Use as the message's Expiration Time.")


class SiweVerifyInputSerializer(serializers.Serializer[object]):
    message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH, trim_whitespace=False)
    signature = serializers.CharField(max_length=200, help_text="personal_sign result: 0x and 130 hex digits.")


class SiweVerifySerializer(serializers.Serializer[object]):
    user_id = serializers.IntegerField()
    address = serializers.CharField(help_text="EIP-55 checksummed wallet address.")
    created = serializers.BooleanField(help_text="A new account was created for this wallet.")
    linked = serializers.BooleanField(help_text="The wallet was linked to the signed-in account.")
    redirect = serializers.CharField(help_text="Where the browser should go next.")


class SiweErrorSerializer(serializers.Serializer[object]):
    """The API's error envelope (see core/api/exception_handler.py)."""

    error = inline_serializer(
        name="SiweErrorDetail",
        fields={
            "code": serializers.CharField(help_text="Stable code, e.g. siwe_nonce_used or siwe_domain_mismatch."),
            "message": serializers.CharField(),
            "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        },
    )


class SiweNonceApi(APIView):
    """Issues a fresh nonce; also sets the CSRF cookie the verify POST needs."""

    access_policy = PUBLIC

    @extend_schema(summary="Issue a Sign-In with Ethereum nonce", responses={200: SiweNonceSerializer})
    def get(self, request: Request) -> Response:
        nonce = siwe_nonce_issue(now=timezone.now())
        get_token(request._request)
        response = Response(SiweNonceSerializer(nonce).data)
        add_never_cache_headers(response)
        return response


class SiweVerifyApi(APIView):
    """Verifies a signed EIP-4361 message and signs its wallet's user in (or links the wallet)."""

    access_policy = PUBLIC
    # Session only: linking a wallet changes an account, which an API key (a machine credential)
    # must not do; with a key the request would otherwise be "signed in" as the key's owner.
    authentication_classes = [SessionAuthentication]

    @extend_schema(
        summary="Sign in with a signed EIP-4361 message",
        request=SiweVerifyInputSerializer,
        responses={
            200: SiweVerifySerializer,
            400: OpenApiResponse(SiweErrorSerializer, description="siwe_message_malformed, invalid_input"),
            401: OpenApiResponse(
                SiweErrorSerializer,
                description="siwe_signature_invalid, siwe_nonce_unknown, siwe_nonce_used, siwe_nonce_expired, "
                "siwe_message_expired, siwe_message_not_yet_valid, siwe_domain_mismatch, "
                "siwe_chain_not_allowed, siwe_account_inactive",
            ),
            403: OpenApiResponse(SiweErrorSerializer, description="permission_denied: CSRF check failed"),
            409: OpenApiResponse(SiweErrorSerializer, description="siwe_wallet_linked_elsewhere"),
        },
    )
    def post(self, request: Request) -> Response:
        # DRF checks CSRF only for requests already signed in; this one signs people in, so check
        # it always, or another site could sign a visitor into the attacker's account (login CSRF).
        SessionAuthentication().enforce_csrf(request)
        payload = SiweVerifyInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        current_user = request.user if isinstance(request.user, User) and request.user.is_authenticated else None
        result = siwe_login(
            message=payload.validated_data["message"],
            signature=payload.validated_data["signature"],
            expected_domain=settings.SIWE_DOMAIN or request.get_host(),
            current_user=current_user,
            now=timezone.now(),
        )
        login(request._request, result.user, backend="django.contrib.auth.backends.ModelBackend")
        body = {
            "user_id": result.user.pk,
            "address": result.wallet.address,
            "created": result.created_user,
            "linked": result.linked,
            "redirect": reverse("core:account" if result.linked else "core:home"),
        }
        return Response(SiweVerifySerializer(body).data)
