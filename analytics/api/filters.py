"""FilterSets of the analytics API: every time range is [start, end) in ISO 8601 (a bare date is UTC midnight)."""

import django_filters
from django import forms

from analytics.models import (
    DifficultyAdjustment,
    Forecast,
    MarketAnalytics,
    MarketSignal,
    NetworkStats,
    PriceCandle,
    TechnicalIndicator,
)
from analytics.services.forecasts import TARGETS
from analytics.services.indicators import SERIES
from analytics.services.signals import SignalKind

SERIES_CHOICES = [(spec.name, spec.name) for spec in SERIES]
MODE_CHOICES = [("replay", "replay"), ("live", "live")]


class TimeRangeForm(forms.Form):
    """Refuses a range that ends before it starts, naming `end`."""

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and start >= end:
            self.add_error("end", "must be after start")
        return data


def _start(field: str) -> django_filters.IsoDateTimeFilter:
    return django_filters.IsoDateTimeFilter(
        field_name=field, lookup_expr="gte", label="From (ISO 8601, inclusive; a bare date is 00:00 UTC)"
    )


def _end(field: str) -> django_filters.IsoDateTimeFilter:
    return django_filters.IsoDateTimeFilter(field_name=field, lookup_expr="lt", label="Until (ISO 8601, exclusive)")


class PriceCandleFilter(django_filters.FilterSet):
    start = _start("open_time")
    end = _end("open_time")

    class Meta:
        model = PriceCandle
        fields = ["start", "end"]
        form = TimeRangeForm


class TechnicalIndicatorFilter(django_filters.FilterSet):
    start = _start("at")
    end = _end("at")

    class Meta:
        model = TechnicalIndicator
        fields = ["start", "end"]
        form = TimeRangeForm


class MarketSignalFilter(django_filters.FilterSet):
    series = django_filters.ChoiceFilter(choices=SERIES_CHOICES)
    kind = django_filters.ChoiceFilter(choices=[(kind.value, kind.value) for kind in SignalKind])
    start = _start("at")
    end = _end("at")

    class Meta:
        model = MarketSignal
        fields = ["series", "kind", "start", "end"]
        form = TimeRangeForm


class ForecastFilter(django_filters.FilterSet):
    target = django_filters.ChoiceFilter(choices=[(target, target) for target in TARGETS])

    class Meta:
        model = Forecast
        fields = ["target"]


class NetworkStatsFilter(django_filters.FilterSet):
    start = _start("recorded_at")
    end = _end("recorded_at")

    class Meta:
        model = NetworkStats
        fields = ["start", "end"]
        form = TimeRangeForm


class DifficultyAdjustmentFilter(django_filters.FilterSet):
    min_height = django_filters.NumberFilter(field_name="height", lookup_expr="gte", label="First height (inclusive)")
    start = _start("start_time")
    end = _end("start_time")

    class Meta:
        model = DifficultyAdjustment
        fields = ["min_height", "start", "end"]
        form = TimeRangeForm


class MarketAnalyticsFilter(django_filters.FilterSet):
    mode = django_filters.ChoiceFilter(choices=MODE_CHOICES)
    start = _start("collected_at")
    end = _end("collected_at")

    class Meta:
        model = MarketAnalytics
        fields = ["mode", "start", "end"]
        form = TimeRangeForm
