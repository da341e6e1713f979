"""Reads behind live dashboards: miner rows, summaries, alerts and operations, shaped as the frames carry them.

Rows and summaries come from miner_latest joined to hosting_miners in one statement each, so a site of
10,000 miners is summarised in one pass and a run's rows are read in one query.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TypedDict

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from hosting.choices import AlertStatus, CurtailmentStatus, CurtailmentStep, MinerStatus, PollOutcome
from hosting.models import Alert, MinerOperation, Site

from .scopes import SCOPE_CLIENT, SCOPE_MINER, SCOPE_SITE, LiveScope

# A live page shows what is wrong now; the miner page also shows what was wrong lately.
SNAPSHOT_ALERTS_LIMIT = 500
MINER_ALERTS_LIMIT = 50


class LiveRow(TypedDict):
    id: int
    site_id: int
    customer_id: int | None
    label: str
    rack: str
    position: str
    ip: str
    model: str
    status: str
    outcome: str | None
    recorded_at: str | None
    hashrate_ths: float | None
    nominal_hashrate_ths: float | None
    power_w: int | None
    nominal_power_w: int
    temp_c: float | None
    fan_rpm_min: int | None
    is_sleeping: bool | None
    curtailed: bool


class LiveSummary(TypedDict):
    hashrate_ths: float | None
    power_kw: float | None
    efficiency_j_th: float | None
    miners: int
    online: int
    offline: int
    sleeping: int
    curtailed: int
    maintenance: int
    unknown: int
    capacity_kw: float | None
    recorded_at: str | None


class LiveAlert(TypedDict):
    id: int
    miner_id: int
    site_id: int
    kind: str
    kind_label: str
    status: str
    message: str
    opened_at: str
    acknowledged_at: str | None
    resolved_at: str | None


class LiveOperation(TypedDict):
    id: int
    miner_id: int
    action: str
    requested_at: str
    finished_at: str | None
    outcome: str
    requested_by: str | None


class LiveSnapshotPayload(TypedDict):
    summary: LiveSummary
    miners: list[LiveRow]
    alerts: list[LiveAlert]


class LiveDeltaPayload(TypedDict):
    summary: LiveSummary
    miners: list[LiveRow]


@dataclass(frozen=True)
class LiveSnapshot:
    """A scope's state as the JSON text of a LiveSnapshotPayload, and the seq of its stream it includes
    (every delta up to `seq` is in it)."""

    seq: int
    payload_json: str

    @cached_property
    def payload(self) -> LiveSnapshotPayload:
        """The payload as Python values, for pages rendered on the server."""
        parsed: LiveSnapshotPayload = json.loads(self.payload_json)
        return parsed


@dataclass(frozen=True)
class LiveRowJson:
    """One miner's row as JSON text (a LiveRow, built by PostgreSQL), and what publication groups it by."""

    miner_id: int
    site_id: int
    customer_id: int | None
    json: str


# A miner counts as curtailed from the moment a running plan lists it until its recovery is confirmed:
# executed and recovering plans still hold their miners off.
_CURTAILED = f"""
SELECT DISTINCT pm.miner_id
FROM curtailment_plan_miners pm JOIN curtailment_plans p ON p.id = pm.plan_id
WHERE p.status IN ('{CurtailmentStatus.EXECUTING}', '{CurtailmentStatus.EXECUTED}', '{CurtailmentStatus.RECOVERING}')
  AND pm.recovered_at IS NULL
  AND pm.command_step NOT IN ('{CurtailmentStep.FAILED}', '{CurtailmentStep.SKIPPED}')
"""  # noqa: S608  # constants only

