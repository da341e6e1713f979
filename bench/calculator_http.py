"""Single calculation through the real ASGI server: the cached quote at a fixed 300 requests/s, cold, and the
calculate API.

The server is the Procfile's `web` command (or `--server-cmd`), started on a free loopback port against
the normal database, with its own Redis key prefix so its caches can be cleared without touching a
running demo. Then:

- quote, cached: the same GET /api/v1/calculator/quote (a catalogue model and typical tariffs), anonymous
  as a public page's visitor, open loop at `--rate` requests/s for `--duration` seconds after a warm-up,
  from bench/_loadgen.py in its own process (one event loop, keep-alive pool); latency counts from each
  request's scheduled send time, so a stall is never hidden. The anonymous throttle runs on every request
  with a limit raised so it never refuses (QUOTE_RATE);
- quote, cold: the same request one at a time, every cache key of the server's prefix (the cache
  manager's entries, the calculator's results, the throttle's counters) deleted before each one;
- calculate: POST /api/v1/calculator/calculate with the API key of a bench user (authentication and the
  per-key throttle, raised the same way, run on every request), open loop at `--calculate-rate`, a rate
  it sustains: it writes its row synchronously, which is why the quote exists;
- history: while the load runs, a thread of this process runs the history flush every
  CALCULATOR_HISTORY_FLUSH_SECONDS, as the Procfile's Celery worker would, so the deferred inserts share
  the two cores with the server (`--no-flush` leaves them all to the end); what is left is flushed at the
  end, timed.

The bench user, its key and calculations, and the quotes' rows are deleted afterwards, and so are the
prefix's keys. The last line is one JSON object with the figures; ratio = cold_p50_ms / p50_ms (the quote).
"""

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import _django
from _server import free_port, percentile, procfile_web, start_server, stop_server, wait_ready

_django.setup()

import httpx
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.models import PriceCandle
from analytics.selectors import REPLAY_SOURCE
from calculator.models import CalculationHistory, MinerModel
from calculator.services.history_buffer import calculation_history_flush
from mining_platform.core.choices import ApiScope, Role
from mining_platform.core.locks import JobLockedError
from mining_platform.core.models import User
from mining_platform.core.services.api_keys import api_key_issue

ROOT = Path(__file__).resolve().parent.parent
QUOTE_PATH = "/api/v1/calculator/quote"
CALCULATE_PATH = "/api/v1/calculator/calculate"
MODEL = "Antminer S19 Pro"
# Typical inputs of a hosted miner: 6 cents a kWh, a 2 % pool, 97 % uptime, a one-year projection.
INPUTS = {
    "electricity_usd_per_kwh": "0.06",
    "pool_fee_pct": "2",
    "uptime_pct": "97",
    "hardware_cost_usd": "1800",
    "horizon_days": "365",
}
# Limits high enough never to refuse the bench, so each throttle's own cost is measured and nothing else.
QUOTE_RATE = "100000/s"
THROTTLE_RATE = "1000/s"  # DRF keeps one timestamp per request in the window: a second's keeps it short


@dataclass(frozen=True)
class Target:
    """One request the bench repeats, and the status that counts as answered."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    expect: int

    def job(self, **extra: object) -> dict[str, object]:
        """A job for bench/_loadgen.py."""
        job = {"method": self.method, "url": self.url, "headers": self.headers, "body": self.body}
        return {**job, "expect_status": self.expect, "uid_after": UID_AFTER, **extra}


# A quote's answer starts with its uid: the bench notes each one, to delete the history rows it made.
UID_AFTER = '{"uid":"'
quote_uids: set[str] = set()


def _note_uid(content: bytes) -> None:
    if content.startswith(UID_AFTER.encode()):
        quote_uids.add(content[len(UID_AFTER) : len(UID_AFTER) + 36].decode())


def _server_name(command: str) -> str:
    words = shlex.split(command)
    while words and (words[0] == "env" or "=" in words[0]):
        words = words[1:]  # `env NAME=value server ...`
    # `python -m uvicorn ...` names its server after -m.
    return words[words.index("-m") + 1] if "-m" in words else Path(words[0]).name


def _process_table() -> dict[int, tuple[int, str, float]]:
    """Every live process: its parent, its command name and its user plus system CPU seconds."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        table[int(stat.parent.name)] = (int(fields[1]), name, seconds)
    return table


