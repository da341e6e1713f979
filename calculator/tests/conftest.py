from collections.abc import Iterator

import pytest
from pytest_django import DjangoDbBlocker

from analytics.models import DifficultyAdjustment, Forecast, NetworkStats, PriceCandle
from analytics.services.history_load import history_load


@pytest.fixture(scope="module")
def shipped_history(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """The shipped history, loaded once for a module and removed after."""
    with django_db_blocker.unblock():
        history_load()
    yield
    with django_db_blocker.unblock():
        for model in (PriceCandle, NetworkStats, DifficultyAdjustment, Forecast):
            model.objects.all().delete()
