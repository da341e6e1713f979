"""Hosting: the sites (farms) the platform runs and the miners in them."""

from decimal import Decimal

from django.db import models
from timezone_field import TimeZoneField

from .choices import AlertKind, AlertStatus, Firmware, MinerAction, MinerStatus, PollOutcome


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
    min_hashrate_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.800"),
        help_text="Alert when a running miner hashes below this share of its nominal hashrate.",
    )
    offline_after_failures = models.PositiveSmallIntegerField(
        default=3, help_text="Failed polls in a row before a miner counts as offline."
    )
    operators = models.ManyToManyField(
        "core.User", blank=True, related_name="operated_sites", help_text="Told by e-mail about alerts."
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
            models.CheckConstraint(
                condition=models.Q(min_hashrate_share__gt=0, min_hashrate_share__lte=1),
                name="hosting_sites_min_hashrate_share_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(offline_after_failures__gte=1), name="hosting_sites_offline_after_positive"
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


class MinerTelemetry(models.Model):
    """One poll of one miner at one moment. Lives in a table partitioned by day (created in SQL).

    Written only through COPY in batches (services/telemetry_ingest.py); Django reads it for history.
    """

    pk = models.CompositePrimaryKey("miner_id", "recorded_at")
    miner = models.ForeignKey(Miner, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    recorded_at = models.DateTimeField()
    site_id = models.BigIntegerField()
    outcome = models.CharField(max_length=16, choices=PollOutcome.choices)
    hashrate_ths = models.FloatField(null=True)
    hashrate_avg_ths = models.FloatField(null=True)
    power_w = models.IntegerField(null=True)
    board_temp_max_c = models.FloatField(null=True)
    chip_temp_max_c = models.FloatField(null=True)
    fan_rpm_min = models.IntegerField(null=True)
    fan_rpm_max = models.IntegerField(null=True)
    boards_alive = models.SmallIntegerField(null=True)
    accepted_shares = models.BigIntegerField(null=True)
    rejected_shares = models.BigIntegerField(null=True)
    hardware_errors = models.BigIntegerField(null=True)
    elapsed_s = models.BigIntegerField(null=True)
    is_sleeping = models.BooleanField(null=True)

    class Meta:
        db_table = "miner_telemetry"
        managed = False  # a declaratively partitioned table: created and altered by RunSQL migrations

    def __str__(self) -> str:
        return f"miner {self.miner_id} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


class TelemetryRollup(models.Model):
    """Aggregates of one miner's telemetry over one bucket (5 minutes or 1 hour), for long ranges."""

    class Resolution(models.TextChoices):
        FIVE_MINUTES = "5m", "5 minutes"
        HOUR = "1h", "1 hour"

    miner = models.ForeignKey(Miner, on_delete=models.CASCADE, related_name="telemetry_rollups")
    resolution = models.CharField(max_length=2, choices=Resolution.choices)
    bucket_start = models.DateTimeField()
    samples = models.PositiveIntegerField()
    ok_samples = models.PositiveIntegerField()
    hashrate_avg_ths = models.FloatField(null=True)
    hashrate_min_ths = models.FloatField(null=True)
    hashrate_max_ths = models.FloatField(null=True)
    temp_avg_c = models.FloatField(null=True)
    temp_max_c = models.FloatField(null=True)
    power_avg_w = models.FloatField(null=True)
    power_max_w = models.IntegerField(null=True)

    class Meta:
        db_table = "miner_telemetry_rollups"
        constraints = [
            models.UniqueConstraint(
                fields=["miner", "resolution", "bucket_start"], name="miner_telemetry_rollups_bucket_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(ok_samples__lte=models.F("samples")), name="miner_telemetry_rollups_ok_le_samples"
            ),
        ]

    def __str__(self) -> str:
        return f"miner {self.miner_id} {self.resolution} {self.bucket_start:%Y-%m-%d %H:%M}"

    @property
    def uptime_share(self) -> float:
        return self.ok_samples / self.samples if self.samples else 0.0


class MinerLatest(models.Model):
    """The latest reading of each miner, so dashboards never scan telemetry."""

    miner = models.OneToOneField(Miner, on_delete=models.CASCADE, primary_key=True, related_name="latest")
    recorded_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=PollOutcome.choices)
    hashrate_ths = models.FloatField(null=True)
    power_w = models.IntegerField(null=True)
    board_temp_max_c = models.FloatField(null=True)
    chip_temp_max_c = models.FloatField(null=True)
    fan_rpm_min = models.IntegerField(null=True)
    is_sleeping = models.BooleanField(null=True)

    class Meta:
        db_table = "miner_latest"

    def __str__(self) -> str:
        return f"miner {self.miner_id} latest at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


class Alert(models.Model):
    """Something wrong with one miner, from when it was noticed until it cleared."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="alerts")
    miner = models.ForeignKey(Miner, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = models.CharField(max_length=300)
    value = models.FloatField(null=True, blank=True, help_text="The reading that opened it.")
    threshold = models.FloatField(null=True, blank=True)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="acknowledged_alerts"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "alerts"
        ordering = ["-opened_at"]
        constraints = [
            # Deduplication: at most one alert per miner and kind that is not resolved.
            models.UniqueConstraint(
                fields=["miner", "kind"],
                condition=~models.Q(status=AlertStatus.RESOLVED),
                name="alerts_one_unresolved_per_miner_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(status=AlertStatus.RESOLVED, resolved_at__isnull=False)
                | (~models.Q(status=AlertStatus.RESOLVED) & models.Q(resolved_at__isnull=True)),
                name="alerts_resolved_at_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["site", "status"], name="alerts_site_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on miner {self.miner_id} ({self.status})"


class MinerOperation(models.Model):
    """One control command sent to one miner: who asked, when, and what the miner answered."""

    miner = models.ForeignKey(Miner, on_delete=models.CASCADE, related_name="operations")
    action = models.CharField(max_length=16, choices=MinerAction.choices)
    parameters = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="miner_operations"
    )
    api_key = models.ForeignKey(
        "core.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="miner_operations"
    )
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True, help_text="ok, or how it failed.")
    response = models.TextField(blank=True, help_text="The miner's answer, as received.")

    class Meta:
        db_table = "miner_operation_log"
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["miner", "-requested_at"], name="miner_operation_log_miner_idx")]

    def __str__(self) -> str:
        return f"{self.action} miner {self.miner_id} at {self.requested_at:%Y-%m-%d %H:%M:%S}"
