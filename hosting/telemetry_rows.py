"""The shape of one telemetry row as the poller hands it to storage."""

from datetime import datetime
from typing import NamedTuple

# Column order of miner_telemetry as written by COPY; TelemetryRow's fields follow it.
TELEMETRY_COLUMNS: tuple[str, ...] = (
    "miner_id",
    "recorded_at",
    "site_id",
    "outcome",
    "hashrate_ths",
    "hashrate_avg_ths",
    "power_w",
    "board_temp_max_c",
    "chip_temp_max_c",
    "fan_rpm_min",
    "fan_rpm_max",
    "boards_alive",
    "accepted_shares",
    "rejected_shares",
    "hardware_errors",
    "elapsed_s",
    "is_sleeping",
)

# PostgreSQL types of those columns, for binary COPY (four times faster to encode than text).
TELEMETRY_TYPES: tuple[str, ...] = (
    "int8",
    "timestamptz",
    "int8",
    "varchar",
    "float8",
    "float8",
    "int4",
    "float8",
    "float8",
    "int4",
    "int4",
    "int2",
    "int8",
    "int8",
    "int8",
    "int8",
    "bool",
)


class TelemetryRow(NamedTuple):
    """One poll of one miner: the outcome, and the readings when the poll succeeded.

    A NamedTuple in COPY column order, so a row goes to `copy.write_row` as it is: building a tuple
    per row cost more than a fifth of the write.
    """

    miner_id: int
    recorded_at: datetime
    site_id: int
    outcome: str
    hashrate_ths: float | None = None
    hashrate_avg_ths: float | None = None
    power_w: int | None = None
    board_temp_max_c: float | None = None
    chip_temp_max_c: float | None = None
    fan_rpm_min: int | None = None
    fan_rpm_max: int | None = None
    boards_alive: int | None = None
    accepted_shares: int | None = None
    rejected_shares: int | None = None
    hardware_errors: int | None = None
    elapsed_s: int | None = None
    is_sleeping: bool | None = None


assert TelemetryRow._fields == TELEMETRY_COLUMNS  # noqa: S101  # the COPY column list and the row must agree
