"""DRF side of the route policies (see mining_platform/core/rbac.py)."""

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from mining_platform.core.models import ApiKey
from mining_platform.core.rbac import AccessPolicy, PolicyKind

if TYPE_CHECKING:
    from rest_framework.views import APIView


class HasAccessPolicy(BasePermission):
    """Allows the request when the view's `access_policy` does; a view without one is refused."""

    message = "You do not have permission to use this endpoint."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        policy = getattr(view, "access_policy", None)
        if not isinstance(policy, AccessPolicy):
            return False
        if policy.kind == PolicyKind.PUBLIC:
            return True
        user = request.user
        if not user.is_authenticated:
            return False
        if isinstance(request.auth, ApiKey):
            if policy.kind == PolicyKind.LOGGED_IN:
                return True
            return policy.allows_key_scopes(request.auth.scopes) and policy.allows_role(str(getattr(user, "role", "")))
        if policy.kind == PolicyKind.API_KEY:
            return False
        return policy.allows_role(str(getattr(user, "role", "")))
