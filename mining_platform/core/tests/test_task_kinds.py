import pytest
from celery.exceptions import MaxRetriesExceededError
from django.conf import settings
from django_redis import get_redis_connection

from mining_platform.core.errors import ConflictError, UpstreamUnavailableError
from mining_platform.core.task_kinds import io_task


def _counter() -> str:
    return f"{settings.REDIS_KEY_PREFIX}test:attempts"


# No backoff in the test: the retry policy is under test, not the waiting.
@io_task(name="tests.flaky_upstream", max_retries=3, retry_backoff=False, default_retry_delay=0)
def flaky_upstream_task(*, fail_times: int) -> str:
    attempt = int(get_redis_connection("default").incr(_counter()))
    if attempt <= fail_times:
        raise UpstreamUnavailableError(f"exchange answered 503 (attempt {attempt})")
    return f"ok after {attempt}"


@io_task(name="tests.refused")
def refused_task() -> str:
    get_redis_connection("default").incr(_counter())
    raise ConflictError("plan already executed")


def _attempts() -> int:
    return int(get_redis_connection("default").get(_counter()) or 0)


@pytest.mark.django_db(transaction=True)
def test_io_task_retries_upstream_failures_until_it_succeeds(celery_worker_thread: None) -> None:
    result = flaky_upstream_task.delay(fail_times=2).get(timeout=20)

    assert result == "ok after 3"
    assert _attempts() == 3


@pytest.mark.django_db(transaction=True)
def test_io_task_gives_up_after_its_retries(celery_worker_thread: None) -> None:
    with pytest.raises((UpstreamUnavailableError, MaxRetriesExceededError)):
        flaky_upstream_task.delay(fail_times=10).get(timeout=20)

    assert _attempts() == 4  # the first run and 3 retries


def test_io_task_finishes_without_retry_on_a_business_refusal(caplog: pytest.LogCaptureFixture) -> None:
    result = refused_task.delay().get()

    assert result is None
    assert _attempts() == 1
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name.endswith("task_kinds")] == [
        ("WARNING", "Task refused: task=refused_task code=conflict message=plan already executed")
    ]
