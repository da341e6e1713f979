from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from .models import CalculationHistory, MinerModel
from .services.scenarios import TREND_MONTH_CHOICES, DifficultyScenario, PriceScenario


class MinerModelSerializer(serializers.ModelSerializer[MinerModel]):
    class Meta:
        model = MinerModel
        fields = ["id", "make", "model", "hashrate_ths", "power_w", "efficiency_j_per_th", "released_on"]
        read_only_fields = fields


def _number(help_text: str) -> serializers.DecimalField:
    # Shape only: a number, any size; ranges are the engine's to check, so its messages name the field.
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, required=False, allow_null=True, help_text=help_text
    )


class CalculationRunInputSerializer(serializers.Serializer[object]):
    """A single calculation: a catalogue model or custom specs, tariffs, horizon and scenario."""

    miner_model_id = serializers.IntegerField(required=False, allow_null=True, help_text="A catalogue model id.")
    hashrate_ths = _number("Per unit, TH/s; overrides the model's.")
    power_w = _number("Per unit at the wall, W; overrides the model's.")
    electricity_usd_per_kwh = serializers.DecimalField(
        max_digits=None, decimal_places=None, help_text="Electricity price, USD per kWh."
    )
    pool_fee_pct = _number("Pool fee, 0-100 %.")
    uptime_pct = _number("Uptime, 0-100 %.")
    hardware_cost_usd = _number("Hardware cost per unit, USD.")
    hosting_fee_usd_per_month = _number("Hosting fee per unit and month, USD.")
    hosting_fee_usd_per_kwh = _number("Hosting fee per kWh on top of electricity, USD.")
    curtailment_hours_per_month = _number("Expected hours switched off per month.")
    quantity = serializers.IntegerField(required=False, allow_null=True, help_text="Number of units.")
    horizon_days = serializers.IntegerField(required=False, allow_null=True, help_text="Projection horizon, days.")
    difficulty_scenario = serializers.ChoiceField(
        choices=list(DifficultyScenario.CHOICES),
        required=False,
        help_text="value: difficulty_growth_pct_per_month; trend: the growth of the stored retargets over "
        "difficulty_trend_months.",
    )
    difficulty_growth_pct_per_month = _number("Difficulty growth per month, % (value scenario).")
    difficulty_trend_months = serializers.ChoiceField(
        choices=list(TREND_MONTH_CHOICES), required=False, help_text="Months of history the trend is taken over."
    )
    price_scenario = serializers.ChoiceField(
        choices=list(PriceScenario.CHOICES),
        required=False,
        help_text="BTC price path: flat, growing monthly, or the newest ARIMA forecast applied from today's price.",
    )
    price_growth_pct_per_month = _number("BTC price growth per month, % (growth scenario).")


class CalculationSerializer(serializers.ModelSerializer[CalculationHistory]):
    """A saved calculation: its inputs, the market figures used with their ages, and the key figures."""

    inputs = serializers.DictField(help_text="The inputs as given.")
    market = serializers.DictField(
        help_text="btc_price_usd, difficulty, block_height and fees_per_block_btc: value, source, "
        "age_seconds, fallback, shipped_history; and as_of."
    )
    results = serializers.DictField(
        help_text="per_day, per_month, per_year (USD and BTC), hashprice, efficiency, break-evens, ROI, "
        "payback days, and the projection summary (cumulative profit, payback_on or null for never, halving)."
    )

    class Meta:
        model = CalculationHistory
        fields = ["id", "created_at", "miner_model", "inputs", "market", "results"]
        read_only_fields = fields


class CalculatorErrorSerializer(serializers.Serializer[object]):
    """The API's error envelope (see mining_platform/core/api/exception_handler.py)."""

    error = inline_serializer(
        name="CalculatorErrorDetail",
        fields={
            "code": serializers.CharField(help_text="Stable code, e.g. invalid_input."),
            "message": serializers.CharField(),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()), help_text="Field name to its messages."
            ),
        },
    )
