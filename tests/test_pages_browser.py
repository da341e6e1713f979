"""The pages in a real headless Chromium: they render, sign-in works, and nothing loads from outside."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Response
from pytest_django.live_server_helper import LiveServer

from mining_platform.core.choices import Role
from mining_platform.core.tests.factories import TEST_PASSWORD, UserFactory

from .browser import chromium

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class PageLog:
    """Every request a page makes, and every response that failed."""

    def __init__(self, page: Page) -> None:
        self.hosts: set[str] = set()
        self.failures: list[str] = []
        page.on("request", lambda request: self.hosts.add(urlsplit(request.url).hostname or ""))
        page.on("response", self._response)
        page.on("requestfailed", lambda request: self.failures.append(f"failed {request.url}"))

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.status} {response.url}")


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    # Playwright's sync API runs an event loop on this thread; the test's own ORM calls are plain
    # synchronous ones, so Django may run them here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 800})


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_public_pages_render_with_only_local_assets(live_server: LiveServer, page: Page) -> None:
    log = PageLog(page)

    for path, heading in [("/", "Run a mining farm from one place"), ("/accounts/login/", "Sign In")]:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").first.inner_text().strip() == heading
        _shot(page, path.strip("/").replace("/", "_") or "home")

    assert log.hosts == {urlsplit(live_server.url).hostname}
    assert log.failures == []
    assert page.locator("[data-siwe-button]").is_visible()
    # Bootstrap's stylesheet really applied: the navbar has its dark background.
    assert page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"


def test_a_user_signs_in_through_the_form_and_sees_their_role(live_server: LiveServer, page: Page) -> None:
    UserFactory.create(role=Role.HOST, email="ops@farm.example")
    log = PageLog(page)

    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", "ops@farm.example")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(live_server.url + "/hosting/dashboard")  # /main lands a host on their dashboard

    assert page.locator("nav .badge").inner_text() == "Host / site operator"
    assert page.locator("nav").get_by_text("Devices").is_visible()
    assert log.failures == []
    _shot(page, "home_signed_in")


def test_the_back_office_login_carries_the_platform_branding(live_server: LiveServer, page: Page) -> None:
    log = PageLog(page)

    page.goto(live_server.url + "/admin/login/")

    assert "Mining Operations Platform" in page.locator("#site-name").inner_text()
    assert log.failures == []
    _shot(page, "admin_login")
