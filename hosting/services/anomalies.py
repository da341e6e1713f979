"""Anomaly detection: a miner whose hashrate, temperature or efficiency departs from its peers.

Peers are the miners of the same model at the same site, which share the same air, power and
firmware. The test is the modified z-score of Iglewicz and Hoaglin, 0.6745 * (x - median) / MAD, with
their suggested cut-off of 3.5: median and MAD ignore the outliers they are hunting, where mean and
standard deviation would be dragged towards them. A miner is also compared with its own hourly
rollups of the last day, so a slow decline shows even when all its peers decline too.
"""

import logging
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from hosting.choices import AlertKind, AlertStatus, MinerStatus, PollOutcome
from hosting.models import Alert, Miner, MinerLatest, Site, TelemetryRollup
from mining_platform.core.errors import NotFoundError

logger = logging.getLogger(__name__)

Z_CUTOFF = 3.5
MIN_PEERS = 5  # below this, a median says little
BASELINE_HOURS = 24
MIN_BASELINE_POINTS = 6


@dataclass(frozen=True)
class Anomaly:
    miner_id: int
    reason: str
    value: float
    expected: float


def modified_z(value: float, sample: Sequence[float]) -> float | None:
    """Modified z-score of `value` against `sample`; None when the sample has no spread."""
    median = statistics.median(sample)
    mad = statistics.median(abs(x - median) for x in sample)
    if mad == 0:
        return None
    return 0.6745 * (value - median) / mad


def _metrics(miner: Miner, latest: MinerLatest) -> dict[str, float]:
    values: dict[str, float] = {}
    if latest.hashrate_ths is not None and latest.hashrate_ths > 0:
        values["hashrate share of nominal"] = latest.hashrate_ths / float(miner.nominal_hashrate_ths)
        if latest.power_w:
            values["efficiency J/TH"] = latest.power_w / latest.hashrate_ths
    temp = latest.chip_temp_max_c if latest.chip_temp_max_c is not None else latest.board_temp_max_c
    if temp is not None:
        values["temperature °C"] = temp
    return values


def _peer_anomalies(rows: Sequence[tuple[Miner, MinerLatest]]) -> list[Anomaly]:
    by_group: dict[int, list[tuple[Miner, dict[str, float]]]] = defaultdict(list)
    for miner, latest in rows:
        by_group[miner.miner_model_id].append((miner, _metrics(miner, latest)))
    found = []
    for group in by_group.values():
        if len(group) < MIN_PEERS:
            continue
        for metric in ("hashrate share of nominal", "efficiency J/TH", "temperature °C"):
            sample = [m[metric] for _, m in group if metric in m]
            if len(sample) < MIN_PEERS:
                continue
            median = statistics.median(sample)
            for miner, values in group:
                z = modified_z(values[metric], sample) if metric in values else None
                if z is not None and abs(z) > Z_CUTOFF:
                    found.append(
                        Anomaly(
                            miner.pk,
                            f"{metric} {values[metric]:.2f} against a peer median of {median:.2f} (z={z:+.1f})",
                            values[metric],
                            median,
                        )
                    )
    return found


def _baseline_anomalies(rows: Sequence[tuple[Miner, MinerLatest]], now: datetime) -> list[Anomaly]:
    history: dict[int, list[float]] = defaultdict(list)
    for miner_id, value in TelemetryRollup.objects.filter(
        miner_id__in=[m.pk for m, _ in rows],
        resolution=TelemetryRollup.Resolution.HOUR,
        bucket_start__gte=now - timedelta(hours=BASELINE_HOURS),
        hashrate_avg_ths__isnull=False,
    ).values_list("miner_id", "hashrate_avg_ths"):
        if value is not None:
            history[miner_id].append(value)
    found = []
    for miner, latest in rows:
        sample = history.get(miner.pk, [])
        if latest.hashrate_ths is None or len(sample) < MIN_BASELINE_POINTS:
            continue
        z = modified_z(latest.hashrate_ths, sample)
        if z is not None and z < -Z_CUTOFF:
            median = statistics.median(sample)
            found.append(
                Anomaly(
                    miner.pk,
                    f"hashrate {latest.hashrate_ths:.1f} TH/s against its own 24 h median of {median:.1f} (z={z:+.1f})",
                    latest.hashrate_ths,
                    median,
                )
            )
    return found


@transaction.atomic(durable=True)
def anomalies_detect_site(*, site_id: int, now: datetime) -> list[Anomaly]:
    """Open an anomaly alert (with its reason) per anomalous running miner; resolve the ones that recovered."""
    if not Site.objects.filter(pk=site_id).exists():
        raise NotFoundError(f"Site {site_id} does not exist.")
    miners = {m.pk: m for m in Miner.objects.filter(site_id=site_id, status=MinerStatus.ONLINE)}
    rows = [
        (miners[latest.miner_id], latest)
        for latest in MinerLatest.objects.filter(miner_id__in=miners, outcome=PollOutcome.OK, is_sleeping=False)
    ]
    anomalies: dict[int, Anomaly] = {}
    for anomaly in _peer_anomalies(rows) + _baseline_anomalies(rows, now):
        anomalies.setdefault(anomaly.miner_id, anomaly)
    unresolved = {
        a.miner_id: a
        for a in Alert.objects.select_for_update()
        .filter(site_id=site_id, kind=AlertKind.ANOMALY)
        .exclude(status=AlertStatus.RESOLVED)
        .order_by("pk")
    }
    Alert.objects.bulk_create(
        Alert(
            site_id=site_id,
            miner_id=a.miner_id,
            kind=AlertKind.ANOMALY,
            message=a.reason[:300],
            value=a.value,
            threshold=a.expected,
            opened_at=now,
        )
        for a in anomalies.values()
        if a.miner_id not in unresolved
    )
    recovered = [a for miner_id, a in unresolved.items() if miner_id not in anomalies and miner_id in miners]
    for alert in recovered:
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
    Alert.objects.bulk_update(recovered, ["status", "resolved_at"])
    if anomalies:
        logger.info("Anomalies found: site_id=%s count=%d", site_id, len(anomalies))
    return list(anomalies.values())
