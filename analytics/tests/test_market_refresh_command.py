"""`market_refresh`: one aggregation and the forecasts, from the loaded replay history."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from analytics.models import Forecast, MarketAnalytics
from analytics.services.history_load import history_load


@pytest.mark.django_db
@override_settings(MARKET_DATA_SOURCE="replay")
def test_market_refresh_stores_a_snapshot_and_both_forecasts() -> None:
    history_load()
    out = StringIO()

    call_command("market_refresh", stdout=out)

    snapshot = MarketAnalytics.objects.get()
    assert snapshot.mode == "replay"
    assert snapshot.price_usd is not None
    assert sorted(Forecast.objects.values_list("target", flat=True)) == ["btc_usd", "difficulty"]
    assert "Market jobs done." in out.getvalue()


@pytest.mark.django_db
@override_settings(MARKET_DATA_SOURCE="replay")
def test_market_refresh_can_skip_the_forecasts() -> None:
    history_load()

    call_command("market_refresh", "--skip-forecasts", stdout=StringIO())

    assert MarketAnalytics.objects.count() == 1
    assert not Forecast.objects.exists()
