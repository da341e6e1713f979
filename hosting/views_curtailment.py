"""The curtailment page: each site's current and planned curtailment, a plan with every strategy's
preview before anything is sent, the history with planned against measured shed, and each event's chart.

Views read the form, call one service or selector and render; the API twin lives in api_curtailment.py.
"""

from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from mining_platform.core.errors import DomainError, InvalidInputError, NotFoundError
from mining_platform.core.models import User
from mining_platform.core.rbac import OPERATORS, access

from .choices import CurtailmentStrategy
from .forms_curtailment import CurtailmentPlanForm
from .models import CurtailmentPlan
from .page_selectors_curtailment import (
    PreviewTable,
    curtailment_history,
    curtailment_plan_get,
    curtailment_power_series,
    curtailment_preview_table,
    curtailment_site_states,
    plan_miner_rows_shaped,
    plan_row,
)
from .services.curtailment_execution import curtailment_plan_cancel as curtailment_plan_cancel_service
from .services.curtailment_execution import curtailment_plan_recover_now as curtailment_plan_recover_now_service
from .services.curtailment_plans import curtailment_hashprice, curtailment_preview
from .services.curtailment_requests import curtailment_plan_submit

HISTORY_PAGE_SIZE = 20
PLAN_MINERS_PAGE_SIZE = 100
_STRATEGY_LABELS = {
    CurtailmentStrategy.PERFORMANCE_PRIORITY.value: "Performance priority",
    CurtailmentStrategy.OPTIMAL.value: "Optimal",
    CurtailmentStrategy.PARTIAL.value: "Partial",
    CurtailmentStrategy.CUSTOMER_AWARE.value: "Customer-aware",
}


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _site_filter(request: HttpRequest) -> int | None:
    value = request.GET.get("site", "")
    return int(value) if value.isdigit() else None


def _error_text(error: DomainError) -> str:
    details = [message for messages_ in error.fields.values() for message in messages_]
    return " ".join([error.message, *details]) if details else error.message


def _preview(form: CurtailmentPlanForm, *, now: datetime) -> PreviewTable | None:
    """Every strategy's plan for the valid form's target; errors land on the form."""
    try:
        preview = curtailment_preview(
            site=form.cleaned_data["site"],
            target_kind=form.cleaned_data["target_kind"],
            target_value=form.cleaned_data["target_value"],
            now=now,
        )
    except InvalidInputError as error:
        form.add_service_errors(error)
        return None
    return curtailment_preview_table(
        preview=preview, labels=_STRATEGY_LABELS, hashprice_usd_per_th_day=curtailment_hashprice(now=now)
    )


