"""The live snapshot over plain HTTP, for clients without a websocket (and as the polling baseline)."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mining_platform.core.api.exception_handler import domain_error_json
from mining_platform.core.errors import DomainError
from mining_platform.core.models import User
from mining_platform.core.rbac import ANY_ROLE, access

from .scopes import LiveForbiddenError, live_scope_authorize, live_scope_parse
from .snapshots import live_snapshot


@access(ANY_ROLE)
@require_GET
@never_cache
def live_snapshot_view(request: HttpRequest) -> HttpResponse:
    """`?scope=site|client|miner&id=`: the same payload a websocket snapshot carries, same permissions."""
    try:
        kind, scope_id = live_scope_parse(kind=request.GET.get("scope"), scope_id=request.GET.get("id"))
        if not isinstance(request.user, User):
            raise LiveForbiddenError("Sign in first.")
        scope = live_scope_authorize(user_id=request.user.pk, kind=kind, scope_id=scope_id)
    except DomainError as exc:
        return domain_error_json(exc)
    return HttpResponse(live_snapshot(scope=scope).payload_json, content_type="application/json")
