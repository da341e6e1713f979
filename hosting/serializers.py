from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from .models import Miner, MinerLatest, MinerOperation, MinerTelemetry, Site
from .services.miner_control import POWER_TARGET_MAX_W, POWER_TARGET_MIN_W


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


class TelemetryRowSerializer(serializers.Serializer[MinerTelemetry]):
    """One stored poll of one miner (miner_telemetry has a composite key, so fields are listed here)."""

    miner = serializers.IntegerField(source="miner_id")
    site = serializers.IntegerField(source="site_id")
    recorded_at = serializers.DateTimeField()
    outcome = serializers.CharField()
    hashrate_ths = serializers.FloatField(allow_null=True)
    hashrate_avg_ths = serializers.FloatField(allow_null=True)
    power_w = serializers.IntegerField(allow_null=True)
    board_temp_max_c = serializers.FloatField(allow_null=True)
    chip_temp_max_c = serializers.FloatField(allow_null=True)
    fan_rpm_min = serializers.IntegerField(allow_null=True)
    fan_rpm_max = serializers.IntegerField(allow_null=True)
    boards_alive = serializers.IntegerField(allow_null=True)
    accepted_shares = serializers.IntegerField(allow_null=True)
    rejected_shares = serializers.IntegerField(allow_null=True)
    hardware_errors = serializers.IntegerField(allow_null=True)
    elapsed_s = serializers.IntegerField(allow_null=True)
    is_sleeping = serializers.BooleanField(allow_null=True)


class MinerOperationSerializer(serializers.ModelSerializer[MinerOperation]):
    requested_by = serializers.CharField(source="requested_by.email", read_only=True, allow_null=True, default=None)
    api_key = serializers.CharField(source="api_key.prefix", read_only=True, allow_null=True, default=None)
    outcome = serializers.CharField(read_only=True, help_text="ok, requested (not answered yet), or how it failed.")
    response = serializers.CharField(read_only=True, help_text="The miner's answer, as received.")

    class Meta:
        model = MinerOperation
        fields = [
            "id",
            "miner",
            "action",
            "parameters",
            "requested_by",
            "api_key",
            "requested_at",
            "finished_at",
            "outcome",
            "response",
        ]
        read_only_fields = fields


class MinerPowerTargetInputSerializer(serializers.Serializer[object]):
    power_w = serializers.IntegerField(
        min_value=POWER_TARGET_MIN_W,
        max_value=POWER_TARGET_MAX_W,
        help_text="The power the miner should draw, in watts.",
    )


class ApiErrorSerializer(serializers.Serializer[object]):
    """The API's error envelope (see mining_platform/core/api/exception_handler.py)."""

    error = inline_serializer(
        name="HostingErrorDetail",
        fields={
            "code": serializers.CharField(help_text="Stable code, e.g. not_found or miner_command_failed."),
            "message": serializers.CharField(),
            "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        },
    )
