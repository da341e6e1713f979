"""Batches on real workers: a Celery worker runs an uploaded batch, and a process killed in the middle of a
chunk leaves only whole chunks behind, shown as still computing, which a later run completes."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.services.history_load import history_load
from calculator.models import CalculationBatch, CalculationBatchRow, CalculationBatchSource, CalculationBatchStatus
from calculator.services.batch_compute import CHUNK_ROWS, calculation_batch_create, calculation_batch_run
from calculator.services.batch_files import batch_file_read
from calculator.tests.factories import MinerModelFactory
from mining_platform.core.locks import lock_key
from mining_platform.core.models import User
from tests.support.celery_worker import backend_waits_on_lock
from tests.support.celery_worker import private_worker as celery_private_worker

BATCH = "/calculator/batch"
SETTINGS = {"horizon_days": "365", "difficulty_growth_pct_per_month": "0", "price_scenario": "flat"}
ROOT = settings.BASE_DIR


@pytest.fixture
def market_history(transactional_db: None) -> None:
    """The shipped market history and the models the files name (a transactional test starts from a flush)."""
    history_load()
    MinerModelFactory.create(make="Bitmain", model="Antminer S19 Pro", hashrate_ths=Decimal(110), power_w=3250)
    MinerModelFactory.create(
        make="Bitmain",
        model="Antminer S21",
        hashrate_ths=Decimal(200),
        power_w=3500,
        efficiency_j_per_th=Decimal("17.5"),
    )


def _fleet_csv(rows: int) -> bytes:
    lines = ["label,model,hashrate_ths,power_w,quantity,electricity_usd_per_kwh,hardware_cost_usd"]
    for index in range(rows):
        if index % 3:
            lines.append(f"r{index},Bitmain Antminer S21,,,{index % 40 + 1},0.0{index % 5 + 4},3500")
        else:
            lines.append(f"r{index},,{100 + index % 90},{3000 + index % 500},{index % 7 + 1},0.05,2000")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def private_worker() -> Iterator[str]:
    with celery_private_worker(task="calculator.calculation_batch_run", name="calculator-batch") as queue:
        yield queue


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("market_history")
def test_an_uploaded_batch_runs_on_a_real_worker_and_the_status_endpoint_follows_it(
    client_user: User, private_worker: str
) -> None:
    browser = Client()
    browser.force_login(client_user)

    response = browser.post(
        BATCH, {**SETTINGS, "source": "file", "file": SimpleUploadedFile("fleet.csv", _fleet_csv(CHUNK_ROWS + 40))}
    )
    status_url = f"{response.headers['Location']}/status"
    seen: list[int] = []
    status: dict[str, object] = {}
    deadline = time.monotonic() + 60
    while not status.get("finished") and time.monotonic() < deadline:
        status = browser.get(status_url).json()
        seen.append(int(str(status["done"])))
        time.sleep(0.05)

    batch = CalculationBatch.objects.get()
    assert (status["status"], status["done"], status["percent"]) == ("done", CHUNK_ROWS + 40, 100)
    assert batch.rows.count() == CHUNK_ROWS + 40
    assert batch.totals["rows"] == CHUNK_ROWS + 40
    assert seen == sorted(seen)  # progress only ever moves forward
    assert set(seen) <= {0, CHUNK_ROWS, CHUNK_ROWS + 40}  # and only by whole chunks


def _worker_waits_on_the_batch_row() -> bool:
    return backend_waits_on_lock(query_like='%UPDATE "calculation_batches"%')


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("market_history")
def test_a_worker_killed_in_the_middle_of_a_chunk_leaves_whole_chunks_that_a_rerun_completes(client_user: User) -> None:
    content = _fleet_csv(2 * CHUNK_ROWS + 10)
    table = batch_file_read(name="fleet.csv", content=content, max_rows=100_000)
    now = timezone.now()
    source = CalculationBatchSource.FILE
    clean = calculation_batch_create(
        user=client_user, name="a", source=source, table=table, scenario_data=SETTINGS, now=now
    )
    crashed = calculation_batch_create(
        user=client_user, name="b", source=source, table=table, scenario_data=SETTINGS, now=now
    )
    # Both at the same market, so the reruns must agree to the last digit.
    CalculationBatch.objects.filter(pk=crashed.pk).update(market=clean.market, scenario=clean.scenario)
    clean = calculation_batch_run(batch_id=clean.pk)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mining_platform.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTEST_XDIST_WORKER": settings.REDIS_KEY_PREFIX.split("-")[-1].rstrip(":"),
    }
    # The worker commits its first chunk; its second chunk's rows go in, then its transaction waits to
    # count them on the batch row this connection holds, and it is killed right there.
    blocker = connections.create_connection("default")
    blocker.set_autocommit(False)
    code = f"from calculator.tasks import calculation_batch_run_task; calculation_batch_run_task(batch_id={crashed.pk})"
    worker = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "shell", "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while CalculationBatch.objects.get(pk=crashed.pk).done < CHUNK_ROWS:
            assert worker.poll() is None, "the worker ended before its first chunk"
            assert time.monotonic() < deadline, "the worker never stored its first chunk"
            time.sleep(0.02)
        with blocker.cursor() as cursor:
            cursor.execute("SELECT id FROM calculation_batches WHERE id = %s FOR UPDATE", [crashed.pk])
        while not _worker_waits_on_the_batch_row():
            assert worker.poll() is None, "the worker ended before its second chunk"
            assert time.monotonic() < deadline, "the worker never reached its second chunk"
            time.sleep(0.02)
        worker.kill()
        worker.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()
    browser = Client()
    browser.force_login(client_user)

    left = CalculationBatch.objects.get(pk=crashed.pk)
    page = browser.get(f"{BATCH}/{crashed.pk}").content.decode()
    export = browser.get(f"{BATCH}/{crashed.pk}/export.csv")

    assert (left.status, left.done, left.rows.count()) == (CalculationBatchStatus.RUNNING, CHUNK_ROWS, CHUNK_ROWS)
    assert left.totals == {}
    assert 'id="batch-progress"' in page
    assert 'id="batch-rows"' not in page
    assert export.status_code == 409

    # The dead worker's lock would run out after its TTL; the next delivery then carries on.
    get_redis_connection("default").delete(lock_key(f"calculator.batch:{crashed.pk}"))
    rerun = calculation_batch_run(batch_id=crashed.pk)

    figures = [f.name for f in CalculationBatchRow._meta.get_fields() if f.name not in ("id", "batch")]
    assert (rerun.status, rerun.done) == (CalculationBatchStatus.DONE, 2 * CHUNK_ROWS + 10)
    assert list(rerun.rows.order_by("position").values(*figures)) == list(
        clean.rows.order_by("position").values(*figures)
    )
    assert rerun.totals == clean.totals
