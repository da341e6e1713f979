"""Core API: who am I."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.models import ApiKey, User
from mining_platform.core.rbac import LOGGED_IN

from .serializers import MeSerializer


class MeApi(APIView):
    """The caller's identity, role and (for API keys) scopes."""

    access_policy = LOGGED_IN

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        if not isinstance(request.user, User):
            raise NotAuthenticated()
        data = dict(MeSerializer(request.user).data)
        data["scopes"] = list(request.auth.scopes) if isinstance(request.auth, ApiKey) else []
        return Response(data)
