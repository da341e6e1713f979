"""Chain: the transactional outbox every module publishes its cross-app events to."""

from django.db import models


class OutboxEvent(models.Model):
    """One event (`<entity>.<past verb>`), written in the same transaction as the change it reports."""

    event_type = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    available_at = models.DateTimeField(help_text="Not delivered before this time (backoff after a failure).")
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "outbox_events"
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                condition=models.Q(processed_at__isnull=True),
                name="outbox_events_pending_idx",
            ),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_events_aggregate_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}"
