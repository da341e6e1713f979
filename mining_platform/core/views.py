"""Core pages: home, account, health."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from .rbac import LOGGED_IN, PUBLIC, access
from .selectors.health import health_report
from .selectors.users import account_summary_for_user


@access(PUBLIC)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")


@access(LOGGED_IN)
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "core/account.html", {"summary": account_summary_for_user(user=request.user)})


@access(PUBLIC)
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report(now=timezone.now())
    return JsonResponse(report.as_dict(), status=200 if report.ok else 503)
