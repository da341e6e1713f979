"""Curtailment over REST: plans (list, detail, create), the strategies' preview, cancel and recover now,
the trigger that starts a plan at once, and the demand-response request of an aggregator's API key.

Reads need an operator role (or an API key with miners:read); anything that sends or stops commands
needs miners:control; demand response takes only API keys holding curtailment:request.
"""

from datetime import timedelta
from decimal import Decimal

import django_filters
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mining_platform.core.choices import OPERATOR_ROLES, ApiScope
from mining_platform.core.errors import DomainError, NotFoundError, PermissionDeniedError
from mining_platform.core.models import ApiKey, User
from mining_platform.core.rbac import AccessPolicy, api_key, roles

from .choices import CurtailmentSource, CurtailmentStatus, CurtailmentStrategy, CurtailmentTargetKind
from .forms_curtailment import MAX_DURATION_MINUTES
from .models import CurtailmentPlan, CurtailmentPlanMiner, Site
from .page_selectors_curtailment import curtailment_plan_get, curtailment_plan_list
from .serializers import ApiErrorSerializer
from .services.curtailment_execution import curtailment_plan_cancel, curtailment_plan_recover_now
from .services.curtailment_plans import CurtailmentRequest, curtailment_hashprice, curtailment_preview
from .services.curtailment_requests import (
    DemandResponseRequest,
    curtailment_demand_response,
    curtailment_plan_submit,
    curtailment_plan_trigger,
)

READ_POLICY = roles(*OPERATOR_ROLES, scopes=[ApiScope.MINERS_READ])
CONTROL_POLICY = roles(*OPERATOR_ROLES, scopes=[ApiScope.MINERS_CONTROL])
# An aggregator's key, issued by an operator to an account of theirs; clients may not curtail a site.
DEMAND_RESPONSE_POLICY = api_key(ApiScope.CURTAILMENT_REQUEST, owner_roles=OPERATOR_ROLES)


# --- Output ---------------------------------------------------------------------------------------------


class CurtailmentPlanMinerSerializer(serializers.ModelSerializer[CurtailmentPlanMiner]):
    address = serializers.SerializerMethodField(help_text="ip:port of the miner.")

    class Meta:
        model = CurtailmentPlanMiner
        fields = [
            "miner",
            "address",
            "round",
            "action",
            "target_power_w",
            "planned_power_change_w",
            "planned_hashrate_change_ths",
            "nominal",
            "baseline_power_w",
            "baseline_hashrate_ths",
            "command_step",
            "command_attempts",
            "command_error",
            "commanded_at",
            "confirmed_at",
            "recovery_step",
            "recovery_attempts",
            "recovery_error",
            "recovery_sent_at",
            "recovered_at",
        ]
        read_only_fields = fields

    def get_address(self, row: CurtailmentPlanMiner) -> str:
        return f"{row.miner.ip}:{row.miner.port}"


class CurtailmentPlanSerializer(serializers.ModelSerializer[CurtailmentPlan]):
    site_name = serializers.CharField(source="site.name", read_only=True)
    created_by = serializers.CharField(source="created_by.email", read_only=True, allow_null=True, default=None)
    api_key = serializers.CharField(source="api_key.prefix", read_only=True, allow_null=True, default=None)
    miner_count = serializers.IntegerField(read_only=True, help_text="Miners in the plan (every round).")
    commands_failed = serializers.IntegerField(read_only=True)
    miners_confirmed = serializers.IntegerField(read_only=True, help_text="Curtailment confirmed by telemetry.")
    miners_recovered = serializers.IntegerField(read_only=True, help_text="Back and confirmed by telemetry.")
    recoveries_failed = serializers.IntegerField(read_only=True)

    class Meta:
        model = CurtailmentPlan
        fields = [
            "id",
            "site",
            "site_name",
            "target_kind",
            "target_value",
            "strategy",
            "status",
            "source",
            "scheduled_start",
            "recover_at",
            "deadline",
            "hold_minutes",
            "ramp_kw_per_minute",
            "external_ref",
            "created_by",
            "api_key",
            "created_at",
            "claimed_at",
            "executed_at",
            "recovery_started_at",
            "finished_at",
            "baseline_power_kw",
            "planned_shed_kw",
            "planned_hashrate_lost_ths",
            "bound_hashrate_lost_ths",
            "measured_shed_kw",
            "measured_hashrate_lost_ths",
            "measured_at",
            "note",
            "miner_count",
            "commands_failed",
            "miners_confirmed",
            "miners_recovered",
            "recoveries_failed",
        ]
        read_only_fields = fields


