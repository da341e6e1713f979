"""Calculator batch pages: upload a file or build a fleet, follow its progress, then sort and export the results."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from mining_platform.core.errors import NotFoundError, UpstreamUnavailableError
from mining_platform.core.models import User
from mining_platform.core.rbac import LOGGED_IN, access

from .forms import ScenarioFields
from .models import CalculationBatch, CalculationBatchSource, CalculationBatchStatus, MinerModel
from .page_selectors import market_panel
from .selectors import miner_model_list
from .services.batch_compute import calculation_batch_start
from .services.batch_errors import BatchInvalidError, BatchProblem
from .services.batch_export import (
    CSV_CONTENT_TYPE,
    XLSX_CONTENT_TYPE,
    batch_export_csv,
    batch_export_dataset,
    batch_export_xlsx,
    batch_template_csv,
    batch_template_xlsx,
    export_file_name,
)
from .services.batch_files import SheetTable, batch_file_read
from .services.batch_selectors import (
    calculation_batch_get_for_user,
    calculation_batch_list_for_user,
    calculation_batch_market_as_of,
    calculation_batch_progress,
    calculation_batch_rows,
    calculation_batch_scenario,
    calculation_batch_totals,
    sort_key_clean,
)
from .services.batch_validation import COLUMN_NAMES, COLUMNS, batch_table_from_fleet

# A fleet built on the page stays small (each row posts a dozen fields); larger fleets come as a file.
FLEET_MAX_ROWS = 50
ROWS_PER_PAGE = 100
PROBLEMS_SHOWN = 100
FLEET_PREFIX = "fleet-"


class BatchSettingsForm(ScenarioFields):
    """The projection settings of a batch: text carried to the scenario service, which checks and names each field."""

    def add_problems(self, problems: Sequence[BatchProblem]) -> None:
        """Show the scenario service's messages under the fields they name."""
        if not self.is_bound:
            return
        self.is_valid()  # builds the error list the messages join; the service did the real checking
        for problem in problems:
            if problem.row is None and problem.column in self.fields:
                self.add_error(problem.column, f"{self.fields[problem.column].label} {problem.message}.")

    def scenario_data(self) -> dict[str, object]:
        """The posted values as the scenario service takes them (blank means its default)."""
        return {name: str(self.data.get(name, "")).strip() for name in self.fields}


@dataclass(frozen=True)
class TableColumn:
    key: str  # the ?sort= key
    heading: str
    unit: str


def _table_columns(period: str) -> tuple[TableColumn, ...]:
    """The results table's columns; money columns are those of the period shown (a day or a month)."""
    shown = "a day" if period == "day" else "a month"
    return (
        TableColumn("row", "Row", ""),
        TableColumn("label", "Label", ""),
        TableColumn("model", "Model", ""),
        TableColumn("quantity", "Units", ""),
        TableColumn("hashrate", "Hashrate", "TH/s"),
        TableColumn("power", "Power", "kW"),
        TableColumn("efficiency", "Efficiency", "J/TH"),
        TableColumn(f"revenue_{period}", "Revenue", shown),
        TableColumn(f"cost_{period}", "Cost", shown),
        TableColumn(f"profit_{period}", "Profit", shown),
        TableColumn("break_even", "Break-even", "USD/kWh"),
        TableColumn("payback", "Payback", "days"),
        TableColumn("payback_on", "Payback date", "projected"),
    )


def _user(request: HttpRequest) -> User:
    # LOGGED_IN routes: the middleware sent anonymous visitors to sign in already.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _batch_for(request: HttpRequest, batch_id: int) -> CalculationBatch:
    try:
        return calculation_batch_get_for_user(batch_id=batch_id, user=_user(request))
    except NotFoundError as exc:
        raise Http404(exc.message) from exc


def _fleet_rows(data: QueryDict) -> list[dict[str, str]]:
    """The rows of the fleet table as posted: one list per column, read across."""
    columns = {name: data.getlist(FLEET_PREFIX + name) for name in COLUMN_NAMES}
    count = max((len(values) for values in columns.values()), default=0)
    return [
        {name: values[index] if index < len(values) else "" for name, values in columns.items()}
        for index in range(count)
    ]


def _problem(column: str, message: str) -> BatchInvalidError:
    return BatchInvalidError(message, problems=[BatchProblem(row=None, column=column, message=message)])


