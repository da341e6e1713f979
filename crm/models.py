"""CRM: the hosting customers whose miners the farm runs."""

from django.db import models
from django.db.models.functions import Lower


class Customer(models.Model):
    """A hosting customer account: the company or person whose miners are hosted and billed."""

    name = models.CharField(max_length=200)
    billing_email = models.EmailField()
    contact_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "crm_customers"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_customers_name_ci_unique")]

    def __str__(self) -> str:
        return self.name