class CurtailmentPlanDetailSerializer(CurtailmentPlanSerializer):
    miners = CurtailmentPlanMinerSerializer(source="plan_miners", many=True, read_only=True)

    class Meta(CurtailmentPlanSerializer.Meta):
        fields = [*CurtailmentPlanSerializer.Meta.fields, "miners"]
        read_only_fields = fields


class PreviewChoiceSerializer(serializers.Serializer[object]):
    miner = serializers.IntegerField(source="miner_id")
    action = serializers.CharField(help_text="off (sleep where the firmware has it) or power_target.")
    sleep = serializers.BooleanField()
    target_power_w = serializers.IntegerField(allow_null=True)
    power_change_w = serializers.IntegerField(help_text="Negative: power shed.")
    hashrate_change_ths = serializers.FloatField(help_text="Negative: hashrate lost.")


class PreviewResultSerializer(serializers.Serializer[object]):
    strategy = serializers.CharField()
    solver = serializers.CharField()
    shed_kw = serializers.FloatField()
    hashrate_lost_ths = serializers.FloatField()
    revenue_lost_usd_per_hour = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="At the current hashprice; null without market data.",
    )
    target_met = serializers.BooleanField()
    short_by = serializers.FloatField(help_text="In the target's unit; 0 when met.")
    short_reason = serializers.CharField(allow_null=True)
    lower_bound_ths = serializers.FloatField(allow_null=True, help_text="Proven lower bound of the hashrate lost.")
    gap_pct = serializers.FloatField(allow_null=True, help_text="100 x (loss - bound) / loss.")
    optimal = serializers.BooleanField()
    miners_curtailed = serializers.IntegerField()
    power_targets = serializers.IntegerField()
    solve_seconds = serializers.FloatField()
    notes = serializers.ListField(child=serializers.CharField())
    miners = PreviewChoiceSerializer(source="choices", many=True)


class CurtailmentPreviewSerializer(serializers.Serializer[object]):
    site = serializers.IntegerField()
    target_kind = serializers.CharField()
    target_value = serializers.DecimalField(max_digits=12, decimal_places=3)
    hashprice_usd_per_th_day = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    results = PreviewResultSerializer(many=True)


class DemandResponseAnswerSerializer(serializers.Serializer[object]):
    created = serializers.BooleanField(
        help_text="False when the request id was seen before: the same plan, as it is now."
    )
    target_met = serializers.BooleanField(help_text="The planned shed covers the kW asked.")
    expected_shed_at = serializers.DateTimeField(help_text="When telemetry confirms the shed (or did).")
    can_meet_by_deadline = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why the deadline cannot be met.")
    plan = CurtailmentPlanSerializer()


# --- Input ----------------------------------------------------------------------------------------------


class _EndMixin(serializers.Serializer[object]):
    recover_at = serializers.DateTimeField(required=False, help_text="When the miners come back (or duration).")
    duration_minutes = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_DURATION_MINUTES, help_text="Or a recovery time."
    )

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if ("recover_at" in attrs) == ("duration_minutes" in attrs):
            raise serializers.ValidationError({"recover_at": "give either recover_at or duration_minutes"})
        return attrs


class CurtailmentTargetInputSerializer(serializers.Serializer[object]):
    site = serializers.IntegerField()
    target_kind = serializers.ChoiceField(choices=CurtailmentTargetKind.choices)
    target_value = serializers.DecimalField(
        max_digits=12,
        decimal_places=3,
        help_text="kW for shed_kw and site_cap_kw, miners for miners, °C for thermal_c.",
    )


