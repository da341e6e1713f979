"""Calculator batch of 10,000 rows: the batch service (read, check, store, compute, store) against row by row.

The batch goes through the same calls as an upload: batch_file_read, calculation_batch_create (every row
checked, the market read once, the batch stored) and calculation_batch_run (each row's figures and its
payback projection over 365 days, stored in chunks, then the fleet totals). The baseline sends each row
through calculation_run, the single calculation, as a naive loop over the file would: it reads the market,
computes and saves one history row per call. The baseline is timed on a sample of the rows and
extrapolated to 10,000 (the JSON says so). Both run in this process on the same database; a user made for
the run, with its batch and history rows, is deleted afterwards (the single calculations' cached results
expire by themselves after CALCULATOR_RESULTS_CACHE_SECONDS). Needs the catalogue and market data
(`manage.py migrate` and `manage.py load_market_history`). The last line is one JSON object.
"""

import csv
import io
import json
import random
import sys
import time
from decimal import Decimal

import _django

_django.setup()

from django.utils import timezone

from calculator.models import CalculationBatchSource, MinerModel
from calculator.services.batch_compute import calculation_batch_create, calculation_batch_run
from calculator.services.batch_files import batch_file_read
from calculator.services.calculation import calculation_run
from calculator.services.market_inputs import market_snapshot_current
from mining_platform.core.errors import UpstreamUnavailableError
from mining_platform.core.models import User

ROWS = 10_000
BASELINE_SAMPLE = 500
SETTINGS = {"horizon_days": "365", "difficulty_growth_pct_per_month": "0", "price_scenario": "flat"}
HEADER = [
    "label",
    "model",
    "hashrate_ths",
    "power_w",
    "quantity",
    "electricity_usd_per_kwh",
    "pool_fee_pct",
    "uptime_pct",
    "hardware_cost_usd",
    "hosting_fee_usd_per_month",
]


def _fleet(models: list[MinerModel]) -> list[list[str]]:
    """A hosting farm's sheet: three quarters catalogue models across sites and tariffs, a quarter custom quotes."""
    rng = random.Random(2026)  # noqa: S311  # fixed test data, not a secret
    tariffs = ["0.035", "0.042", "0.05", "0.058", "0.065", "0.075"]
    rows = []
    for index in range(ROWS):
        site = f"Site {index // 2500 + 1}"
        tariff = tariffs[(index // 400) % len(tariffs)]
        hosting = rng.choice(["", "", "25", "40"])
        if index % 4 == 3:
            hashrate = str(rng.randint(90, 280))
            power = str(rng.randint(2900, 3700))
            cost = str(rng.randint(1200, 5200))
            rows.append(
                [
                    f"{site} quote {index}",
                    "",
                    hashrate,
                    power,
                    str(rng.randint(1, 60)),
                    tariff,
                    "2",
                    "97",
                    cost,
                    hosting,
                ]
            )
        else:
            model = models[rng.randrange(len(models))]
            cost = str(int(model.hashrate_ths * rng.choice([12, 15, 18])))
            quantity = str(rng.choice([10, 20, 40, 80, 120]))
            label = f"{site} rack {index % 2500}"
            rows.append([label, f"{model.make} {model.model}", "", "", quantity, tariff, "2", "97", cost, hosting])
    return rows


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def _single_data(row: list[str], models: dict[str, int]) -> dict[str, object]:
    data: dict[str, object] = dict(SETTINGS)
    for name, value in zip(HEADER, row, strict=True):
        if name in ("label", "model") or value == "":
            continue
        data[name] = int(value) if name == "quantity" else Decimal(value)
    if row[1]:
        data["miner_model_id"] = models[row[1]]
    return data


def main() -> None:
    try:
        market_snapshot_current(now=timezone.now())
    except UpstreamUnavailableError:
        print("No market data: run `python manage.py load_market_history` first.", file=sys.stderr)
        sys.exit(1)
    models = list(MinerModel.objects.order_by("pk"))
    rows = _fleet(models)
    content = _csv(rows)
    user = User.objects.create_user(email=f"bench-{time.time_ns()}@example.invalid")
    try:
        started = time.perf_counter()
        table = batch_file_read(name="bench.csv", content=content, max_rows=ROWS)
        batch = calculation_batch_create(
            user=user,
            name="bench.csv",
            source=CalculationBatchSource.FILE,
            table=table,
            scenario_data=SETTINGS,
            now=timezone.now(),
        )
        checked = time.perf_counter()
        batch = calculation_batch_run(batch_id=batch.pk)
        seconds = time.perf_counter() - started
        check_seconds = checked - started
        if batch.status != "done" or batch.rows.count() != ROWS:
            raise SystemExit(f"The batch did not finish: status={batch.status} error={batch.error}")

        by_name = {f"{m.make} {m.model}": m.pk for m in models}
        sample = rows[:: ROWS // BASELINE_SAMPLE][:BASELINE_SAMPLE]
        started = time.perf_counter()
        for row in sample:
            calculation_run(data=_single_data(row, by_name), user=user, now=timezone.now())
        sample_seconds = time.perf_counter() - started
    finally:
        # The user's batch, its rows and the history rows go with it (CASCADE).
        user.delete()

    baseline_seconds = sample_seconds * ROWS / len(sample)
    print(
        json.dumps(
            {
                "bench": "calculator_batch",
                "rows": ROWS,
                "seconds": round(seconds, 3),
                "rows_per_s": round(ROWS / seconds),
                "check_and_store_seconds": round(check_seconds, 3),
                "compute_and_store_seconds": round(seconds - check_seconds, 3),
                "baseline": "row_by_row",
                "baseline_seconds": round(baseline_seconds, 3),
                "baseline_extrapolated_from_rows": len(sample),
                "ratio": round(baseline_seconds / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
