"""The history buffer: quotes reach calculation_history once each, whatever state a killed flush left."""

from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from calculator.models import CalculationHistory, MinerModel
from calculator.services.history_buffer import (
    HISTORY_FLUSH_LOCK,
    Quote,
    QuoteCaller,
    calculation_history_flush,
    calculation_quote,
    history_buffer_key,
    history_processing_key,
)
from calculator.tasks import calculation_history_flush_task
from calculator.tests.factories import MinerModelFactory
from mining_platform.core.locks import JobLockedError, job_lock
from mining_platform.core.models import User

ANYONE = QuoteCaller(ident="ip:127.0.0.1", limits=())  # no limit: the throttle has tests of its own
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_history")]


def _quotes(count: int, *, user_id: int | None = None, model_id: int | None = None) -> list[Quote]:
    if model_id is None:
        model_id = MinerModel.objects.get(model="Antminer S19 Pro").pk
    data = {"miner_model_id": model_id, "electricity_usd_per_kwh": Decimal("0.06"), "horizon_days": 120}
    return [calculation_quote(data=data, user_id=user_id, caller=ANYONE, now=timezone.now()) for _ in range(count)]


def _stored_uids() -> list[str]:
    return sorted(str(uid) for uid in CalculationHistory.objects.values_list("uid", flat=True))


def _lengths() -> tuple[int, int]:
    redis = get_redis_connection("default")
    return int(redis.llen(history_buffer_key())), int(redis.llen(history_processing_key()))


def test_flush_moves_every_buffered_quote_into_the_history_in_batches() -> None:
    quotes = _quotes(7)
    buffered = _lengths()

    flush = calculation_history_flush(batch_rows=3, max_batches=10)

    assert buffered == (7, 0)
    assert (flush.inserted, flush.skipped, flush.remaining) == (7, 0, 0)
    assert _stored_uids() == sorted(str(quote.uid) for quote in quotes)
    assert _lengths() == (0, 0)


def test_flush_stops_after_its_batches_oldest_rows_first_and_reports_what_remains() -> None:
    quotes = _quotes(7)

    flush = calculation_history_flush(batch_rows=3, max_batches=1)

    assert (flush.inserted, flush.remaining) == (3, 4)
    assert _stored_uids() == sorted(str(quote.uid) for quote in quotes[:3])
    assert _lengths() == (4, 0)


def test_rows_a_killed_flush_moved_but_never_committed_are_stored_first_by_the_next_run() -> None:
    quotes = _quotes(5)
    redis = get_redis_connection("default")
    for _ in range(2):  # the state of a run killed after its LMOVE, before its transaction committed
        redis.lmove(history_buffer_key(), history_processing_key(), "LEFT", "RIGHT")

    flush = calculation_history_flush(batch_rows=10, max_batches=1)

    assert (flush.inserted, flush.remaining) == (2, 3)
    assert _stored_uids() == sorted(str(quote.uid) for quote in quotes[:2])
    assert _lengths() == (3, 0)


def test_rows_a_killed_flush_committed_but_never_dropped_are_not_stored_twice() -> None:
    _quotes(4)
    redis = get_redis_connection("default")
    entries = redis.lrange(history_buffer_key(), 0, -1)
    calculation_history_flush(batch_rows=10, max_batches=10)
    # The state of a run killed after its commit, before it dropped the processing list.
    redis.rpush(history_processing_key(), *entries[:2])
    stored = _stored_uids()

    flush = calculation_history_flush(batch_rows=10, max_batches=10)

    assert (flush.inserted, flush.skipped, flush.remaining) == (0, 2, 0)
    assert _stored_uids() == stored
    assert len(stored) == 4
    assert _lengths() == (0, 0)


def test_flush_drops_rows_of_deleted_accounts_and_forgets_models_deleted_from_the_catalogue(
    client_user: User, host_user: User
) -> None:
    gone = MinerModelFactory.create(make="Retired", model="R1", hashrate_ths=Decimal(50), power_w=3000)
    kept = _quotes(1, user_id=host_user.pk, model_id=gone.pk)
    _quotes(1, user_id=client_user.pk)
    client_user.delete()
    gone.delete()

    flush = calculation_history_flush(batch_rows=10, max_batches=10)

    row = CalculationHistory.objects.get()
    assert (flush.inserted, flush.skipped) == (1, 1)
    assert (row.uid, row.user, row.miner_model) == (kept[0].uid, host_user, None)


def test_flush_leaves_out_an_unreadable_entry_and_stores_the_others() -> None:
    redis = get_redis_connection("default")
    redis.rpush(history_buffer_key(), b"{not json")
    redis.rpush(history_buffer_key(), b'{"user_id": "someone", "quote": {}}')
    quotes = _quotes(2)

    flush = calculation_history_flush(batch_rows=10, max_batches=10)

    assert (flush.inserted, flush.skipped, flush.remaining) == (2, 2, 0)
    assert _stored_uids() == sorted(str(quote.uid) for quote in quotes)


@override_settings(CALCULATOR_HISTORY_BUFFER_MAX_ROWS=2)
def test_a_quote_finding_the_buffer_full_writes_its_row_at_once() -> None:
    first, second, third = _quotes(3)

    stored = _stored_uids()

    assert (first.buffered, second.buffered, third.buffered) == (True, True, False)
    assert stored == [str(third.uid)]
    assert _lengths() == (2, 0)


def test_flush_refuses_to_run_while_another_run_holds_the_job() -> None:
    _quotes(2)

    with job_lock(HISTORY_FLUSH_LOCK, ttl_seconds=10):
        with pytest.raises(JobLockedError):
            calculation_history_flush(batch_rows=10, max_batches=10)
        skipped = calculation_history_flush_task.delay().get()

    assert skipped is None
    assert not CalculationHistory.objects.exists()
    assert _lengths() == (2, 0)


@override_settings(CALCULATOR_HISTORY_FLUSH_ROWS=1)
def test_the_flush_task_queues_another_run_while_rows_remain() -> None:
    quotes = _quotes(12)  # one run flushes 10 batches of CALCULATOR_HISTORY_FLUSH_ROWS

    first_run = calculation_history_flush_task.delay().get()

    assert first_run == {"inserted": 10, "skipped": 0, "remaining": 2}
    assert _stored_uids() == sorted(str(quote.uid) for quote in quotes)
    assert _lengths() == (0, 0)
