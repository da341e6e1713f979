"""Hosting: the sites (farms) the platform runs."""

from decimal import Decimal

from django.db import models
from timezone_field import TimeZoneField


class Site(models.Model):
    """A mining site: one location with a power feed, an energy price and alert thresholds."""

    name = models.CharField(max_length=100, unique=True)
    location = models.CharField(max_length=200, blank=True)
    time_zone = TimeZoneField(default="UTC")
    power_capacity_kw = models.DecimalField(max_digits=12, decimal_places=2)
    energy_price_usd_per_kwh = models.DecimalField(max_digits=8, decimal_places=5)
    max_temp_c = models.DecimalField(
        max_digits=5, decimal_places=1, default=Decimal("85.0"), help_text="Chip temperature alert threshold."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hosting_sites"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(power_capacity_kw__gt=0), name="hosting_sites_capacity_positive"),
            models.CheckConstraint(
                condition=models.Q(energy_price_usd_per_kwh__gte=0), name="hosting_sites_energy_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name
