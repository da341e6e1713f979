"""Telemetry collection end to end: 10,000 emulated miners polled, parsed and stored by one process.

Usage: python bench/telemetry_collect.py [--miners 10000] [--runs 3] [--concurrency 1000]

The fleet emulator runs in its own process on the same machine. In the same run the script measures:
- the platform's collection (concurrent poller, tolerant parsing, COPY storage, status updates);
- the raw socket round trip: the same connections with the same request, no parsing, no storage;
- a sequential poller (one blocking socket at a time, same parsing and storage) on a sample, extrapolated;
- pyasic (the field's library: identify, then read) on a sample, concurrently, extrapolated.
The bench site and its rows are deleted afterwards. The last line is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import _django

_django.setup()

import pyasic  # type: ignore[import-untyped]  # pyasic ships no type information
import uvloop
from django.db import connection
from django.utils import timezone

from hosting.clients.cgminer import JsonObject, encode_request, joined_slot, parse_reply
from hosting.clients.poller import PollResult, PollSettings, PollTarget
from hosting.clients.readings import POLL_PLANS, reading_parse
from hosting.emulator.spec import build_fleet_spec
from hosting.models import Miner, Site
from hosting.selectors import poll_targets_list
from hosting.services.fleet_register import fleet_register
from hosting.services.telemetry_collect import telemetry_collect, telemetry_results_store

ROOT = Path(__file__).resolve().parent.parent
SEED = 2026


def start_emulator(count: int, base: str, *, http: bool, control: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "hosting.emulator", "--count", str(count), "--seed", str(SEED), "--base", base]
    args += ["--control", control]
    if not http:
        args.append("--no-http")
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_serving(address: str, deadline_s: float = 180.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 4028), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the emulator did not start serving {address} in {deadline_s:.0f}s")


def request_for(target: PollTarget) -> bytes:
    return encode_request("+".join(POLL_PLANS[target.firmware].commands))


class _RawRoundTrip(asyncio.Protocol):
    """Connect, send, read until the peer closes; nothing parsed, nothing kept but the byte count."""

    def __init__(self, request: bytes, done: asyncio.Future[int]) -> None:
        self.request, self.done, self.size = request, done, 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]  # a TCP transport

    def data_received(self, data: bytes) -> None:
        self.size += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.size)


async def raw_round_trips(targets: Sequence[PollTarget], concurrency: int) -> int:
    """The same connections and requests as the poller, with no parsing or storage: the machine's limit."""
    loop = asyncio.get_running_loop()
    queue = iter(targets)
    answered = 0

    async def worker() -> None:
        nonlocal answered
        for target in queue:
            done: asyncio.Future[int] = loop.create_future()
            request = request_for(target)
            await loop.create_connection(lambda: _RawRoundTrip(request, done), target.host, target.port)  # noqa: B023
            size = await done  # awaited first: `answered += await ...` would read `answered` before waiting
            answered += 1 if size else 0

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered


def sequential_poll(targets: Sequence[PollTarget]) -> list[PollResult]:
    """The simple way: one blocking socket at a time, the same request, parsing and storage."""
    results = []
    for target in targets:
        started = time.perf_counter()
        with socket.create_connection((target.host, target.port), timeout=5) as sock:
            sock.sendall(request_for(target))
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        data = parse_reply(b"".join(chunks)) or {}
        replies: dict[str, JsonObject] = {
            c: slot for c in POLL_PLANS[target.firmware].commands if (slot := joined_slot(data, c)) is not None
        }
        reading = reading_parse(firmware=target.firmware, replies=replies)
        results.append(PollResult(target, "ok", reading, time.perf_counter() - started))
    return results


async def pyasic_read(addresses: Sequence[str], concurrency: int) -> int:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(address: str) -> int:
        async with semaphore:
            try:
                miner = await pyasic.get_miner(address)
                if miner is None:
                    return 0
                data = await miner.get_data()
            except Exception:  # noqa: BLE001  # a miner pyasic cannot read counts as not read; the rest go on
                return 0
            return 1 if data.hashrate is not None else 0

    return sum(await asyncio.gather(*(one(a) for a in addresses)))


