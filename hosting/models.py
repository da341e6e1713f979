"""Hosting: the sites (farms) the platform runs and the miners in them."""

from decimal import Decimal

from django.db import models
from timezone_field import TimeZoneField

from .choices import Firmware, MinerStatus


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


class Miner(models.Model):
    """One ASIC at a site: where it sits, whose it is, how to reach it, and its last known status."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="miners")
    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="miners",
        help_text="The hosting client who owns it; empty for the operator's own miners.",
    )
    miner_model = models.ForeignKey("calculator.MinerModel", on_delete=models.PROTECT, related_name="miners")
    rack = models.CharField(max_length=50, blank=True)
    position = models.CharField(max_length=50, blank=True)
    ip = models.GenericIPAddressField(protocol="IPv4")
    port = models.PositiveIntegerField(default=4028)
    firmware = models.CharField(max_length=32, choices=Firmware.choices)
    serial = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=MinerStatus.choices, default=MinerStatus.UNKNOWN)
    cgminer_enabled = models.BooleanField(default=True, help_text="Poll this miner over CGMiner RPC.")
    nominal_hashrate_ths = models.DecimalField(max_digits=8, decimal_places=2)
    nominal_power_w = models.PositiveIntegerField()
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hosting_miners"
        ordering = ["site", "rack", "position", "ip"]
        constraints = [
            models.UniqueConstraint(fields=["site", "ip", "port"], name="hosting_miners_site_ip_port_unique"),
            models.CheckConstraint(condition=models.Q(port__gte=1, port__lte=65535), name="hosting_miners_port_valid"),
            models.CheckConstraint(
                condition=models.Q(nominal_hashrate_ths__gt=0), name="hosting_miners_hashrate_positive"
            ),
            models.CheckConstraint(condition=models.Q(nominal_power_w__gt=0), name="hosting_miners_power_positive"),
        ]
        indexes = [models.Index(fields=["site", "status"], name="hosting_miners_site_status_idx")]

    def __str__(self) -> str:
        return f"{self.ip}:{self.port} ({self.rack or '-'}/{self.position or '-'})"
