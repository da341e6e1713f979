"""Output serializers of the analytics API, and the query serializers that pick a series."""

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from analytics.models import (
    DifficultyAdjustment,
    Forecast,
    Interval,
    MarketAnalytics,
    MarketSignal,
    NetworkStats,
    PriceCandle,
    TechnicalIndicator,
)
from analytics.services.indicators import SERIES

from .filters import SERIES_CHOICES


class PriceCandleQuerySerializer(serializers.Serializer[object]):
    source = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.source
        required=False, max_length=32, help_text="Candle source; default: replay, or binance when live data is on."
    )
    interval = serializers.ChoiceField(choices=Interval.choices, default=Interval.DAY)


class TechnicalIndicatorQuerySerializer(serializers.Serializer[object]):
    series = serializers.ChoiceField(choices=SERIES_CHOICES, default=SERIES[0].name)


class NetworkStatsQuerySerializer(serializers.Serializer[object]):
    source = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.source
        required=False,
        max_length=32,
        help_text="Network source; default: replay, or blockchain_info when live data is on.",
    )


class PriceCandleSerializer(serializers.ModelSerializer[PriceCandle]):
    class Meta:
        model = PriceCandle
        fields = ["source", "interval", "open_time", "open", "high", "low", "close", "volume_btc"]
        read_only_fields = fields


class TechnicalIndicatorSerializer(serializers.ModelSerializer[TechnicalIndicator]):
    class Meta:
        model = TechnicalIndicator
        fields = [
            "series",
            "at",
            "close",
            "rsi_14",
            "macd",
            "macd_signal",
            "macd_hist",
            "bb_mid",
            "bb_upper",
            "bb_lower",
        ]
        read_only_fields = fields


class MarketSignalSerializer(serializers.ModelSerializer[MarketSignal]):
    class Meta:
        model = MarketSignal
        fields = ["id", "series", "at", "kind", "value", "threshold", "reason"]
        read_only_fields = fields


class ForecastPointSerializer(serializers.Serializer[object]):
    date = serializers.DateField()
    mean = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()


class ForecastSerializer(serializers.ModelSerializer[Forecast]):
    points = ForecastPointSerializer(many=True, read_only=True, help_text="One per day after history_end.")

    class Meta:
        model = Forecast
        fields = [
            "id",
            "target",
            "made_at",
            "history_end",
            "order",
            "criterion",
            "criterion_value",
            "horizon_days",
            "confidence",
            "points",
        ]
        read_only_fields = fields


class NetworkStatsSerializer(serializers.ModelSerializer[NetworkStats]):
    class Meta:
        model = NetworkStats
        fields = [
            "source",
            "recorded_at",
            "difficulty",
            "hashrate_ths",
            "block_height",
            "fees_btc_per_day",
            "avg_fee_per_block_btc",
        ]
        read_only_fields = fields


class DifficultyAdjustmentSerializer(serializers.ModelSerializer[DifficultyAdjustment]):
    class Meta:
        model = DifficultyAdjustment
        fields = ["height", "start_time", "bits", "difficulty"]
        read_only_fields = fields


class SourceDetailSerializer(serializers.Serializer[object]):
    """One source's part in an aggregation run, as recorded in market_analytics.per_source."""

    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source
    kind = serializers.CharField(help_text="price or network.")
    ok = serializers.BooleanField()
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True, help_text="Why the source failed, if it did.")
    error_kind = serializers.CharField(allow_null=True)
    http_status = serializers.IntegerField(allow_null=True)
    observed_at = serializers.DateTimeField(allow_null=True, help_text="When the source says its value is from.")
    price_usd = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    volume_24h_btc = serializers.DecimalField(max_digits=24, decimal_places=8, allow_null=True)
    deviation_percent = serializers.FloatField(allow_null=True, help_text="Distance from the median price.")
    excluded = serializers.BooleanField(help_text="Left out of the robust price as an outlier.")
    excluded_reason = serializers.CharField(allow_blank=True)
    difficulty = serializers.DecimalField(max_digits=30, decimal_places=4, allow_null=True)
    hashrate_ths = serializers.FloatField(allow_null=True)
    block_height = serializers.IntegerField(allow_null=True)


def source_details(per_source: dict[str, object]) -> list[dict[str, object]]:
    """market_analytics.per_source (name to entry) as a list in name order, every field present."""
    details = []
    for name, raw in sorted(per_source.items()):
        entry = raw if isinstance(raw, dict) else {}
        details.append(
            {
                "source": name,
                "kind": entry.get("kind", ""),
                "ok": bool(entry.get("ok", False)),
                "latency_ms": entry.get("latency_ms"),
                "error": entry.get("error"),
                "error_kind": entry.get("error_kind"),
                "http_status": entry.get("http_status"),
                "observed_at": entry.get("observed_at"),
                "price_usd": entry.get("price_usd"),
                "volume_24h_btc": entry.get("volume_24h_btc"),
                "deviation_percent": entry.get("deviation_percent"),
                "excluded": bool(entry.get("excluded", False)),
                "excluded_reason": entry.get("excluded_reason", ""),
                "difficulty": entry.get("difficulty"),
                "hashrate_ths": entry.get("hashrate_ths"),
                "block_height": entry.get("block_height"),
            }
        )
    return details