def delete_site(site: Site) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM miner_telemetry WHERE site_id = %s", [site.pk])
    Miner.objects.filter(site=site).delete()
    site.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--miners", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sequential-sample", type=int, default=300)
    parser.add_argument("--pyasic-sample", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1000)
    options = parser.parse_args()

    base, pyasic_base = "127.3.0.1", "127.4.0.1"
    emulator = start_emulator(options.miners, base, http=False, control="127.0.0.1:14029")
    pyasic_emulator = start_emulator(options.pyasic_sample, pyasic_base, http=True, control="127.0.0.1:14030")
    spec = build_fleet_spec(options.miners, SEED, base)
    site = None
    try:
        wait_until_serving(spec.last_address)
        wait_until_serving(build_fleet_spec(options.pyasic_sample, SEED, pyasic_base).last_address)
        site = Site.objects.get(pk=fleet_register(spec=spec, site_name=f"bench-collect-{time.time_ns()}").site_id)
        targets = poll_targets_list(site_id=site.pk)

        poll = PollSettings(concurrency=options.concurrency)
        now = timezone.now()
        telemetry_collect(site_id=site.pk, now=now, poll=poll)  # warm-up: partitions, caches
        runs = []
        cpu = []
        for run in range(options.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = telemetry_collect(site_id=site.pk, now=now + timedelta(minutes=run + 1), poll=poll)
            runs.append((time.perf_counter() - started, result))
            cpu.append(time.process_time() - cpu_started)
        seconds = statistics.median(s for s, _ in runs)
        ok = min(r.outcomes.get("ok", 0) for _, r in runs)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            started = time.perf_counter()
            answered = runner.run(raw_round_trips(targets, options.concurrency))
            raw_seconds = time.perf_counter() - started

        sample = targets[: options.sequential_sample]
        started = time.perf_counter()
        sequential = sequential_poll(sample)
        telemetry_results_store(site=site, results=sequential, now=now + timedelta(minutes=options.runs + 2))
        sequential_rate = len(sample) / (time.perf_counter() - started)

        pyasic_addresses = [m.address for m in build_fleet_spec(options.pyasic_sample, SEED, pyasic_base)]
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            started = time.perf_counter()
            pyasic_ok = runner.run(pyasic_read(pyasic_addresses, 100))
            pyasic_rate = options.pyasic_sample / (time.perf_counter() - started)
    finally:
        emulator.terminate()
        pyasic_emulator.terminate()
        emulator.wait(timeout=30)
        pyasic_emulator.wait(timeout=30)
        if site is not None:
            delete_site(site)

    per_s = options.miners / seconds
    raw_rate = answered / raw_seconds
    print(
        json.dumps(
            {
                "bench": "telemetry_collect",
                "miners": options.miners,
                "ok": ok,
                "seconds": round(seconds, 2),
                "runs_seconds": [round(s, 2) for s, _ in runs],
                "poll_seconds": round(statistics.median(r.poll_seconds for _, r in runs), 2),
                "store_seconds": round(statistics.median(r.store_seconds for _, r in runs), 2),
                "per_s": round(per_s),
                # The collecting process's own CPU time: what polling real miners over a network costs,
                # where no emulator shares the machine.
                "collector_cpu_seconds": round(statistics.median(cpu), 2),
                "baseline": "sequential",
                "sequential_per_s": round(sequential_rate),
                "sequential_seconds_extrapolated": round(options.miners / sequential_rate, 1),
                "ratio": round(per_s / sequential_rate, 1),
                "raw_socket_per_s": round(raw_rate),
                "share_of_raw_socket_rate": round(per_s / raw_rate, 2),
                "pyasic_sample": options.pyasic_sample,
                "pyasic_ok": pyasic_ok,
                "pyasic_per_s": round(pyasic_rate, 1),
                "pyasic_seconds_extrapolated": round(options.miners / pyasic_rate, 1),
                "ratio_vs_pyasic": round(per_s / pyasic_rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
