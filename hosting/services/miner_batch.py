"""Batch operations: one control command sent to many miners, with progress kept in the database.

A batch is its operation-log rows: `miner_batch_create` writes one 'requested' row per miner, tagged
with the batch id in `parameters`, before anything is sent, so the total is known from the start and a
page reload shows how far it got. `miner_batch_run` sends the commands concurrently and fills the rows
in as answers come; run again (a redelivered task), it sends only what is still outstanding.
"""

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from hosting.choices import MinerAction
from hosting.models import Miner, MinerOperation
from hosting.services.miner_control import (
    REQUESTED,
    control_caller_check,
    control_concurrency,
    control_job,
    control_jobs_execute,
    control_parameters_clean,
)
from mining_platform.core.errors import InvalidInputError, NotFoundError
from mining_platform.core.locks import job_lock
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

# Key of the batch id inside MinerOperation.parameters.
BATCH_KEY = "batch"
# One batch is one Celery task; a farm larger than this is driven site by site.
MAX_BATCH_MINERS = 20_000


@dataclass(frozen=True)
class BatchSummary:
    batch_id: str
    action: str
    total: int
    done: int
    ok: int
    requested_at: datetime
    finished_at: datetime | None  # the last answer's time, once every miner has answered

    @property
    def failed(self) -> int:
        return self.done - self.ok

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def action_label(self) -> str:
        return str(MinerAction(self.action).label)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass(frozen=True)
class BatchProgress:
    summary: BatchSummary
    requested_by: User | None
    parameters: dict[str, object]  # the command's own parameters, without the batch id
    operations: list[MinerOperation]  # one per miner, miner and site loaded


def _batch_rows(batch_id: str) -> QuerySet[MinerOperation]:
    return MinerOperation.objects.filter(**{f"parameters__{BATCH_KEY}": batch_id})


def _summaries(rows: QuerySet[MinerOperation]) -> list[BatchSummary]:
    grouped = (
        rows.annotate(batch_id=KeyTextTransform(BATCH_KEY, "parameters"))
        .values("batch_id")
        .annotate(
            total=Count("pk"),
            done=Count("pk", filter=~Q(outcome=REQUESTED)),
            ok=Count("pk", filter=Q(outcome="ok")),
            action=Min("action"),
            requested_at=Min("requested_at"),
            last_at=Max("finished_at"),
        )
        .order_by("-requested_at")
    )
    return [
        BatchSummary(
            batch_id=row["batch_id"],
            action=row["action"],
            total=row["total"],
            done=row["done"],
            ok=row["ok"],
            requested_at=row["requested_at"],
            finished_at=row["last_at"] if row["done"] >= row["total"] else None,
        )
        for row in grouped
    ]


def miner_batch_summary(*, batch_id: str) -> BatchSummary:
    """Counts of one batch (a read, for the status endpoint); NotFoundError for an unknown id."""
    found = _summaries(_batch_rows(batch_id))
    if not found:
        raise NotFoundError(f"Batch {batch_id} not found.")
    return found[0]


def miner_batch_get(*, batch_id: str) -> BatchProgress:
    """One batch with its per-miner rows (a read); NotFoundError for an unknown id."""
    summary = miner_batch_summary(batch_id=batch_id)
    operations = list(
        _batch_rows(batch_id).select_related("miner", "miner__site", "requested_by").order_by("miner__ip", "pk")
    )
    first = operations[0]
    parameters = {k: v for k, v in first.parameters.items() if k != BATCH_KEY}
    return BatchProgress(summary=summary, requested_by=first.requested_by, parameters=parameters, operations=operations)


def miner_batch_list(*, limit: int = 20) -> list[BatchSummary]:
    """The most recent batches, newest first (a read)."""
    return _summaries(MinerOperation.objects.filter(parameters__has_key=BATCH_KEY))[:limit]


def _batch_rows_create(
    *,
    miner_ids: Sequence[int],
    action: str,
    parameters: Mapping[str, object],
    requested_by: User | None,
    now: datetime,
) -> BatchSummary:
    """Write one 'requested' row per miner; runs inside the caller's transaction."""
    control_caller_check(requested_by=requested_by)
    clean = control_parameters_clean(action=action, parameters=parameters)
    ids = list(Miner.objects.filter(pk__in=set(miner_ids)).order_by("pk").values_list("pk", flat=True))
    if not ids:
        raise InvalidInputError(fields={"miners": ["select at least one miner"]})
    if len(ids) > MAX_BATCH_MINERS:
        raise InvalidInputError(
            fields={"miners": [f"{len(ids)} miners selected; one batch takes at most {MAX_BATCH_MINERS}"]}
        )
    batch_id = uuid.uuid4().hex
    MinerOperation.objects.bulk_create(
        [
            MinerOperation(
                miner_id=miner_id,
                action=action,
                parameters={**clean, BATCH_KEY: batch_id},
                requested_by=requested_by,
                requested_at=now,
                outcome=REQUESTED,
            )
            for miner_id in ids
        ],
        batch_size=1000,
    )
    logger.info("Miner batch created: batch=%s action=%s miners=%d", batch_id, action, len(ids))
    return BatchSummary(
        batch_id=batch_id, action=action, total=len(ids), done=0, ok=0, requested_at=now, finished_at=None
    )


@transaction.atomic(durable=True)
def miner_batch_create(
    *,
    miner_ids: Sequence[int],
    action: str,
    parameters: Mapping[str, object],
    requested_by: User | None,
    now: datetime,
) -> BatchSummary:
    """Create a batch without running it (the caller runs it with miner_batch_run)."""
    return _batch_rows_create(
        miner_ids=miner_ids, action=action, parameters=parameters, requested_by=requested_by, now=now
    )


@transaction.atomic(durable=True)
def miner_batch_start(
    *,
    miner_ids: Sequence[int],
    action: str,
    parameters: Mapping[str, object],
    requested_by: User | None,
    now: datetime,
) -> BatchSummary:
    """Create a batch and have a worker run it once the rows are committed."""
    # Imported here because hosting.tasks imports this module to wrap miner_batch_run.
    from hosting.tasks import miner_batch_run_task

    batch = _batch_rows_create(
        miner_ids=miner_ids, action=action, parameters=parameters, requested_by=requested_by, now=now
    )
    # delay_on_commit in effect; celery-types does not know that method yet.
    transaction.on_commit(lambda: miner_batch_run_task.delay(batch_id=batch.batch_id))
    return batch


def miner_batch_run(*, batch_id: str, now: datetime, concurrency: int | None = None) -> BatchSummary:
    """Send the batch's outstanding commands, `concurrency` miners at a time, recording each answer.

    A per-batch lock keeps a redelivered task from sending the same commands twice at once.
    """
    with job_lock(f"hosting.miner_batch:{batch_id}", ttl_seconds=60):
        pending = list(_batch_rows(batch_id).filter(outcome=REQUESTED).select_related("miner").order_by("pk"))
        jobs = [control_job(operation=operation, miner=operation.miner) for operation in pending]
        results = control_jobs_execute(jobs=jobs, now=now, concurrency=concurrency or control_concurrency())
    summary = miner_batch_summary(batch_id=batch_id)
    logger.info(
        "Miner batch ran: batch=%s sent=%d ok=%d failed=%d",
        batch_id,
        len(results),
        sum(1 for r in results if r.ok),
        sum(1 for r in results if not r.ok),
    )
    return summary