def _cpu_seconds(*, root_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server's process tree (it and its workers), PostgreSQL and Redis."""
    table = _process_table()
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return {
        "server": sum(table[pid][2] for pid in tree if pid in table),
        # Every backend counts, other databases' too: on a shared machine this is an upper bound.
        "postgres": sum(seconds for _, name, seconds in table.values() if name == "postgres"),
        "redis": sum(seconds for _, name, seconds in table.values() if name.startswith("redis-server")),
    }


def _machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks


def _clear_caches(prefix: str) -> int:
    """Delete the server's Redis keys but the history buffer (rows to store) and job locks: not caches."""
    redis = get_redis_connection("default")
    kept = {f"{prefix}calculator:history:buffer".encode(), f"{prefix}calculator:history:processing".encode()}
    keys = [
        key
        for key in redis.scan_iter(match=f"{prefix}*", count=1000)
        if key not in kept and not key.startswith(f"{prefix}lock:".encode())
    ]
    if keys:
        redis.delete(*keys)
    return len(keys)


def _clear_prefix(prefix: str) -> None:
    redis = get_redis_connection("default")
    keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis.delete(*keys)


def _sequential(*, target: Target, count: int, clear: str = "") -> list[float]:
    """Latencies (ms) of `count` requests one at a time; with `clear`, that prefix's caches go before each."""
    latencies = []
    with httpx.Client(timeout=30.0) as client:
        for _ in range(count):
            if clear:
                _clear_caches(clear)
            started = time.perf_counter()
            response = client.request(target.method, target.url, content=target.body, headers=target.headers)
            latencies.append((time.perf_counter() - started) * 1000)
            _note_uid(response.content)
            if response.status_code != target.expect:
                raise SystemExit(f"{target.method} {target.url} answered {response.status_code}: {response.text[:500]}")
    return latencies


def _drain(*, target: Target, usual_ms: float) -> float:
    """After an overload the server still works through requests the generator gave up on: wait it out.

    Returns the seconds it took until five requests in a row answered within three times `usual_ms`.
    """
    started = time.monotonic()
    quick = 0
    with httpx.Client(timeout=60.0) as client:
        while quick < 5 and time.monotonic() - started < 180.0:
            sent = time.perf_counter()
            _note_uid(client.request(target.method, target.url, content=target.body, headers=target.headers).content)
            quick = quick + 1 if (time.perf_counter() - sent) * 1000 < 3 * usual_ms else 0
    return time.monotonic() - started


def _load(job: dict[str, object]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "_loadgen.py")],
        input=json.dumps(job).encode(),
        capture_output=True,
        check=False,
        timeout=float(str(job["warmup_s"])) + float(str(job["duration_s"])) + 120,
    )
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def _loaded(*, server_pid: int, job: dict[str, object]) -> dict[str, object]:
    """One open-loop phase, with where the two cores went meanwhile (warm-up included)."""
    cpu_before = _cpu_seconds(root_pid=server_pid)
    busy_before, total_before = _machine_busy_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = _load(job)
    answered_uids = load["uids"]
    if isinstance(answered_uids, list):
        quote_uids.update(str(uid) for uid in answered_uids)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after, total_after = _machine_busy_seconds()
    cpu_after = _cpu_seconds(root_pid=server_pid)
    answered = max(int(str(load["answered_with_warmup"])), 1)
    loadgen_s = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    return {
        "rate": job["rate"],
        "rps": load["rps"],
        "p50_ms": load["p50_ms"],
        "p90_ms": load["p90_ms"],
        "p99_ms": load["p99_ms"],
        "max_ms": load["max_ms"],
        "errors": load["errors"],
        "statuses": load["statuses"],
        "max_send_lag_ms": load["max_send_lag_ms"],
        # The server's process tree, PostgreSQL and Redis per request answered, the generator's own CPU per
        # request, and the whole machine's busy share (other work on the machine shows there).
        **{
            f"{part}_cpu_ms_per_request": round(1000 * (cpu_after[part] - cpu_before[part]) / answered, 2)
            for part in ("server", "postgres", "redis")
        },
        "loadgen_cpu_ms_per_request": round(1000 * loadgen_s / answered, 2),
        "machine_busy_pct": round(100 * (busy_after - busy_before) / max(total_after - total_before, 1e-9), 1),
        "answered_with_warmup": load["answered_with_warmup"],
    }