class MarketAnalyticsSerializer(serializers.ModelSerializer[MarketAnalytics]):
    completeness = serializers.FloatField(read_only=True, help_text="Sources answered over sources asked.")
    is_partial = serializers.BooleanField(source="partial", read_only=True, help_text="Some source did not answer.")
    sources = serializers.SerializerMethodField()

    class Meta:
        model = MarketAnalytics
        fields = [
            "id",
            "collected_at",
            "mode",
            "price_usd",
            "price_method",
            "volume_24h_btc",
            "sources_asked",
            "sources_answered",
            "completeness",
            "is_partial",
            "duration_ms",
            "sources",
        ]
        read_only_fields = fields

    @extend_schema_field(SourceDetailSerializer(many=True))
    def get_sources(self, row: MarketAnalytics) -> object:
        return SourceDetailSerializer(source_details(row.per_source), many=True).data


class CachedFigureSerializer(serializers.Serializer[object]):
    """How a figure came out of the cache manager: its age and whether it is stale or a fallback."""

    state = serializers.ChoiceField(
        choices=["fresh", "stale", "fallback", "computed", "unavailable"],
        help_text="fresh or computed: current; stale: served while refreshed; fallback: the source failed and "
        "this is the last good value; unavailable: no value was ever obtained.",
    )
    stale = serializers.BooleanField()
    fallback = serializers.BooleanField()
    cache_age_seconds = serializers.FloatField(allow_null=True, help_text="Since the value was computed.")
    age_seconds = serializers.FloatField(allow_null=True, help_text="Since the moment the value is from.")
    error = serializers.CharField(allow_blank=True)


class PriceStatusSerializer(CachedFigureSerializer):
    price_usd = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    mode = serializers.CharField(allow_blank=True)
    sources_answered = serializers.IntegerField(allow_null=True)
    sources_asked = serializers.IntegerField(allow_null=True)


class DifficultyStatusSerializer(CachedFigureSerializer):
    difficulty = serializers.DecimalField(max_digits=30, decimal_places=4, allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField(allow_blank=True)  # type: ignore[assignment]  # named like Field.source
    hashrate_ths = serializers.FloatField(allow_null=True)
    block_height = serializers.IntegerField(allow_null=True)


class MarketStatusSerializer(serializers.Serializer[object]):
    mode = serializers.CharField(help_text="replay (shipped history) or live (collectors).")
    price = PriceStatusSerializer()
    difficulty = DifficultyStatusSerializer()
    last_run = MarketAnalyticsSerializer(allow_null=True, help_text="The newest aggregation run of this mode.")


class RetargetSerializer(serializers.Serializer[object]):
    next_height = serializers.IntegerField()
    expected_at = serializers.DateTimeField()
    mean_block_seconds = serializers.FloatField()
    change_pct = serializers.FloatField(help_text="Expected change of the difficulty, percent.")
    next_difficulty = serializers.FloatField()


class HalvingSerializer(serializers.Serializer[object]):
    next_height = serializers.IntegerField()
    blocks_remaining = serializers.IntegerField()
    expected_at = serializers.DateTimeField()
    subsidy_now_sats = serializers.IntegerField()
    subsidy_after_sats = serializers.IntegerField()


class NetworkEstimatesSerializer(serializers.Serializer[object]):
    as_of = serializers.DateTimeField(help_text="The UTC midnight the estimate is made at.")
    basis = serializers.CharField(help_text="daily_blocks (this epoch's pace) or previous_epoch (its duration).")
    epoch_height = serializers.IntegerField(help_text="First block of the current epoch.")
    epoch_difficulty = serializers.FloatField()
    epoch_started_at = serializers.DateTimeField()
    blocks_mined = serializers.IntegerField(help_text="Blocks mined in the current epoch so far.")
    height = serializers.IntegerField(help_text="Estimated chain height at as_of.")
    retarget = RetargetSerializer()
    halving = HalvingSerializer()


class AnalyticsErrorSerializer(serializers.Serializer[object]):
    """The API's error envelope (see mining_platform/core/api/exception_handler.py)."""

    error = inline_serializer(
        name="AnalyticsErrorDetail",
        fields={
            "code": serializers.CharField(help_text="Stable code, e.g. invalid_input or permission_denied."),
            "message": serializers.CharField(),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text="Parameter name to its messages.",
            ),
        },
    )