# PostgreSQL writes each row's JSON (compact, in LiveRow's key order): encoding a thousand rows there
# costs a fraction of building and encoding them in Python, on every collection run and snapshot.
# Timestamps come out as ISO 8601 in the session's time zone (UTC).
_ROWS_SQL = f"""
WITH curtailed AS ({_CURTAILED})
SELECT r.id, r.site_id, r.customer_id, row_to_json(r)::text
FROM (
    SELECT m.id, m.site_id, m.customer_id,
           CASE WHEN m.rack <> '' AND m.position <> '' THEN m.rack || '/' || m.position ELSE host(m.ip) END
               AS label,
           m.rack, m.position, host(m.ip) AS ip, mm.model, m.status, l.outcome, l.recorded_at,
           round(l.hashrate_ths::numeric, 3)::float8 AS hashrate_ths,
           m.nominal_hashrate_ths::float8 AS nominal_hashrate_ths,
           l.power_w,
           m.nominal_power_w,
           round(COALESCE(l.chip_temp_max_c, l.board_temp_max_c)::numeric, 1)::float8 AS temp_c,
           l.fan_rpm_min, l.is_sleeping, c.miner_id IS NOT NULL AS curtailed
    FROM hosting_miners m
    JOIN miner_models mm ON mm.id = m.miner_model_id
    LEFT JOIN miner_latest l ON l.miner_id = m.id
    LEFT JOIN curtailed c ON c.miner_id = m.id
    WHERE {{where}}
    ORDER BY m.rack, m.position, m.id
) r
"""  # noqa: S608  # the condition is one of the constants below

# Figures add up over the miners whose latest poll answered; a miner that reports no power (stock Antminer
# firmware) counts at its nominal draw unless asleep, as the series and the curtailment planner count it.
# Counts follow the stored status, where a miner that answers but does not hash is `stopped` (sleeping).
_SUMMARY_COLUMNS = f"""
count(*),
sum(l.hashrate_ths) FILTER (WHERE l.outcome = '{PollOutcome.OK}'),
sum(COALESCE(l.power_w, CASE WHEN l.is_sleeping THEN 0 ELSE m.nominal_power_w END))
    FILTER (WHERE l.outcome = '{PollOutcome.OK}'),
count(*) FILTER (WHERE m.status = '{MinerStatus.ONLINE}'),
count(*) FILTER (WHERE m.status = '{MinerStatus.OFFLINE}'),
count(*) FILTER (WHERE m.status = '{MinerStatus.STOPPED}'),
count(c.miner_id),
count(*) FILTER (WHERE m.status = '{MinerStatus.MAINTENANCE}'),
count(*) FILTER (WHERE m.status = '{MinerStatus.UNKNOWN}'),
to_json(max(l.recorded_at)) #>> '{{}}'
"""
_SUMMARIES_SQL = f"""
WITH curtailed AS ({_CURTAILED})
SELECT GROUPING(m.site_id), m.site_id, m.customer_id, {_SUMMARY_COLUMNS}
FROM hosting_miners m
LEFT JOIN miner_latest l ON l.miner_id = m.id
LEFT JOIN curtailed c ON c.miner_id = m.id
WHERE m.site_id = ANY(%(sites)s) OR m.customer_id = ANY(%(customers)s)
GROUP BY GROUPING SETS ((m.site_id), (m.customer_id))
"""  # noqa: S608  # constants only


@dataclass(frozen=True)
class LiveSummaries:
    """Summaries of some sites and customers, by id."""

    sites: dict[int, LiveSummary]
    customers: dict[int, LiveSummary]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _rows(where: str, params: dict[str, int | list[int]]) -> list[LiveRowJson]:
    with connection.cursor() as cursor:
        cursor.execute(_ROWS_SQL.format(where=where), params)
        return [
            LiveRowJson(miner_id=mid, site_id=site_id, customer_id=customer_id, json=text)
            for mid, site_id, customer_id, text in cursor.fetchall()
        ]


def live_rows_for_miners(*, miner_ids: Sequence[int]) -> list[LiveRowJson]:
    """The rows of the given miners (those that still exist), in rack order."""
    if not miner_ids:
        return []
    return _rows("m.id = ANY(%(ids)s)", {"ids": list(miner_ids)})


