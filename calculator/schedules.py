"""Periodic jobs of the calculator, written to django-celery-beat by `sync_periodic_tasks`."""

from django.conf import settings

from mining_platform.core.periodic import PeriodicJob

SCHEDULES = [
    PeriodicJob(
        name="calculator.calculation_history_flush",
        task="calculator.calculation_history_flush",
        every_seconds=settings.CALCULATOR_HISTORY_FLUSH_SECONDS,
    ),
]