class CurtailmentPlanCreateInputSerializer(CurtailmentTargetInputSerializer, _EndMixin):
    strategy = serializers.ChoiceField(choices=CurtailmentStrategy.choices, default=CurtailmentStrategy.OPTIMAL)
    starts_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    hold_minutes = serializers.IntegerField(required=False, min_value=0, max_value=24 * 60)
    ramp_kw_per_minute = serializers.DecimalField(max_digits=10, decimal_places=2, required=False)


class CurtailmentTriggerInputSerializer(CurtailmentTargetInputSerializer, _EndMixin):
    strategy = serializers.ChoiceField(choices=CurtailmentStrategy.choices, default=CurtailmentStrategy.OPTIMAL)


class DemandResponseInputSerializer(serializers.Serializer[object]):
    site = serializers.IntegerField()
    request_id = serializers.CharField(max_length=100, help_text="Your id for the request; a repeat is answered once.")
    target_kw = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"))
    deadline = serializers.DateTimeField(help_text="The shed must be reached by then.")
    start = serializers.DateTimeField(required=False, help_text="Default: now.")
    duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_DURATION_MINUTES)
    strategy = serializers.ChoiceField(choices=CurtailmentStrategy.choices, default=CurtailmentStrategy.OPTIMAL)


# --- Views ----------------------------------------------------------------------------------------------


def _site(site_id: int) -> Site:
    site = Site.objects.filter(pk=site_id).first()
    if site is None:
        raise NotFoundError(f"Site {site_id} not found.", fields={"site": ["no such site"]})
    return site


def _user(request: Request) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


_DESCRIBED = {
    400: "Bad input (code invalid_input); fields names each bad one.",
    401: "No credentials, or an API key that is not valid.",
    403: "Not an operator, or an API key without the scope.",
    404: "No such plan or site (code not_found).",
    409: "The request id was used before with other figures (code demand_response_request_reused).",
}


def _errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """Error responses for the schema; `described` overrides a code's text (keyword e400=...)."""
    return {
        code: OpenApiResponse(ApiErrorSerializer, description=described.get(f"e{code}", _DESCRIBED[code]))
        for code in codes
    }


class CurtailmentPlanFilter(django_filters.FilterSet):
    site = django_filters.NumberFilter(field_name="site_id")
    status = django_filters.MultipleChoiceFilter(choices=CurtailmentStatus.choices)
    source = django_filters.ChoiceFilter(choices=CurtailmentSource.choices)
    external_ref = django_filters.CharFilter()

    class Meta:
        model = CurtailmentPlan
        fields = ["site", "status", "source", "external_ref"]


@extend_schema_view(
    list=extend_schema(
        summary="List curtailment plans", responses={200: CurtailmentPlanSerializer, **_errors(401, 403)}
    ),
    retrieve=extend_schema(
        summary="A curtailment plan with its miners",
        responses={200: CurtailmentPlanDetailSerializer, **_errors(401, 403, 404)},
    ),
)
class CurtailmentPlanViewSet(ListModelMixin, RetrieveModelMixin, viewsets.GenericViewSet[CurtailmentPlan]):
    """Curtailment plans, newest start first; each with its planned and measured figures and miner counts."""

    access_policy: AccessPolicy = READ_POLICY
    filterset_class = CurtailmentPlanFilter
    serializer_class = CurtailmentPlanSerializer

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        # Creating a plan sends commands later, so it asks for the control scope; reads for the read one.
        if request.method == "POST":
            self.access_policy = CONTROL_POLICY
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[CurtailmentPlan]:
        return curtailment_plan_list()

    def get_serializer_class(self) -> type[serializers.BaseSerializer[CurtailmentPlan]]:
        return CurtailmentPlanDetailSerializer if self.action == "retrieve" else CurtailmentPlanSerializer

    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        plan = curtailment_plan_get(plan_id=_pk(kwargs.get("pk")), with_miners=True)
        return Response(CurtailmentPlanDetailSerializer(plan).data)

    @extend_schema(
        summary="Create a curtailment plan",
        description="Plans the target on the site's miners as they are now and stores the plan; one starting now "
        "(no starts_at) wakes the executor at once. A target the fleet cannot meet still makes a plan, the "
        "most that can be shed, with the shortfall in its note. Needs miners:control.",
        request=CurtailmentPlanCreateInputSerializer,
        responses={201: CurtailmentPlanDetailSerializer, **_errors(400, 401, 403, 404)},
    )
    def create(self, request: Request) -> Response:
        data = CurtailmentPlanCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        now = timezone.now()
        starts_at = values.get("starts_at") or now
        recover_at = values.get("recover_at") or starts_at + timedelta(minutes=values.get("duration_minutes", 0))
        plan = curtailment_plan_submit(
            request=CurtailmentRequest(
                site=_site(values["site"]),
                target_kind=values["target_kind"],
                target_value=values["target_value"],
                strategy=values["strategy"],
                starts_at=starts_at,
                recover_at=recover_at,
                source=CurtailmentSource.API,
                hold_minutes=values.get("hold_minutes"),
                ramp_kw_per_minute=values.get("ramp_kw_per_minute"),
            ),
            now=now,
            created_by=_user(request),
            api_key=_key(request),
        )
        detail = curtailment_plan_get(plan_id=plan.pk, with_miners=True)
        return Response(CurtailmentPlanDetailSerializer(detail).data, status=status.HTTP_201_CREATED)


