from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Accounts, roles, API keys and the shared core every module stands on."""

    name = "mining_platform.core"
    label = "core"
    verbose_name = "Accounts and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the API-key scheme with drf-spectacular (extensions register on import).
        from . import celery_signals  # noqa: F401  # connects on import
        from .api import schema  # noqa: F401
