"""The quote's ASGI fast path: anonymous quotes answered ahead of Django exactly as the view answers them."""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection
from pytest_django import DjangoAssertNumQueries, DjangoDbBlocker

from analytics.models import MarketAnalytics
from calculator.models import CalculationHistory, MinerModel
from calculator.services.history_buffer import (
    QuoteAnswer,
    QuoteCaller,
    calculation_history_flush,
    calculation_quote,
    history_buffer_key,
    quote_answer_from_memory,
    quote_plan,
    quote_prefetch_queue,
    quote_prefetched,
)
from mining_platform.asgi import application

from .test_quote import BAD_INPUTS, INPUTS, QUOTE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_history", "aggregated_price")]
# A session cookie (even one naming no session) sends the request through Django's own view.
THROUGH_DJANGO = {"cookie": f"{settings.SESSION_COOKIE_NAME}=none"}
# Differ by request, not by path (Django also expires the made-up session cookie).
PER_REQUEST_HEADERS = {"x-request-id", "content-length", "set-cookie"}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    through_django: bool

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@pytest.fixture(scope="module")
def aggregated_price(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """A live price as the market refresh stores it, committed so the fast path's threads see it too.

    With every source live, the quote shares its market state through Redis and a repeat is answered
    from memory; without one it reads the fallback on each request.
    """
    with django_db_blocker.unblock():
        row = MarketAnalytics.objects.create(
            collected_at=timezone.now(), mode="replay", price_usd=Decimal("91000"), sources_asked=1, sources_answered=1
        )
    yield
    with django_db_blocker.unblock():
        row.delete()


@pytest.fixture
def django_requests() -> Iterator[list[object]]:
    """Every request Django's handler starts (the fast path starts none)."""
    started: list[object] = []

    def count(sender: object, **kwargs: object) -> None:
        started.append(sender)

    request_started.connect(count)
    # As Django's test client does: the handler must not close this test's connection (inside its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield started
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    request_started.disconnect(count)


def _get(
    query: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    client: tuple[str, int] = ("127.0.0.1", 50000),
    started: list[object],
) -> Answer:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return await http.request(method, QUOTE, params=dict(query), headers=dict(headers or {}))

    before = len(started)
    response = async_to_sync(send)()
    return Answer(response.status_code, response.headers, response.content, len(started) > before)


@pytest.fixture
def s19() -> MinerModel:
    return MinerModel.objects.get(model="Antminer S19 Pro")


def _comparable(answer: Answer) -> dict[str, object]:
    body = answer.json()
    if answer.status == 200:
        assert body.pop("uid")
        assert body.pop("created_at")
        market = body["market"]
        assert isinstance(market, dict)
        for figure in market.values():
            if isinstance(figure, dict):
                figure.pop("age_seconds", None)
        market.pop("as_of")
    return body


def test_an_anonymous_quote_is_answered_ahead_of_django_as_the_view_answers_it(
    s19: MinerModel, django_requests: list[object]
) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}
    viewed = _get(query, headers=THROUGH_DJANGO, started=django_requests)
    cold = _get(query, started=django_requests)
    hot = _get(query, started=django_requests)

    assert viewed.through_django
    assert not cold.through_django
    assert not hot.through_django
    assert viewed.status == cold.status == hot.status == 200
    assert _comparable(cold) == _comparable(viewed) == _comparable(hot)
    assert cold.json()["uid"] != hot.json()["uid"]
    # The same headers, security ones included, apart from what differs per request.
    assert {k: v for k, v in hot.headers.items() if k not in PER_REQUEST_HEADERS} == {
        k: v for k, v in viewed.headers.items() if k not in PER_REQUEST_HEADERS
    }
    assert hot.headers["x-content-type-options"] == "nosniff"
    assert hot.headers["cache-control"] == f"public, max-age={settings.CALCULATOR_QUOTE_MAX_AGE_SECONDS}"
    assert int(hot.headers["content-length"]) == len(hot.body)


@pytest.mark.parametrize("inputs", BAD_INPUTS)
def test_a_bad_anonymous_quote_gets_the_views_error_naming_each_field(
    inputs: dict[str, str], django_requests: list[object]
) -> None:
    fast = _get(inputs, started=django_requests)
    viewed = _get(inputs, headers=THROUGH_DJANGO, started=django_requests)

    assert not fast.through_django
    assert fast.status == viewed.status == 400
    assert fast.json() == viewed.json()
    assert fast.json()["error"]["fields"]
    assert get_redis_connection("default").llen(history_buffer_key()) == 0


