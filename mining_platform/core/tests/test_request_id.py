import logging

from celery.signals import task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from mining_platform.core.request_id import HEADER, RequestIdLogFilter, RequestIdMiddleware, request_id_var


def _seen_inside_request(headers: dict[str, str]) -> tuple[str, str]:
    seen: dict[str, str] = {}

    def view(request: HttpRequest) -> HttpResponse:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
        RequestIdLogFilter().filter(record)
        seen["log"] = record.request_id  # type: ignore[attr-defined]
        return HttpResponse()

    response = RequestIdMiddleware(view)(RequestFactory().get("/", headers=headers))
    return seen["log"], response[HEADER]


def test_request_id_is_made_up_and_put_on_logs_and_response() -> None:
    logged, returned = _seen_inside_request({})

    assert len(logged) == 32
    assert logged == returned
    assert request_id_var.get() == "-"


def test_request_id_from_a_proxy_is_kept_when_safe() -> None:
    logged, returned = _seen_inside_request({HEADER: "lb-7f3a.42"})

    assert logged == returned == "lb-7f3a.42"


def test_request_id_that_could_inject_log_text_is_replaced() -> None:
    logged, _returned = _seen_inside_request({HEADER: "x\nFAKE LOG LINE"})

    assert "\n" not in logged
    assert len(logged) == 32


def test_every_response_of_the_site_carries_a_request_id(db: None) -> None:
    response = Client().get("/")

    assert len(response[HEADER]) == 32


def test_task_log_lines_carry_the_task_id() -> None:
    task_prerun.send(sender=None, task_id="abc123", task=None, args=(), kwargs={})
    during = request_id_var.get()
    task_postrun.send(sender=None, task_id="abc123", task=None, args=(), kwargs={}, retval=None, state="SUCCESS")

    assert during == "task-abc123"
    assert request_id_var.get() == "-"
