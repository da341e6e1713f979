"""Calculator pages: the single calculation (public), a user's saved calculations, and the what-if view.

Views read the form, call one service and render; every figure comes from calculator.services.
"""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mining_platform.core.errors import InvalidInputError, UpstreamUnavailableError
from mining_platform.core.models import User
from mining_platform.core.rbac import LOGGED_IN, PUBLIC, access

from .forms import CalculationForm, CompareForm, initial_from_inputs
from .models import CalculationHistory
from .page_selectors import compare_chart, market_panel, model_specs, recent_calculations
from .selectors import calculation_history_list_for_user
from .services.calculation import calculation_run, market_inputs_json
from .services.compare import ComparePick, Comparison, calculation_compare
from .services.market_inputs import market_snapshot_current

HISTORY_PAGE_SIZE = 25


def _signed_in(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _current_market_panel() -> object | None:
    try:
        return market_panel(market_inputs_json(market_snapshot_current(now=timezone.now())))
    except UpstreamUnavailableError:
        return None


def _render_calculator(
    request: HttpRequest, *, form: CalculationForm, calculation: CalculationHistory | None, status: int = 200
) -> HttpResponse:
    panel = market_panel(calculation.market) if calculation is not None else _current_market_panel()
    context = {
        "form": form,
        "calculation": calculation,
        "results": None if calculation is None else calculation.results,
        "market": panel,
        "history": recent_calculations(user=request.user),
        "model_specs": model_specs(),
    }
    return render(request, "calculator/calculator.html", context, status=status)


@access(PUBLIC)
@require_GET
def calculator_page(request: HttpRequest) -> HttpResponse:
    return _render_calculator(request, form=CalculationForm(), calculation=None)


@access(PUBLIC)
@require_POST
def calculator_calculate(request: HttpRequest) -> HttpResponse:
    form = CalculationForm(request.POST)
    if form.is_valid():
        user = _signed_in(request)
        try:
            row = calculation_run(data=form.service_data(), user=user, now=timezone.now())
        except InvalidInputError as error:
            form.add_service_errors(error)
        except UpstreamUnavailableError:
            form.add_error(None, "No market data is available yet, so nothing can be calculated.")
            return _render_calculator(request, form=form, calculation=None, status=503)
        else:
            if user is not None:
                # Saved for the user: its own address, so a reload does not calculate again.
                return redirect("calculator:calculation-detail", pk=row.pk)
            return _render_calculator(request, form=form, calculation=row)
    return _render_calculator(request, form=form, calculation=None, status=400)


@access(LOGGED_IN)
@require_GET
def calculation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in(request)
    assert user is not None  # noqa: S101  # the LOGGED_IN policy lets only signed-in users through
    row = get_object_or_404(calculation_history_list_for_user(user=user), pk=pk)
    form = CalculationForm(initial=initial_from_inputs(row.inputs))
    return _render_calculator(request, form=form, calculation=row)


@access(LOGGED_IN)
@require_GET
def calculation_history(request: HttpRequest) -> HttpResponse:
    user = _signed_in(request)
    assert user is not None  # noqa: S101  # the LOGGED_IN policy lets only signed-in users through
    page = Paginator(calculation_history_list_for_user(user=user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "calculator/history.html", {"page": page})


def _compare_picks(form: CompareForm) -> list[ComparePick]:
    picks = []
    for slot, hardware_cost, model in form.chosen():
        if model is None:
            form.add_error(f"model_{slot}", "This model is not in the catalogue.")
            continue
        picks.append(ComparePick(slot=slot, model=model, hardware_cost_usd=hardware_cost))
    return picks


@access(PUBLIC)
@require_GET
def calculator_compare(request: HttpRequest) -> HttpResponse:
    """What-if: the form on a plain GET, the comparison when the form's fields are in the query."""
    comparison: Comparison | None = None
    status = 200
    if "electricity_usd_per_kwh" in request.GET:
        form = CompareForm(request.GET)
        if form.is_valid():
            picks = _compare_picks(form)
            if form.is_valid():
                try:
                    comparison = calculation_compare(data=form.service_data(), picks=picks, now=timezone.now())
                except InvalidInputError as error:
                    form.add_service_errors(error)
                except UpstreamUnavailableError:
                    form.add_error(None, "No market data is available yet, so nothing can be compared.")
        if comparison is None:
            status = 400
    else:
        form = CompareForm()
    context = {
        "form": form,
        "comparison": comparison,
        "best": None if comparison is None else comparison.best_by_profit(),
        "chart": None if comparison is None else compare_chart(comparison),
        "market": _current_market_panel()
        if comparison is None
        else market_panel(market_inputs_json(comparison.market)),
    }
    return render(request, "calculator/compare.html", context, status=status)
