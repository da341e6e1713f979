"""The host operations dashboard: one site's totals, rack map, alert feed, history charts and curtailment
state, rendered here and kept current by the live websocket; and the alert acknowledgement it posts."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mining_platform.core.api.exception_handler import domain_error_json
from mining_platform.core.errors import DomainError, NotFoundError
from mining_platform.core.models import User
from mining_platform.core.rbac import OPERATORS, access

from .live.scopes import SCOPE_SITE, live_scope_authorize
from .live.snapshots import live_alert
from .page_selectors_dashboard import dashboard_sites, host_dashboard
from .selectors_series import SERIES_RANGES
from .services.alerts import alert_acknowledge

DEFAULT_RANGE = "6h"


def _user(request: HttpRequest) -> User:
    # The OPERATORS policy lets only signed-in users in; anything else is refused outright.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@access(OPERATORS)
@require_GET
def host_dashboard_page(request: HttpRequest) -> HttpResponse:
    """The dashboard of the site named by ?site=<id> (default: the first by name)."""
    user = _user(request)
    sites = list(dashboard_sites())
    wanted = request.GET.get("site", "")
    site = sites[0] if sites else None
    if wanted.isdigit():
        site = next((s for s in sites if s.pk == int(wanted)), None)
        if site is None:
            raise Http404(f"Site {wanted} not found.")
    dashboard = None
    if site is not None:
        try:
            # The websocket's own check: the page shows only what its socket may then stream.
            scope = live_scope_authorize(user_id=user.pk, kind=SCOPE_SITE, scope_id=site.pk)
        except NotFoundError as error:
            raise Http404(error.message) from error
        except DomainError as error:
            raise PermissionDenied(error.message) from error
        dashboard = host_dashboard(scope=scope, site=site, now=timezone.now())
    context = {
        "sites": sites,
        "site": site,
        "dashboard": dashboard,
        "ranges": tuple(SERIES_RANGES),  # the series endpoint's ranges, shortest first
        "default_range": DEFAULT_RANGE,
        "live_config": None
        if dashboard is None
        else {
            "site_id": dashboard.site.pk,
            "seq": dashboard.seq,
            "max_temp_c": float(dashboard.site.max_temp_c),
            "default_range": DEFAULT_RANGE,
        },
    }
    return render(request, "hosting/dashboard.html", context)


@access(OPERATORS)
@require_POST
def alert_acknowledge_view(request: HttpRequest, pk: int) -> JsonResponse:
    """Acknowledge an open alert; 409 for one already acknowledged or resolved, 404 for none."""
    try:
        alert = alert_acknowledge(alert_id=pk, user=_user(request), now=timezone.now())
    except DomainError as error:
        return domain_error_json(error)
    return JsonResponse({"alert": live_alert(alert=alert)})
