from rest_framework import serializers

from .models import MinerModel


class MinerModelSerializer(serializers.ModelSerializer[MinerModel]):
    class Meta:
        model = MinerModel
        fields = ["id", "make", "model", "hashrate_ths", "power_w", "efficiency_j_per_th", "released_on"]
        read_only_fields = fields
