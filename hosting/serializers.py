from rest_framework import serializers

from .models import Site


class SiteSerializer(serializers.ModelSerializer[Site]):
    time_zone = serializers.CharField(read_only=True)

    class Meta:
        model = Site
        fields = [
            "id",
            "name",
            "location",
            "time_zone",
            "power_capacity_kw",
            "energy_price_usd_per_kwh",
            "max_temp_c",
            "created_at",
        ]
        read_only_fields = fields
