"""Hosting pages and API."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from mining_platform.core.choices import ALL_ROLES, OPERATOR_ROLES, ApiScope
from mining_platform.core.errors import DomainError, NotFoundError
from mining_platform.core.models import ApiKey, User
from mining_platform.core.rbac import OPERATORS, access, roles

from .choices import MinerAction
from .filters import MinerFilter, TelemetryFilter
from .models import Miner, MinerTelemetry, Site
from .selectors import (
    miner_get_for_user,
    miner_list_for_user,
    miner_status_counts,
    telemetry_history,
    telemetry_list_for_user,
)
from .selectors import site_list as site_list_selector
from .serializers import (
    ApiErrorSerializer,
    MinerOperationSerializer,
    MinerPowerTargetInputSerializer,
    MinerSerializer,
    SiteSerializer,
    TelemetryQuerySerializer,
    TelemetryRowSerializer,
    TelemetrySerializer,
)
from .services.miner_batch import miner_batch_get, miner_batch_list, miner_batch_start, miner_batch_summary
from .services.miner_control import (
    CONTROL_ACTIONS,
    POWER_TARGET_MAX_W,
    POWER_TARGET_MIN_W,
    miner_command,
    miner_command_failure,
)

DEVICES_PER_PAGE = 100


@access(OPERATORS)
def site_list(request: HttpRequest) -> HttpResponse:
    return render(request, "hosting/site_list.html", {"sites": site_list_selector()})


@access(OPERATORS)
def device_list(request: HttpRequest) -> HttpResponse:
    """Miners with their live status, filterable; the host's working list for batch actions."""
    filterset = MinerFilter(request.GET, queryset=miner_list_for_user(user=request.user))
    page = Paginator(filterset.qs, DEVICES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "hosting/device_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": query.urlencode(),
            "status_counts": miner_status_counts(queryset=filterset.qs),
        },
    )


class SiteViewSet(viewsets.ReadOnlyModelViewSet[Site]):
    """Mining sites, with their power capacity, energy price and alert thresholds."""

    access_policy = roles(*OPERATOR_ROLES, scopes=[ApiScope.MINERS_READ])
    serializer_class = SiteSerializer

    def get_queryset(self) -> QuerySet[Site]:
        return site_list_selector()


class MinerViewSet(viewsets.ReadOnlyModelViewSet[Miner]):
    """Miners with their latest reading. Clients see their own miners only."""

    access_policy = roles(*ALL_ROLES, scopes=[ApiScope.MINERS_READ])
    serializer_class = MinerSerializer
    filterset_class = MinerFilter

    def get_queryset(self) -> QuerySet[Miner]:
        return miner_list_for_user(user=self.request.user)


class MinerTelemetryApi(APIView):
    """A miner's latest reading and its history: raw polls up to 6 h, then 5-minute or hourly rollups."""

    access_policy = roles(*ALL_ROLES, scopes=[ApiScope.TELEMETRY_READ])

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO 8601; default 1 hour before end"),
            OpenApiParameter("end", str, description="ISO 8601; default now"),
        ],
        responses=TelemetrySerializer,
    )
    def get(self, request: Request, miner_id: int) -> Response:
        query = TelemetryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        miner = miner_get_for_user(miner_id=miner_id, user=request.user)
        end = query.validated_data.get("end") or timezone.now()
        start = query.validated_data.get("start") or end - timedelta(hours=1)
        history = telemetry_history(miner_id=miner.pk, start=start, end=end)
        return Response(
            TelemetrySerializer({"miner": miner, "resolution": history.resolution, "points": history.points}).data
        )


class TelemetryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[MinerTelemetry]):
    """Stored polls, newest first; filter by miner, site, outcome and time (default: the last hour)."""

    access_policy = roles(*ALL_ROLES, scopes=[ApiScope.TELEMETRY_READ])
    serializer_class = TelemetryRowSerializer
    filterset_class = TelemetryFilter

    def get_queryset(self) -> QuerySet[MinerTelemetry]:
        return telemetry_list_for_user(user=self.request.user)


