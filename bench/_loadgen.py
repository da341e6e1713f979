"""Open-loop HTTP load generator: one process, one event loop, a pool of keep-alive connections.

Run as `python bench/_loadgen.py` with a JSON job on stdin; prints one JSON object with the results.
Requests are sent at fixed scheduled times (request i at start + i / rate) whatever the server does,
and each latency runs from the scheduled time to the last byte of the answer, so a stall on the
server (or in this process) shows in the figures instead of silently slowing the send rate down.
The first `warmup_s` seconds are sent at the same rate but left out of the figures.
"""

import asyncio
import json
import sys
import time
from collections import Counter
from typing import TypedDict

import aiohttp
import uvloop


class Job(TypedDict):
    method: str  # GET or POST
    url: str
    headers: dict[str, str]
    body: str | None
    rate: float
    warmup_s: float
    duration_s: float
    connections: int
    expect_status: int
    timeout_s: float
    uid_after: str | None  # answers starting with this text have a 36-character uid right after it


class _Outcome(TypedDict):
    index: int
    latency_s: float
    done_at: float
    status: int  # 0 when the request failed without an answer (timeout, reset)
    uid: str | None


def _percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list, rounded to 0.01 ms; None for an empty list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return round(sorted_values[rank - 1], 2)


async def _one(
    session: aiohttp.ClientSession, job: Job, index: int, scheduled: float, outcomes: list[_Outcome]
) -> None:
    status = 0
    body = b""
    try:
        async with session.request(job["method"], job["url"], data=job["body"], headers=job["headers"]) as response:
            body = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        status = 0
    done = time.perf_counter()
    uid = None
    marker = job.get("uid_after")
    if marker and body.startswith(marker.encode()):
        uid = body[len(marker) : len(marker) + 36].decode()
    outcomes.append({"index": index, "latency_s": done - scheduled, "done_at": done, "status": status, "uid": uid})


async def _run(job: Job) -> dict[str, object]:
    rate = job["rate"]
    warmup = round(job["warmup_s"] * rate)
    total = warmup + round(job["duration_s"] * rate)
    connector = aiohttp.TCPConnector(limit=job["connections"], force_close=False, keepalive_timeout=30)
    timeout = aiohttp.ClientTimeout(total=job["timeout_s"])
    outcomes: list[_Outcome] = []
    tasks: set[asyncio.Task[None]] = set()
    max_send_lag = 0.0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter() + 0.05
        for index in range(total):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            max_send_lag = max(max_send_lag, time.perf_counter() - scheduled)
            task = asyncio.create_task(_one(session, job, index, scheduled, outcomes))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)
    measured = [o for o in outcomes if o["index"] >= warmup]
    ok = sorted(o["latency_s"] * 1000 for o in measured if o["status"] == job["expect_status"])
    statuses = Counter(str(o["status"]) for o in measured)
    window_start = start + warmup / rate
    window_end = max((o["done_at"] for o in measured), default=window_start)
    return {
        "sent": len(measured),
        "answered_with_warmup": sum(1 for o in outcomes if o["status"] != 0),
        "ok": len(ok),
        "errors": len(measured) - len(ok),
        "statuses": dict(statuses),
        "rps": round(len(ok) / max(window_end - window_start, 1e-9), 1),
        "p50_ms": _percentile(ok, 50),
        "p90_ms": _percentile(ok, 90),
        "p99_ms": _percentile(ok, 99),
        "max_ms": round(ok[-1], 2) if ok else None,
        # How late this process itself sent a request: a large lag means the generator, not the server, fell behind.
        "max_send_lag_ms": round(max_send_lag * 1000, 2),
        "uids": [o["uid"] for o in outcomes if o["uid"] is not None],
    }


def main() -> None:
    text = "" if sys.stdin.isatty() else sys.stdin.read()
    if not text.strip():
        # `make bench` runs every bench/*.py; this one only serves bench/calculator_http.py.
        print(
            "bench/_loadgen.py: the load generator of bench/calculator_http.py; give it a JSON job on stdin",
            file=sys.stderr,
        )
        return
    job: Job = json.loads(text)
    # uvloop (a requirement of the platform) keeps this process's share of the two cores small.
    result = uvloop.run(_run(job))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
