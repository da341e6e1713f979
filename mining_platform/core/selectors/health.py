"""Health of the platform's moving parts: database, Redis, Celery worker and beat."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from mining_platform.celery import app as celery_app
from mining_platform.core.liveness import beat_last_seen


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    ms: float


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "degraded",
            "version": settings.PLATFORM_VERSION,
            "checks": {name: {"ok": c.ok, "detail": c.detail, "ms": round(c.ms, 1)} for name, c in self.checks.items()},
        }


def _timed(probe: Callable[[], tuple[bool, str]]) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as exc:  # noqa: BLE001  # a failing probe is a finding, not a crash of /healthz
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return Check(ok=ok, detail=detail, ms=(time.perf_counter() - started) * 1000)


def _database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "PostgreSQL answers"


def _redis() -> tuple[bool, str]:
    get_redis_connection("default").ping()
    return True, "Redis answers"


def _worker() -> tuple[bool, str]:
    # limit=1: one live worker is enough, so a healthy answer does not wait out the timeout.
    replies = celery_app.control.ping(timeout=settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS, limit=1)
    if not replies:
        return False, "no Celery worker answered a ping"
    return True, f"worker {next(iter(replies[0]))} answered"


def _beat(now: datetime) -> tuple[bool, str]:
    seen = beat_last_seen()
    if seen is None:
        return False, "no beat-scheduled job has run yet"
    age = (now - seen).total_seconds()
    if age > settings.HEALTH_LIVENESS_MAX_AGE_SECONDS:
        return False, f"last beat-scheduled job ran {age:.0f} s ago"
    return True, f"last beat-scheduled job ran {age:.0f} s ago"


def health_report(*, now: datetime) -> HealthReport:
    """Probes every part; a failing part makes the report not ok without stopping the others."""
    return HealthReport(
        checks={
            "database": _timed(_database),
            "redis": _timed(_redis),
            "worker": _timed(_worker),
            "beat": _timed(lambda: _beat(now)),
        }
    )