def _pk(value: object) -> int:
    text = str(value)
    if not text.isdigit():
        raise NotFoundError(f"Curtailment plan {text} not found.")
    return int(text)


class CurtailmentPreviewApi(APIView):
    """Every strategy's plan for a target at a site now, side by side; nothing is stored or sent."""

    access_policy = READ_POLICY

    @extend_schema(
        summary="Preview every curtailment strategy",
        description="For each strategy: kW shed, TH/s lost, revenue lost per hour at the current hashprice, "
        "the gap to the proven bound, and the miners chosen.",
        request=CurtailmentTargetInputSerializer,
        responses={200: CurtailmentPreviewSerializer, **_errors(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        data = CurtailmentTargetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        site = _site(values["site"])
        now = timezone.now()
        preview = curtailment_preview(
            site=site, target_kind=values["target_kind"], target_value=values["target_value"], now=now
        )
        body = {
            "site": site.pk,
            "target_kind": values["target_kind"],
            "target_value": values["target_value"],
            "hashprice_usd_per_th_day": curtailment_hashprice(now=now),
            "results": preview.results,
        }
        return Response(CurtailmentPreviewSerializer(body).data)


class _PlanCommandApi(APIView):
    access_policy = CONTROL_POLICY

    def run(self, *, plan: CurtailmentPlan, by: User | None) -> None:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        plan = curtailment_plan_get(plan_id=pk)
        self.run(plan=plan, by=_user(request))
        return Response(CurtailmentPlanSerializer(curtailment_plan_get(plan_id=pk)).data)


class CurtailmentPlanCancelApi(_PlanCommandApi):
    @extend_schema(
        summary="Cancel a pending curtailment plan",
        description="Only a draft or pending plan: nothing has been sent yet.",
        request=None,
        responses={
            200: CurtailmentPlanSerializer,
            **_errors(400, 401, 403, 404, e400="The plan is past pending (code invalid_input, fields.status)."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, *, plan: CurtailmentPlan, by: User | None) -> None:
        curtailment_plan_cancel(plan=plan, by=by, now=timezone.now())


class CurtailmentPlanRecoverNowApi(_PlanCommandApi):
    @extend_schema(
        summary="End a curtailment plan now",
        description="For an executing or executed plan: its recovery time becomes now and the recovery monitor "
        "brings its miners back in staggered steps.",
        request=None,
        responses={
            200: CurtailmentPlanSerializer,
            **_errors(400, 401, 403, 404, e400="The plan is not running (code invalid_input, fields.status)."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, *, plan: CurtailmentPlan, by: User | None) -> None:
        curtailment_plan_recover_now(plan=plan, by=by, now=timezone.now())


def _wants_page(request: Request) -> bool:
    """A browser's form post from the curtailment page (answered with a redirect), not an API call."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return (
        _key(request) is None
        and "text/html" in accept
        and request.content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    )


def _page_error(request: Request, error: DomainError | serializers.ValidationError) -> HttpResponse:
    if isinstance(error, DomainError):
        text = " ".join([error.message, *(f"{k}: {m}" for k, ms in error.fields.items() for m in ms)])
    else:
        detail = error.detail if isinstance(error.detail, dict) else {"input": error.detail}
        text = "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in detail.items())
    messages.error(request._request, f"The plan was not started. {text}")
    return HttpResponseRedirect(reverse("hosting:curtailment"))


class CurtailmentTriggerApi(APIView):
    """Start a plan now: stored with its start at this moment, and the executor woken at once."""

    access_policy = CONTROL_POLICY

    @extend_schema(
        summary="Start a curtailment plan now",
        description="Plans the target on the site's miners as they are now, stores the plan with its start now "
        "and queues the executor (hosting.curtailment_execute_due). Form posts from the curtailment page are "
        "answered with a redirect back to it; API calls with the plan. Needs miners:control.",
        request=CurtailmentTriggerInputSerializer,
        responses={201: CurtailmentPlanDetailSerializer, **_errors(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response | HttpResponse:
        page = _wants_page(request)
        data = CurtailmentTriggerInputSerializer(data=request.data)
        try:
            data.is_valid(raise_exception=True)
            values = data.validated_data
            duration = values.get("duration_minutes")
            plan = curtailment_plan_trigger(
                site=_site(values["site"]),
                target_kind=values["target_kind"],
                target_value=values["target_value"],
                strategy=values["strategy"],
                recover_at=values.get("recover_at"),
                duration=None if duration is None else timedelta(minutes=duration),
                source=CurtailmentSource.PAGE if page else CurtailmentSource.API,
                now=timezone.now(),
                created_by=_user(request),
                api_key=_key(request),
            )
        except (DomainError, serializers.ValidationError) as error:
            if page:
                return _page_error(request, error)
            raise
        if page:
            messages.success(
                request._request,
                f"Plan {plan.pk} at {plan.site.name} started: {plan.planned_shed_kw.normalize():f} kW planned.",
            )
            return HttpResponseRedirect(f"{reverse('hosting:curtailment')}#plan-{plan.pk}")
        detail = curtailment_plan_get(plan_id=plan.pk, with_miners=True)
        return Response(CurtailmentPlanDetailSerializer(detail).data, status=status.HTTP_201_CREATED)


class CurtailmentDemandResponseApi(APIView):
    """A demand-response request from an aggregator's API key (scope curtailment:request)."""

    access_policy = DEMAND_RESPONSE_POLICY

    @extend_schema(
        summary="Request curtailment (demand response)",
        description="Sheds target_kw at the site from start (default now) for duration_minutes, to be reached by "
        "the deadline. Idempotent on request_id: a repeat answers the same plan as it is now (200, created "
        "false); the same id with other figures is refused (409, demand_response_request_reused). The answer "
        "says whether the planned shed covers the target and whether it can be confirmed by the deadline.",
        request=DemandResponseInputSerializer,
        responses={
            201: DemandResponseAnswerSerializer,
            200: DemandResponseAnswerSerializer,
            **_errors(400, 401, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        data = DemandResponseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        key = _key(request)
        if key is None:  # the policy lets in API keys only; this keeps the type checker informed
            raise PermissionDeniedError("Only API keys may post demand-response requests.")
        now = timezone.now()
        answer = curtailment_demand_response(
            request=DemandResponseRequest(
                site=_site(values["site"]),
                request_id=values["request_id"],
                target_kw=values["target_kw"],
                deadline=values["deadline"],
                starts_at=values.get("start") or now,
                duration=timedelta(minutes=values["duration_minutes"]),
                strategy=values["strategy"],
            ),
            api_key=key,
            now=now,
        )
        plan = curtailment_plan_get(plan_id=answer.plan.pk)
        body = {
            "created": answer.created,
            "target_met": answer.target_met,
            "expected_shed_at": answer.expected_shed_at,
            "can_meet_by_deadline": answer.can_meet_by_deadline,
            "reasons": list(answer.reasons),
            "plan": plan,
        }
        return Response(
            DemandResponseAnswerSerializer(body).data,
            status=status.HTTP_201_CREATED if answer.created else status.HTTP_200_OK,
        )
