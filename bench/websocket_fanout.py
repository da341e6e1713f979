"""Live push fan-out: 1,000 websockets on one ASGI process, each told of every stored collection run.

The server is the Procfile's `web` command with one worker, on a free loopback port against the normal
database and its own Redis key prefix. The bench creates a site of `--miners` miners (shared by a few
customers, as a hosting site is) and a host user, and removes them afterwards. Then:

- websockets: a separate client process (one asyncio loop, aiohttp's websocket client, permessage-deflate
  off unless `--deflate`) opens `--sockets` sockets as that user, each subscribed to the site, and waits
  until every one has its snapshot. The server's RSS
  before and after gives the memory per connection. This process then runs `--stores` collection-like
  stores a second or so apart: telemetry_store of a reading for every miner in one transaction, then the
  live publication the collection runs on commit. The delay of a store is from its commit (time.time()
  here) to the moment a socket has the whole delta frame (time.time() in the client process; the same
  machine's clock), over every socket and store;
- baseline: `--pollers` clients (aiohttp, one process) fetch GET /hosting/api/live/snapshot for the same
  site once a second each, evenly spread; a store's delay for a poller is from its commit to the first
  answer that holds it. ratio = baseline p50 / websocket p50.

The last line is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import _django
import aiohttp
import uvloop
from _server import free_port, percentile, procfile_web, start_server, stop_server, wait_ready

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_PATH = "/hosting/api/live/snapshot"
LIVE_PATH = "/ws/hosting/live/"
MODEL = "Antminer S19 Pro"
CUSTOMERS = 8
MINERS_PER_RACK = 40
# The start of a delta frame as the server writes it: enough to know which store it is without parsing.
DELTA_HEAD = re.compile(r'\{"type":"live\.delta","key":"[^"]+","seq":(\d+),')
RECORDED_AT = re.compile(rb'"recorded_at": ?"([^"]+)"')


def _percentile(values: Sequence[float], pct: float) -> float | None:
    return round(percentile(values, pct), 1) if values else None


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- The client process: websockets -----------------------------------------------------------------


async def _socket(
    session: aiohttp.ClientSession, job: dict[str, Any], receipts: dict[int, list[float]], ready: asyncio.Queue[bool]
) -> None:
    # aiohttp's websocket reader is compiled: this process keeps up with a thousand large frames a second.
    try:
        async with session.ws_connect(
            job["ws_url"],
            headers={"Origin": job["origin"]},
            max_msg_size=0,
            compress=15 if job["deflate"] else 0,
            autoping=False,
        ) as ws:
            await ws.send_str(json.dumps({"type": "subscribe", "scope": "site", "id": job["site_id"]}))
            await ws.receive()  # the snapshot
            await ready.put(item=True)
            async for message in ws:
                arrived = time.time()
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                head = DELTA_HEAD.match(message.data, 0, 200)
                if head is not None:
                    receipts.setdefault(int(head.group(1)), []).append(arrived)
    except (OSError, aiohttp.ClientError, TimeoutError):
        await ready.put(item=False)


async def _client(job: dict[str, Any]) -> None:
    _raise_fd_limit()
    receipts: dict[int, list[float]] = {}
    ready: asyncio.Queue[bool] = asyncio.Queue()
    gate = asyncio.Semaphore(50)  # handshakes in flight: a burst of 1,000 would only queue in the server
    tasks: list[asyncio.Task[None]] = []

    async def one() -> None:
        async with gate:
            task = asyncio.create_task(_socket(session, job, receipts, ready))
            tasks.append(task)
            await ready.get()

    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(
        connector=connector, headers={"Cookie": job["cookie"]}, timeout=aiohttp.ClientTimeout(total=None, connect=60)
    )
    opened_at = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(job["sockets"])))
    alive = sum(1 for task in tasks if not task.done())
    print(json.dumps({"ready": alive, "open_s": round(time.perf_counter() - opened_at, 1)}), flush=True)
    loop = asyncio.get_running_loop()
    last_seq = int(await loop.run_in_executor(None, sys.stdin.readline) or 0)
    deadline = time.monotonic() + 30
    while len(receipts.get(last_seq, [])) < alive and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    print(json.dumps({"receipts": {str(seq): times for seq, times in receipts.items()}}), flush=True)


# --- The client process: pollers --------------------------------------------------------------------


async def _poller(
    session: aiohttp.ClientSession, job: dict[str, Any], seen: list[tuple[str, float]], stop: asyncio.Event
) -> None:
    period = job["period_s"]
    due = time.monotonic() + random.random() * period  # noqa: S311  # spreading load, not security
    last = b""
    while not stop.is_set():
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        due = max(due + period, time.monotonic())
        try:
            async with session.get(job["poll_url"]) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            continue
        arrived = time.time()
        found = RECORDED_AT.search(body, 0, 2000)  # the summary comes first; its recorded_at is the newest
        if found is not None and found.group(1) != last:
            last = found.group(1)
            seen.append((last.decode(), arrived))


async def _pollers(job: dict[str, Any]) -> None:
    _raise_fd_limit()
    stop = asyncio.Event()
    seen: list[list[tuple[str, float]]] = [[] for _ in range(job["pollers"])]
    connector = aiohttp.TCPConnector(limit=job["pollers"])
    headers = {"Cookie": job["cookie"]}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:
        tasks = [asyncio.create_task(_poller(session, job, seen[i], stop)) for i in range(job["pollers"])]
        print(json.dumps({"ready": len(tasks)}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"seen": seen}), flush=True)


def _client_main(role: str) -> None:
    job = json.loads(sys.stdin.readline())
    uvloop.run(_client(job) if role == "sockets" else _pollers(job))


# --- The bench process ------------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


class Child:
    """A client process of this script, spoken to in JSON lines over its stdin and stdout."""

    def __init__(self, role: str, job: dict[str, Any]) -> None:
        self.role = role
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--client", role],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._write(json.dumps(job))

    def _write(self, line: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None  # noqa: S101  # opened with a pipe
        stdin.write(line + "\n")
        stdin.flush()

    def read(self) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None  # noqa: S101  # opened with a pipe
        line = stdout.readline()
        if not line:
            raise SystemExit(f"the {self.role} client exited with {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def finish(self, line: str) -> dict[str, Any]:
        self._write(line)
        answer = self.read()
        self.process.wait(timeout=60)
        return answer

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _bench_main() -> None:
    args = _arguments()
    _django.setup()

    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.db import connection, transaction
    from django.db.migrations.executor import MigrationExecutor
    from django.test import Client, override_settings
    from django.utils import timezone
    from django_redis import get_redis_connection

    from calculator.models import MinerModel
    from crm.models import Customer
    from hosting.choices import Firmware, MinerStatus, PollOutcome
    from hosting.live.publish import live_collection_publish
    from hosting.models import Miner, Site
    from hosting.services.telemetry_ingest import telemetry_store
    from hosting.telemetry_rows import TelemetryRow
    from mining_platform.core.choices import Role
    from mining_platform.core.models import User

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise SystemExit("the database is not migrated; run manage.py migrate first")
    _raise_fd_limit()
    pid = os.getpid()
    prefix = f"mp-bench-ws-{pid}:"
    # The server derives its channel layer's prefix from REDIS_KEY_PREFIX; this process must match it.
    layer: dict[str, Any] = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"{prefix}asgi"}
    prefixed = override_settings(REDIS_KEY_PREFIX=prefix, CHANNEL_LAYERS={"default": layer})
    prefixed.enable()
    model = MinerModel.objects.get(model=MODEL)
    site = Site.objects.create(
        name=f"Fan-out bench {pid}",
        power_capacity_kw=Decimal(args.miners * 3.5),
        energy_price_usd_per_kwh=Decimal("0.05"),
    )
    customers = [
        Customer.objects.create(name=f"Fan-out bench {pid} client {i}", billing_email=f"c{i}-{pid}@bench.invalid")
        for i in range(CUSTOMERS)
    ]
    miners = Miner.objects.bulk_create(
        Miner(
            site=site,
            customer=customers[i % CUSTOMERS],
            miner_model=model,
            rack=f"R{i // MINERS_PER_RACK + 1:02d}",
            position=f"{i % MINERS_PER_RACK + 1:02d}",
            ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            firmware=Firmware.ANTMINER_STOCK,
            status=MinerStatus.ONLINE,
            nominal_hashrate_ths=model.hashrate_ths,
            nominal_power_w=model.power_w,
        )
        for i in range(args.miners)
    )
    miner_ids = [m.pk for m in miners]
    user = User.objects.create_user(email=f"fanout-bench-{pid}@bench.invalid", role=Role.HOST)
    browser = Client()
    browser.force_login(user)
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"

    publish_ms: list[float] = []

    def store(moment: datetime) -> tuple[float, int]:
        """One collection-like store: every miner's reading in one transaction, then the live push."""
        rows = [
            TelemetryRow(
                miner_id=miner_id,
                recorded_at=moment,
                site_id=site.pk,
                outcome=PollOutcome.OK,
                hashrate_ths=round(float(model.hashrate_ths) * random.uniform(0.9, 1.05), 2),  # noqa: S311
                hashrate_avg_ths=float(model.hashrate_ths),
                power_w=model.power_w + random.randint(-60, 60),  # noqa: S311
                board_temp_max_c=round(random.uniform(55, 70), 1),  # noqa: S311
                chip_temp_max_c=round(random.uniform(65, 82), 1),  # noqa: S311
                fan_rpm_min=5400,
                fan_rpm_max=5800,
                boards_alive=3,
                accepted_shares=1000,
                rejected_shares=3,
                hardware_errors=12,
                elapsed_s=86400,
                is_sleeping=False,
            )
            for miner_id in miner_ids
        ]
        with transaction.atomic(durable=True):
            telemetry_store(rows=rows)
        committed = time.time()
        # What the collection's on_commit callback does, called here so the commit time is known.
        published = live_collection_publish(site_id=site.pk, miner_ids=miner_ids)
        publish_ms.append((time.time() - committed) * 1000)
        return committed, published.seqs[f"site:{site.pk}"]

    port = free_port()
    env = {**os.environ, "WEB_PORT": str(port), "WEB_WORKERS": "1", "REDIS_KEY_PREFIX": prefix}
    env.setdefault("DJANGO_DEBUG", "false")
    log_path = Path(tempfile.gettempdir()) / f"websocket-fanout-bench-{pid}.log"
    server: subprocess.Popen[bytes] | None = None
    children: list[Child] = []
    base_url = f"http://127.0.0.1:{port}"
    job = {
        "ws_url": f"ws://127.0.0.1:{port}{LIVE_PATH}",
        "poll_url": f"{base_url}{SNAPSHOT_PATH}?scope=site&id={site.pk}",
        "origin": base_url,
        "cookie": cookie,
        "site_id": site.pk,
        "sockets": args.sockets,
        "pollers": args.pollers,
        "period_s": 1.0,
        "deflate": args.deflate,
    }
    try:
        store(timezone.now())  # the site has readings before anyone looks
        server = start_server(procfile_web(), env, log_path)
        # bash and then env exec: the started process is uvicorn itself (one worker runs in-process).
        wait_ready(base_url, server, log_path)
        _warm_up(job)
        rss_before = _rss_kb(server.pid)

        sockets = Child("sockets", job)
        children.append(sockets)
        opened = sockets.read()
        rss_after = _rss_kb(server.pid)
        marks: dict[int, float] = {}
        for _ in range(args.stores):
            time.sleep(args.interval)
            committed, seq = store(timezone.now())
            marks[seq] = committed
        receipts = sockets.finish(str(max(marks)))["receipts"]
        delays = [
            (arrived - marks[int(seq)]) * 1000
            for seq, times in receipts.items()
            if int(seq) in marks
            for arrived in times
        ]
        expected = opened["ready"] * len(marks)

        pollers = Child("pollers", job)
        children.append(pollers)
        pollers.read()
        time.sleep(2.0)  # every poller has the current state
        poll_marks: dict[datetime, float] = {}
        for _ in range(args.poll_stores):
            moment = timezone.now()
            committed, _seq = store(moment)
            poll_marks[moment] = committed
            time.sleep(args.poll_interval)
        time.sleep(1.5)
        seen = pollers.finish("stop")["seen"]
        # PostgreSQL writes timestamps with trailing zeros of the fraction trimmed: compare them as times.
        baseline = [
            (arrived - poll_marks[moment]) * 1000
            for one in seen
            for stamp, arrived in one
            if (moment := datetime.fromisoformat(stamp)) in poll_marks
        ]
        baseline_expected = args.pollers * len(poll_marks)
    finally:
        for child in children:
            child.kill()
        if server is not None:
            stop_server(server)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM miner_telemetry WHERE site_id = %s", [site.pk])
        Miner.objects.filter(site=site).delete()
        site.delete()
        Customer.objects.filter(pk__in=[c.pk for c in customers]).delete()
        Session.objects.filter(session_key=session_key).delete()
        user.delete()
        redis = get_redis_connection("default")
        keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
        prefixed.disable()
    log_path.unlink(missing_ok=True)

    p50 = _percentile(delays, 50)
    baseline_p50 = _percentile(baseline, 50)
    print(
        json.dumps(
            {
                "bench": "websocket_fanout",
                "sockets": opened["ready"],
                "sockets_asked": args.sockets,
                "permessage_deflate": args.deflate,
                "miners": args.miners,
                "stores": len(marks),
                "deliveries": len(delays),
                "missed": expected - len(delays),
                "p50_ms": p50,
                "p90_ms": _percentile(delays, 90),
                "p99_ms": _percentile(delays, 99),
                "max_ms": round(max(delays), 1) if delays else None,
                "open_s": opened["open_s"],
                # Commit to the last group message sent: rows and summaries read, payloads encoded and stored.
                "publish_p50_ms": _percentile(publish_ms, 50),
                "memory_kb_per_socket": round((rss_after - rss_before) / max(opened["ready"], 1), 1),
                "server_rss_mb": [round(rss_before / 1024, 1), round(rss_after / 1024, 1)],
                "baseline": f"{args.pollers} clients polling GET {SNAPSHOT_PATH} every 1 s",
                "baseline_pollers": args.pollers,
                "baseline_stores": len(poll_marks),
                "baseline_missed": baseline_expected - len(baseline),
                "baseline_p50_ms": baseline_p50,
                "baseline_p99_ms": _percentile(baseline, 99),
                "ratio": None if not p50 or baseline_p50 is None else round(baseline_p50 / p50, 2),
                "ratio_of": "baseline_p50_ms / p50_ms",
            }
        )
    )


def _warm_up(job: dict[str, Any]) -> None:
    """One snapshot over HTTP and one over a websocket: the server's imports and pools are in place."""
    import httpx
    from websockets.sync.client import connect

    httpx.get(job["poll_url"], headers={"Cookie": job["cookie"]}, timeout=30.0).raise_for_status()
    headers = {"Cookie": job["cookie"], "Origin": job["origin"]}
    with connect(job["ws_url"], additional_headers=headers, max_size=None, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "subscribe", "scope": "site", "id": job["site_id"]}))
        ws.recv(timeout=30)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sockets", type=int, default=1000, help="websockets on the one server process")
    parser.add_argument("--miners", type=int, default=1000, help="miners of the bench site")
    parser.add_argument("--stores", type=int, default=10, help="stores while the websockets listen")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between those stores")
    parser.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate, as browsers do (compressed per socket)"
    )
    parser.add_argument("--pollers", type=int, default=50, help="clients polling the snapshot once a second")
    parser.add_argument("--poll-stores", type=int, default=10, help="stores while the pollers poll")
    parser.add_argument("--poll-interval", type=float, default=1.3, help="seconds between those stores")
    return parser.parse_args()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        _client_main(sys.argv[2])
    else:
        _bench_main()