def _render_page(
    request: HttpRequest, *, form: CurtailmentPlanForm, preview: PreviewTable | None, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    site_id = _site_filter(request)
    history = Paginator(curtailment_history(site_id=site_id), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    states = curtailment_site_states(now=now, site_id=site_id)
    context = {
        "form": form,
        "preview": preview,
        "site_states": states,
        "all_sites": form.fields["site"].queryset,  # type: ignore[attr-defined]  # a ModelChoiceField
        "site_filter": site_id,
        "history": history,
        "history_rows": [plan_row(plan) for plan in history.object_list],
        "active_count": sum(len(state.active) for state in states),
        "now": now,
    }
    return render(request, "hosting/curtailment.html", context, status=status)


@access(OPERATORS)
@require_GET
def curtailment_page(request: HttpRequest) -> HttpResponse:
    """The page; with ?preview=1 and the plan's fields, every strategy's plan for them side by side."""
    if "preview" not in request.GET:
        site_id = _site_filter(request)
        return _render_page(request, form=CurtailmentPlanForm(initial={"site": site_id}), preview=None)
    form = CurtailmentPlanForm(request.GET)
    preview = _preview(form, now=timezone.now()) if form.is_valid() else None
    return _render_page(request, form=form, preview=preview, status=200 if form.is_valid() else 400)


@access(OPERATORS)
@require_POST
def curtailment_plan_create(request: HttpRequest) -> HttpResponse:
    """Store a plan from the page (a start now wakes the executor); errors show on the form."""
    form = CurtailmentPlanForm(request.POST)
    if form.is_valid():
        now = timezone.now()
        try:
            plan = curtailment_plan_submit(
                request=form.curtailment_request(now=now), now=now, created_by=_user(request)
            )
        except InvalidInputError as error:
            form.add_service_errors(error)
        else:
            when = "now" if form.starts_now else f"at {plan.scheduled_start:%Y-%m-%d %H:%M} UTC"
            messages.success(
                request,
                f"Plan {plan.pk} at {plan.site.name} starts {when}: {plan.planned_shed_kw.normalize():f} kW planned.",
            )
            return redirect(f"{reverse('hosting:curtailment')}#plan-{plan.pk}")
    return _render_page(request, form=form, preview=None, status=400)


def _back(request: HttpRequest, plan: CurtailmentPlan) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(f"{reverse('hosting:curtailment')}#plan-{plan.pk}")


def _plan_or_404(plan_id: int) -> CurtailmentPlan:
    try:
        return curtailment_plan_get(plan_id=plan_id)
    except NotFoundError as error:
        raise Http404(error.message) from error


@access(OPERATORS)
@require_POST
def curtailment_plan_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a pending plan before anything is sent."""
    plan = _plan_or_404(pk)
    try:
        curtailment_plan_cancel_service(plan=plan, by=_user(request), now=timezone.now())
    except DomainError as error:
        messages.error(request, f"Plan {plan.pk} was not cancelled: {_error_text(error)}")
    else:
        messages.success(request, f"Plan {plan.pk} at {plan.site.name} is cancelled; nothing was sent to its miners.")
    return _back(request, plan)


@access(OPERATORS)
@require_POST
def curtailment_plan_recover_now(request: HttpRequest, pk: int) -> HttpResponse:
    """End a running plan early: its miners come back from the recovery monitor's next run."""
    plan = _plan_or_404(pk)
    try:
        curtailment_plan_recover_now_service(plan=plan, by=_user(request), now=timezone.now())
    except DomainError as error:
        messages.error(request, f"Plan {plan.pk} was not ended: {_error_text(error)}")
    else:
        messages.success(
            request, f"Plan {plan.pk} at {plan.site.name} is ending: its miners come back in staggered steps."
        )
    return _back(request, plan)


@access(OPERATORS)
@require_GET
def curtailment_plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One plan: its figures, its chart and each miner's command and recovery."""
    try:
        plan = curtailment_plan_get(plan_id=pk)
    except NotFoundError as error:
        raise Http404(error.message) from error
    miners = Paginator(
        plan.plan_miners.select_related("miner", "miner__miner_model").order_by("round", "id"), PLAN_MINERS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    context = {
        "row": plan_row(plan),
        "plan": plan,
        "miners": miners,
        "miner_rows": plan_miner_rows_shaped(miners.object_list),
    }
    return render(request, "hosting/curtailment_plan.html", context)


def _kw(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 3)


@access(OPERATORS)
@require_GET
def curtailment_plan_power(request: HttpRequest, pk: int) -> JsonResponse:
    """The site's power around one event, for its chart."""
    try:
        plan = curtailment_plan_get(plan_id=pk)
    except NotFoundError as error:
        return JsonResponse({"error": {"code": error.code, "message": error.message, "fields": {}}}, status=404)
    series = curtailment_power_series(plan=plan, now=timezone.now())
    return JsonResponse(
        {
            "plan": series.plan_id,
            "site": series.site_id,
            "start": series.start.isoformat(),
            "end": series.end.isoformat(),
            "resolution": series.resolution,
            "at": [int(point.at.timestamp() * 1000) for point in series.points],
            "power_kw": [round(point.power_kw, 3) for point in series.points],
            "miners": [point.miners for point in series.points],
            "markers": [{"at": int(m.at.timestamp() * 1000), "label": m.label, "kind": m.kind} for m in series.markers],
            "baseline_kw": _kw(series.baseline_kw),
            "target_kw": _kw(series.target_kw),
        }
    )
