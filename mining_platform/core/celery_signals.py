"""Celery hooks: a task's log lines carry its task id where web log lines carry the request id."""

from typing import Any

from celery.signals import task_postrun, task_prerun

from .request_id import request_id_var


@task_prerun.connect
def _bind_task_id(task_id: str | None = None, **_: Any) -> None:
    request_id_var.set(f"task-{task_id}" if task_id else "-")


@task_postrun.connect
def _unbind_task_id(**_: Any) -> None:
    request_id_var.set("-")
