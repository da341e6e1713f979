"""Curtailment execution end to end: 10,000 emulated miners, a plan shedding about 30 % of the site.

Usage: python bench/curtailment_execute.py [--miners 10000] [--share 0.3] [--concurrency 200]

The fleet emulator runs in its own process (RPC on port 4028, the Antminer web CGI on port 80 of each
address). In one run the script measures, from the trigger (the executor's run starting on a due plan):
- ack_seconds: until every command of the plan has its answer (acknowledged, or failed after its retries)
  and the plan is executed;
- confirm_seconds: until one collection run after it has read the whole site and the verification has
  confirmed the shed from telemetry;
- if the verification had to top the shed up (miners that refused or cannot sleep), the top-up round's
  own send and confirmation, and the shed measured at the end.
Baseline: the same kind of commands sent one at a time, on a sample of miners outside the plan with the
plan's firmware mix, extrapolated to the plan's size. The bench site, its plan, its rows and its events
are deleted afterwards. The last line is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import _django

_CONCURRENCY_FLAG = "--concurrency"
if _CONCURRENCY_FLAG in sys.argv:
    # Read by the settings module at setup, as every setting is.
    os.environ["CURTAILMENT_COMMAND_CONCURRENCY"] = sys.argv[sys.argv.index(_CONCURRENCY_FLAG) + 1]
_django.setup()

from django.conf import settings
from django.db import connection
from django.utils import timezone

from chain.models import OutboxEvent
from hosting.choices import CurtailmentSource, CurtailmentStep, MinerAction
from hosting.clients.control import ControlCredentials, ControlTimeouts, control_send
from hosting.clients.poller import PollSettings
from hosting.emulator.spec import build_fleet_spec
from hosting.models import CurtailmentPlan, Miner, MinerOperation, Site
from hosting.services.curtailment_commands import site_power_kw
from hosting.services.curtailment_execution import curtailment_execute_due
from hosting.services.curtailment_plans import CurtailmentRequest, curtailment_plan_create
from hosting.services.curtailment_verify import curtailment_verify_site
from hosting.services.fleet_register import fleet_register
from hosting.services.miner_control import control_target
from hosting.services.telemetry_collect import telemetry_collect

ROOT = Path(__file__).resolve().parent.parent
SEED = 2027
BASE = "127.6.0.1"
CONTROL = "127.0.0.1:14031"


def start_emulator(count: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "hosting.emulator", "--count", str(count), "--seed", str(SEED), "--base", BASE]
    args += ["--control", CONTROL, "--log-level", "WARNING"]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_serving(address: str, port: int, deadline_s: float = 300.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the emulator did not start serving {address}:{port} in {deadline_s:.0f}s") from None
            time.sleep(0.5)


def sequential_rate(miners: list[Miner]) -> float:
    """Commands per second sent one at a time: each waits for the previous miner's answer."""
    timeouts = ControlTimeouts(
        connect_s=settings.MINER_CONTROL_CONNECT_TIMEOUT_SECONDS,
        read_s=settings.MINER_CONTROL_READ_TIMEOUT_SECONDS,
        deadline_s=settings.MINER_CONTROL_DEADLINE_SECONDS,
    )

    async def one_by_one() -> None:
        for miner in miners:
            await control_send(
                target=control_target(miner=miner),
                action=MinerAction.STOP,
                timeouts=timeouts,
                credentials=ControlCredentials(),
            )

    started = time.perf_counter()
    asyncio.run(one_by_one())
    return len(miners) / (time.perf_counter() - started)


def baseline_sample(plan: CurtailmentPlan, size: int) -> list[Miner]:
    """Miners outside the plan, drawn in the plan's firmware mix."""
    mix = Counter(plan.plan_miners.values_list("miner__firmware", flat=True))
    total = sum(mix.values())
    outside = list(Miner.objects.filter(site=plan.site).exclude(curtailments__plan=plan).order_by("pk"))
    rng = random.Random(SEED)  # noqa: S311  # a reproducible sample, not a secret
    sample: list[Miner] = []
    for firmware, count in mix.items():
        pool = [m for m in outside if m.firmware == firmware]
        sample += rng.sample(pool, min(len(pool), max(1, round(size * count / total))))
    return sample


