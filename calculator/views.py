"""Calculator API: the public miner model catalogue."""

from django.db.models import QuerySet
from rest_framework import viewsets

from mining_platform.core.rbac import PUBLIC

from .models import MinerModel
from .selectors import miner_model_list
from .serializers import MinerModelSerializer


class MinerModelViewSet(viewsets.ReadOnlyModelViewSet[MinerModel]):
    """ASIC models with their nominal hashrate, power and efficiency (public, like the calculator)."""

    access_policy = PUBLIC
    serializer_class = MinerModelSerializer
    filterset_fields = ["make"]

    def get_queryset(self) -> QuerySet[MinerModel]:
        return miner_model_list()
