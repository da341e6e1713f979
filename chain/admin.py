from django.contrib import admin
from django.http import HttpRequest

from .models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin[OutboxEvent]):
    """Read-only: events are written by services only."""

    list_display = ["id", "event_type", "aggregate_type", "aggregate_id", "created_at", "processed_at", "attempts"]
    list_filter = ["event_type", "aggregate_type"]
    search_fields = ["aggregate_id", "event_type"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False
