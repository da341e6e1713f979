"""Load the shipped market and network history, then compute its indicators and signals."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.services.history_load import history_load
from analytics.services.signals import technical_analysis_refresh
from mining_platform.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Import analytics/data/*.csv into candles, network stats and retargets (source replay), then "
        "compute indicators and signals. Safe to run again: a second run adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every file and count its rows; write nothing."
        )
        parser.add_argument(
            "--skip-indicators", action="store_true", help="Load the history only; compute no indicators or signals."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            loaded = history_load(dry_run=options["dry_run"])
        except DomainError as exc:
            lines = [exc.message, *(f"  {where}: {'; '.join(msgs)}" for where, msgs in exc.fields.items())]
            raise CommandError("\n".join(lines)) from exc
        for table in loaded.tables:
            self.stdout.write(f"{table.name}: {table.rows} rows, {table.created} new, {table.updated} updated")
        if options["dry_run"]:
            self.stdout.write(self.style.SUCCESS("Dry run: every row is valid; nothing was written."))
            return
        if not options["skip_indicators"]:
            for result in technical_analysis_refresh(full=True):
                self.stdout.write(f"{result.series}: {result.indicator_rows} indicator rows, {result.signals} signals")
        self.stdout.write(self.style.SUCCESS(f"Market history loaded: {loaded.created} new rows."))
