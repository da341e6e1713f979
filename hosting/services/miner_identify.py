"""Miner identification: ask the miner what it is (through pyasic) and correct its row to match.

Two steps, never one transaction (STYLE.md section 6): read every identity with no transaction open,
then, per miner, one short transaction that corrects the row and writes one miner_operation_log row
whose answer is the identity. A miner that cannot be identified is a recorded outcome, never an error.

What is corrected: the firmware when pyasic names one the platform knows; the catalogue model, with the
catalogue's nominal hashrate and power, when the reported model is in the catalogue; the serial number
when the row has none (a serial someone typed in is theirs to change).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from calculator.models import MinerModel
from calculator.selectors import miner_model_list
from hosting.choices import Firmware, MinerAction
from hosting.clients.identify import IdentifyTimeouts, MinerIdentity, miner_identities_read
from hosting.models import Miner, MinerOperation, Site
from hosting.services.miner_control import control_caller_check, control_concurrency, control_credentials
from mining_platform.core.errors import NotFoundError
from mining_platform.core.models import User

logger = logging.getLogger(__name__)


class IdentifyOutcome(enum.StrEnum):
    OK = "ok"  # identified, and the model is in the catalogue
    NOT_FOUND = "not_found"  # nothing pyasic recognises answered at the miner's address
    UNKNOWN_MODEL = "unknown_model"  # identified, but the model is not in the catalogue: model left as it was
    INVALID = "invalid"  # the row refused the corrections (its validation said no): nothing changed


@dataclass(frozen=True)
class IdentifyResult:
    miner_id: int
    miner_label: str  # the miner as people know it: "10.0.0.5:4028 (R001/07)"
    outcome: str  # an IdentifyOutcome value
    message: str  # one line for people: what answered and what changed
    changed: tuple[str, ...]  # fields of the Miner row that were corrected
    identity: MinerIdentity | None
    operation_id: int | None  # the log row; None only when the miner was deleted while it was read

    @property
    def ok(self) -> bool:
        return self.outcome == IdentifyOutcome.OK


@dataclass(frozen=True)
class _Plan:
    outcome: IdentifyOutcome
    changes: dict[str, object]
    message: str


def _timeouts() -> IdentifyTimeouts:
    # Identification talks to the same miners over the same links as control, so it keeps its limits.
    return IdentifyTimeouts(
        deadline_s=settings.MINER_CONTROL_DEADLINE_SECONDS, read_s=settings.MINER_CONTROL_READ_TIMEOUT_SECONDS
    )


def _catalogue_match(*, identity: MinerIdentity) -> MinerModel | None:
    if identity.make is None or identity.model is None:
        return None
    # Case-insensitive: pyasic and the makers' sheets disagree on case ("S19J Pro", "S19j Pro").
    return miner_model_list().filter(make__iexact=identity.make, model__iexact=identity.model).first()


def _firmware_label(value: str) -> str:
    return str(Firmware(value).label) if value in Firmware.values else value


def _plan(*, miner: Miner, identity: MinerIdentity | None, catalogue: MinerModel | None) -> _Plan:
    """What identification concludes for one miner and which fields of its row change; writes nothing."""
    if identity is None:
        return _Plan(
            IdentifyOutcome.NOT_FOUND,
            {},
            f"No miner that pyasic recognises answered at {miner.ip} (web on 80/443, RPC on 4028).",
        )
    changes: dict[str, object] = {}
    notes: list[str] = []
    if identity.firmware is None:
        notes.append(f"firmware {identity.raw_firmware or 'unknown'} is not one the platform runs; left as it was")
    elif identity.firmware != miner.firmware:
        changes["firmware"] = identity.firmware
    if catalogue is None:
        outcome = IdentifyOutcome.UNKNOWN_MODEL
        named = " ".join(part for part in (identity.make, identity.model) if part) or "an unnamed miner"
        notes.append(f"{named} is not in the miner model catalogue; model left as {miner.miner_model}")
    else:
        outcome = IdentifyOutcome.OK
        if catalogue.pk != miner.miner_model_id:
            changes.update(
                miner_model=catalogue,
                nominal_hashrate_ths=catalogue.hashrate_ths,
                nominal_power_w=catalogue.power_w,
            )
    if identity.serial and not miner.serial:
        changes["serial"] = identity.serial
    found = " ".join(part for part in (identity.raw_make, identity.raw_model) if part)
    firmware = _firmware_label(identity.firmware) if identity.firmware else identity.raw_firmware or "unknown firmware"
    what = f"pyasic found {found or 'a miner'} on {firmware}"
    done = f"fields to correct: {', '.join(changes)}" if changes else "the row already matches"
    return _Plan(outcome, changes, "; ".join([what, done, *notes]) + ".")


def _answer(*, identity: MinerIdentity | None, message: str) -> str:
    """The log row's answer: the identity as pyasic gave it, or why there was none."""
    if identity is None:
        return message
    return json.dumps(dataclasses.asdict(identity), sort_keys=True)


