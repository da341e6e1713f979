"""The miner model catalogue: what each ASIC model hashes and draws, from its maker's specification."""

import uuid

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.db import models


class MinerModel(models.Model):
    """One ASIC model as its maker specifies it (SHA-256): nominal hashrate, power and efficiency."""

    make = models.CharField(max_length=50)
    model = models.CharField(max_length=100)
    hashrate_ths = models.DecimalField(max_digits=8, decimal_places=2, help_text="Nominal hashrate, TH/s.")
    power_w = models.PositiveIntegerField(help_text="Nominal wall power at the nominal hashrate, W.")
    efficiency_j_per_th = models.DecimalField(
        max_digits=7, decimal_places=2, help_text="Nominal efficiency, J/TH (power over hashrate)."
    )
    released_on = models.DateField(null=True, blank=True, help_text="Month the maker released it.")
    source = models.CharField(max_length=200, blank=True, help_text="Where the figures were published.")

    class Meta:
        db_table = "miner_models"
        ordering = ["make", "-hashrate_ths"]
        constraints = [
            models.UniqueConstraint(fields=["make", "model"], name="miner_models_make_model_unique"),
            models.CheckConstraint(condition=models.Q(hashrate_ths__gt=0), name="miner_models_hashrate_positive"),
            models.CheckConstraint(condition=models.Q(power_w__gt=0), name="miner_models_power_positive"),
            models.CheckConstraint(
                condition=models.Q(efficiency_j_per_th__gt=0), name="miner_models_efficiency_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.make} {self.model}"


class CalculationHistory(models.Model):
    """One profitability calculation as it was answered: its inputs, the market it used and its key figures.

    Anonymous calculations have no user and keep no personal data (no IP address, no session).
    """

    # Given when the calculation is answered, before the row exists: a row written later from the
    # history buffer (calculator.services.history_buffer) is inserted at most once under it.
    uid = models.UUIDField(default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # A user's calculations are their own data: they go with the account.
        on_delete=models.CASCADE,
        related_name="calculations",
    )
    created_at = models.DateTimeField()
    miner_model = models.ForeignKey(
        MinerModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="calculations"
    )
    inputs = models.JSONField(help_text="The inputs as given, numbers as text.")
    market = models.JSONField(help_text="The market figures used, each with its source and age in seconds.")
    results = models.JSONField(help_text="The key figures and the projection summary.")

    class Meta:
        db_table = "calculation_history"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="calculation_history_user_idx")]
        constraints = [models.UniqueConstraint(fields=["uid"], name="calculation_history_uid_unique")]

    def __str__(self) -> str:
        return f"calculation {self.pk} at {self.created_at:%Y-%m-%d %H:%M}"


class CalculationBatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Computing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CalculationBatchSource(models.TextChoices):
    FILE = "file", "Uploaded file"
    PAGE = "page", "Fleet built on the page"


class CalculationBatch(models.Model):
    """One fleet calculation: the rows a user uploaded or built, computed at one market snapshot.

    The market is read once, when the batch is created, and stored here with the scenario resolved to
    numbers, so a worker that runs (or re-runs) the batch later computes every row at the same figures.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        # A user's batches are their own data: they go with the account.
        on_delete=models.CASCADE,
        related_name="calculation_batches",
    )
    name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name, or a description.")
    source = models.CharField(max_length=10, choices=CalculationBatchSource.choices)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=CalculationBatchStatus.choices, default=CalculationBatchStatus.QUEUED
    )
    total = models.PositiveIntegerField(help_text="Rows to compute.")
    done = models.PositiveIntegerField(default=0, help_text="Rows computed and stored.")
    inputs = models.JSONField(help_text="The validated rows in input order, numbers as text.")
    scenario = models.JSONField(help_text="Horizon, difficulty growth and price path, resolved to numbers.")
    market = models.JSONField(help_text="The market figures used, each with its source and age in seconds.")
    totals = models.JSONField(default=dict, blank=True, help_text="Fleet totals, once every row is stored.")
    error = models.TextField(blank=True, help_text="Why the batch failed, when it did.")

    class Meta:
        db_table = "calculation_batches"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="calculation_batches_user_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__gt=0), name="calculation_batches_total_positive"),
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")), name="calculation_batches_done_within_total"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=CalculationBatchStatus.values), name="calculation_batches_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.total} rows, {self.status})"


def _figure(help_text: str = "", *, null: bool = False) -> models.DecimalField:  # type: ignore[type-arg]  # stubs' generic
    # 52 integer digits: ratios such as payback days or efficiency grow without bound as their divisor
    # nears 0; 8 decimal places, as calculation_history stores figures (a satoshi).
    return models.DecimalField(max_digits=60, decimal_places=8, null=null, blank=null, help_text=help_text)


def _given(help_text: str = "") -> models.DecimalField:  # type: ignore[type-arg]  # stubs' generic
    # Batch inputs are capped (calculator.services.batch_validation) well inside 12 integer digits.
    return models.DecimalField(max_digits=20, decimal_places=8, help_text=help_text)


class CalculationBatchRow(models.Model):
    """One row of a batch as given and as computed; money and BTC are rounded to 8 decimal places.

    Figures cover every unit of the row (quantity x per-unit specs). Monthly figures are 30.4375 days.
    """

    batch = models.ForeignKey(CalculationBatch, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField(help_text="Order in the input, from 0.")
    source_row = models.PositiveIntegerField(help_text="Row number as the user saw it (a file's header is row 1).")
    label = models.CharField(max_length=200, blank=True)
    miner_model = models.ForeignKey(
        MinerModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="batch_rows"
    )
    model_name = models.CharField(max_length=200, blank=True, help_text="The catalogue name; blank for custom specs.")
    quantity = models.PositiveIntegerField()
    hashrate_ths = _given("Per unit, TH/s.")
    power_w = _given("Per unit, W.")
    electricity_usd_per_kwh = _given()
    pool_fee_pct = _given()
    uptime_pct = _given()
    hardware_cost_usd = _given("Per unit.")
    hosting_fee_usd_per_month = _given("Per unit.")
    hosting_fee_usd_per_kwh = _given()
    curtailment_hours_per_month = _given()
    total_hashrate_ths = _figure()
    total_power_w = _figure()
    efficiency_j_per_th = _figure()
    energy_kwh_per_day = _figure()
    hosting_cost_usd_per_day = _figure()
    revenue_usd_per_day = _figure()
    revenue_btc_per_day = _figure()
    cost_usd_per_day = _figure()
    cost_btc_per_day = _figure()
    profit_usd_per_day = _figure()
    profit_btc_per_day = _figure()
    revenue_usd_per_month = _figure()
    revenue_btc_per_month = _figure()
    cost_usd_per_month = _figure()
    cost_btc_per_month = _figure()
    profit_usd_per_month = _figure()
    profit_btc_per_month = _figure()
    break_even_electricity_usd_per_kwh = _figure("None when the row draws no energy.", null=True)
    total_hardware_cost_usd = _figure()
    payback_days = _figure("At today's figures; None when it never pays back (no profit).", null=True)
    projected_profit_usd = _figure("Cumulative profit over the batch's horizon and scenario.")
    payback_on = models.DateField(
        null=True, blank=True, help_text="Projected payback date; None when not within the horizon."
    )

    class Meta:
        db_table = "calculation_batch_rows"
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="calculation_batch_rows_batch_position_unique")
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id} row {self.source_row}"
