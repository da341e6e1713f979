from django.contrib import admin
from import_export.admin import ImportExportModelAdmin

from .models import Miner, Site
from .resources import MinerResource


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
        "last_seen_at",
    ]
    list_filter = ["site", "status", "firmware", "miner_model__make"]
    search_fields = ["ip", "serial", "rack", "customer__name"]
    list_select_related = ["site", "miner_model", "customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["status", "consecutive_failures", "last_seen_at", "created_at"]