@transaction.atomic(durable=True)
def _identity_record(
    *,
    miner_id: int,
    identity: MinerIdentity | None,
    requested_by: User | None,
    requested_at: datetime,
    finished_at: datetime,
) -> IdentifyResult:
    """Correct one miner's row from its identity and log the identification, in one short transaction."""
    miner = Miner.objects.select_for_update().select_related("miner_model").filter(pk=miner_id).first()
    if miner is None:
        return IdentifyResult(
            miner_id,
            f"miner {miner_id}",
            IdentifyOutcome.NOT_FOUND,
            "The miner was deleted meanwhile.",
            (),
            identity,
            None,
        )
    catalogue = None if identity is None else _catalogue_match(identity=identity)
    plan = _plan(miner=miner, identity=identity, catalogue=catalogue)
    outcome, message, changed = plan.outcome, plan.message, tuple(plan.changes)
    if plan.changes:
        for field, value in plan.changes.items():
            setattr(miner, field, value)
        try:
            # Only what this service writes is checked; the rest of the row is not ours to judge here.
            miner.full_clean(exclude=[f.name for f in Miner._meta.fields if f.name not in plan.changes])
        except ValidationError as exc:
            outcome, changed = IdentifyOutcome.INVALID, ()
            message = f"{message} The row refused it: {'; '.join(exc.messages)}"
        else:
            miner.save(update_fields=list(plan.changes))
    operation = MinerOperation.objects.create(
        miner=miner,
        action=MinerAction.IDENTIFY,
        requested_by=requested_by,
        requested_at=requested_at,
        finished_at=finished_at,
        outcome=outcome,
        response=_answer(identity=identity, message=message),
    )
    return IdentifyResult(miner.pk, str(miner), outcome, message, changed, identity, operation.pk)


def _identities_read(*, ips: Sequence[str]) -> list[MinerIdentity | None]:
    if not ips:
        return []
    return asyncio.run(
        miner_identities_read(
            ips, concurrency=control_concurrency(), timeouts=_timeouts(), credentials=control_credentials()
        )
    )


def miners_identify(
    *, miner_ids: Sequence[int], requested_by: User | None = None, now: datetime
) -> list[IdentifyResult]:
    """Identify the miners (many at once), correct each row and log each; results in miner id order.

    Ids of miners that do not exist are skipped. Miner faults are recorded outcomes, never raised.
    """
    control_caller_check(requested_by=requested_by)
    miners = list(Miner.objects.filter(pk__in=miner_ids).order_by("pk").values_list("pk", "ip"))
    started = time.monotonic()
    identities = _identities_read(ips=[ip for _pk, ip in miners])
    finished_at = now + timedelta(seconds=time.monotonic() - started)
    results = []
    for (miner_id, _ip), identity in zip(miners, identities, strict=True):
        result = _identity_record(
            miner_id=miner_id, identity=identity, requested_by=requested_by, requested_at=now, finished_at=finished_at
        )
        log = logger.info if result.ok else logger.warning
        log(
            "Miner identified: miner_id=%s outcome=%s changed=%s",
            miner_id,
            result.outcome,
            ",".join(result.changed) or "-",
        )
        results.append(result)
    return results


def miner_identify(*, miner_id: int, requested_by: User | None = None, now: datetime) -> IdentifyResult:
    """Identify one miner with pyasic, correct its row and log the identification.

    Raises NotFoundError for an unknown miner id; the miner's own faults are recorded, never raised.
    """
    control_caller_check(requested_by=requested_by)
    results = miners_identify(miner_ids=[miner_id], requested_by=requested_by, now=now)
    if not results:
        raise NotFoundError(f"Miner {miner_id} not found.")
    return results[0]


def site_identities_preview(*, site: Site) -> list[IdentifyResult]:
    """What identification would conclude for every miner of a site, read from the miners; writes nothing."""
    miners = list(site.miners.select_related("miner_model").order_by("pk"))
    identities = _identities_read(ips=[m.ip for m in miners])
    previews = []
    for miner, identity in zip(miners, identities, strict=True):
        catalogue = None if identity is None else _catalogue_match(identity=identity)
        plan = _plan(miner=miner, identity=identity, catalogue=catalogue)
        previews.append(
            IdentifyResult(miner.pk, str(miner), plan.outcome, plan.message, tuple(plan.changes), identity, None)
        )
    return previews