def _acting_user(request: HttpRequest | Request) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied("Sign in first.")
    return request.user


_COMMAND_ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Bad input (code invalid_input)."),
    403: OpenApiResponse(
        ApiErrorSerializer, description="Not an operator, or an API key without the miners:control scope."
    ),
    404: OpenApiResponse(ApiErrorSerializer, description="No such miner, or not one of the caller's."),
    503: OpenApiResponse(
        ApiErrorSerializer,
        description="Sent and logged, but the miner did not do it (code miner_command_failed; the message "
        "names the outcome and the operation id). Retry-After is set.",
    ),
}


class MinerCommandApi(APIView):
    """Base of the control commands: one command, one logged operation, answered with its log row."""

    access_policy = roles(*OPERATOR_ROLES, scopes=[ApiScope.MINERS_CONTROL])
    action: str = ""
    input_serializer_class: type[Serializer[object]] | None = None

    def post(self, request: Request, miner_id: int) -> Response:
        parameters: dict[str, object] = {}
        if self.input_serializer_class is not None:
            data = self.input_serializer_class(data=request.data)
            data.is_valid(raise_exception=True)
            parameters = dict(data.validated_data)
        miner = miner_get_for_user(miner_id=miner_id, user=request.user)
        operation = miner_command(
            miner_id=miner.pk,
            action=self.action,
            parameters=parameters,
            requested_by=_acting_user(request),
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            now=timezone.now(),
        )
        if operation.outcome != "ok":
            raise miner_command_failure(operation=operation)
        return Response(MinerOperationSerializer(operation).data)


def _command_schema(summary: str, description: str) -> dict[str, object]:
    return {
        "summary": summary,
        "description": description,
        "request": None,
        "responses": {200: MinerOperationSerializer, **_COMMAND_ERRORS},
    }


class MinerStartApi(MinerCommandApi):
    action = MinerAction.START

    @extend_schema(
        **_command_schema(  # type: ignore[arg-type]  # keyword arguments of extend_schema, built once
            "Start (wake) a miner",
            "Resumes hashing through the miner's own firmware interface; the miner's status returns to "
            "online and polling takes over.",
        )
    )
    def post(self, request: Request, miner_id: int) -> Response:
        return super().post(request, miner_id)


class MinerShutdownApi(MinerCommandApi):
    action = MinerAction.STOP

    @extend_schema(
        **_command_schema(  # type: ignore[arg-type]  # keyword arguments of extend_schema, built once
            "Stop (sleep) a miner",
            "Stops hashing where the firmware can sleep (Braiins pause, Antminer sleep mode, Whatsminer "
            "power_off, Avalon soft-off): the control board stays reachable, so start works later. "
            "The miner's status becomes stopped.",
        )
    )
    def post(self, request: Request, miner_id: int) -> Response:
        return super().post(request, miner_id)


class MinerRebootApi(MinerCommandApi):
    action = MinerAction.REBOOT

    @extend_schema(
        **_command_schema(  # type: ignore[arg-type]  # keyword arguments of extend_schema, built once
            "Reboot a miner", "Reboots the miner where its firmware allows it over a protocol the platform speaks."
        )
    )
    def post(self, request: Request, miner_id: int) -> Response:
        return super().post(request, miner_id)


class MinerPowerTargetApi(MinerCommandApi):
    action = MinerAction.POWER_TARGET
    input_serializer_class = MinerPowerTargetInputSerializer

    @extend_schema(
        summary="Set a miner's power target",
        description="Asks the firmware to hold its draw at power_w watts (Whatsminer adjust_power_limit, which "
        "restarts btminer). Firmwares without a watt target answer 503 with outcome unsupported.",
        request=MinerPowerTargetInputSerializer,
        responses={200: MinerOperationSerializer, **_COMMAND_ERRORS},
    )
    def post(self, request: Request, miner_id: int) -> Response:
        return super().post(request, miner_id)