def _table(request: HttpRequest, source: str, fleet: Sequence[Mapping[str, str]]) -> tuple[SheetTable, str]:
    """The rows to check, from the uploaded file or the fleet table, and the batch's name."""
    if source == CalculationBatchSource.PAGE:
        if len(fleet) > FLEET_MAX_ROWS:
            raise _problem("rows", f"A fleet on the page has at most {FLEET_MAX_ROWS} rows; upload a file for more.")
        return batch_table_from_fleet(rows=fleet), "Fleet built on the page"
    upload = request.FILES.get("file")
    if upload is None:
        raise _problem("file", "Choose a .csv or .xlsx file to upload, or build the fleet on the page.")
    max_mb = settings.CALCULATOR_BATCH_MAX_FILE_MB
    if upload.size is not None and upload.size > max_mb * 1024 * 1024:
        raise _problem("file", f"The file is larger than {max_mb} MB; split it into smaller batches.")
    name = upload.name or "upload"
    return batch_file_read(name=name, content=upload.read(), max_rows=settings.CALCULATOR_BATCH_MAX_ROWS), name


def _catalogue() -> list[MinerModel]:
    return list(miner_model_list())


def _fleet_for_page(
    fleet: Sequence[Mapping[str, str]], problems: Sequence[BatchProblem], source: str
) -> list[dict[str, object]]:
    """Rows for the fleet table, each cell with its value and its problem (when the fleet was refused)."""
    errors: dict[tuple[int, str], str] = {}
    if source == CalculationBatchSource.PAGE:
        for problem in problems:
            if problem.row is not None:
                errors.setdefault((problem.row, problem.column), problem.message)
    rows = list(fleet) or [{}]
    return [
        {
            "number": number,
            "cells": {
                name: {"value": row.get(name, ""), "error": errors.get((number, name), "")} for name in COLUMN_NAMES
            },
        }
        for number, row in enumerate(rows, start=1)
    ]


def _page(
    request: HttpRequest,
    *,
    form: BatchSettingsForm,
    source: str = CalculationBatchSource.FILE,
    fleet: Sequence[Mapping[str, str]] = (),
    error: BatchInvalidError | None = None,
    unavailable: str = "",
    status: int = 200,
) -> HttpResponse:
    problems = error.problems if error is not None else ()
    form.add_problems(problems)
    # Problems of the projection settings show under their fields; the rest are listed, the first ones in full.
    listed = [p for p in problems if p.row is not None or p.column not in form.fields]
    shown = listed[:PROBLEMS_SHOWN]
    more = 0 if error is None else error.problem_count - (len(problems) - len(listed)) - len(shown)
    context = {
        "form": form,
        "source": source,
        "columns": COLUMNS,
        "catalogue": _catalogue(),
        "fleet": _fleet_for_page(fleet, problems, source),
        "fleet_max_rows": FLEET_MAX_ROWS,
        "max_rows": settings.CALCULATOR_BATCH_MAX_ROWS,
        "max_file_mb": settings.CALCULATOR_BATCH_MAX_FILE_MB,
        "error": error,
        "problems": shown,
        "problems_more": more,
        "unavailable": unavailable,
        "recent": calculation_batch_list_for_user(user=_user(request)),
    }
    return render(request, "calculator/batch.html", context, status=status)


@access(LOGGED_IN)
@require_http_methods(["GET", "POST"])
def batch(request: HttpRequest) -> HttpResponse:
    """GET: the upload form, the fleet builder and the user's recent batches. POST: check and start a batch."""
    if request.method != "POST":
        return _page(request, form=BatchSettingsForm())
    form = BatchSettingsForm(request.POST)
    source = CalculationBatchSource.PAGE if request.POST.get("source") == "page" else CalculationBatchSource.FILE
    fleet = _fleet_rows(request.POST)
    try:
        table, name = _table(request, source, fleet)
        created = calculation_batch_start(
            user=_user(request),
            name=name,
            source=source,
            table=table,
            scenario_data=form.scenario_data(),
            now=timezone.now(),
        )
    except BatchInvalidError as exc:
        return _page(request, form=form, source=source, fleet=fleet, error=exc, status=400)
    except UpstreamUnavailableError as exc:
        return _page(request, form=form, source=source, fleet=fleet, unavailable=exc.message, status=503)
    return redirect("calculator:batch-detail", pk=created.pk)


