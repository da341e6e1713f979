"""The real ASGI server (uvicorn, as the Procfile runs it) in a child process, on this test's database.

Live pages need what pytest-django's threaded WSGI live server cannot give: websockets through Channels.
The child uses the test settings with this process's database name and Redis key prefix, so it sees
what a transactional test commits and shares its channel layer.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class AsgiServer:
    """One uvicorn process serving the project; `restart()` stops it and starts a new one on the same port."""

    def __init__(self, *, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="mining_platform.settings.test",
            DATABASE_URL=_database_url(),
            PYTEST_XDIST_WORKER=os.environ.get("PYTEST_XDIST_WORKER", "main"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        return env

    def start(self, *, timeout_s: float = 30.0) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "mining_platform.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",
            "--lifespan",
            "off",
            "--no-access-log",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=2.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            return
        raise RuntimeError(f"uvicorn did not answer within {timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@contextmanager
def asgi_server(*, log_path: Path) -> Iterator[AsgiServer]:
    server = AsgiServer(log_path=log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
