"""Core pages: home, the landing that sends each role to its dashboard, account, health."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from .choices import OPERATOR_ROLES, Role
from .rbac import LOGGED_IN, PUBLIC, access
from .selectors.health import health_report
from .selectors.users import account_summary_for_user


@access(PUBLIC)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")


@access(LOGGED_IN)
def main(request: HttpRequest) -> HttpResponse:
    """Where a signed-in user lands: operators on the host dashboard, clients on their own."""
    role = getattr(request.user, "role", None)
    if role in OPERATOR_ROLES:
        return redirect(reverse("hosting:dashboard"))
    if role == Role.CLIENT:
        return redirect(reverse("hosting:client-dashboard"))
    return redirect(reverse("core:account"))


@access(LOGGED_IN)
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "core/account.html", {"summary": account_summary_for_user(user=request.user)})


@access(PUBLIC)
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report(now=timezone.now())
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)
