"""Reads behind the host operations dashboard: one site's totals, rack map, alert feed and curtailment state.

The figures, rows and alerts are the site's live snapshot (hosting.live.snapshots), the very payload the
websocket sends when the page subscribes, so the page as rendered and the page once live never disagree;
this module shapes them for the template (rack map order, colour bands) and adds the curtailment state.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from .choices import AlertStatus, MinerStatus, PollOutcome
from .live.scopes import LiveScope
from .live.snapshots import LiveAlert, LiveRow, LiveSummary, live_snapshot
from .models import Site
from .page_selectors_curtailment import SiteState, curtailment_site_states

UNRACKED = "Unracked"
# Temperature bands of the map (static/js/dashboard-host.js applies the same ones to live rows).
WARM_MARGIN_C = 10.0
COOL_BELOW_C = 60.0
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class MinerCell:
    """One miner on the rack map: its live row, what the map colours it by, and its hover text."""

    row: LiveRow
    state: str  # a MinerStatus value, or curtailed / sleeping, which stand apart from a plain stop
    temp_band: str  # none, cool, normal, warm, hot: see temp_band()

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def title(self) -> str:
        row = self.row
        parts = [row["label"], row["ip"], row["model"], self.state]
        if row["temp_c"] is not None:
            parts.append(f"{row['temp_c']:.0f} °C")
        if row["hashrate_ths"] is not None:
            parts.append(f"{row['hashrate_ths']:.1f} TH/s")
        return " · ".join(part for part in parts if part)


@dataclass(frozen=True)
class Rack:
    name: str
    cells: tuple[MinerCell, ...]


@dataclass(frozen=True)
class AlertItem:
    """One alert of the feed (the live alert, its times parsed), with the label of its miner."""

    id: int
    miner_id: int
    miner_label: str
    kind: str
    kind_label: str
    status: str
    message: str
    opened_at: datetime
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class HostDashboard:
    site: Site
    seq: int  # the site stream's seq the snapshot includes
    summary: LiveSummary
    racks: tuple[Rack, ...]
    alerts: tuple[AlertItem, ...]
    curtailment: SiteState | None

    @property
    def load_pct(self) -> float | None:
        """The site's draw as a share of its power capacity (percent)."""
        capacity, power = self.summary["capacity_kw"], self.summary["power_kw"]
        if not capacity or power is None:
            return None
        return power / capacity * 100

    @property
    def open_alerts(self) -> int:
        return sum(1 for item in self.alerts if item.status == AlertStatus.OPEN)


def dashboard_sites() -> QuerySet[Site]:
    """The sites the picker offers, by name; the first is the default."""
    return Site.objects.order_by("name", "pk")


def temp_band(*, row: LiveRow, max_temp_c: float) -> str:
    """The map's temperature colour: hot above the site's alert threshold, warm within 10 °C of it,
    cool below 60 °C (idle or sleeping boards), none without a current reading (no answer, or a miner
    parked in maintenance, which is not polled)."""
    temp = row["temp_c"]
    if temp is None or row["outcome"] != PollOutcome.OK or row["status"] == MinerStatus.MAINTENANCE:
        return "none"
    if temp > max_temp_c:
        return "hot"
    if temp >= max_temp_c - WARM_MARGIN_C:
        return "warm"
    return "cool" if temp < COOL_BELOW_C else "normal"


def map_state(*, row: LiveRow) -> str:
    """What the map shows by status: curtailed, then sleeping, then the stored status."""
    if row["curtailed"]:
        return "curtailed"
    if row["is_sleeping"] and row["status"] != MinerStatus.OFFLINE:
        return "sleeping"
    return row["status"]


def _natural(value: str) -> tuple[tuple[int, int | str], ...]:
    # "R2" before "R10", "9" before "10": racks and positions are labels that often carry numbers.
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(value) if part)


def rack_map(*, rows: Iterable[LiveRow], max_temp_c: float) -> tuple[Rack, ...]:
    """Rows grouped by rack in natural order, each rack by position (miners without a rack last)."""
    cells = sorted(
        (
            MinerCell(row=row, state=map_state(row=row), temp_band=temp_band(row=row, max_temp_c=max_temp_c))
            for row in rows
        ),
        key=lambda c: (
            c.row["rack"] == "",
            _natural(c.row["rack"]),
            _natural(c.row["position"]),
            _natural(c.row["ip"]),
        ),
    )
    grouped: dict[str, list[MinerCell]] = {}
    for cell in cells:
        grouped.setdefault(cell.row["rack"] or UNRACKED, []).append(cell)
    return tuple(Rack(name=name, cells=tuple(members)) for name, members in grouped.items())


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def alert_feed(*, alerts: Sequence[LiveAlert], rows: Sequence[LiveRow]) -> tuple[AlertItem, ...]:
    """The snapshot's open and acknowledged alerts, newest first, each with its miner's label."""
    labels = {row["id"]: row["label"] for row in rows}
    items = [
        AlertItem(
            id=a["id"],
            miner_id=a["miner_id"],
            miner_label=labels.get(a["miner_id"], f"miner {a['miner_id']}"),
            kind=a["kind"],
            kind_label=a["kind_label"],
            status=a["status"],
            message=a["message"],
            opened_at=datetime.fromisoformat(a["opened_at"]),
            acknowledged_at=_moment(a["acknowledged_at"]),
        )
        for a in alerts
        if a["status"] != AlertStatus.RESOLVED
    ]
    items.sort(key=lambda item: (item.opened_at, item.id), reverse=True)
    return tuple(items)


def host_dashboard(*, scope: LiveScope, site: Site, now: datetime) -> HostDashboard:
    """Everything the dashboard shows for one site (`scope`: that site, as the caller may watch it)."""
    snapshot = live_snapshot(scope=scope)
    rows = snapshot.payload["miners"]
    states = curtailment_site_states(now=now, site_id=site.pk)
    return HostDashboard(
        site=site,
        seq=snapshot.seq,
        summary=snapshot.payload["summary"],
        racks=rack_map(rows=rows, max_temp_c=float(site.max_temp_c)),
        alerts=alert_feed(alerts=snapshot.payload["alerts"], rows=rows),
        curtailment=states[0] if states else None,
    )
