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
    # Until hosting contracts carry them: how this customer's miners are treated by customer-aware curtailment.
    curtailment_priority = models.SmallIntegerField(
        default=100, help_text="Customer-aware curtailment turns lower numbers off first."
    )
    curtailment_allowance_kw = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most power that may be shed from this customer's miners at once; empty for no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "crm_customers"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_customers_name_ci_unique")]

    def __str__(self) -> str:
        return self.name
