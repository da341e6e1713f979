from django.apps import AppConfig


class CalculatorConfig(AppConfig):
    """Miner model catalogue and profitability: single, batch, ROI and break-even."""

    name = "calculator"
    verbose_name = "Profitability calculator"