def live_rows_for_scope(*, scope: LiveScope) -> list[LiveRowJson]:
    """Every row a scope shows: a site's miners, a customer's miners (all sites), or one miner."""
    if scope.kind == SCOPE_SITE:
        return _rows("m.site_id = %(id)s", {"id": scope.id})
    if scope.kind == SCOPE_CLIENT:
        return _rows("m.customer_id = %(id)s", {"id": scope.id})
    return _rows("m.id = %(id)s", {"id": scope.id})


def live_rows_parse(*, rows: Sequence[LiveRowJson]) -> list[LiveRow]:
    """The rows as Python values (a miner's page needs them for its summary)."""
    parsed: list[LiveRow] = [json.loads(row.json) for row in rows]
    return parsed


def live_payload_json(
    *, summary: LiveSummary, rows: Sequence[LiveRowJson], alerts: Sequence[LiveAlert] | None = None
) -> str:
    """A delta payload (or, with `alerts`, a snapshot payload) as JSON text, the rows spliced in as they are."""
    text = '{"summary":' + _encode(summary) + ',"miners":[' + ",".join(row.json for row in rows) + "]"
    if alerts is not None:
        text += ',"alerts":' + _encode(alerts)
    return text + "}"


def _encode(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


def _summary(values: Sequence[object], capacity_kw: float | None) -> LiveSummary:
    miners, hashrate, power_w, online, offline, sleeping, curtailed, maintenance, unknown, newest = values
    hashrate_ths = float(hashrate) if isinstance(hashrate, int | float) else None
    power_kw = float(power_w) / 1000 if isinstance(power_w, int | float) else None
    efficiency = None
    if hashrate_ths and power_kw is not None:
        efficiency = round(power_kw * 1000 / hashrate_ths, 2)  # W per TH/s is J/TH
    return LiveSummary(
        hashrate_ths=_rounded(hashrate_ths, 3),
        power_kw=_rounded(power_kw, 3),
        efficiency_j_th=efficiency,
        miners=_count(miners),
        online=_count(online),
        offline=_count(offline),
        sleeping=_count(sleeping),
        curtailed=_count(curtailed),
        maintenance=_count(maintenance),
        unknown=_count(unknown),
        capacity_kw=capacity_kw,
        recorded_at=newest if isinstance(newest, str) else None,
    )


def _empty_summary(capacity_kw: float | None) -> LiveSummary:
    return _summary((0, None, None, 0, 0, 0, 0, 0, 0, None), capacity_kw)


def live_summaries(*, site_ids: Iterable[int], customer_ids: Iterable[int]) -> LiveSummaries:
    """Summaries of the given sites and customers in one statement (grouping sets over both)."""
    sites, customers = sorted(set(site_ids)), sorted(set(customer_ids))
    if not sites and not customers:
        return LiveSummaries(sites={}, customers={})
    capacity = {pk: float(kw) for pk, kw in Site.objects.filter(pk__in=sites).values_list("pk", "power_capacity_kw")}
    by_site: dict[int, LiveSummary] = {pk: _empty_summary(capacity[pk]) for pk in capacity}
    by_customer: dict[int, LiveSummary] = {pk: _empty_summary(None) for pk in customers}
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARIES_SQL, {"sites": sites, "customers": customers})
        for grouped_by_customer, site_id, customer_id, *values in cursor.fetchall():
            if not grouped_by_customer and site_id in by_site:
                by_site[site_id] = _summary(values, capacity[site_id])
            elif grouped_by_customer and customer_id in by_customer:
                by_customer[customer_id] = _summary(values, None)
    return LiveSummaries(sites=by_site, customers=by_customer)


def _power_w(row: LiveRow) -> int:
    if row["power_w"] is not None:
        return row["power_w"]
    return 0 if row["is_sleeping"] else row["nominal_power_w"]


