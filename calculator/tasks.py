"""Celery tasks of the calculator: thin wrappers over services."""

import logging

from celery import Task, shared_task
from django.conf import settings

from calculator.services.batch_compute import calculation_batch_run
from calculator.services.history_buffer import calculation_history_flush
from mining_platform.core.errors import NotFoundError
from mining_platform.core.locks import JobLockedError

logger = logging.getLogger(__name__)


# A 100,000-row batch with a year's projection per row takes minutes; the limits leave room for it.
@shared_task(
    name="calculator.calculation_batch_run",
    bind=True,
    max_retries=20,
    soft_time_limit=1800,
    time_limit=1900,
)
def calculation_batch_run_task(self: Task[..., object], *, batch_id: int) -> dict[str, object]:
    """Compute a batch's outstanding rows; a delivery that finds another run holding the batch tries again later."""
    try:
        batch = calculation_batch_run(batch_id=batch_id)
    except JobLockedError as exc:
        # A redelivery after a lost worker can arrive before the dead worker's lock expires (its TTL).
        raise self.retry(countdown=30, exc=exc) from exc
    except NotFoundError:
        logger.warning("Calculation batch gone before it ran: batch_id=%s", batch_id)
        return {}
    return {"status": batch.status, "total": batch.total, "done": batch.done}


# Batches one run flushes before it hands over to a fresh run (queued at once while rows remain).
HISTORY_FLUSH_BATCHES_PER_RUN = 10


@shared_task(name="calculator.calculation_history_flush", soft_time_limit=60, time_limit=90)
def calculation_history_flush_task() -> dict[str, int] | None:
    """Store the quotes buffered in Redis in calculation_history; skipped while another run holds the job."""
    try:
        flush = calculation_history_flush(
            batch_rows=settings.CALCULATOR_HISTORY_FLUSH_ROWS, max_batches=HISTORY_FLUSH_BATCHES_PER_RUN
        )
    except JobLockedError:
        logger.info("Calculation history flush skipped, another run holds it")
        return None
    if flush.remaining:
        calculation_history_flush_task.delay()
    return {"inserted": flush.inserted, "skipped": flush.skipped, "remaining": flush.remaining}
