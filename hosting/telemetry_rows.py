"""The shape of one telemetry row as the poller hands it to storage."""

from dataclasses import dataclass
from datetime import datetime

# Column order of miner_telemetry as written by COPY; TelemetryRow.as_tuple follows it.
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


@dataclass(frozen=True, slots=True)
class TelemetryRow:
    """One poll of one miner: the outcome, and the readings when the poll succeeded."""

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

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.miner_id,
            self.recorded_at,
            self.site_id,
            self.outcome,
            self.hashrate_ths,
            self.hashrate_avg_ths,
            self.power_w,
            self.board_temp_max_c,
            self.chip_temp_max_c,
            self.fan_rpm_min,
            self.fan_rpm_max,
            self.boards_alive,
            self.accepted_shares,
            self.rejected_shares,
            self.hardware_errors,
            self.elapsed_s,
            self.is_sleeping,
        )
