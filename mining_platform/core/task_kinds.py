"""Decorators for Celery tasks, carrying the house defaults (STYLE.md section 8).

`io_task` is for work that talks to the outside world (miners, exchanges, RPC nodes): an
UpstreamUnavailableError retries with exponential backoff and jitter, while any other DomainError is a
business refusal that retrying cannot change, so it is logged at WARNING and the task finishes.
"""

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from celery import Task, shared_task

from .errors import DomainError, UpstreamUnavailableError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _finish_on_domain_error(func: Callable[P, R]) -> Callable[P, R | None]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except UpstreamUnavailableError:
            raise
        except DomainError as exc:
            logger.warning("Task refused: task=%s code=%s message=%s", func.__name__, exc.code, exc.message)
            return None

    return run


def io_task(
    *,
    name: str,
    max_retries: int = 5,
    retry_backoff: bool | int = 5,
    retry_backoff_max: int = 600,
    default_retry_delay: int = 5,
) -> Callable[[Callable[P, R]], "Task[P, R | None]"]:
    """A task that retries upstream failures with backoff; `name` is `<app>.<service>`.

    `retry_backoff` is the first delay in seconds, doubled on each retry (with jitter) up to
    `retry_backoff_max`; time limits come from CELERY_TASK_SOFT_TIME_LIMIT / CELERY_TASK_TIME_LIMIT.
    """

    def register(func: Callable[P, R]) -> "Task[P, R | None]":
        return shared_task(
            name=name,
            autoretry_for=(UpstreamUnavailableError,),
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            retry_jitter=True,
            default_retry_delay=default_retry_delay,
        )(_finish_on_domain_error(func))

    return register
