"""Alerts from the latest readings: opened when a threshold is crossed, resolved when it clears.

One unresolved alert per miner and kind (a database constraint); the site's operators get one e-mail
per evaluation run listing what opened and what resolved, so a site-wide outage is one message, not a
storm.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from hosting.choices import AlertKind, AlertStatus, MinerStatus, PollOutcome
from hosting.live.publish import live_alerts_publish_on_commit
from hosting.models import Alert, Miner, MinerLatest, Site
from mining_platform.core.errors import ConflictError, NotFoundError
from mining_platform.core.models import User

logger = logging.getLogger(__name__)

# Kinds this evaluation owns; anomaly alerts are opened and resolved by the anomaly detector.
_THRESHOLD_KINDS = (AlertKind.OFFLINE, AlertKind.CHIP_TEMP_HIGH, AlertKind.HASHRATE_LOW, AlertKind.FAN_STOPPED)


@dataclass(frozen=True)
class Finding:
    miner_id: int
    kind: str
    message: str
    value: float | None
    threshold: float | None


@dataclass(frozen=True)
class AlertChanges:
    opened: list[Alert]
    resolved: list[Alert]


def _findings(site: Site, miner: Miner, latest: MinerLatest | None) -> list[Finding]:
    found = []
    if miner.status == MinerStatus.OFFLINE:
        found.append(Finding(miner.pk, AlertKind.OFFLINE, f"Miner {miner} stopped answering polls.", None, None))
        return found
    if latest is None or latest.outcome != PollOutcome.OK:
        return found
    temp = latest.chip_temp_max_c if latest.chip_temp_max_c is not None else latest.board_temp_max_c
    if temp is not None and temp > float(site.max_temp_c):
        found.append(
            Finding(
                miner.pk, AlertKind.CHIP_TEMP_HIGH, f"Miner {miner} at {temp:.0f} °C.", temp, float(site.max_temp_c)
            )
        )
    running = miner.status == MinerStatus.ONLINE and not latest.is_sleeping
    if running and latest.hashrate_ths is not None:
        floor = float(miner.nominal_hashrate_ths * site.min_hashrate_share)
        if latest.hashrate_ths < floor:
            found.append(
                Finding(
                    miner.pk,
                    AlertKind.HASHRATE_LOW,
                    f"Miner {miner} hashes {latest.hashrate_ths:.1f} TH/s, below {floor:.1f} TH/s.",
                    latest.hashrate_ths,
                    floor,
                )
            )
    if running and latest.fan_rpm_min == 0:
        found.append(Finding(miner.pk, AlertKind.FAN_STOPPED, f"A fan of miner {miner} is stopped.", 0.0, None))
    return found


def _notify(site_name: str, recipients: Sequence[str], changes: AlertChanges) -> None:
    if not recipients or not (changes.opened or changes.resolved):
        return
    lines = [f"OPEN      {a.get_kind_display()}: {a.message}" for a in changes.opened]
    lines += [f"RESOLVED  {a.get_kind_display()}: {a.message}" for a in changes.resolved]
    subject = f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{site_name}: {len(changes.opened)} alert(s) opened, {len(changes.resolved)} resolved"
    send_mail(subject, "\n".join(lines), None, list(recipients))


@transaction.atomic(durable=True)
def alerts_evaluate_site(*, site_id: int, now: datetime) -> AlertChanges:
    """Open and resolve threshold alerts of one site from its miners' latest readings."""
    site = Site.objects.filter(pk=site_id).first()
    if site is None:
        raise NotFoundError(f"Site {site_id} does not exist.")
    miners = list(Miner.objects.filter(site=site).exclude(status=MinerStatus.MAINTENANCE).order_by("pk"))
    latest = {row.miner_id: row for row in MinerLatest.objects.filter(miner__site=site)}
    findings = {(f.miner_id, f.kind): f for m in miners for f in _findings(site, m, latest.get(m.pk))}
    unresolved = {
        (a.miner_id, a.kind): a
        for a in Alert.objects.select_for_update()
        .filter(site=site, kind__in=_THRESHOLD_KINDS)
        .exclude(status=AlertStatus.RESOLVED)
        .order_by("pk")
    }
    opened = [
        Alert(
            site=site,
            miner_id=f.miner_id,
            kind=f.kind,
            message=f.message,
            value=f.value,
            threshold=f.threshold,
            opened_at=now,
        )
        for key, f in findings.items()
        if key not in unresolved
    ]
    Alert.objects.bulk_create(opened)
    resolved = [a for key, a in unresolved.items() if key not in findings]
    for alert in resolved:
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
    Alert.objects.bulk_update(resolved, ["status", "resolved_at"])
    changes = AlertChanges(opened=opened, resolved=resolved)
    recipients = [e for e in site.operators.filter(is_active=True).values_list("email", flat=True) if e]
    transaction.on_commit(lambda: _notify(site.name, recipients, changes))
    live_alerts_publish_on_commit(alert_ids=[a.pk for a in (*opened, *resolved)])
    if opened or resolved:
        logger.info("Alerts evaluated: site_id=%s opened=%d resolved=%d", site.pk, len(opened), len(resolved))
    return changes


@transaction.atomic(durable=True)
def alert_acknowledge(*, alert_id: int, user: User, now: datetime) -> Alert:
    """Mark an open alert as seen by `user`; it stays until its condition clears."""
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFoundError(f"Alert {alert_id} does not exist.")
    if alert.status != AlertStatus.OPEN:
        raise ConflictError(f"Alert {alert_id} is {alert.status}; only open alerts can be acknowledged.")
    alert.status, alert.acknowledged_at, alert.acknowledged_by = AlertStatus.ACKNOWLEDGED, now, user
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    live_alerts_publish_on_commit(alert_ids=[alert.pk])
    return alert
