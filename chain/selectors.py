"""Reads of the outbox."""

from django.db.models import QuerySet

from .models import OutboxEvent


def outbox_event_list() -> QuerySet[OutboxEvent]:
    """Every event, newest first."""
    return OutboxEvent.objects.order_by("-id")
