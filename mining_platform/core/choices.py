"""Choices shared by core models, serializers and policies."""

from django.db import models


class Role(models.TextChoices):
    """What a person does on the platform; decides which routes they may use."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    HOST = "host", "Host / site operator"
    CLIENT = "client", "Hosting client"


# Staff roles run the back office (Django admin); the others never see it.
STAFF_ROLES = frozenset({Role.OWNER, Role.ADMIN})
OPERATOR_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.HOST})
ALL_ROLES = frozenset(Role)


class ApiScope(models.TextChoices):
    """What a machine holding an API key may do."""

    TELEMETRY_READ = "telemetry:read", "Read miner telemetry"
    MINERS_READ = "miners:read", "Read miners and sites"
    MINERS_CONTROL = "miners:control", "Start, stop and curtail miners"
    CURTAILMENT_REQUEST = "curtailment:request", "Request curtailment (demand response)"
    MARKET_READ = "market:read", "Read market and network data"
    BILLING_READ = "billing:read", "Read invoices and payments"
    PLATFORM_READ = "platform:read", "Read platform status and events"
