"""Beat liveness: a beat-scheduled job stamps Redis each time it runs; /healthz reads the stamp."""

from datetime import datetime

from django.conf import settings
from django_redis import get_redis_connection


def _key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}core:liveness:beat"


def beat_liveness_record(*, now: datetime) -> None:
    """Record that a job scheduled by beat just ran."""
    get_redis_connection("default").set(_key(), now.isoformat(), ex=24 * 3600)


def beat_last_seen() -> datetime | None:
    raw = get_redis_connection("default").get(_key())
    return None if raw is None else datetime.fromisoformat(raw.decode())
