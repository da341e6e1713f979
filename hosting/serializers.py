from rest_framework import serializers

from .models import Miner, MinerLatest, Site


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
            "min_hashrate_share",
            "offline_after_failures",
            "created_at",
        ]
        read_only_fields = fields


class MinerLatestSerializer(serializers.ModelSerializer[MinerLatest]):
    class Meta:
        model = MinerLatest
        fields = [
            "recorded_at",
            "outcome",
            "hashrate_ths",
            "power_w",
            "board_temp_max_c",
            "chip_temp_max_c",
            "fan_rpm_min",
            "is_sleeping",
        ]
        read_only_fields = fields


class MinerSerializer(serializers.ModelSerializer[Miner]):
    model = serializers.CharField(source="miner_model.__str__", read_only=True)
    latest = MinerLatestSerializer(read_only=True, allow_null=True)  # null until the first poll

    class Meta:
        model = Miner
        fields = [
            "id",
            "site",
            "customer",
            "model",
            "rack",
            "position",
            "ip",
            "port",
            "firmware",
            "serial",
            "status",
            "nominal_hashrate_ths",
            "nominal_power_w",
            "last_seen_at",
            "latest",
        ]
        read_only_fields = fields


class HistoryPointSerializer(serializers.Serializer[object]):
    at = serializers.DateTimeField()
    hashrate_ths = serializers.FloatField(allow_null=True)
    temp_c = serializers.FloatField(allow_null=True)
    power_w = serializers.FloatField(allow_null=True)
    ok_share = serializers.FloatField()


class TelemetrySerializer(serializers.Serializer[object]):
    miner = MinerSerializer()
    resolution = serializers.CharField()
    points = HistoryPointSerializer(many=True)


class TelemetryQuerySerializer(serializers.Serializer[object]):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start >= end:  # type: ignore[operator]
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs
