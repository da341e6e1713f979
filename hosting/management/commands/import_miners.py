"""Import miners from a CSV or Excel file: all rows or none."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting.services.miner_import import miners_import
from mining_platform.core.errors import DomainError


class Command(BaseCommand):
    help = "Create or update miners from a .csv or .xlsx file (columns as the admin's export)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check every row; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"path: {path} is not a file")
        try:
            report = miners_import(
                content=path.read_bytes(), file_format=path.suffix.lstrip(".").lower(), dry_run=options["dry_run"]
            )
        except DomainError as exc:
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message} {details}") from exc
        verb = "Would import" if options["dry_run"] else "Imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} miners: {report.new} new, {report.updated} updated, {report.skipped} unchanged."
            )
        )
