"""Write every app's declared periodic jobs into django-celery-beat's tables."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mining_platform.core.periodic import declared_periodic_jobs, periodic_tasks_sync


class Command(BaseCommand):
    help = "Create or update the django-celery-beat schedules declared in <app>/schedules.py."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = periodic_tasks_sync(jobs=declared_periodic_jobs(), dry_run=options["dry_run"])
        prefix = "Would sync" if options["dry_run"] else "Synced"
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix} periodic tasks: {len(result.created)} created, "
                f"{len(result.updated)} updated, {len(result.unchanged)} unchanged."
            )
        )
