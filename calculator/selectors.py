"""Reads of the miner model catalogue."""

from django.db.models import QuerySet

from .models import MinerModel


def miner_model_list() -> QuerySet[MinerModel]:
    """Every catalogued model, by make and then most hashrate first."""
    return MinerModel.objects.order_by("make", "-hashrate_ths", "model")