def _sort_links(sort: str, period: str) -> list[dict[str, object]]:
    links = []
    for column in _table_columns(period):
        active = sort.removeprefix("-") == column.key
        descending = active and sort.startswith("-")
        links.append(
            {
                "column": column,
                "active": active,
                "descending": descending,
                # A click on the sorted column turns it around; on another, sorts by it going up.
                "next": column.key if descending or not active else f"-{column.key}",
            }
        )
    return links


def _sort_for_period(sort: str, period: str) -> str:
    """The same sort with the other period's column, when it sorts by a money column (profit_day -> profit_month)."""
    sign, key = ("-", sort[1:]) if sort.startswith("-") else ("", sort)
    for suffix in ("_day", "_month"):
        if key.endswith(suffix):
            return f"{sign}{key.removesuffix(suffix)}_{period}"
    return sort


@access(LOGGED_IN)
@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One batch: its progress while it computes, then the fleet totals and the sortable rows."""
    found = _batch_for(request, pk)
    sort = sort_key_clean(request.GET.get("sort", ""))
    # The table shows one period's money figures (USD with BTC beneath); the exports hold both periods.
    period = "month" if request.GET.get("period") == "month" else "day"
    page = None
    if found.status == CalculationBatchStatus.DONE:
        page = Paginator(calculation_batch_rows(batch=found, sort=sort), ROWS_PER_PAGE).get_page(
            request.GET.get("page")
        )
    context = {
        "batch": found,
        "progress": calculation_batch_progress(batch=found),
        "totals": calculation_batch_totals(batch=found),
        "market_panel": market_panel(found.market),
        "market_as_of": calculation_batch_market_as_of(batch=found),
        "scenario": calculation_batch_scenario(batch=found),
        "sort": sort,
        "sort_links": _sort_links(sort, period),
        "period": period,
        "seconds": None
        if found.started_at is None or found.finished_at is None
        else (found.finished_at - found.started_at).total_seconds(),
        "period_sorts": {other: _sort_for_period(sort, other) for other in ("day", "month")},
        "page": page,
    }
    return render(request, "calculator/batch_detail.html", context)


@access(LOGGED_IN)
@require_GET
def batch_status(request: HttpRequest, pk: int) -> JsonResponse:
    """How far one batch got, for the progress bar to poll."""
    try:
        found = calculation_batch_get_for_user(batch_id=pk, user=_user(request))
    except NotFoundError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=404)
    progress = calculation_batch_progress(batch=found)
    return JsonResponse(
        {
            "batch": progress.batch_id,
            "status": progress.status,
            "total": progress.total,
            "done": progress.done,
            "percent": progress.percent,
            "finished": progress.finished,
            "error": progress.error,
        }
    )


@access(LOGGED_IN)
@require_GET
def batch_export(request: HttpRequest, pk: int, file_format: str) -> HttpResponse:
    """The batch's rows (in the page's order), fleet total, market and scenario as .csv or .xlsx."""
    found = _batch_for(request, pk)
    if found.status != CalculationBatchStatus.DONE:
        return HttpResponse("The batch has not finished; export it once every row is computed.", status=409)
    dataset = batch_export_dataset(batch=found, sort=sort_key_clean(request.GET.get("sort", "")))
    if file_format == "xlsx":
        response = HttpResponse(batch_export_xlsx(dataset=dataset), content_type=XLSX_CONTENT_TYPE)
    else:
        response = HttpResponse(batch_export_csv(dataset=dataset), content_type=CSV_CONTENT_TYPE)
    name = export_file_name(batch=found, extension=file_format, now=timezone.now())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@access(LOGGED_IN)
@require_GET
def batch_template(request: HttpRequest, file_format: str) -> HttpResponse:
    """The upload template: the header and two example rows (a catalogue model and custom specs)."""
    first = miner_model_list().first()
    example = None if first is None else f"{first.make} {first.model}"
    if file_format == "xlsx":
        response = HttpResponse(batch_template_xlsx(example_model=example), content_type=XLSX_CONTENT_TYPE)
    else:
        response = HttpResponse(batch_template_csv(example_model=example), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="calculator_batch_template.{file_format}"'
    return response
