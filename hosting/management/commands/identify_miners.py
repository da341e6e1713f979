"""Identify every miner of a site with pyasic and correct the rows (make, model, firmware, serial)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from hosting.models import Site
from hosting.services.miner_identify import IdentifyOutcome, miners_identify, site_identities_preview
from mining_platform.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Ask every miner of a site what it is (pyasic) and correct its firmware, catalogue model, nominal "
        "figures and empty serial; each identification is written to the operation log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", required=True, help="site name")
        parser.add_argument("--dry-run", action="store_true", help="read the miners and report; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        site = Site.objects.filter(name=options["site"]).first()
        if site is None:
            raise CommandError(f"site: no site is named {options['site']!r}")
        miner_ids = list(site.miners.values_list("pk", flat=True))
        try:
            results = (
                site_identities_preview(site=site)
                if options["dry_run"]
                else miners_identify(miner_ids=miner_ids, now=timezone.now())
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for result in results:
            line = f"{result.miner_label}: {result.outcome} — {result.message}"
            self.stdout.write(line if result.ok else self.style.WARNING(line))
        counts = ", ".join(
            f"{sum(1 for r in results if r.outcome == outcome)} {outcome.replace('_', ' ')}"
            for outcome in IdentifyOutcome
        )
        done = "would be identified (dry run, nothing written)" if options["dry_run"] else "identified"
        self.stdout.write(self.style.SUCCESS(f"Site {site.name!r}: {len(results)} miner(s) {done}: {counts}."))
