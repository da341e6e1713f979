"""Curtailment asked for from outside the planner: the page and API (now or later) and demand response.

Each entry point stores the plan through `curtailment_plan_create` in its own durable transaction. A plan
that starts now wakes the executor (the `hosting.curtailment_execute_due` task) once the plan is
committed, instead of leaving it to the next beat; the beat still claims it if that wake-up is lost.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

from hosting.choices import CurtailmentSource, CurtailmentStrategy, CurtailmentTargetKind
from hosting.models import CurtailmentPlan, Site
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create
from mining_platform.core.errors import ConflictError, InvalidInputError
from mining_platform.core.models import ApiKey, User

logger = logging.getLogger(__name__)

# The executor's beat claims due plans every 60 s (issue 7, "Execution and verification").
EXECUTOR_PERIOD = timedelta(seconds=60)
# A start this close to now counts as "now": the executor is woken rather than left to the beat.
_NOW_SLACK = timedelta(seconds=5)


class DemandResponseReusedError(ConflictError):
    code = "demand_response_request_reused"
    default_message = "This request id was already used for a different request."


def _execute_due_soon() -> None:
    """Wake the executor once the caller's transaction commits (runs inside it)."""
    # Imported here because hosting.tasks imports the services it wraps.
    from hosting.tasks import curtailment_execute_due_task

    # delay_on_commit in effect; celery-types does not know that method yet.
    transaction.on_commit(lambda: curtailment_execute_due_task.delay())


def _starts_now(*, request: CurtailmentRequest, now: datetime) -> bool:
    return request.starts_at <= now + _NOW_SLACK


@transaction.atomic(durable=True)
def curtailment_plan_submit(
    *, request: CurtailmentRequest, now: datetime, created_by: User | None, api_key: ApiKey | None = None
) -> CurtailmentPlan:
    """Store a plan from the page or the API; one that starts now wakes the executor after commit."""
    plan = curtailment_plan_create(request=request, now=now, created_by=created_by, api_key=api_key)
    if _starts_now(request=request, now=now):
        _execute_due_soon()
    logger.info(
        "Curtailment plan created: plan_id=%s site_id=%s source=%s target=%s:%s shed_kw=%s miners=%s",
        plan.pk,
        plan.site_id,
        plan.source,
        plan.target_kind,
        plan.target_value,
        plan.planned_shed_kw,
        plan.plan_miners.count(),
    )
    return plan


def curtailment_plan_trigger(
    *,
    site: Site,
    target_kind: str,
    target_value: Decimal,
    strategy: str,
    recover_at: datetime | None,
    duration: timedelta | None,
    source: str,
    now: datetime,
    created_by: User | None,
    api_key: ApiKey | None = None,
) -> CurtailmentPlan:
    """Start a plan now: stored with its start at `now`, and the executor woken once it is committed."""
    if (recover_at is None) == (duration is None):
        raise InvalidInputError(fields={"recover_at": ["give either recover_at or duration_minutes"]})
    request = CurtailmentRequest(
        site=site,
        target_kind=target_kind,
        target_value=target_value,
        strategy=strategy,
        starts_at=now,
        recover_at=recover_at if recover_at is not None else now + (duration or timedelta()),
        source=source,
    )
    return curtailment_plan_submit(request=request, now=now, created_by=created_by, api_key=api_key)


@dataclass(frozen=True)
class DemandResponseRequest:
    """An aggregator's request: shed `target_kw` at a site from `starts_at` for `duration`, reached by `deadline`."""

    site: Site
    request_id: str
    target_kw: Decimal
    deadline: datetime
    starts_at: datetime
    duration: timedelta
    strategy: str = CurtailmentStrategy.OPTIMAL


@dataclass(frozen=True)
class DemandResponseAnswer:
    """The plan for a request, whether it was made by this call, and whether the deadline can be met."""

    plan: CurtailmentPlan
    created: bool
    target_met: bool  # the planned shed covers the target
    expected_shed_at: datetime  # when the shed should be confirmed by telemetry
    can_meet_by_deadline: bool
    reasons: tuple[str, ...]  # why not, in words; empty when it can


