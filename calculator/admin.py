from django.contrib import admin
from django.http import HttpRequest

from .models import CalculationHistory, MinerModel


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
