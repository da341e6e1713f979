"""Load the demo farm and print its logins."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mining_platform.core.services.demo import demo_farm_load, demo_fleet_load


class Command(BaseCommand):
    help = "Create the demo users (one per role), a hosting customer and a site. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default=None, help="Password of every demo user (default: DEMO_PASSWORD).")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or settings.DEMO_PASSWORD
        if len(password) < 8:
            raise CommandError("--password: use at least 8 characters.")
        try:
            result = demo_farm_load(password=password)
        except ValidationError as exc:
            raise CommandError(f"Demo data is invalid: {exc.message_dict}") from exc
        fleet = demo_fleet_load(
            site=result.site, customer=result.customer, count=settings.DEMO_FLEET_SIZE, seed=settings.DEMO_FLEET_SEED
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo farm ready: customer '{result.customer.name}', site '{result.site.name}', "
                f"{result.created_users} new user(s)."
            )
        )
        self.stdout.write(
            f"  Emulated fleet: {fleet.miners} miners at {fleet.first_address}..{fleet.last_address}:4028, "
            f"{fleet.customer_miners} of them the customer's."
        )
        self.stdout.write("  Demo logins (e-mail / password):")
        for login in result.logins:
            self.stdout.write(f"    {login.role:<7} {login.email:<24} {login.password}")