class Flusher(threading.Thread):
    """The Celery worker's share of the quotes: the history flush every few seconds while the load runs.

    Runs in this process (the generator is a process of its own), on the server's key prefix, which the
    bench holds in its settings for the whole run. `cpu_s` is this thread's CPU inside the flushes.
    """

    def __init__(self, *, every_s: float, batch_rows: int) -> None:
        super().__init__(daemon=True)
        self.every_s, self.batch_rows = every_s, batch_rows
        self.stop = threading.Event()
        self.rows = 0
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self.failure: BaseException | None = None

    def flush_all(self) -> None:
        """Flush until the buffer is empty."""
        while True:
            started, started_wall = time.thread_time(), time.perf_counter()
            try:
                flush = calculation_history_flush(batch_rows=self.batch_rows, max_batches=10)
            except JobLockedError:
                return
            self.cpu_s += time.thread_time() - started
            self.wall_s += time.perf_counter() - started_wall
            self.rows += flush.inserted
            if not flush.remaining:
                return

    def run(self) -> None:
        try:
            while not self.stop.wait(self.every_s):
                self.flush_all()
        except BaseException as error:  # noqa: BLE001  # reported by the main thread, which stops the run
            self.failure = error
        finally:
            close_old_connections()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second, cached quote")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds, each loaded phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the rate before measuring")
    parser.add_argument("--cold-count", type=int, default=150, help="sequential cold quotes")
    parser.add_argument("--calculate-rate", type=float, default=50.0, help="requests per second, calculate API")
    parser.add_argument("--skip-calculate", action="store_true", help="measure the quote only")
    parser.add_argument("--no-flush", action="store_true", help="no history flush while the load runs")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections of the generator")
    parser.add_argument(
        "--server-cmd",
        default=None,
        help="the server command instead of the Procfile's web one; ${WEB_PORT} is the port",
    )
    parser.add_argument("--label", default=None, help="a name for this configuration in the JSON")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        # The bench user's rows are deleted through the models: every table must exist first.
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in pending)
        raise SystemExit(f"the database is not migrated ({names}); run manage.py migrate first")
    if not PriceCandle.objects.filter(source=REPLAY_SOURCE).exists():
        call_command("load_market_history", stdout=sys.stderr)
    model = MinerModel.objects.get(model=MODEL)
    query = urlencode({"miner_model_id": model.pk, **INPUTS})
    body = json.dumps({"miner_model_id": model.pk, **INPUTS, "horizon_days": int(INPUTS["horizon_days"])})

    prefix = f"mp-bench-http-{os.getpid()}:"
    user = User.objects.create_user(email=f"calculator-bench-{os.getpid()}@bench.invalid", role=Role.CLIENT)
    command = args.server_cmd or procfile_web()
    port = free_port()
    env = {
        **os.environ,
        "WEB_PORT": str(port),
        "REDIS_KEY_PREFIX": prefix,
        "CALCULATOR_QUOTE_RATE_ANON": QUOTE_RATE,
        "API_RATE_LIMIT_KEY": THROTTLE_RATE,
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "false"),
    }
    log_path = Path(tempfile.gettempdir()) / f"calculator-http-bench-{os.getpid()}.log"
    load_before = os.getloadavg()
    server = None
    calculate: dict[str, object] | None = None
    flusher = Flusher(
        every_s=settings.CALCULATOR_HISTORY_FLUSH_SECONDS, batch_rows=settings.CALCULATOR_HISTORY_FLUSH_ROWS
    )
    # The history flush (here and in the flusher thread) works on the server's keys.
    prefixed = override_settings(REDIS_KEY_PREFIX=prefix)
    prefixed.enable()
    try:
        issued = api_key_issue(
            owner=user, name="calculator bench", scopes=[ApiScope.MARKET_READ], expires_at=None, now=timezone.now()
        )
        api_headers = {"Authorization": f"Api-Key {issued.raw_key}", "Content-Type": "application/json"}
        server = start_server(command, env, log_path)
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, server, log_path)
        phase = {"warmup_s": args.warmup, "duration_s": args.duration, "connections": args.connections}
        quoted = Target("GET", f"{base_url}{QUOTE_PATH}?{query}", {}, None, 200)

        _sequential(target=quoted, count=50)  # imports, connections, caches filled
        quote_seq = _sequential(target=quoted, count=200)
        if not args.no_flush:
            flusher.start()
        quote = _loaded(server_pid=server.pid, job=quoted.job(rate=args.rate, timeout_s=10.0, **phase))
        drain_s = _drain(target=quoted, usual_ms=max(statistics.median(quote_seq), 5.0))
        cold = _sequential(target=quoted, count=args.cold_count, clear=prefix)

        if not args.skip_calculate:
            saved = Target("POST", base_url + CALCULATE_PATH, api_headers, body, 201)
            _sequential(target=saved, count=20)
            calculate_seq = _sequential(target=saved, count=100)
            calculate = _loaded(server_pid=server.pid, job=saved.job(rate=args.calculate_rate, timeout_s=10.0, **phase))
            calculate["sequential_p50_ms"] = round(statistics.median(calculate_seq), 2)
            calculate["drain_s"] = round(_drain(target=saved, usual_ms=max(statistics.median(calculate_seq), 5.0)), 1)
    finally:
        if server is not None:
            stop_server(server)
        flusher.stop.set()
        if flusher.is_alive():
            flusher.join()
        try:
            during = flusher.rows
            flusher.flush_all()  # what the load left in the buffer
        finally:
            deleted_quotes, _ = CalculationHistory.objects.filter(uid__in=quote_uids).delete()
            deleted_rows, _ = CalculationHistory.objects.filter(user=user).delete()
            user.delete()
            _clear_prefix(prefix)
            prefixed.disable()
    log_path.unlink(missing_ok=True)
    if flusher.failure is not None:
        raise SystemExit(f"the history flush failed: {flusher.failure!r}")

    cold_p50 = statistics.median(cold)
    p50 = None if quote["p50_ms"] is None else float(str(quote["p50_ms"]))
    seq_p50 = statistics.median(quote_seq)
    print(
        json.dumps(
            {
                "bench": "calculator_http",
                "server": _server_name(command),
                "label": args.label or _server_name(command),
                "endpoint": f"GET {QUOTE_PATH}",
                **{key: value for key, value in quote.items() if key != "answered_with_warmup"},
                "duration_s": args.duration,
                "drain_s": round(drain_s, 1),
                "sequential_p50_ms": round(seq_p50, 2),
                "sequential_p99_ms": round(percentile(quote_seq, 99), 2),
                "cold_p50_ms": round(cold_p50, 2),
                "cold_p99_ms": round(percentile(cold, 99), 2),
                "cold_requests": len(cold),
                "ratio": None if p50 is None else round(cold_p50 / p50, 2),
                "ratio_of": "cold_p50_ms / p50_ms (the quote, cached, at the rate)",
                "ratio_sequential": round(cold_p50 / seq_p50, 2),
                # The quotes' history rows: flushed while the load ran (every CALCULATOR_HISTORY_FLUSH_SECONDS,
                # as the worker would), then the rest at once; the flush's own CPU per row (PostgreSQL's work
                # shows in postgres_cpu_ms_per_request).
                "history_rows": flusher.rows,
                "quotes_answered": len(quote_uids),
                "history_rows_flushed_during_load": during,
                "history_flush_cpu_ms_per_row": round(1000 * flusher.cpu_s / max(flusher.rows, 1), 3),
                "history_flush_rows_per_s": round(flusher.rows / flusher.wall_s) if flusher.wall_s else None,
                "history_rows_left_at_the_end": flusher.rows - during,
                "calculate": calculate,
                "loadavg_before": [round(value, 2) for value in load_before],
                "loadavg_after": [round(value, 2) for value in os.getloadavg()],
                "rows_deleted": deleted_quotes + deleted_rows,
            }
        )
    )


if __name__ == "__main__":
    main()
