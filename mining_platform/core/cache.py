"""Cache manager on Redis: per-key TTL, stale-while-revalidate, single flight, last-good fallback.

- fresh: younger than `ttl_seconds`, served as is;
- stale: up to `stale_seconds` older than that, served at once while exactly one refresher (across
  every process, by a Redis lock) recomputes it in the background;
- missing: one caller computes while the others wait for its result (single flight);
- failing source: the last good value is served with its true age, and callers see that it is a
  fallback; with no good value ever computed, UpstreamUnavailableError.

Values are pickled: they come from this platform's own code and live in its own Redis.
"""

import logging
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings
from django.db import close_old_connections
from django_redis import get_redis_connection

from .errors import UpstreamUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")

FRESH, STALE, FALLBACK, COMPUTED = "fresh", "stale", "fallback", "computed"
_POLL_SECONDS = 0.02
_refreshers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cache-refresh")


@dataclass(frozen=True)
class CachedValue(Generic[T]):
    """A value with its age and how it was obtained (fresh, stale, fallback or computed now)."""

    value: T
    computed_at: float
    age_seconds: float
    state: str


def _keys(key: str) -> tuple[str, str, str]:
    base = f"{settings.REDIS_KEY_PREFIX}cache:{key}"
    return base, f"{base}:good", f"{base}:lock"


def _read(raw: bytes | None) -> tuple[float, object] | None:
    if raw is None:
        return None
    computed_at, value = pickle.loads(raw)  # noqa: S301  # written by _store below, in our own Redis
    return float(computed_at), value


def _store(
    key: str, value: object, computed_at: float, ttl_seconds: float, stale_seconds: float, keep_seconds: float
) -> None:
    entry, good, _lock = _keys(key)
    blob = pickle.dumps((computed_at, value))
    pipe = get_redis_connection("default").pipeline(transaction=False)
    pipe.set(entry, blob, px=int((ttl_seconds + stale_seconds) * 1000) + 1)
    pipe.set(good, blob, px=int(keep_seconds * 1000))
    pipe.execute()


def _refresh_in_background(
    key: str,
    compute: Callable[[], object],
    ttl_seconds: float,
    stale_seconds: float,
    keep_seconds: float,
    now: Callable[[], float],
) -> None:
    try:
        value = compute()
        _store(key, value, now(), ttl_seconds, stale_seconds, keep_seconds)
    except Exception:  # a failed refresh keeps serving the stale value; log and go on
        logger.warning("Cache refresh failed; the stale value stays: key=%s", key, exc_info=True)
    finally:
        get_redis_connection("default").delete(_keys(key)[2])
        close_old_connections()


def cached_value(
    *,
    key: str,
    compute: Callable[[], T],
    ttl_seconds: float,
    stale_seconds: float,
    wait_seconds: float = 10.0,
    keep_last_good_seconds: float = 7 * 86400,
    now: Callable[[], float] = time.time,
) -> CachedValue[T]:
    """The value of `key`, computing it with `compute` only when needed and only once at a time."""
    redis = get_redis_connection("default")
    entry_key, good_key, lock_key = _keys(key)
    deadline = time.monotonic() + wait_seconds
    while True:
        found = _read(redis.get(entry_key))
        if found is not None:
            computed_at, value = found
            age = max(0.0, now() - computed_at)
            if age < ttl_seconds:
                return CachedValue(value, computed_at, age, FRESH)  # type: ignore[arg-type]
            if age < ttl_seconds + stale_seconds:
                if redis.set(lock_key, b"1", nx=True, px=int(wait_seconds * 1000)):
                    _refreshers.submit(
                        _refresh_in_background, key, compute, ttl_seconds, stale_seconds, keep_last_good_seconds, now
                    )
                return CachedValue(value, computed_at, age, STALE)  # type: ignore[arg-type]
        if redis.set(lock_key, b"1", nx=True, px=int(wait_seconds * 1000)):
            # Another holder may have stored the value and released the lock between our read above
            # and taking the lock: look again before computing, or the value is computed twice.
            again = _read(redis.get(entry_key))
            if again is not None and now() - again[0] < ttl_seconds:
                redis.delete(lock_key)
                continue
            return _compute_as_holder(
                key=key,
                compute=compute,
                ttl_seconds=ttl_seconds,
                stale_seconds=stale_seconds,
                keep_seconds=keep_last_good_seconds,
                now=now,
                good_key=good_key,
                lock_key=lock_key,
            )
        if time.monotonic() > deadline:
            # The holder is stuck past its lock's life; stop waiting and compute here.
            logger.warning("Cache wait timed out; computing without the lock: key=%s", key)
            value = compute()
            _store(key, value, now(), ttl_seconds, stale_seconds, keep_last_good_seconds)
            return CachedValue(value, now(), 0.0, COMPUTED)
        time.sleep(_POLL_SECONDS)


def _compute_as_holder(
    *,
    key: str,
    compute: Callable[[], T],
    ttl_seconds: float,
    stale_seconds: float,
    keep_seconds: float,
    now: Callable[[], float],
    good_key: str,
    lock_key: str,
) -> CachedValue[T]:
    redis = get_redis_connection("default")
    try:
        value = compute()
    except Exception as exc:  # any failure of the source falls back to the last good value
        redis.delete(lock_key)
        last_good = _read(redis.get(good_key))
        if last_good is None:
            raise UpstreamUnavailableError(f"No value for {key}: its source failed and none was ever cached.") from exc
        computed_at, good_value = last_good
        logger.warning("Cache source failed; serving the last good value: key=%s age_s=%.0f", key, now() - computed_at)
        return CachedValue(good_value, computed_at, max(0.0, now() - computed_at), FALLBACK)  # type: ignore[arg-type]
    computed_at = now()
    # Store before releasing the lock: a waiter that sees the lock gone must find the value.
    _store(key, value, computed_at, ttl_seconds, stale_seconds, keep_seconds)
    redis.delete(lock_key)
    return CachedValue(value, computed_at, 0.0, COMPUTED)


def cache_invalidate(*, key: str) -> None:
    """Forget the current value (the last good one is kept for fallback)."""
    get_redis_connection("default").delete(_keys(key)[0])
