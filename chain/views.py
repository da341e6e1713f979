"""Chain API: the outbox, read-only, for staff and integrations."""

from django.db.models import QuerySet
from rest_framework import viewsets

from mining_platform.core.choices import STAFF_ROLES, ApiScope
from mining_platform.core.rbac import roles

from .models import OutboxEvent
from .selectors import outbox_event_list
from .serializers import OutboxEventSerializer


class OutboxEventViewSet(viewsets.ReadOnlyModelViewSet[OutboxEvent]):
    """Cross-app events in the outbox, newest first."""

    access_policy = roles(*STAFF_ROLES, scopes=[ApiScope.PLATFORM_READ])
    serializer_class = OutboxEventSerializer
    filterset_fields = ["event_type", "aggregate_type", "aggregate_id"]

    def get_queryset(self) -> QuerySet[OutboxEvent]:
        return outbox_event_list()
