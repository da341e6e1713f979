from django.apps import AppConfig


class HostingConfig(AppConfig):
    """Sites, miners, telemetry, alerts, miner control and curtailment."""

    name = "hosting"
    verbose_name = "Hosting operations"
