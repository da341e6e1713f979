"""Create the site and Miner rows for an emulated fleet (the same --count/--seed/--base as the emulator)."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting.emulator.spec import DEFAULT_BASE, build_fleet_spec
from hosting.services.fleet_register import fleet_register
from mining_platform.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Register an emulated fleet: the site and one miner per emulated address. Use the arguments "
        "`python -m hosting.emulator` runs with; running it again updates the same rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=100)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--base", default=DEFAULT_BASE)
        parser.add_argument("--site", default="Emulated farm", help="site name (created if missing)")
        parser.add_argument("--energy-price", default="0.05", help="USD per kWh for a new site")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            spec = build_fleet_spec(options["count"], options["seed"], options["base"])
        except ValueError as exc:
            raise CommandError(f"fleet: {exc}") from exc
        try:
            price = Decimal(options["energy_price"])
        except InvalidOperation as exc:
            raise CommandError(f"energy-price: {options['energy_price']!r} is not a number") from exc
        try:
            result = fleet_register(spec=spec, site_name=options["site"], energy_price_usd_per_kwh=price)
        except DomainError as exc:
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message} {details}") from exc
        site = "created" if result.site_created else "existing"
        self.stdout.write(
            self.style.SUCCESS(
                f"Site {options['site']!r} ({site}, id {result.site_id}): "
                f"{result.created} miners added, {result.updated} updated, {spec.first_address}..{spec.last_address}."
            )
        )
