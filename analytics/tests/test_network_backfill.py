"""blockchain.info charts into network_stats: one row per complete UTC day, idempotent, charts failing alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import respx
from pytest_django.fixtures import Settings

from analytics.clients.base import ErrorKind
from analytics.models import NetworkStats
from analytics.schedules import SCHEDULES
from analytics.selectors import difficulty_daily_series
from analytics.services.network_backfill import network_stats_backfill
from analytics.tests import market_fixtures as fx

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TODAY_S = int(NOW.timestamp()) // 86400 * 86400
BASE = "https://api.blockchain.info"

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(settings: Settings) -> Settings:
    settings.MARKET_DATA_SOURCE = "live"
    settings.MARKET_BLOCKCHAIN_INFO_URL = BASE
    return settings


def _days(values: list[float]) -> list[tuple[int, float]]:
    """Points for the days before today, oldest first, and one for today (still accumulating)."""
    count = len(values)
    return [(TODAY_S - (count - 1 - i) * 86400, value) for i, value in enumerate(values)]


DIFFICULTIES = [110568428300952.7, 110568428300952.7, 113757508810853.0]
HASHRATES = [812345678.5, 825001234.25, 790123456.0]
FEES = [6.12345678, 7.5, 1.25]


def _answer(router: respx.MockRouter, chart: str, response: httpx.Response) -> respx.Route:
    return router.get(f"{BASE}/charts/{chart}").mock(return_value=response)


def _documented(router: respx.MockRouter) -> dict[str, respx.Route]:
    charts = {"difficulty": DIFFICULTIES, "hash-rate": HASHRATES, "transaction-fees": FEES}
    return {
        chart: _answer(router, chart, httpx.Response(200, json=fx.blockchain_chart(chart, _days(values))))
        for chart, values in charts.items()
    }


def _rows() -> list[NetworkStats]:
    return list(NetworkStats.objects.filter(source="blockchain_info").order_by("recorded_at"))


@pytest.mark.usefixtures("live")
def test_network_stats_backfill_stores_one_row_per_complete_utc_day() -> None:
    with respx.mock(assert_all_called=True) as router:
        routes = _documented(router)

        result = network_stats_backfill(timespan="30days", now=NOW)

    assert dict(routes["difficulty"].calls.last.request.url.params)["timespan"] == "30days"
    rows = _rows()
    # Today's point (the third) is still accumulating and is left out.
    assert [r.recorded_at for r in rows] == [datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)]
    assert rows[0].difficulty == Decimal("110568428300952.7000")
    assert rows[1].hashrate_ths == pytest.approx(825001234.25)
    assert rows[0].fees_btc_per_day == Decimal("6.12345678")
    assert rows[1].block_height is None
    assert (result.rows, result.first_day, result.last_day) == (2, rows[0].recorded_at, rows[1].recorded_at)
    assert all(chart.error == "" and chart.days == 3 for chart in result.charts)


@pytest.mark.usefixtures("live")
def test_network_stats_backfill_again_updates_rows_and_keeps_figures_a_failing_chart_did_not_bring() -> None:
    with respx.mock() as router:
        _documented(router)
        network_stats_backfill(timespan="30days", now=NOW)
    revised = [110568428300952.7, 110999999999999.0, 113757508810853.0]

    with respx.mock() as router:
        routes = _documented(router)
        routes["difficulty"].mock(
            return_value=httpx.Response(200, json=fx.blockchain_chart("difficulty", _days(revised)))
        )
        routes["hash-rate"].mock(return_value=httpx.Response(503, text="Service Unavailable"))
        result = network_stats_backfill(timespan="30days", now=NOW)

    rows = _rows()
    assert len(rows) == 2
    assert rows[1].difficulty == Decimal("110999999999999.0000")
    assert rows[1].hashrate_ths == pytest.approx(825001234.25)  # kept, not blanked
    outcome = {chart.chart: chart for chart in result.charts}
    assert outcome["hash-rate"].error_kind == ErrorKind.HTTP_ERROR
    assert outcome["hash-rate"].days == 0


@pytest.mark.usefixtures("live")
def test_network_stats_backfill_stores_nothing_without_the_difficulty_chart() -> None:
    with respx.mock() as router:
        routes = _documented(router)
        routes["difficulty"].mock(return_value=httpx.Response(429, text="Too Many Requests"))

        result = network_stats_backfill(timespan="30days", now=NOW)

    assert result.rows == 0
    assert not NetworkStats.objects.exists()
    assert {c.chart: c.error_kind for c in result.charts}["difficulty"] == ErrorKind.RATE_LIMITED


@pytest.mark.usefixtures("live")
def test_network_stats_backfill_fills_only_the_days_a_partial_chart_has() -> None:
    with respx.mock() as router:
        routes = _documented(router)
        only_yesterday = [(TODAY_S - 86400, 7.5)]
        routes["transaction-fees"].mock(
            return_value=httpx.Response(200, json=fx.blockchain_chart("transaction-fees", only_yesterday))
        )

        network_stats_backfill(timespan="30days", now=NOW)

    rows = _rows()
    assert [r.fees_btc_per_day for r in rows] == [None, Decimal("7.50000000")]
    assert all(r.hashrate_ths is not None for r in rows)


@pytest.mark.usefixtures("live")
def test_network_stats_backfill_feeds_the_live_difficulty_series_of_the_forecasts() -> None:
    with respx.mock() as router:
        _documented(router)
        network_stats_backfill(timespan="30days", now=NOW)

    series = difficulty_daily_series(source="blockchain_info")

    assert [at.date() for at in series.index] == [(NOW - timedelta(days=2)).date(), (NOW - timedelta(days=1)).date()]
    assert list(series) == [DIFFICULTIES[0], DIFFICULTIES[1]]


def test_network_stats_backfill_asks_nothing_in_replay_mode(settings: Settings) -> None:
    settings.MARKET_DATA_SOURCE = "replay"

    with respx.mock(assert_all_mocked=True) as router:
        result = network_stats_backfill(timespan="30days", now=NOW)

    assert not router.calls
    assert (result.mode, result.rows) == ("replay", 0)


def test_network_stats_backfill_is_scheduled_daily() -> None:
    jobs = {job.name: job for job in SCHEDULES}

    assert jobs["analytics.network_stats_backfill"].task == "analytics.network_stats_backfill"
    assert jobs["analytics.network_stats_backfill"].every_seconds == 86400