class MinerBatchForm(forms.Form):
    """The device list's batch action: an action for the ticked miners or for every miner the filter matches."""

    action = forms.ChoiceField(
        choices=[(value, label) for value, label in MinerAction.choices if value in CONTROL_ACTIONS]
    )
    power_w = forms.IntegerField(required=False, min_value=POWER_TARGET_MIN_W, max_value=POWER_TARGET_MAX_W)
    scope = forms.ChoiceField(choices=[("selected", "Selected miners"), ("filter", "Every miner the filter matches")])
    miner = forms.TypedMultipleChoiceField(coerce=int, required=False)
    filter = forms.CharField(required=False, max_length=2000)  # the device list's query string

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # Form's own signature
        # Any id is accepted here; the view keeps only miners the user may see.
        ids = self.data.getlist("miner") if isinstance(self.data, QueryDict) else []
        self.fields["miner"].choices = [(v, v) for v in ids]  # type: ignore[attr-defined]  # a ChoiceField

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("action") == MinerAction.POWER_TARGET and data.get("power_w") is None:
            self.add_error("power_w", "A power target needs the watts.")
        if data.get("scope") == "selected" and not data.get("miner"):
            self.add_error("miner", "Tick at least one miner, or run it on every miner the filter matches.")
        return data


def _device_list_url(query: str) -> str:
    return reverse("hosting:device-list") + (f"?{query}" if query else "")


def _batch_submit(request: HttpRequest) -> HttpResponse:
    form = MinerBatchForm(request.POST)
    query = request.POST.get("filter", "")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(_device_list_url(query))
    visible = miner_list_for_user(user=request.user)
    if form.cleaned_data["scope"] == "filter":
        filterset = MinerFilter(QueryDict(form.cleaned_data["filter"]), queryset=visible)
        if not filterset.is_valid():
            # django-filter drops an invalid field and filters on the rest: a batch would reach too far.
            messages.error(request, "The filter is not valid; fix it on the device list first.")
            return redirect(_device_list_url(query))
        chosen = filterset.qs
    else:
        chosen = visible.filter(pk__in=form.cleaned_data["miner"])
    power_w = form.cleaned_data["power_w"]
    try:
        batch = miner_batch_start(
            miner_ids=list(chosen.order_by().values_list("pk", flat=True)),
            action=form.cleaned_data["action"],
            parameters={} if power_w is None else {"power_w": power_w},
            requested_by=_acting_user(request),
            now=timezone.now(),
        )
    except DomainError as exc:
        messages.error(request, " ".join([exc.message, *(m for ms in exc.fields.values() for m in ms)]))
        return redirect(_device_list_url(query))
    return redirect(f"{reverse('hosting:device-batch')}?id={batch.batch_id}")


@access(OPERATORS)
@require_http_methods(["GET", "POST"])
def device_batch(request: HttpRequest) -> HttpResponse:
    """POST starts a batch from the device list; GET shows one batch's progress (?id=) or the recent ones."""
    if request.method == "POST":
        return _batch_submit(request)
    batch_id = request.GET.get("id", "")
    if not batch_id:
        return render(request, "hosting/device_batch.html", {"recent": miner_batch_list()})
    try:
        progress = miner_batch_get(batch_id=batch_id)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    return render(request, "hosting/device_batch.html", {"progress": progress, "batch": progress.summary})


@access(OPERATORS)
@require_GET
def device_batch_status(request: HttpRequest) -> JsonResponse:
    """How far one batch got, for the progress bar to poll."""
    batch_id = request.GET.get("id", "")
    try:
        batch = miner_batch_summary(batch_id=batch_id)
    except NotFoundError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=404)
    return JsonResponse(
        {
            "batch": batch.batch_id,
            "action": batch.action,
            "total": batch.total,
            "done": batch.done,
            "ok": batch.ok,
            "failed": batch.failed,
            "percent": batch.percent,
            "finished": batch.finished,
        }
    )