@override_settings(CALCULATOR_QUOTE_RATE_ANON="100/s,2/h")
def test_the_fast_path_throttles_per_address_and_shares_the_count_with_the_view(
    s19: MinerModel, django_requests: list[object]
) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}
    visitor = ("127.0.0.30", 40000)

    statuses = [
        _get(query, client=visitor, started=django_requests).status,
        _get(query, client=visitor, headers=THROUGH_DJANGO, started=django_requests).status,
    ]
    refused = _get(query, client=visitor, started=django_requests)
    other = _get(query, client=("127.0.0.31", 40000), started=django_requests)

    assert statuses == [200, 200]
    assert refused.status == 429
    assert not refused.through_django
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert other.status == 200


def test_a_fast_path_quote_is_recorded_in_the_history_under_its_uid(
    s19: MinerModel, django_requests: list[object]
) -> None:
    answer = _get({"miner_model_id": str(s19.pk), **INPUTS}, started=django_requests).json()

    calculation_history_flush(batch_rows=100, max_batches=10)

    row = CalculationHistory.objects.get(uid=answer["uid"])
    assert row.user is None
    assert (row.inputs, row.market, row.results) == (answer["inputs"], answer["market"], answer["results"])


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        pytest.param("POST", {}, 403, id="other-method-csrf-first"),
        pytest.param("HEAD", {}, 405, id="head"),
        pytest.param("GET", {"host": "evil.example"}, 400, id="host-django-refuses"),
        pytest.param("GET", {"authorization": "Api-Key nothing"}, 200, id="api-key"),
    ],
)
def test_what_the_fast_path_does_not_serve_goes_to_django(
    method: str, headers: dict[str, str], status: int, s19: MinerModel, django_requests: list[object]
) -> None:
    answer = _get({"miner_model_id": str(s19.pk), **INPUTS}, method=method, headers=headers, started=django_requests)

    assert answer.through_django
    assert answer.status == status


@override_settings(CALCULATOR_QUOTE_FAST_PATH=False)
def test_the_fast_path_can_be_turned_off(s19: MinerModel, django_requests: list[object]) -> None:
    answer = _get({"miner_model_id": str(s19.pk), **INPUTS}, started=django_requests)

    assert answer.through_django
    assert answer.status == 200


def test_a_safe_request_id_is_echoed_and_an_unsafe_one_replaced(s19: MinerModel, django_requests: list[object]) -> None:
    query = {"miner_model_id": str(s19.pk), **INPUTS}

    kept = _get(query, headers={"x-request-id": "lb-42.a"}, started=django_requests)
    replaced = _get(query, headers={"x-request-id": "bad id\nforged"}, started=django_requests)

    assert kept.headers["x-request-id"] == "lb-42.a"
    assert len(replaced.headers["x-request-id"]) == 32


def test_a_repeated_quote_is_answered_from_memory_without_the_database(
    s19: MinerModel, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    data = {
        "miner_model_id": s19.pk,
        "electricity_usd_per_kwh": Decimal("0.06"),
        "horizon_days": 365,
    }
    caller = QuoteCaller(ident="ip:127.0.0.40", limits=())
    first = calculation_quote(data=data, user_id=None, caller=caller, now=timezone.now())

    def from_memory(inputs: Mapping[str, object]) -> QuoteAnswer | None:
        plan = quote_plan(data=inputs, caller=caller, now=timezone.now())
        pipe = get_redis_connection("default").pipeline(transaction=False)
        quote_prefetch_queue(pipe=pipe, plan=plan)
        prefetched = quote_prefetched(plan=plan, replies=pipe.execute())
        return quote_answer_from_memory(plan=plan, prefetched=prefetched, user_id=None, now=timezone.now())

    with django_assert_num_queries(0):
        again = from_memory(data)
        unseen = from_memory({**data, "horizon_days": 366})

    assert again is not None
    assert unseen is None
    assert json.loads(again.body)["results"] == json.loads(first.body)["results"]
