"""FilterSets shared by the hosting pages and API."""

from datetime import timedelta

import django_filters
from django.db.models import QuerySet
from django.utils import timezone

from .choices import PollOutcome
from .models import Miner, MinerTelemetry

DEFAULT_TELEMETRY_WINDOW = timedelta(hours=1)


class MinerFilter(django_filters.FilterSet):
    ip = django_filters.CharFilter(lookup_expr="startswith")
    make = django_filters.CharFilter(field_name="miner_model__make", lookup_expr="iexact")

    class Meta:
        model = Miner
        fields = ["site", "status", "firmware", "customer", "rack", "ip", "make"]


class TelemetryFilter(django_filters.FilterSet):
    """Stored polls by miner, site, outcome and time; without `recorded_after`, the last hour only.

    miner_telemetry is partitioned by day: a lower time bound lets PostgreSQL skip old partitions.
    """

    miner = django_filters.NumberFilter(field_name="miner_id")
    site = django_filters.NumberFilter(field_name="site_id")
    outcome = django_filters.ChoiceFilter(choices=PollOutcome.choices)
    recorded_after = django_filters.IsoDateTimeFilter(
        field_name="recorded_at", lookup_expr="gte", label="From (ISO 8601, inclusive); default one hour ago"
    )
    recorded_before = django_filters.IsoDateTimeFilter(
        field_name="recorded_at", lookup_expr="lt", label="Until (ISO 8601, exclusive)"
    )

    class Meta:
        model = MinerTelemetry
        fields = ["miner", "site", "outcome", "recorded_after", "recorded_before"]

    def filter_queryset(self, queryset: QuerySet[MinerTelemetry]) -> QuerySet[MinerTelemetry]:
        queryset = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("recorded_after") is None:
            queryset = queryset.filter(recorded_at__gte=timezone.now() - DEFAULT_TELEMETRY_WINDOW)
        return queryset