def delete_bench(site: Site) -> None:
    plans = list(CurtailmentPlan.objects.filter(site=site).values_list("pk", flat=True))
    OutboxEvent.objects.filter(aggregate_type="curtailment_plan", aggregate_id__in=[str(p) for p in plans]).delete()
    OutboxEvent.objects.filter(aggregate_type="miner", payload__site_id=site.pk).delete()
    CurtailmentPlan.objects.filter(site=site).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM miner_telemetry WHERE site_id = %s", [site.pk])
    MinerOperation.objects.filter(miner__site=site).delete()
    Miner.objects.filter(site=site).delete()
    site.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--miners", type=int, default=10_000)
    parser.add_argument("--share", type=float, default=0.3, help="share of the site's draw to shed")
    parser.add_argument(_CONCURRENCY_FLAG, type=int, default=settings.CURTAILMENT_COMMAND_CONCURRENCY)
    parser.add_argument("--sequential-sample", type=int, default=100)
    options = parser.parse_args()

    spec = build_fleet_spec(options.miners, SEED, BASE)
    emulator = start_emulator(options.miners)
    site = None
    figures: dict[str, object] = {}
    try:
        wait_until_serving(spec.last_address, 4028)
        web = [m.address for m in spec if m.model.personality == "antminer_stock"]
        if web:
            wait_until_serving(web[-1], 80)  # stock Antminers are commanded through their web CGI
        site = Site.objects.get(pk=fleet_register(spec=spec, site_name=f"bench-curtail-{time.time_ns()}").site_id)
        poll = PollSettings(concurrency=1000)
        now = timezone.now()
        telemetry_collect(site_id=site.pk, now=now, poll=poll)
        site_kw = site_power_kw(site_id=site.pk, now=now) or Decimal(0)
        target_kw = (site_kw * Decimal(str(options.share))).quantize(Decimal("0.1"))
        request = CurtailmentRequest(
            site=site,
            target_kind="shed_kw",
            target_value=target_kw,
            strategy="optimal",
            starts_at=now,
            recover_at=now + timedelta(hours=2),
            source=CurtailmentSource.PAGE,
        )
        planning = time.perf_counter()
        plan = curtailment_plan_create(request=request, now=now)
        plan_seconds = time.perf_counter() - planning

        trigger = time.perf_counter()
        curtailment_execute_due(now=timezone.now())
        ack_seconds = time.perf_counter() - trigger
        collect = telemetry_collect(site_id=site.pk, now=timezone.now(), poll=poll)
        [first] = curtailment_verify_site(site_id=site.pk, now=timezone.now())
        confirm_seconds = time.perf_counter() - trigger
        plan.refresh_from_db()
        steps = Counter(plan.plan_miners.filter(round=0).values_list("command_step", flat=True))
        commanded = sum(steps.values())
        failures = Counter(
            error.split(":")[0]
            for error in plan.plan_miners.filter(command_step=CurtailmentStep.FAILED).values_list(
                "command_error", flat=True
            )
        )
        figures = {
            "site_kw": float(site_kw),
            "target_kw": float(target_kw),
            "planned_shed_kw": float(plan.planned_shed_kw),
            "plan_seconds": round(plan_seconds, 2),
            "commanded": commanded,
            "acknowledged": steps[CurtailmentStep.CONFIRMED] + steps[CurtailmentStep.ACKNOWLEDGED],
            "confirmed": steps[CurtailmentStep.CONFIRMED],
            "failed": steps[CurtailmentStep.FAILED],
            "failures": dict(failures),
            "ack_seconds": round(ack_seconds, 2),
            "collect_seconds": round(collect.poll_seconds + collect.store_seconds, 2),
            "confirm_seconds": round(confirm_seconds, 2),
            "measured_shed_kw_first_round": float(first.measured_shed_kw or 0),
        }
        if first.top_up_round is not None:
            # The verification planned a top-up round; its executor run is the one it woke (run inline here).
            topped = time.perf_counter()
            curtailment_execute_due(now=timezone.now())
            telemetry_collect(site_id=site.pk, now=timezone.now(), poll=poll)
            [last] = curtailment_verify_site(site_id=site.pk, now=timezone.now())
            plan.refresh_from_db()
            figures |= {
                "top_up_miners": first.top_up_miners,
                "top_up_seconds": round(time.perf_counter() - topped, 2),
                "measured_shed_kw": float(plan.measured_shed_kw or 0),
                "target_met_after_top_up": bool(last.concluded and "Target met." in plan.note),
            }
        else:
            figures["measured_shed_kw"] = float(plan.measured_shed_kw or 0)

        sample = baseline_sample(plan, options.sequential_sample)
        rate = sequential_rate(sample)
    finally:
        emulator.terminate()
        emulator.wait(timeout=60)
        if site is not None:
            delete_bench(site)

    sequential_seconds = figures["commanded"] / rate  # type: ignore[operator]  # an int, set above
    print(
        json.dumps(
            {
                "bench": "curtailment_execute",
                "miners": options.miners,
                **figures,
                "concurrency": options.concurrency,
                "baseline": "sequential",
                "sequential_sample": len(sample),
                "sequential_per_s": round(rate, 1),
                "sequential_seconds_extrapolated": round(sequential_seconds, 1),
                "ratio": round(sequential_seconds / ack_seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
