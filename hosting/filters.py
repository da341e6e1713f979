"""FilterSets shared by the hosting pages and API."""

import django_filters

from .models import Miner


class MinerFilter(django_filters.FilterSet):
    ip = django_filters.CharFilter(lookup_expr="startswith")
    make = django_filters.CharFilter(field_name="miner_model__make", lookup_expr="iexact")

    class Meta:
        model = Miner
        fields = ["site", "status", "firmware", "customer", "rack", "ip", "make"]
