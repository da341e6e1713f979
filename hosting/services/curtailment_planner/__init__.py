"""Curtailment planning: which miners to turn off or down to shed power while losing the least hashrate.

Pure code over plain values, no database: the caller passes candidates (`curtailment_candidates_build`
makes them from miners and their latest telemetry) and a target, and stores the plan it gets back.
`curtailment_plan` runs one strategy; `curtailment_plan_preview` runs them all side by side.
"""

from .curves import PowerCurve, dvfs_curve, power_curve_for, supports_sleep
from .domain import (
    Candidate,
    CurtailAction,
    PlanChoice,
    PlanPreview,
    PlanResult,
    ShortReason,
    Solver,
    Strategy,
    Target,
    TargetKind,
)
from .eligibility import (
    Eligibility,
    Exclusion,
    ExclusionReason,
    MinerState,
    StalePolicy,
    curtailment_candidates_build,
)
from .planner import Fleet, curtailment_plan, curtailment_plan_preview, fleet_from_candidates

__all__ = [
    "Candidate",
    "CurtailAction",
    "Eligibility",
    "Exclusion",
    "ExclusionReason",
    "Fleet",
    "MinerState",
    "PlanChoice",
    "PlanPreview",
    "PlanResult",
    "PowerCurve",
    "ShortReason",
    "Solver",
    "StalePolicy",
    "Strategy",
    "Target",
    "TargetKind",
    "curtailment_candidates_build",
    "curtailment_plan",
    "curtailment_plan_preview",
    "dvfs_curve",
    "fleet_from_candidates",
    "power_curve_for",
    "supports_sleep",
]
