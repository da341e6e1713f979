"""Reads of hosting data, scoped to the caller where rows belong to a customer."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, F, QuerySet

from mining_platform.core.access import scope_to_customer
from mining_platform.core.errors import NotFoundError

from .choices import MinerStatus
from .clients.poller import PollTarget
from .models import Miner, MinerTelemetry, Site, TelemetryRollup

# Ranges up to RAW_MAX read raw polls; up to FIVE_MINUTE_MAX read 5-minute rollups; longer, hourly.
RAW_MAX = timedelta(hours=6)
FIVE_MINUTE_MAX = timedelta(days=7)


def site_list() -> QuerySet[Site]:
    """Every site, by name (sites are the operator's own; clients reach them through their miners)."""
    return Site.objects.order_by("name")


def miner_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Miner]:
    """Miners the user may see: every miner for operators, their own customer's for a client."""
    return scope_to_customer(
        Miner.objects.select_related("site", "miner_model", "customer", "latest").order_by("site__name", "ip"),
        user=user,
        customer_field="customer_id",
    )


def miner_get_for_user(*, miner_id: int, user: AbstractBaseUser | AnonymousUser) -> Miner:
    """One miner the user may see; NotFoundError otherwise, so existence never leaks."""
    miner = miner_list_for_user(user=user).filter(pk=miner_id).first()
    if miner is None:
        raise NotFoundError(f"Miner {miner_id} not found.")
    return miner


def miner_status_counts(*, queryset: QuerySet[Miner]) -> dict[str, int]:
    """How many miners of `queryset` are in each status (every status present, zero when none)."""
    counts = dict.fromkeys(MinerStatus.values, 0)
    for row in queryset.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    hashrate_ths: float | None
    temp_c: float | None
    power_w: float | None
    ok_share: float


@dataclass(frozen=True)
class TelemetryHistory:
    miner_id: int
    resolution: str  # "raw", "5m" or "1h"
    points: list[HistoryPoint]


def telemetry_history(*, miner_id: int, start: datetime, end: datetime) -> TelemetryHistory:
    """A miner's readings over [start, end), from raw polls or rollups depending on the range."""
    span = end - start
    if span <= RAW_MAX:
        raw = MinerTelemetry.objects.filter(miner_id=miner_id, recorded_at__gte=start, recorded_at__lt=end).order_by(
            "recorded_at"
        )
        points = [
            HistoryPoint(
                at=r.recorded_at,
                hashrate_ths=r.hashrate_ths,
                temp_c=r.chip_temp_max_c if r.chip_temp_max_c is not None else r.board_temp_max_c,
                power_w=r.power_w,
                ok_share=1.0 if r.outcome == "ok" else 0.0,
            )
            for r in raw
        ]
        return TelemetryHistory(miner_id=miner_id, resolution="raw", points=points)
    resolution = TelemetryRollup.Resolution.FIVE_MINUTES if span <= FIVE_MINUTE_MAX else TelemetryRollup.Resolution.HOUR
    rollups = TelemetryRollup.objects.filter(
        miner_id=miner_id, resolution=resolution, bucket_start__gte=start, bucket_start__lt=end
    ).order_by("bucket_start")
    points = [
        HistoryPoint(
            at=r.bucket_start,
            hashrate_ths=r.hashrate_avg_ths,
            temp_c=r.temp_max_c,
            power_w=r.power_avg_w,
            ok_share=r.uptime_share,
        )
        for r in rollups
    ]
    return TelemetryHistory(miner_id=miner_id, resolution=str(resolution), points=points)


def _pollable_miners() -> QuerySet[Miner]:
    """Miners the poller reads: RPC polling on, not parked in maintenance by an operator."""
    return Miner.objects.filter(cgminer_enabled=True).exclude(status=MinerStatus.MAINTENANCE)


def poll_targets_list(*, site_id: int, shard: int = 0, shards: int = 1) -> list[PollTarget]:
    """The addresses of one shard of a site's pollable miners (miners are dealt to shards by id)."""
    rows = (
        _pollable_miners()
        .filter(site_id=site_id)
        .annotate(bucket=F("pk") % shards)
        .filter(bucket=shard)
        .order_by("pk")
        .values_list("pk", "ip", "port", "firmware")
    )
    return [PollTarget(miner_id=pk, site_id=site_id, host=ip, port=port, firmware=fw) for pk, ip, port, fw in rows]


def pollable_miner_counts() -> dict[int, int]:
    """Site id -> how many of its miners the poller reads, for every site that has any."""
    rows = _pollable_miners().order_by().values("site_id").annotate(n=Count("pk"))
    return {row["site_id"]: row["n"] for row in rows}


def telemetry_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[MinerTelemetry]:
    """Stored polls the user may see, newest first: every miner's for operators, their own for a client."""
    return scope_to_customer(
        MinerTelemetry.objects.order_by("-recorded_at", "miner_id"), user=user, customer_field="miner__customer_id"
    )
