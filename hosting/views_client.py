"""The client dashboard (a customer's own miners, live) and the miner page (one miner, live, with its
controls for operators). Views check who may see what, call one selector and render."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.models import Customer
from mining_platform.core.choices import OPERATOR_ROLES
from mining_platform.core.errors import NotFoundError, PermissionDeniedError
from mining_platform.core.rbac import ANY_ROLE, access

from .live.scopes import SCOPE_CLIENT, SCOPE_MINER, live_scope_authorize
from .page_selectors_client import client_dashboard_get, customers_with_miners, miner_detail_get
from .selectors import miner_get_for_user
from .selectors_series import SERIES_RANGES
from .services.miner_control import POWER_TARGET_MAX_W, POWER_TARGET_MIN_W

DEFAULT_RANGE = "24h"


def _is_operator(request: HttpRequest) -> bool:
    return getattr(request.user, "role", None) in OPERATOR_ROLES


def _user_id(request: HttpRequest) -> int:
    user_id = getattr(request.user, "pk", None)
    if not isinstance(user_id, int):
        raise PermissionDenied("Sign in first.")
    return user_id


@access(ANY_ROLE)
@require_GET
def client_dashboard(request: HttpRequest) -> HttpResponse:
    """A client's own miners; an operator picks a customer (?customer=<id>) to see what that client sees."""
    asked = request.GET.get("customer", "")
    if _is_operator(request) and not asked.isdigit():
        return render(request, "hosting/client_dashboard.html", {"choices": customers_with_miners()})
    if not _is_operator(request) and getattr(request.user, "customer_id", None) is None and not asked:
        # A client account the operator has not linked to its customer yet: say so, rather than refuse.
        return render(request, "hosting/client_dashboard.html", {"unlinked": True})
    # The websocket's check: a client only their own customer (another's is refused), operators any.
    try:
        scope = live_scope_authorize(
            user_id=_user_id(request), kind=SCOPE_CLIENT, scope_id=int(asked) if asked.isdigit() else None
        )
    except NotFoundError as error:
        raise Http404(error.message) from error
    except PermissionDeniedError as error:
        raise PermissionDenied(error.message) from error
    customer = Customer.objects.get(pk=scope.id)
    dashboard = client_dashboard_get(scope=scope, customer_name=customer.name, now=timezone.now())
    context = {
        "dashboard": dashboard,
        "figures": dashboard.figures,
        "as_operator": _is_operator(request),
        "ranges": list(SERIES_RANGES),
        "default_range": DEFAULT_RANGE,
    }
    return render(request, "hosting/client_dashboard.html", context)


@access(ANY_ROLE)
@require_GET
def miner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One miner: operators any, a client only their own (404 for any other, so existence never leaks)."""
    try:
        miner = miner_get_for_user(miner_id=pk, user=request.user)
        scope = live_scope_authorize(user_id=_user_id(request), kind=SCOPE_MINER, scope_id=pk)
    except NotFoundError as error:
        raise Http404(error.message) from error
    except PermissionDeniedError as error:
        raise PermissionDenied(error.message) from error
    detail = miner_detail_get(miner=miner, scope=scope)
    context = {
        "detail": detail,
        "miner": miner,
        "can_control": _is_operator(request),
        "ranges": list(SERIES_RANGES),
        "default_range": "6h",
        "power_min_w": POWER_TARGET_MIN_W,
        "power_max_w": POWER_TARGET_MAX_W,
    }
    return render(request, "hosting/miner_detail.html", context)
