"""The web server the benches measure: the Procfile's own `web` command, started and stopped around a run."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def procfile_web() -> str:
    """The command `make demo` runs as its web process."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return command.strip()
    raise SystemExit("the Procfile has no web command")


def start_server(command: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        # exec: the shell expands ${WEB_PORT:-8000} as honcho's would, then becomes the server (one pid).
        return subprocess.Popen(
            ["/bin/bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(base_url: str, server: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 60.0) -> None:
    """Until /healthz answers at all: 503 (no Celery worker running) still means the server is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            httpx.get(f"{base_url}/healthz", timeout=5.0)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        return
    raise SystemExit(f"the server did not answer /healthz within {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
