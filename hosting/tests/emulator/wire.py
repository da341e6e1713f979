"""Plain-socket helpers for emulator tests: one request, everything the miner sends back."""

from __future__ import annotations

import json
import socket
from typing import Any

from hosting.emulator.spec import RPC_PORT


def exchange(address: str, payload: bytes, *, timeout: float = 5.0, source: str | None = None) -> bytes:
    """Send one request and read until the miner closes (the NUL, if any, stays in the bytes)."""
    with socket.create_connection(
        (address, RPC_PORT), timeout=timeout, source_address=(source, 0) if source else None
    ) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def reads(address: str, payload: bytes, *, timeout: float = 5.0) -> list[bytes]:
    """Like `exchange`, but keeps each read separately (to see a reply arrive in pieces)."""
    with socket.create_connection((address, RPC_PORT), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return chunks


def rpc(address: str, command: str, parameter: str | None = None) -> Any:
    """A JSON request, the reply parsed after stripping its NUL (and the S9 `}{` repaired, Q2)."""
    body: dict[str, str] = {"command": command}
    if parameter is not None:
        body["parameter"] = parameter
    raw = exchange(address, json.dumps(body).encode())
    assert raw.endswith(b"\x00"), raw[-40:]
    text = raw[:-1].decode()
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(text.replace("}{", "},{"))
