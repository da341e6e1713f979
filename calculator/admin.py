from django.contrib import admin

from .models import MinerModel


@admin.register(MinerModel)
class MinerModelAdmin(admin.ModelAdmin[MinerModel]):
    list_display = ["make", "model", "hashrate_ths", "power_w", "efficiency_j_per_th", "released_on"]
    list_filter = ["make"]
    search_fields = ["make", "model"]
