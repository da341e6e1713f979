from rest_framework import serializers

from .models import Customer


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    class Meta:
        model = Customer
        fields = ["id", "name", "billing_email", "contact_name", "phone", "country", "is_active", "created_at"]
        read_only_fields = fields
