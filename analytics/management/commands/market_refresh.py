"""Run the market jobs once now: one aggregation and the forecasts, as beat would on its schedule."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics.services.aggregate import market_aggregate
from analytics.services.forecasts import forecasts_refresh
from mining_platform.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Aggregate the market sources once and refresh the price and difficulty forecasts. Beat runs these "
        "every 15 minutes and daily; `make demo` runs this so a fresh farm shows them at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-forecasts", action="store_true", help="Aggregate only; fit no forecasts.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        try:
            snapshot = market_aggregate(now=now)
            forecasts = [] if options["skip_forecasts"] else forecasts_refresh(now=now)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        price = "no price" if snapshot.price_usd is None else f"{snapshot.price_usd} USD"
        self.stdout.write(
            f"Market ({snapshot.mode}): {price}, {snapshot.sources_answered} of {snapshot.sources_asked} sources."
        )
        for forecast in forecasts:
            self.stdout.write(f"Forecast {forecast.target}: ARIMA{forecast.order}, {forecast.horizon_days} days ahead.")
        self.stdout.write(self.style.SUCCESS("Market jobs done."))