def _lock_request_id(*, owner_id: int, request_id: str) -> None:
    """Serialise calls with one aggregator's request id until the caller's transaction ends."""
    digest = hashlib.blake2b(f"curtailment-dr:{owner_id}:{request_id}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def _expected_shed_at(*, plan: CurtailmentPlan, now: datetime, woken: bool) -> datetime:
    """When the shed was confirmed, or should be: the executor's start, then one poll interval to confirm."""
    if plan.measured_at is not None:
        return plan.measured_at
    start = max(plan.scheduled_start, now)
    # A plan starting now wakes the executor at once; a later one waits for the beat's next claim.
    executor_lag = timedelta() if woken else EXECUTOR_PERIOD
    return start + executor_lag + timedelta(seconds=settings.TELEMETRY_POLL_INTERVAL_SECONDS)


def _answer(*, plan: CurtailmentPlan, created: bool, now: datetime) -> DemandResponseAnswer:
    woken = created and plan.scheduled_start <= now + _NOW_SLACK
    expected = _expected_shed_at(plan=plan, now=now, woken=woken)
    target_met = plan.planned_shed_kw >= plan.target_value
    reasons: list[str] = []
    if not target_met:
        reasons.append(
            f"The site can shed {plan.planned_shed_kw.normalize():f} kW of the {plan.target_value.normalize():f} kW asked."
        )
    deadline = plan.deadline or plan.scheduled_start
    if expected > deadline:
        reasons.append(
            f"The shed is expected to be confirmed at {expected:%Y-%m-%d %H:%M:%S} UTC, after the deadline "
            f"{deadline:%Y-%m-%d %H:%M:%S} UTC."
        )
    return DemandResponseAnswer(
        plan=plan,
        created=created,
        target_met=target_met,
        expected_shed_at=expected,
        can_meet_by_deadline=not reasons,
        reasons=tuple(reasons),
    )


def _same_request(*, plan: CurtailmentPlan, request: DemandResponseRequest) -> bool:
    return (
        plan.site_id == request.site.pk
        and plan.target_value == request.target_kw
        and plan.deadline == request.deadline
        and plan.recover_at - plan.scheduled_start == request.duration
    )


@transaction.atomic(durable=True)
def curtailment_demand_response(
    *, request: DemandResponseRequest, api_key: ApiKey, now: datetime
) -> DemandResponseAnswer:
    """Plan an aggregator's request once per request id: a repeat answers the same plan as it is now.

    The same id with different figures raises DemandResponseReusedError; nothing is stored twice, even when
    two calls with one id race (an advisory lock on the owner and id serialises them).
    """
    request_id = request.request_id.strip()
    if not request_id:
        raise InvalidInputError(fields={"request_id": ["must not be blank"]})
    owner = api_key.owner
    _lock_request_id(owner_id=owner.pk, request_id=request_id)
    existing = (
        CurtailmentPlan.objects.select_related("site")
        .filter(source=CurtailmentSource.DEMAND_RESPONSE, created_by=owner, external_ref=request_id)
        .first()
    )
    if existing is not None:
        if not _same_request(plan=existing, request=request):
            raise DemandResponseReusedError(
                f"Request id {request_id!r} was already used for plan {existing.pk} with other figures.",
                fields={"request_id": ["already used for a different request"]},
            )
        return _answer(plan=existing, created=False, now=now)
    starts_at = max(request.starts_at, now)
    if request.deadline < now:
        raise InvalidInputError(fields={"deadline": ["must not be in the past"]})
    plan = curtailment_plan_create(
        request=CurtailmentRequest(
            site=request.site,
            target_kind=CurtailmentTargetKind.SHED_KW,
            target_value=request.target_kw,
            strategy=request.strategy,
            starts_at=starts_at,
            recover_at=starts_at + request.duration,
            source=CurtailmentSource.DEMAND_RESPONSE,
            deadline=request.deadline,
            external_ref=request_id,
        ),
        now=now,
        created_by=owner,
        api_key=api_key,
    )
    if starts_at <= now + _NOW_SLACK:
        _execute_due_soon()
    answer = _answer(plan=plan, created=True, now=now)
    logger.info(
        "Demand-response plan created: plan_id=%s site_id=%s request_id=%s target_kw=%s shed_kw=%s by_deadline=%s",
        plan.pk,
        plan.site_id,
        request_id,
        request.target_kw,
        plan.planned_shed_kw,
        answer.can_meet_by_deadline,
    )
    return answer
