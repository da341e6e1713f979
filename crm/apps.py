from django.apps import AppConfig


class CrmConfig(AppConfig):
    """Hosting customers, leads, the deal pipeline and hosting contracts."""

    name = "crm"
    verbose_name = "Customers (CRM)"
