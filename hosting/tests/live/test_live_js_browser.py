"""static/js/live.js in Chromium against uvicorn: snapshots, deltas, a seq gap resynced, a restart survived."""

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django_redis import get_redis_connection
from playwright.sync_api import Browser, Page

from hosting.live.snapshots import live_seq_key
from hosting.services.telemetry_collect import telemetry_collect
from mining_platform.core.models import User
from tests.browser import chromium
from tests.support.asgi_server import AsgiServer

from .conftest import FAST_POLLS, SharedSite, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T = TypeVar("T")

# Records what the connection reports, and shows it on the page for the screenshot.
START = """
(siteId) => {
  window.seen = {snapshots: [], deltas: [], states: []};
  document.body.insertAdjacentHTML("afterbegin",
    '<p style="font:16px sans-serif;padding:8px">live.js: <span data-live-state>…</span> <b id="seen"></b></p>');
  const show = () => { document.getElementById("seen").textContent =
    window.seen.snapshots.length + " snapshots, " + window.seen.deltas.length + " deltas"; };
  window.live = new LiveConnection({
    subscriptions: [{scope: "site", id: siteId}],
    onSnapshot(key, payload, seq) { window.seen.snapshots.push({key, seq, miners: payload.miners.length}); show(); },
    onDelta(key, payload, seq) { window.seen.deltas.push({key, seq, miners: payload.miners.length}); show(); },
    onState(state) { window.seen.states.push(state); },
  });
}
"""


def _off_loop(work: Callable[[], T]) -> T:
    """Run `work` on a thread of its own: the publisher's async_to_sync cannot run where Playwright's loop turns."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001  # raised again in the test's thread
            box["error"] = exc
        finally:
            connections.close_all()  # this thread's; left open they keep the test database from being dropped

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _seen(page: Page, what: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(f"window.seen.{what}")
    return found


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@override_settings(**FAST_POLLS)
def test_live_js_applies_deltas_resyncs_after_a_gap_and_resubscribes_after_a_restart(
    asgi_server: AsgiServer,
    shared_site: Callable[..., SharedSite],
    host_user: User,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Playwright's sync API runs an event loop on this thread; the ORM calls here are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    shared = shared_site(count=4, seed=57)
    site_id = shared.site.pk
    _name, cookie = session_cookie(host_user)
    context = browser.new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.decode().split("=", 1)[1], "url": asgi_server.url}]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(asgi_server.url + "/")
    page.add_script_tag(url=asgi_server.url + "/static/js/live.js")

    page.evaluate(START, site_id)
    page.wait_for_function("window.seen.snapshots.length === 1")
    _off_loop(lambda: telemetry_collect(site_id=site_id, now=NOW))
    page.wait_for_function("window.seen.deltas.length === 1")
    _off_loop(lambda: get_redis_connection("default").incr(live_seq_key(source=f"site:{site_id}")))  # one lost
    _off_loop(lambda: telemetry_collect(site_id=site_id, now=NOW + timedelta(minutes=1)))
    page.wait_for_function("window.seen.snapshots.length === 2")
    live_before_restart = page.locator("[data-live-state]").inner_text()
    asgi_server.stop()
    page.wait_for_function("document.querySelector('[data-live-state]').textContent.startsWith('Reconnecting')")
    reconnecting = page.locator("[data-live-state]").inner_text()
    asgi_server.start()
    page.wait_for_function("window.seen.snapshots.length === 3", timeout=30_000)
    page.wait_for_function("document.querySelector('[data-live-state]').textContent === 'Live'")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live_js_after_restart.png"))

    key = f"site:{site_id}"
    assert _seen(page, "deltas") == [{"key": key, "seq": 1, "miners": 4}]  # seq 3 arrived after a gap: not applied
    assert _seen(page, "snapshots") == [
        {"key": key, "seq": 0, "miners": 4},
        {"key": key, "seq": 3, "miners": 4},  # the resync the gap asked for
        {"key": key, "seq": 3, "miners": 4},  # subscribed again after the restart
    ]
    states: list[str] = page.evaluate("window.seen.states")
    assert states[:2] == ["connecting", "open"]
    assert "reconnecting" in states
    assert states[-1] == "open"
    assert live_before_restart == "Live"
    assert reconnecting.startswith("Reconnecting")
    assert page.locator("[data-live-state]").get_attribute("data-live-state") == "open"
    assert errors == []
