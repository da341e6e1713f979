"""Hosting: the sites (farms) the platform runs and the miners in them."""

from decimal import Decimal

from django.db import models
from timezone_field import TimeZoneField

from .choices import (
    AlertKind,
    AlertStatus,
    CurtailmentAction,
    CurtailmentSource,
    CurtailmentStatus,
    CurtailmentStep,
    CurtailmentStrategy,
    CurtailmentTargetKind,
    Firmware,
    MinerAction,
    MinerStatus,
    PollOutcome,
)


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


class CurtailmentPlan(models.Model):
    """One curtailment event at a site: what was asked, what was planned, what was measured, and its state.

    Its state lives here (and in its miners' rows), not in a worker, so an executor or recovery monitor
    killed half-way is resumed by the next one from what is recorded.
    """

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="curtailment_plans")
    target_kind = models.CharField(max_length=16, choices=CurtailmentTargetKind.choices)
    target_value = models.DecimalField(max_digits=12, decimal_places=3, help_text="kW, a miner count or °C.")
    strategy = models.CharField(max_length=24, choices=CurtailmentStrategy.choices)
    status = models.CharField(max_length=16, choices=CurtailmentStatus.choices, default=CurtailmentStatus.PENDING)
    source = models.CharField(max_length=16, choices=CurtailmentSource.choices)
    scheduled_start = models.DateTimeField()
    recover_at = models.DateTimeField(help_text="When the curtailed miners are to come back.")
    deadline = models.DateTimeField(null=True, blank=True, help_text="Shed to be reached by (demand response).")
    hold_minutes = models.PositiveSmallIntegerField(default=10, help_text="Least time a miner stays off.")
    ramp_kw_per_minute = models.DecimalField(
        max_digits=10, decimal_places=2, help_text="Most power the recovery may add in a minute."
    )
    external_ref = models.CharField(max_length=100, blank=True, help_text="The aggregator's request id.")
    created_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="curtailment_plans"
    )
    api_key = models.ForeignKey(
        "core.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="curtailment_plans"
    )
    created_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    recovery_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="Recovered, cancelled or failed.")
    baseline_power_kw = models.DecimalField(
        max_digits=12, decimal_places=3, null=True, blank=True, help_text="Site power measured before the shed."
    )
    planned_shed_kw = models.DecimalField(max_digits=12, decimal_places=3, default=Decimal(0))
    planned_hashrate_lost_ths = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal(0))
    bound_hashrate_lost_ths = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True, help_text="Proven lower bound of the loss."
    )
    measured_shed_kw = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    measured_hashrate_lost_ths = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="What happened, in words: shortfalls, top-ups, failures.")

    class Meta:
        db_table = "curtailment_plans"
        ordering = ["-scheduled_start", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(target_value__gt=0), name="curtailment_plans_target_positive"),
            models.CheckConstraint(
                condition=models.Q(recover_at__gt=models.F("scheduled_start")),
                name="curtailment_plans_recover_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(ramp_kw_per_minute__gt=0), name="curtailment_plans_ramp_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_start"], name="curtailment_plans_due_idx"),
            models.Index(fields=["site", "-scheduled_start"], name="curtailment_plans_site_idx"),
        ]

    def __str__(self) -> str:
        return f"curtailment {self.pk} at {self.site_id}: {self.target_kind} {self.target_value} ({self.status})"


