from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Hosting fees from metered energy, invoices and payments."""

    name = "billing"
    verbose_name = "Billing"
