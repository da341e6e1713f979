"""Which miners may be curtailed, from values the caller read (no queries here), and why others may not.

Rules (issue 7, "Planning"): a miner is a candidate when it is online, not in maintenance, not already
curtailed or asleep, and its last poll succeeded within the freshness window (5 minutes by default).
Its figures are the measured ones; where the reading lacks one (stock Antminer firmware reports no
power, commands.md section 0) the model's nominal figure stands in and the candidate is flagged nominal.
A caller may also choose to plan stale miners on nominal figures (flagged) rather than leave them out.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from hosting.choices import MinerStatus
from mining_platform.core.errors import InvalidInputError

from .curves import PowerCurve, power_curve_for, supports_sleep
from .domain import Candidate

FRESH_WITHIN = timedelta(minutes=5)


class ExclusionReason(enum.StrEnum):
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"
    CURTAILED = "curtailed"  # stopped, asleep, or in a plan already
    NO_READING = "no_reading"  # never polled, or the last poll failed
    STALE = "stale"  # the last good reading is older than the window


class StalePolicy(enum.StrEnum):
    EXCLUDE = "exclude"
    NOMINAL = "nominal"  # plan on the model's nominal figures, flagged


@dataclass(frozen=True, kw_only=True, slots=True)
class MinerState:
    """A miner and its latest reading, as the caller read them."""

    miner_id: int
    status: str  # a hosting.choices.MinerStatus value
    firmware: str  # a hosting.choices.Firmware value
    nominal_power_w: int
    nominal_hashrate_ths: float
    reading_at: datetime | None = None  # the latest successful poll
    power_w: int | None = None
    hashrate_ths: float | None = None
    chip_temp_c: float | None = None
    is_sleeping: bool | None = None
    in_curtailment: bool = False  # already part of a plan that is executing
    customer_id: int | None = None
    priority: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Exclusion:
    miner_id: int
    reason: ExclusionReason
    detail: str


@dataclass(frozen=True)
class Eligibility:
    candidates: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]


def _excluded(state: MinerState, *, now: datetime, fresh_within: timedelta) -> Exclusion | None:
    def no(reason: ExclusionReason, detail: str) -> Exclusion:
        return Exclusion(miner_id=state.miner_id, reason=reason, detail=detail)

    if state.status == MinerStatus.MAINTENANCE:
        return no(ExclusionReason.MAINTENANCE, "in maintenance")
    if state.status == MinerStatus.OFFLINE:
        return no(ExclusionReason.OFFLINE, "offline")
    if state.in_curtailment or state.status == MinerStatus.STOPPED or state.is_sleeping:
        return no(ExclusionReason.CURTAILED, "already stopped, asleep or in a plan")
    if state.reading_at is None:
        return no(ExclusionReason.NO_READING, "no successful poll on record")
    age = now - state.reading_at
    if age > fresh_within:
        return no(ExclusionReason.STALE, f"last reading {int(age.total_seconds())} s ago")
    return None


def curtailment_candidates_build(
    *,
    states: Iterable[MinerState],
    now: datetime,
    fresh_within: timedelta = FRESH_WITHIN,
    stale_policy: StalePolicy | str = StalePolicy.EXCLUDE,
    curves: Mapping[str, PowerCurve] | None = None,
) -> Eligibility:
    """The planner's candidates among `states`, and every other miner with the reason it was left out.

    `curves` maps a firmware value to a measured curve that replaces the modelled one (curves.py).
    """
    if now.tzinfo is None:
        raise InvalidInputError(fields={"now": ["must be an aware datetime"]})
    if stale_policy not in StalePolicy.__members__.values():
        raise InvalidInputError(fields={"stale_policy": [f"use one of {', '.join(StalePolicy)}"]})
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for state in states:
        exclusion = _excluded(state, now=now, fresh_within=fresh_within)
        stale = exclusion is not None and exclusion.reason == ExclusionReason.STALE
        if exclusion is not None and not (stale and stale_policy == StalePolicy.NOMINAL):
            excluded.append(exclusion)
            continue
        measured_power = None if stale else state.power_w
        measured_hashrate = None if stale else state.hashrate_ths
        curve = (curves or {}).get(state.firmware) or power_curve_for(firmware=state.firmware)
        candidates.append(
            Candidate(
                miner_id=state.miner_id,
                power_w=state.nominal_power_w if measured_power is None else measured_power,
                hashrate_ths=state.nominal_hashrate_ths if measured_hashrate is None else measured_hashrate,
                nominal=measured_power is None or measured_hashrate is None,
                customer_id=state.customer_id,
                priority=state.priority,
                supports_power_target=curve is not None,
                curve=curve,
                chip_temp_c=None if stale else state.chip_temp_c,
                sleep_supported=supports_sleep(firmware=state.firmware),
            )
        )
    return Eligibility(candidates=tuple(candidates), excluded=tuple(excluded))
