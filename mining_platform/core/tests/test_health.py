import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mining_platform.core.liveness import beat_liveness_record
from mining_platform.core.tasks import liveness_beacon_task


@pytest.mark.django_db
def test_healthz_reports_503_naming_the_parts_that_are_down() -> None:
    response = Client().get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"] == {**body["checks"]["worker"], "ok": False}
    assert "no Celery worker" in body["checks"]["worker"]["detail"]
    assert body["checks"]["beat"]["ok"] is False


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_200_when_worker_and_beat_are_alive(celery_worker_thread: None) -> None:
    liveness_beacon_task()

    response = Client().get("/healthz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"database", "redis", "worker", "beat"}


@pytest.mark.django_db
def test_healthz_reports_beat_down_when_its_last_job_is_too_old() -> None:
    beat_liveness_record(now=timezone.now() - timedelta(minutes=10))

    body = Client().get("/healthz").json()

    assert body["checks"]["beat"]["ok"] is False
    assert re.search(r"ran 60\d s ago", body["checks"]["beat"]["detail"])