def live_summary_from_rows(*, rows: Sequence[LiveRow]) -> LiveSummary:
    """The summary of a few rows (a miner's page), by the same rules as the statement above."""
    answered = [r for r in rows if r["outcome"] == PollOutcome.OK]
    hashrates = [r["hashrate_ths"] for r in answered if r["hashrate_ths"] is not None]
    powers = [_power_w(r) for r in answered]
    stamps = [r["recorded_at"] for r in rows if r["recorded_at"] is not None]
    newest = max(stamps, key=datetime.fromisoformat) if stamps else None
    values = (
        len(rows),
        sum(hashrates) if hashrates else None,
        sum(powers) if powers else None,
        sum(1 for r in rows if r["status"] == MinerStatus.ONLINE),
        sum(1 for r in rows if r["status"] == MinerStatus.OFFLINE),
        sum(1 for r in rows if r["status"] == MinerStatus.STOPPED),
        sum(1 for r in rows if r["curtailed"]),
        sum(1 for r in rows if r["status"] == MinerStatus.MAINTENANCE),
        sum(1 for r in rows if r["status"] == MinerStatus.UNKNOWN),
        newest,
    )
    return _summary(values, None)


def live_alert(*, alert: Alert) -> LiveAlert:
    """One alert as frames carry it."""
    return LiveAlert(
        id=alert.pk,
        miner_id=alert.miner_id,
        site_id=alert.site_id,
        kind=alert.kind,
        kind_label=str(alert.get_kind_display()),
        status=alert.status,
        message=alert.message,
        opened_at=alert.opened_at.isoformat(),
        acknowledged_at=_iso(alert.acknowledged_at),
        resolved_at=_iso(alert.resolved_at),
    )


def live_alerts_for_scope(*, scope: LiveScope) -> list[LiveAlert]:
    """What is wrong now in a site or a customer's fleet; for a miner, its latest alerts of any status."""
    alerts = Alert.objects.order_by("-opened_at", "-pk")
    if scope.kind == SCOPE_MINER:
        return [live_alert(alert=a) for a in alerts.filter(miner_id=scope.id)[:MINER_ALERTS_LIMIT]]
    unresolved = alerts.exclude(status=AlertStatus.RESOLVED)
    if scope.kind == SCOPE_SITE:
        unresolved = unresolved.filter(site_id=scope.id)
    else:
        unresolved = unresolved.filter(miner__customer_id=scope.id)
    return [live_alert(alert=a) for a in unresolved[:SNAPSHOT_ALERTS_LIMIT]]


def live_operation(*, operation: MinerOperation) -> LiveOperation:
    """One control command's log row as frames carry it; `requested_by` must be loaded with it."""
    return LiveOperation(
        id=operation.pk,
        miner_id=operation.miner_id,
        action=operation.action,
        requested_at=operation.requested_at.isoformat(),
        finished_at=_iso(operation.finished_at),
        outcome=operation.outcome,
        requested_by=operation.requested_by.email if operation.requested_by is not None else None,
    )


def live_seq_key(*, source: str) -> str:
    """Redis key of a stream's last published seq."""
    return f"{settings.REDIS_KEY_PREFIX}hosting:live:seq:{source}"


def live_seq_get(*, source: str) -> int:
    """The last seq published on a stream (0 before the first)."""
    value = get_redis_connection("default").get(live_seq_key(source=source))
    return int(value) if value is not None else 0


def live_snapshot(*, scope: LiveScope) -> LiveSnapshot:
    """The current state of a scope and the seq of its stream it already includes.

    The seq is read before the data: a run publishes only after it commits, so every delta up to that
    seq is in what is read next (a later one may be too; applying it again changes nothing).
    """
    seq = live_seq_get(source=scope.source)
    rows = live_rows_for_scope(scope=scope)
    if scope.kind == SCOPE_MINER:
        summary = live_summary_from_rows(rows=live_rows_parse(rows=rows))
    elif scope.kind == SCOPE_SITE:
        summary = live_summaries(site_ids=[scope.id], customer_ids=[]).sites[scope.id]
    else:
        summary = live_summaries(site_ids=[], customer_ids=[scope.id]).customers[scope.id]
    alerts = live_alerts_for_scope(scope=scope)
    return LiveSnapshot(seq=seq, payload_json=live_payload_json(summary=summary, rows=rows, alerts=alerts))
