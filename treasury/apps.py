from django.apps import AppConfig


class TreasuryConfig(AppConfig):
    """The BTC inventory ledger, sell strategies and their backtests."""

    name = "treasury"
    verbose_name = "Treasury"
