"""Periodic jobs of hosting, written to django-celery-beat by `sync_periodic_tasks`."""

from django.conf import settings

from mining_platform.core.periodic import PeriodicJob

SCHEDULES = [
    PeriodicJob(
        name="hosting.telemetry_partitions_maintain", task="hosting.telemetry_partitions_maintain", every_seconds=3600
    ),
    PeriodicJob(name="hosting.telemetry_rollup", task="hosting.telemetry_rollup", every_seconds=300),
    PeriodicJob(
        name="hosting.telemetry_collect",
        task="hosting.telemetry_collect",
        every_seconds=settings.TELEMETRY_POLL_INTERVAL_SECONDS,
    ),
    PeriodicJob(name="hosting.alerts_evaluate", task="hosting.alerts_evaluate", every_seconds=60),
    PeriodicJob(name="hosting.curtailment_execute_due", task="hosting.curtailment_execute_due", every_seconds=60),
    PeriodicJob(name="hosting.curtailment_verify_due", task="hosting.curtailment_verify_due", every_seconds=60),
    PeriodicJob(name="hosting.curtailment_recover_due", task="hosting.curtailment_recover_due", every_seconds=60),
    # Price hours are judged once each; running every minute acts within a minute of an hour's start.
    PeriodicJob(
        name="hosting.curtailment_price_rules_evaluate",
        task="hosting.curtailment_price_rules_evaluate",
        every_seconds=60,
    ),
]