class CurtailmentPlanMiner(models.Model):
    """One miner of a plan: the planned change, its command and confirmation, then its recovery."""

    plan = models.ForeignKey(CurtailmentPlan, on_delete=models.CASCADE, related_name="plan_miners")
    miner = models.ForeignKey(Miner, on_delete=models.PROTECT, related_name="curtailments")
    round = models.PositiveSmallIntegerField(default=0, help_text="0 as planned; 1 and up added to cover a shortfall.")
    action = models.CharField(max_length=16, choices=CurtailmentAction.choices)
    target_power_w = models.PositiveIntegerField(null=True, blank=True, help_text="For a power target.")
    planned_power_change_w = models.IntegerField(help_text="Change of the miner's power, W: negative, the power shed.")
    planned_hashrate_change_ths = models.DecimalField(max_digits=10, decimal_places=3)
    nominal = models.BooleanField(default=False, help_text="Planned on nominal values: telemetry was stale.")
    baseline_power_w = models.IntegerField(null=True, blank=True)
    baseline_hashrate_ths = models.FloatField(null=True, blank=True)
    command_step = models.CharField(max_length=16, choices=CurtailmentStep.choices, default=CurtailmentStep.PLANNED)
    command_attempts = models.PositiveSmallIntegerField(default=0)
    command_error = models.CharField(max_length=300, blank=True)
    commanded_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    recovery_step = models.CharField(max_length=16, choices=CurtailmentStep.choices, default=CurtailmentStep.PLANNED)
    recovery_attempts = models.PositiveSmallIntegerField(default=0)
    recovery_error = models.CharField(max_length=300, blank=True)
    recovery_sent_at = models.DateTimeField(null=True, blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "curtailment_plan_miners"
        ordering = ["plan", "round", "id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "miner"], name="curtailment_plan_miners_unique"),
            models.CheckConstraint(
                condition=models.Q(action=CurtailmentAction.OFF) | models.Q(target_power_w__isnull=False),
                name="curtailment_plan_miners_power_target_given",
            ),
        ]
        indexes = [models.Index(fields=["miner", "recovery_step"], name="curtailment_miner_recovery_idx")]

    def __str__(self) -> str:
        return f"plan {self.plan_id} miner {self.miner_id}: {self.action}"


class SiteEnergyPrice(models.Model):
    """The energy price a site pays for one hour, from an uploaded file or posted to the API."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "File upload"
        API = "api", "API"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="energy_prices")
    starts_at = models.DateTimeField(help_text="Start of the hour the price applies to.")
    price_usd_per_mwh = models.DecimalField(
        max_digits=10, decimal_places=3, help_text="May be negative: some markets pay for consumption."
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "site_energy_prices"
        ordering = ["site", "starts_at"]
        constraints = [
            # Also the index the chart's and the rule's range reads use.
            models.UniqueConstraint(fields=["site", "starts_at"], name="site_energy_prices_site_hour_unique"),
        ]

    def __str__(self) -> str:
        return f"site {self.site_id} {self.starts_at:%Y-%m-%d %H:%M}: {self.price_usd_per_mwh} USD/MWh"


class CurtailmentPriceRule(models.Model):
    """A site's energy price rule: its settings and where its counting stands.

    The rule curtails the miners whose break-even power price is below the hour's price once the price has
    stayed above for `persist_intervals` hours, and recovers them once it has stayed below for
    `resume_intervals` hours (hosting/services/curtailment_price_rules.py). Its plans are the site's plans
    with source price_rule.
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="price_rule")
    enabled = models.BooleanField(default=False)
    persist_intervals = models.PositiveSmallIntegerField(
        default=2, help_text="Hours the price must stay above a miner's break-even before it is curtailed."
    )
    resume_intervals = models.PositiveSmallIntegerField(
        default=3, help_text="Hours the price must stay below before the curtailed miners come back."
    )
    pool_fee_pct = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("2.00"))
    max_curtail_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Recovery time of each plan the rule makes, should prices stay high that long."
    )
    hold_minutes = models.PositiveSmallIntegerField(default=30, help_text="Least time a curtailed miner stays off.")
    consecutive_above = models.PositiveIntegerField(default=0)
    consecutive_below = models.PositiveIntegerField(default=0)
    below_run_high_usd_per_mwh = models.DecimalField(
        max_digits=10,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Highest price of the current run of hours below: older plans below it resume together.",
    )
    last_interval_at = models.DateTimeField(
        null=True, blank=True, help_text="Start of the last hour judged, so an hour is counted once."
    )
    active_plan = models.ForeignKey(
        CurtailmentPlan,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="price_rules",
        help_text="The rule's latest plan still holding miners: the next to be resumed.",
    )
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        "core.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="curtailment_price_rules"
    )

    class Meta:
        db_table = "curtailment_price_rules"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(persist_intervals__gte=1, persist_intervals__lte=168),
                name="curtailment_price_rules_persist_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(resume_intervals__gte=1, resume_intervals__lte=168),
                name="curtailment_price_rules_resume_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(pool_fee_pct__gte=0, pool_fee_pct__lt=100),
                name="curtailment_price_rules_pool_fee_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(max_curtail_hours__gte=1, max_curtail_hours__lte=168),
                name="curtailment_price_rules_max_hours_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(hold_minutes__lte=1440), name="curtailment_price_rules_hold_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"price rule of site {self.site_id} ({'on' if self.enabled else 'off'})"


class CurtailmentRuleDecision(models.Model):
    """One evaluation of a price rule: the figures it judged, what it did, and why, in words."""

    class Action(models.TextChoices):
        NONE = "none", "Nothing"
        CURTAIL = "curtail", "Curtail"
        RESUME = "resume", "Resume"
        HOLD = "hold", "Stay curtailed"

    rule = models.ForeignKey(CurtailmentPriceRule, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField()
    interval_start = models.DateTimeField(help_text="Start of the price hour judged.")
    price_usd_per_mwh = models.DecimalField(
        max_digits=10, decimal_places=3, null=True, blank=True, help_text="Empty when no price was stored."
    )
    hashprice_usd_per_th_day = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    curtail_threshold_usd_per_mwh = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="The lowest break-even of the running miners: above it, some miner loses money.",
    )
    resume_threshold_usd_per_mwh = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="The lowest break-even of the miners the rule's latest plan holds: below it, all earn again.",
    )
    break_even_min_usd_per_mwh = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    break_even_max_usd_per_mwh = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    miners_above = models.PositiveIntegerField(default=0, help_text="Miners whose break-even is below the price.")
    miners_below = models.PositiveIntegerField(default=0, help_text="Miners still profitable at the price.")
    consecutive_above = models.PositiveIntegerField(default=0)
    consecutive_below = models.PositiveIntegerField(default=0)
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.TextField()
    plan = models.ForeignKey(
        CurtailmentPlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="rule_decisions"
    )

    class Meta:
        db_table = "curtailment_rule_decisions"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["rule", "-at"], name="curtailment_rule_decisions_idx"),
            models.Index(fields=["rule", "interval_start"], name="curtailment_rule_dec_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} at {self.at:%Y-%m-%d %H:%M}: {self.action}"
