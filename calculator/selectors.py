"""Reads of the miner model catalogue."""

from django.db.models import QuerySet

from mining_platform.core.models import User

from .models import CalculationHistory, MinerModel


def miner_model_list() -> QuerySet[MinerModel]:
    """Every catalogued model, by make and then most hashrate first."""
    return MinerModel.objects.order_by("make", "-hashrate_ths", "model")


def calculation_history_list_for_user(*, user: User) -> QuerySet[CalculationHistory]:
    """The user's own saved calculations, newest first."""
    return CalculationHistory.objects.filter(user=user).select_related("miner_model").order_by("-created_at", "-id")
