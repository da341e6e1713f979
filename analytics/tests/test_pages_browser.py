"""The analytics pages in headless Chromium with the shipped history loaded: the charts draw, nothing leaves the server."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Request, Response
from pytest_django.live_server_helper import LiveServer

from analytics.services.aggregate import market_aggregate
from analytics.services.forecasts import arima_forecast, forecast_store, offline_price_series
from analytics.services.history_load import history_load
from analytics.services.signals import technical_analysis_refresh
from mining_platform.core.choices import Role
from mining_platform.core.tests.factories import TEST_PASSWORD, UserFactory
from tests.browser import chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each page and the canvases whose Chart instance must hold data once it has loaded.
PAGES = {
    "/analytics/": ("price-chart", "rsi-chart", "macd-chart"),
    "/analytics/?interval=1h&days=30": ("price-chart", "rsi-chart", "macd-chart"),
    "/analytics/forecasts": ("forecast-chart-btc_usd",),
    "/analytics/network": ("difficulty-chart", "hashrate-chart"),
}
# Points in every dataset of a chart, by canvas id; a chart without data gives an empty list.
_CHART_POINTS = """(id) => {
  const chart = window.Chart && Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.map((d) => d.data.length) : [];
}"""


class RequestLog:
    """Every host the page asked for, and every request that failed or answered an error."""

    def __init__(self, page: Page) -> None:
        self.hosts: set[str] = set()
        self.failures: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("requestfailed", lambda request: self.failures.append(f"failed {request.url}"))
        page.on("response", self._response)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request: Request) -> None:
        self.hosts.add(urlsplit(request.url).hostname or "")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.status} {response.url}")


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, live_server: LiveServer) -> Iterator[Page]:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 900})


def _sign_in(page: Page, live_server: LiveServer) -> None:
    UserFactory.create(role=Role.CLIENT, email="client@farm.example")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", "client@farm.example")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(live_server.url + "/hosting/client/dashboard")  # /main lands a client on theirs
    # Let the home page finish loading: leaving it earlier aborts its logo request, which counts as failed.
    page.wait_for_load_state("networkidle")


def test_analytics_pages_draw_their_charts_from_the_shipped_history_with_only_local_requests(
    live_server: LiveServer, page: Page
) -> None:
    history_load()
    # As `load_market_history` and the periodic tasks leave it: indicators, signals and one aggregation run.
    technical_analysis_refresh(full=True)
    market_aggregate(now=timezone.now())
    # A short, fixed order keeps the fit quick; the page shows whatever forecast is stored.
    forecast = arima_forecast(series=offline_price_series(), horizon_days=30, orders=[(1, 1, 1)])
    forecast_store(target="btc_usd", forecast=forecast, made_at=timezone.now())
    log = RequestLog(page)
    _sign_in(page, live_server)
    ARTIFACTS.mkdir(exist_ok=True)
    drawn: dict[str, list[list[int]]] = {}

    for path, canvases in PAGES.items():
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        drawn[path] = [page.evaluate(_CHART_POINTS, canvas) for canvas in canvases]
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("&", "_").replace("=", "")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    for path, charts in drawn.items():
        for points in charts:
            assert points, f"{path}: a chart did not draw"
            assert points[0] > 0, f"{path}: the first dataset of a chart is empty ({points})"
    assert drawn["/analytics/"][0][0] == 180
    assert sum(drawn["/analytics/"][0][4:6]) > 0, "no signal marker on the daily price chart"
    assert drawn["/analytics/?interval=1h&days=30"][0][0] == 30 * 24
    assert drawn["/analytics/forecasts"][0][1] == 31  # the band joins the last close, then 30 days ahead
    assert log.hosts == {urlsplit(live_server.url).hostname}
    assert log.failures == []
    assert log.errors == []
