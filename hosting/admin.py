from django.contrib import admin

from .models import Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = ["name", "location", "time_zone", "power_capacity_kw", "energy_price_usd_per_kwh", "max_temp_c"]
    search_fields = ["name", "location"]
