from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin

from mining_platform.core.errors import DomainError
from mining_platform.core.models import User

from .choices import MinerAction
from .models import (
    Alert,
    CurtailmentPlan,
    CurtailmentPlanMiner,
    CurtailmentPriceRule,
    CurtailmentRuleDecision,
    Miner,
    MinerLatest,
    MinerOperation,
    Site,
    SiteEnergyPrice,
)
from .resources import MinerResource
from .services.alerts import alert_acknowledge
from .services.miner_batch import miner_batch_create, miner_batch_get, miner_batch_run
from .services.miner_identify import IdentifyOutcome, miners_identify
from .tasks import miner_identify_task

# Per-miner result lines shown after an admin action; the batch page lists the rest.
ACTION_RESULT_LINES = 50


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = ["name", "location", "time_zone", "power_capacity_kw", "energy_price_usd_per_kwh", "max_temp_c"]
    search_fields = ["name", "location"]


@admin.register(Miner)
class MinerAdmin(ImportExportModelAdmin):
    """Miners, with CSV / Excel import (checked in full before anything is written) and export."""

    resource_classes = [MinerResource]
    list_display = [
        "ip",
        "port",
        "site",
        "rack",
        "position",
        "miner_model",
        "firmware",
        "customer",
        "status",
        "latest_hashrate",
        "latest_power",
        "latest_temp",
        "latest_at",
    ]
    list_filter = ["site", "status", "firmware", "miner_model__make"]
    search_fields = ["ip", "serial", "rack", "customer__name"]
    list_select_related = ["site", "miner_model", "customer", "latest"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["status", "consecutive_failures", "last_seen_at", "created_at"]
    actions = ["start_miners", "stop_miners", "identify_miners"]

    @staticmethod
    def _latest(obj: Miner) -> MinerLatest | None:
        return getattr(obj, "latest", None)  # None until the first poll

    @admin.display(description="TH/s")
    def latest_hashrate(self, obj: Miner) -> str:
        latest = self._latest(obj)
        return "—" if latest is None or latest.hashrate_ths is None else f"{latest.hashrate_ths:.1f}"

    @admin.display(description="W")
    def latest_power(self, obj: Miner) -> str:
        latest = self._latest(obj)
        return "—" if latest is None or latest.power_w is None else str(latest.power_w)

    @admin.display(description="°C")
    def latest_temp(self, obj: Miner) -> str:
        latest = self._latest(obj)
        if latest is None:
            return "—"
        temp = latest.chip_temp_max_c if latest.chip_temp_max_c is not None else latest.board_temp_max_c
        return "—" if temp is None else f"{temp:.0f}"

    @admin.display(description="Reading at", ordering="latest__recorded_at")
    def latest_at(self, obj: Miner) -> str:
        latest = self._latest(obj)
        return "—" if latest is None else f"{latest.recorded_at:%Y-%m-%d %H:%M:%S}"

    def _control(self, request: HttpRequest, queryset: QuerySet[Miner], action: str) -> None:
        user = request.user if isinstance(request.user, User) else None
        try:
            batch = miner_batch_create(
                miner_ids=list(queryset.values_list("pk", flat=True)),
                action=action,
                parameters={},
                requested_by=user,
                now=timezone.now(),
            )
            miner_batch_run(batch_id=batch.batch_id, now=timezone.now())
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        progress = miner_batch_get(batch_id=batch.batch_id)
        summary = progress.summary
        self.message_user(
            request,
            format_html(
                '{} sent to {} miner(s): {} done, {} failed. <a href="{}?id={}">Batch page</a>',
                summary.action_label,
                summary.total,
                summary.ok,
                summary.failed,
                reverse("hosting:device-batch"),
                summary.batch_id,
            ),
            messages.SUCCESS if not summary.failed else messages.WARNING,
        )
        for operation in progress.operations[:ACTION_RESULT_LINES]:
            answer = operation.response if len(operation.response) <= 120 else operation.response[:120] + "…"
            self.message_user(
                request,
                f"{operation.miner}: {operation.outcome}{' — ' + answer if answer else ''}",
                messages.SUCCESS if operation.outcome == "ok" else messages.ERROR,
            )

    @admin.action(description="Start selected miners")
    def start_miners(self, request: HttpRequest, queryset: QuerySet[Miner]) -> None:
        self._control(request, queryset, MinerAction.START)

    @admin.action(description="Stop (sleep) selected miners")
    def stop_miners(self, request: HttpRequest, queryset: QuerySet[Miner]) -> None:
        self._control(request, queryset, MinerAction.STOP)

    def save_model(self, request: HttpRequest, obj: Miner, form: ModelForm[Miner], change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # A new miner is asked what it is once the row is committed; the result lands in the log.
            user = request.user if isinstance(request.user, User) else None
            miner_identify_task.delay_on_commit(miner_id=obj.pk, requested_by_id=None if user is None else user.pk)

    @admin.action(description="Identify with pyasic", permissions=["change"])
    def identify_miners(self, request: HttpRequest, queryset: QuerySet[Miner]) -> None:
        user = request.user if isinstance(request.user, User) else None
        try:
            results = miners_identify(
                miner_ids=list(queryset.values_list("pk", flat=True)), requested_by=user, now=timezone.now()
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        counts = ", ".join(
            f"{sum(1 for r in results if r.outcome == outcome)} {outcome.replace('_', ' ')}"
            for outcome in IdentifyOutcome
        )
        self.message_user(
            request,
            f"Identified {len(results)} miner(s) with pyasic: {counts}.",
            messages.SUCCESS if all(r.ok for r in results) else messages.WARNING,
        )
        for result in results[:ACTION_RESULT_LINES]:
            self.message_user(
                request,
                f"{result.miner_label}: {result.outcome} — {result.message}",
                messages.SUCCESS if result.ok else messages.ERROR,
            )


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    """Alerts are opened and resolved by the evaluation task; people only acknowledge them."""

    list_display = ["opened_at", "kind", "status", "miner", "site", "message", "acknowledged_by", "resolved_at"]
    list_filter = ["status", "kind", "site"]
    search_fields = ["message", "miner__ip", "miner__serial"]
    list_select_related = ["miner", "site", "acknowledged_by"]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        return False

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        if not isinstance(request.user, User):
            return
        done, refused = 0, []
        for alert_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                alert_acknowledge(alert_id=alert_id, user=request.user, now=timezone.now())
            except DomainError as exc:
                refused.append(exc.message)
            else:
                done += 1
        if done:
            self.message_user(request, f"Acknowledged {done} alert(s).", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)


@admin.register(MinerOperation)
class MinerOperationAdmin(admin.ModelAdmin[MinerOperation]):
    """The control log: who sent what to which miner, when, and what the miner answered. Read-only."""

    list_display = ["requested_at", "miner", "action", "outcome", "requested_by", "api_key", "finished_at", "answer"]
    list_filter = ["action", "outcome", "miner__site", "miner__firmware"]
    search_fields = ["miner__ip", "miner__serial", "requested_by__email", "api_key__name", "response"]
    list_select_related = ["miner", "requested_by", "api_key"]
    date_hierarchy = "requested_at"

    @admin.display(description="Answer")
    def answer(self, obj: MinerOperation) -> str:
        return obj.response if len(obj.response) <= 80 else obj.response[:80] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MinerOperation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MinerOperation | None = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # shared by models of several types
    """State the services keep: shown to staff, changed only through the services (pages, API, tasks)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


class CurtailmentPlanMinerInline(admin.TabularInline[CurtailmentPlanMiner, CurtailmentPlan]):
    model = CurtailmentPlanMiner
    fields = readonly_fields = (
        "miner",
        "round",
        "action",
        "target_power_w",
        "planned_power_change_w",
        "planned_hashrate_change_ths",
        "command_step",
        "command_attempts",
        "command_error",
        "confirmed_at",
        "recovery_step",
        "recovery_attempts",
        "recovered_at",
    )
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: CurtailmentPlan | None = None) -> bool:
        return False


@admin.register(CurtailmentPlan)
class CurtailmentPlanAdmin(ReadOnlyAdmin):
    """Curtailment plans with their miners; cancel and recover-now are on the curtailment page and API."""

    list_display = [
        "id",
        "site",
        "status",
        "source",
        "target_kind",
        "target_value",
        "strategy",
        "scheduled_start",
        "recover_at",
        "planned_shed_kw",
        "measured_shed_kw",
    ]
    list_filter = ["status", "source", "strategy", "site"]
    date_hierarchy = "scheduled_start"
    list_select_related = ["site"]
    inlines = [CurtailmentPlanMinerInline]


@admin.register(SiteEnergyPrice)
class SiteEnergyPriceAdmin(ReadOnlyAdmin):
    list_display = ["site", "starts_at", "price_usd_per_mwh", "source", "updated_at"]
    list_filter = ["site", "source"]
    date_hierarchy = "starts_at"


@admin.register(CurtailmentPriceRule)
class CurtailmentPriceRuleAdmin(ReadOnlyAdmin):
    list_display = [
        "site",
        "enabled",
        "persist_intervals",
        "resume_intervals",
        "consecutive_above",
        "consecutive_below",
    ]


@admin.register(CurtailmentRuleDecision)
class CurtailmentRuleDecisionAdmin(ReadOnlyAdmin):
    list_display = ["at", "rule", "interval_start", "price_usd_per_mwh", "action", "reason"]
    list_filter = ["action", "rule__site"]
    date_hierarchy = "at"
