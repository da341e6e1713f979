from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import CalculationBatch, CalculationHistory, MinerModel


@admin.register(MinerModel)
class MinerModelAdmin(admin.ModelAdmin[MinerModel]):
    list_display = ["make", "model", "hashrate_ths", "power_w", "efficiency_j_per_th", "released_on"]
    list_filter = ["make"]
    search_fields = ["make", "model"]


@admin.register(CalculationHistory)
class CalculationHistoryAdmin(admin.ModelAdmin[CalculationHistory]):
    """Read-only: a saved calculation is a record of what was answered."""

    list_display = ["id", "created_at", "user", "miner_model"]
    list_select_related = ["user", "miner_model"]
    date_hierarchy = "created_at"
    readonly_fields = ["user", "created_at", "miner_model", "inputs", "market", "results"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CalculationHistory | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CalculationHistory | None = None) -> bool:
        return False


# The stored inputs (one entry per row, up to CALCULATOR_BATCH_MAX_ROWS) stay out of the page.
_BATCH_FIELDS = (
    "user",
    "name",
    "source",
    "status",
    "total",
    "done",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "scenario",
    "market",
    "totals",
)


@admin.register(CalculationBatch)
class CalculationBatchAdmin(admin.ModelAdmin[CalculationBatch]):
    """Read-only: a batch is a record of what was computed. Deleting one removes its rows."""

    list_display = ["id", "created_at", "user", "name", "source", "status", "total", "done"]
    list_filter = ["status", "source"]
    list_select_related = ["user"]
    search_fields = ["name", "user__email"]
    date_hierarchy = "created_at"
    fields = _BATCH_FIELDS
    readonly_fields = _BATCH_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalculationBatch]:
        return super().get_queryset(request).defer("inputs")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CalculationBatch | None = None) -> bool:
        return False
