"""The miner model catalogue: what each ASIC model hashes and draws, from its maker's specification."""

from django.conf import settings
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

    def __str__(self) -> str:
        return f"calculation {self.pk} at {self.created_at:%Y-%m-%d %H:%M}"
