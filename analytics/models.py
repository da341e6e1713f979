"""Market and network history: candles, aggregated snapshots, network stats, indicators, signals, forecasts.

Prices and difficulty are stored as decimals (they feed money figures elsewhere); derived analytics
(indicators, forecasts) as floats, since they are statistics rather than amounts.
"""

from django.db import models


class Interval(models.TextChoices):
    DAY = "1d", "1 day"
    HOUR = "1h", "1 hour"


class PriceCandle(models.Model):
    """One OHLCV candle of BTC/USD from one source (an exchange, or `replay` for the shipped history)."""

    source = models.CharField(max_length=32)
    interval = models.CharField(max_length=2, choices=Interval.choices)
    open_time = models.DateTimeField(help_text="Start of the candle, UTC.")
    open = models.DecimalField(max_digits=18, decimal_places=2)
    high = models.DecimalField(max_digits=18, decimal_places=2)
    low = models.DecimalField(max_digits=18, decimal_places=2)
    close = models.DecimalField(max_digits=18, decimal_places=2)
    volume_btc = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)

    class Meta:
        db_table = "market_candles"
        ordering = ["source", "interval", "open_time"]
        constraints = [
            models.UniqueConstraint(fields=["source", "interval", "open_time"], name="market_candles_unique"),
            models.CheckConstraint(
                condition=models.Q(low__gt=0, low__lte=models.F("high")), name="market_candles_low_le_high"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.interval} {self.open_time:%Y-%m-%d %H:%M} close {self.close}"


class MarketAnalytics(models.Model):
    """One aggregation run over every price source: a robust price, volume, and how complete it was."""

    collected_at = models.DateTimeField(db_index=True)
    mode = models.CharField(max_length=8, help_text="live (collectors) or replay (shipped history).")
    price_usd = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    price_method = models.CharField(max_length=16, blank=True, help_text="median or vwap.")
    volume_24h_btc = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    sources_asked = models.PositiveSmallIntegerField()
    sources_answered = models.PositiveSmallIntegerField()
    # Source name to its price, volume, latency, error, and whether (and why) it was left out.
    per_source = models.JSONField(default=dict)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "market_analytics"
        ordering = ["-collected_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sources_answered__lte=models.F("sources_asked")),
                name="market_analytics_answered_le_asked",
            )
        ]

    def __str__(self) -> str:
        return f"market {self.collected_at:%Y-%m-%d %H:%M} {self.price_usd} ({self.completeness:.0%})"

    @property
    def completeness(self) -> float:
        return self.sources_answered / self.sources_asked if self.sources_asked else 0.0

    @property
    def partial(self) -> bool:
        return self.sources_answered < self.sources_asked


class NetworkStats(models.Model):
    """Bitcoin network figures at one moment from one source (blockchain.info, mempool.space, replay)."""

    source = models.CharField(max_length=32)
    recorded_at = models.DateTimeField()
    difficulty = models.DecimalField(max_digits=30, decimal_places=4)
    hashrate_ths = models.FloatField(null=True, blank=True, help_text="Network hash rate, TH/s.")
    block_height = models.PositiveIntegerField(null=True, blank=True)
    fees_btc_per_day = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    avg_fee_per_block_btc = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)

    class Meta:
        db_table = "network_stats"
        ordering = ["source", "recorded_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "recorded_at"], name="network_stats_unique"),
            models.CheckConstraint(condition=models.Q(difficulty__gt=0), name="network_stats_difficulty_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.recorded_at:%Y-%m-%d %H:%M} difficulty {self.difficulty}"


class DifficultyAdjustment(models.Model):
    """One retarget: the first block of a 2016-block epoch, when it was mined and the new difficulty."""

    height = models.PositiveIntegerField(unique=True)
    start_time = models.DateTimeField()
    bits = models.CharField(max_length=8)
    difficulty = models.DecimalField(max_digits=30, decimal_places=4)

    class Meta:
        db_table = "difficulty_adjustments"
        ordering = ["height"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(difficulty__gt=0), name="difficulty_adjustments_difficulty_positive"
            )
        ]

    def __str__(self) -> str:
        return f"height {self.height}: {self.difficulty}"


class TechnicalIndicator(models.Model):
    """RSI (14), MACD (12, 26, 9) and Bollinger bands (20, 2) of one series at one candle."""

    series = models.CharField(max_length=32, help_text="e.g. btc_usd_1d, btc_usd_1h.")
    at = models.DateTimeField()
    close = models.FloatField()
    rsi_14 = models.FloatField(null=True, blank=True)
    macd = models.FloatField(null=True, blank=True)
    macd_signal = models.FloatField(null=True, blank=True)
    macd_hist = models.FloatField(null=True, blank=True)
    bb_mid = models.FloatField(null=True, blank=True)
    bb_upper = models.FloatField(null=True, blank=True)
    bb_lower = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "technical_indicators"
        ordering = ["series", "at"]
        constraints = [models.UniqueConstraint(fields=["series", "at"], name="technical_indicators_unique")]

    def __str__(self) -> str:
        return f"{self.series} {self.at:%Y-%m-%d %H:%M}"


class MarketSignal(models.Model):
    """A signal raised by an indicator crossing its threshold, with the reason in plain words."""

    series = models.CharField(max_length=32)
    at = models.DateTimeField()
    kind = models.CharField(max_length=32)
    value = models.FloatField()
    threshold = models.FloatField(null=True, blank=True)
    reason = models.CharField(max_length=300)

    class Meta:
        db_table = "market_signals"
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["series", "at", "kind"], name="market_signals_unique")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.series} at {self.at:%Y-%m-%d %H:%M}"


class Forecast(models.Model):
    """An ARIMA forecast of one target (price or difficulty) from the history up to `history_end`."""

    target = models.CharField(max_length=16, help_text="btc_usd or difficulty.")
    made_at = models.DateTimeField()
    history_end = models.DateField(help_text="Last observation the model saw.")
    order = models.CharField(max_length=16, help_text="ARIMA (p, d, q), chosen by information criterion.")
    criterion = models.CharField(max_length=8, default="aic")
    criterion_value = models.FloatField()
    horizon_days = models.PositiveSmallIntegerField()
    confidence = models.FloatField(default=0.95)
    # One object per day ahead: its date (ISO), the mean, and the lower and upper bound.
    points = models.JSONField()

    class Meta:
        db_table = "forecasts"
        ordering = ["-made_at"]
        constraints = [
            models.UniqueConstraint(fields=["target", "history_end", "horizon_days"], name="forecasts_unique"),
            models.CheckConstraint(
                condition=models.Q(confidence__gt=0, confidence__lt=1), name="forecasts_confidence_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target} ARIMA{self.order} from {self.history_end} (+{self.horizon_days} d)"
