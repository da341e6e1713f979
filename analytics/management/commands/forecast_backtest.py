"""Walk-forward backtest of the price and difficulty forecasts over the shipped history."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.services.backtest import DEFAULT_HORIZONS, backtest_run
from analytics.services.forecasts import DEFAULT_WINDOW_DAYS, Order
from mining_platform.core.errors import DomainError


def _order(text: str) -> Order:
    parts = text.split(",")
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise CommandError(f"--orders: {text!r} is not p,d,q (three whole numbers).")
    p, d, q = (int(part) for part in parts)
    return p, d, q


class Command(BaseCommand):
    help = (
        "Backtest ARIMA against the naive baselines (last value; for difficulty also the current-epoch "
        "estimate) at monthly origins over analytics/data, and say which method wins. Writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--last-origins", type=int, default=None, help="Only the newest N monthly origins (default: all)."
        )
        parser.add_argument(
            "--horizons", type=int, nargs="+", default=list(DEFAULT_HORIZONS), help="Horizons in days (default 7 30)."
        )
        parser.add_argument(
            "--window-days", type=int, default=DEFAULT_WINDOW_DAYS, help="Rolling training window in days."
        )
        parser.add_argument(
            "--orders",
            nargs="+",
            default=None,
            metavar="P,D,Q",
            help="ARIMA orders to search (default: p, q in 0..2 and d in 0..1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        last_origins: int | None = options["last_origins"]
        horizons: list[int] = options["horizons"]
        window_days: int = options["window_days"]
        if last_origins is not None and last_origins < 1:
            raise CommandError("--last-origins must be at least 1.")
        if any(h < 1 for h in horizons):
            raise CommandError("--horizons must all be at least 1 day.")
        if window_days < 60:
            raise CommandError("--window-days must be at least 60.")
        orders = None if options["orders"] is None else [_order(text) for text in options["orders"]]
        try:
            report = backtest_run(horizons=horizons, window_days=window_days, last_origins=last_origins, orders=orders)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Walk-forward backtest, origins {report.first_origin} .. {report.last_origin}, "
            f"rolling window {window_days} days, in {report.duration_s:.1f} s"
        )
        for line in report.lines():
            self.stdout.write(line)
