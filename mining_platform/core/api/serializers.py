from rest_framework import serializers

from mining_platform.core.models import User


class MeSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "email", "role", "customer"]
        read_only_fields = fields
