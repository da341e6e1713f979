"""The energy price rule page: upload a site's hourly prices, see them against the miners' break-evens, set the
rule, and read what it did and why."""

import re
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from mining_platform.core.errors import InvalidInputError
from mining_platform.core.models import User
from mining_platform.core.rbac import OPERATORS, access

from .models import CurtailmentPriceRule, Site
from .page_selectors_curtailment_prices import price_page
from .selectors import site_list
from .services.curtailment_price_rules import MAX_HOLD_MINUTES, MAX_INTERVALS, RuleSettings, curtailment_price_rule_save
from .services.energy_prices import MAX_FILE_BYTES, TEMPLATE_CSV, energy_prices_upload

_ROW_KEY = re.compile(r"^rows\[(\d+)\]\.(\w+)$")


class EnergyPriceUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV or Excel (.xlsx): starts_at and price_usd_per_mwh (or price_usd_per_kwh).")


class PriceRuleForm(forms.Form):
    """The rule's settings; the service checks them again and names any field it refuses."""

    enabled = forms.BooleanField(required=False, label="Rule on")
    persist_intervals = forms.IntegerField(min_value=1, max_value=MAX_INTERVALS, label="Curtail after (hours above)")
    resume_intervals = forms.IntegerField(min_value=1, max_value=MAX_INTERVALS, label="Resume after (hours below)")
    pool_fee_pct = forms.DecimalField(
        min_value=Decimal(0), max_value=Decimal("99.99"), decimal_places=2, label="Pool fee (%)"
    )
    max_curtail_hours = forms.IntegerField(min_value=1, max_value=MAX_INTERVALS, label="Longest curtailment (hours)")
    hold_minutes = forms.IntegerField(min_value=0, max_value=MAX_HOLD_MINUTES, label="Least time off (minutes)")

    @classmethod
    def for_rule(cls, rule: CurtailmentPriceRule) -> "PriceRuleForm":
        return cls(
            initial={
                "enabled": rule.enabled,
                "persist_intervals": rule.persist_intervals,
                "resume_intervals": rule.resume_intervals,
                "pool_fee_pct": rule.pool_fee_pct,
                "max_curtail_hours": rule.max_curtail_hours,
                "hold_minutes": rule.hold_minutes,
            }
        )

    def settings(self) -> RuleSettings:
        data = self.cleaned_data
        return RuleSettings(
            enabled=data["enabled"],
            persist_intervals=data["persist_intervals"],
            resume_intervals=data["resume_intervals"],
            pool_fee_pct=data["pool_fee_pct"],
            max_curtail_hours=data["max_curtail_hours"],
            hold_minutes=data["hold_minutes"],
        )


@dataclass(frozen=True)
class UploadProblem:
    row: int | None  # as a spreadsheet numbers it (header 1); None for the file as a whole
    column: str
    message: str


def _problems(error: InvalidInputError) -> list[UploadProblem]:
    problems = []
    for key, messages_ in error.fields.items():
        match = _ROW_KEY.match(key)
        for message in messages_:
            if match is None:
                problems.append(UploadProblem(row=None, column=key, message=message))
            else:
                problems.append(UploadProblem(row=int(match[1]), column=match[2], message=message))
    return sorted(problems, key=lambda p: (p.row or 0, p.column))


def _chosen_site(request: HttpRequest, sites: list[Site]) -> Site | None:
    wanted = request.POST.get("site") or request.GET.get("site")
    if not wanted:
        return sites[0] if sites else None
    for site in sites:
        if str(site.pk) == wanted:
            return site
    raise Http404("No such site.")


def _page_url(site: Site) -> str:
    return f"{reverse('hosting:curtailment-prices')}?site={site.pk}"


def _acting_user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@access(OPERATORS)
@require_http_methods(["GET", "POST"])
def curtailment_prices(request: HttpRequest) -> HttpResponse:
    """GET shows a site's prices, rule and decisions; POST takes an upload (form=upload) or the rule (form=rule)."""
    sites = list(site_list())
    site = _chosen_site(request, sites)
    if site is None:
        return render(request, "hosting/curtailment_prices.html", {"sites": sites})
    now = timezone.now()
    upload_form = EnergyPriceUploadForm()
    rule_form: PriceRuleForm | None = None
    upload_error: InvalidInputError | None = None
    status = 200
    if request.method == "POST":
        kind = request.POST.get("form")
        if kind == "upload":
            upload_form = EnergyPriceUploadForm(request.POST, request.FILES)
            if upload_form.is_valid():
                upload = upload_form.cleaned_data["file"]
                try:
                    stored = energy_prices_upload(
                        site=site, name=upload.name or "", content=upload.read(MAX_FILE_BYTES + 1), now=now
                    )
                except InvalidInputError as exc:
                    upload_error = exc
                else:
                    messages.success(
                        request,
                        f"{stored.received} hourly prices read: {stored.created} new, {stored.updated} changed, "
                        f"{stored.unchanged} already stored.",
                    )
                    return redirect(_page_url(site))
            status = 400
        elif kind == "rule":
            rule_form = PriceRuleForm(request.POST)
            if rule_form.is_valid():
                try:
                    curtailment_price_rule_save(
                        site=site, values=rule_form.settings(), by=_acting_user(request), now=now
                    )
                except InvalidInputError as exc:
                    for field, field_messages in exc.fields.items():
                        for message in field_messages:
                            rule_form.add_error(field if field in rule_form.fields else None, message)
                else:
                    messages.success(request, f"Price rule of {site.name} saved.")
                    return redirect(_page_url(site))
            status = 400
        else:
            status = 400
            messages.error(request, "Unknown form.")
    page = price_page(site=site, now=now)
    context = {
        "sites": sites,
        "page": page,
        "upload_form": upload_form,
        "upload_error": upload_error,
        "upload_problems": [] if upload_error is None else _problems(upload_error),
        "rule_form": rule_form or PriceRuleForm.for_rule(page.rule),
        "template_csv": TEMPLATE_CSV,
    }
    return render(request, "hosting/curtailment_prices.html", context, status=status)
