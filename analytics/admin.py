"""Back office views of market and network history. Read-only: rows come from the loader, collectors and jobs."""

from typing import TypeVar

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from .models import (
    DifficultyAdjustment,
    Forecast,
    MarketAnalytics,
    MarketSignal,
    NetworkStats,
    PriceCandle,
    TechnicalIndicator,
)

M = TypeVar("M", bound=models.Model)


class ReadOnlyAdmin(admin.ModelAdmin[M]):
    """History written by services only; editing a row by hand would break re-runnable upserts."""

    # Candle and indicator tables grow by thousands of rows; counting them all on each page is wasted work.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: M | None = None) -> bool:
        return False


@admin.register(PriceCandle)
class PriceCandleAdmin(ReadOnlyAdmin[PriceCandle]):
    list_display = ["open_time", "source", "interval", "open", "high", "low", "close", "volume_btc"]
    list_filter = ["source", "interval"]
    date_hierarchy = "open_time"


@admin.register(MarketAnalytics)
class MarketAnalyticsAdmin(ReadOnlyAdmin[MarketAnalytics]):
    list_display = ["collected_at", "mode", "price_usd", "price_method", "sources_answered", "sources_asked"]
    list_filter = ["mode", "price_method"]
    date_hierarchy = "collected_at"


@admin.register(NetworkStats)
class NetworkStatsAdmin(ReadOnlyAdmin[NetworkStats]):
    list_display = ["recorded_at", "source", "difficulty", "hashrate_ths", "block_height", "fees_btc_per_day"]
    list_filter = ["source"]
    date_hierarchy = "recorded_at"


@admin.register(DifficultyAdjustment)
class DifficultyAdjustmentAdmin(ReadOnlyAdmin[DifficultyAdjustment]):
    list_display = ["height", "start_time", "bits", "difficulty"]
    search_fields = ["height", "bits"]


@admin.register(TechnicalIndicator)
class TechnicalIndicatorAdmin(ReadOnlyAdmin[TechnicalIndicator]):
    list_display = ["at", "series", "close", "rsi_14", "macd", "macd_signal", "bb_lower", "bb_mid", "bb_upper"]
    list_filter = ["series"]
    date_hierarchy = "at"


@admin.register(MarketSignal)
class MarketSignalAdmin(ReadOnlyAdmin[MarketSignal]):
    list_display = ["at", "series", "kind", "value", "threshold", "reason"]
    list_filter = ["series", "kind"]
    search_fields = ["reason"]
    date_hierarchy = "at"


@admin.register(Forecast)
class ForecastAdmin(ReadOnlyAdmin[Forecast]):
    list_display = ["made_at", "target", "history_end", "order", "criterion", "criterion_value", "horizon_days"]
    list_filter = ["target"]
    date_hierarchy = "made_at"
