"""Telemetry storage throughput: COPY into the partitioned table against Django bulk_create.

Writes rows dated 2000-01-0x into their own partitions and drops them afterwards, so the database is
left as it was. The last line is one JSON object with the figures.
"""

import json
import time
from datetime import UTC, datetime, timedelta

import _django

_django.setup()

from decimal import Decimal

from django.db import connection, transaction

from calculator.models import MinerModel
from hosting.choices import Firmware, PollOutcome
from hosting.models import Miner, MinerTelemetry, Site
from hosting.services.telemetry_ingest import telemetry_store
from hosting.services.telemetry_partitions import telemetry_partitions_ensure
from hosting.telemetry_rows import TelemetryRow

MINERS = 1000
COPY_ROWS = 300_000
BULK_ROWS = 30_000
BASE = datetime(2000, 1, 1, tzinfo=UTC)


def _rows(miners: list[Miner], count: int, start: datetime) -> list[TelemetryRow]:
    rows = []
    for i in range(count):
        miner = miners[i % len(miners)]
        rows.append(
            TelemetryRow(
                miner_id=miner.pk,
                recorded_at=start + timedelta(seconds=60 * (i // len(miners))),
                site_id=miner.site_id,
                outcome=PollOutcome.OK,
                hashrate_ths=100.0 + (i % 17),
                hashrate_avg_ths=101.5,
                power_w=3250,
                board_temp_max_c=68.5,
                chip_temp_max_c=78.0,
                fan_rpm_min=5400,
                fan_rpm_max=5800,
                boards_alive=3,
                accepted_shares=1000 + i,
                rejected_shares=3,
                hardware_errors=12,
                elapsed_s=86400 + i,
                is_sleeping=False,
            )
        )
    return rows


def main() -> None:
    model, _ = MinerModel.objects.get_or_create(
        make="Bitmain",
        model="Antminer S19 Pro",
        defaults={"hashrate_ths": Decimal(110), "power_w": 3250, "efficiency_j_per_th": Decimal("29.55")},
    )
    site = Site.objects.create(
        name=f"bench-{time.time_ns()}", power_capacity_kw=Decimal(5000), energy_price_usd_per_kwh=Decimal("0.05")
    )
    miners = Miner.objects.bulk_create(
        Miner(
            site=site,
            miner_model=model,
            ip=f"10.9.{i // 250}.{i % 250 + 1}",
            firmware=Firmware.ANTMINER_STOCK,
            nominal_hashrate_ths=Decimal(110),
            nominal_power_w=3250,
        )
        for i in range(MINERS)
    )
    days = [BASE.date() + timedelta(days=d) for d in range(4)]
    try:
        telemetry_partitions_ensure(days=days)
        copy_rows = _rows(miners, COPY_ROWS, BASE)
        started = time.perf_counter()
        telemetry_store(rows=copy_rows)
        copy_seconds = time.perf_counter() - started

        bulk_rows = _rows(miners, BULK_ROWS, BASE + timedelta(days=2))
        objects = [MinerTelemetry(**{k: getattr(r, k) for k in r._fields}) for r in bulk_rows]
        started = time.perf_counter()
        with transaction.atomic():
            MinerTelemetry.objects.bulk_create(objects, batch_size=5000)
        bulk_seconds = time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            for day in days:
                cursor.execute(f"DROP TABLE IF EXISTS miner_telemetry_p{day:%Y%m%d}")
        Miner.objects.filter(site=site).delete()
        site.delete()

    copy_rate = COPY_ROWS / copy_seconds
    bulk_rate = BULK_ROWS / bulk_seconds
    print(
        json.dumps(
            {
                "bench": "telemetry_store",
                "rows": COPY_ROWS,
                "seconds": round(copy_seconds, 3),
                "rows_per_s": round(copy_rate),
                "baseline": "django_bulk_create",
                "baseline_rows": BULK_ROWS,
                "baseline_rows_per_s": round(bulk_rate),
                "ratio": round(copy_rate / bulk_rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
