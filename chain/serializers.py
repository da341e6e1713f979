from rest_framework import serializers

from .models import OutboxEvent


class OutboxEventSerializer(serializers.ModelSerializer[OutboxEvent]):
    class Meta:
        model = OutboxEvent
        fields = [
            "id",
            "event_type",
            "aggregate_type",
            "aggregate_id",
            "payload",
            "created_at",
            "processed_at",
            "attempts",
        ]
        read_only_fields = fields
