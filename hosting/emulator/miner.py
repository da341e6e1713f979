"""One emulated miner's physics: hashrate, temperatures, fans, power and shares as functions of time.

State changes (sleep, wake, faults, power limits) start a new segment. Within a segment hashrate moves
linearly from its value at the change to the new target over a ramp, and each board's temperature rise
over ambient relaxes exponentially towards its target, so every reading is a closed-form function of
the clock: two reads at the same instant agree, and tests can move a manual clock instead of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hosting.emulator import rng
from hosting.emulator.catalog import ModelSpec, Personality
from hosting.emulator.faults import NETWORK_FAULTS, Fault, FaultKind
from hosting.emulator.spec import MinerSpec

THERMAL_TAU_S = 120.0  # boards reach ~95 % of a new temperature after six minutes
WAKE_RAMP_S = 30.0  # chips ramp frequency after a wake-up or restart (quirks.md Q20: "ramps like a reboot")
LIMIT_RAMP_S = 10.0
OVERHEAT_RISE_C = 30.0
FAN_FAILURE_RISE_C = 8.0
_TWO_32 = 4294967296.0


# Readings are made on every request: plain slotted dataclasses, because a frozen one costs about 5 us
# more to build (each field goes through object.__setattr__). Nothing changes one after it is made.
@dataclass(slots=True)
class BoardReading:
    position: int
    chain_id: int
    present: bool
    chips: int
    serial: str
    ideal_ghs: float
    ghs: float  # true rate now, noise-free
    ghs_5s: float
    ghs_1m: float
    ghs_5m: float
    ghs_15m: float
    ghs_avg: float
    board_temp_c: float
    chip_temp_c: float
    inlet_temp_c: float
    outlet_temp_c: float
    work_gh: float
    accepted: int
    rejected: int
    hw_errors: int
    power_w: float


@dataclass(slots=True)
class Reading:
    now: float
    mining: bool
    elapsed_s: int
    uptime_s: int
    ambient_c: float
    boards: tuple[BoardReading, ...]
    fans_rpm: tuple[int, ...]
    fan_pct: int
    power_w: float
    power_limit_w: int
    ideal_ghs: float
    ghs: float
    ghs_5s: float
    ghs_1m: float
    ghs_5m: float
    ghs_15m: float
    ghs_avg: float
    work_gh: float
    accepted: int
    rejected: int
    hw_errors: int
    difficulty: float
    last_share_at: float  # 0.0 when no share yet
    best_share: int
    faults: frozenset[FaultKind]

    @property
    def max_board_temp_c(self) -> float:
        return max((b.board_temp_c for b in self.boards if b.present), default=0.0)

    @property
    def max_chip_temp_c(self) -> float:
        return max((b.chip_temp_c for b in self.boards if b.present), default=0.0)


@dataclass(frozen=True)
class MinerTruth:
    """What the emulator knows to be true about a miner, for tests and operators (JSON-friendly)."""

    address: str
    model: str
    make: str
    personality: str
    serial: str
    mac: str
    mining: bool
    faults: tuple[str, ...]
    hashrate_ths: float
    board_hashrates_ths: tuple[float, ...]
    board_temps_c: tuple[float, ...]
    chip_temps_c: tuple[float, ...]
    fans_rpm: tuple[int, ...]
    power_w: float
    power_limit_w: int
    ambient_c: float
    accepted: int
    rejected: int
    elapsed_s: int
    uptime_s: int


@dataclass(frozen=True)
class _Unit:
    board_ghs: tuple[float, ...]  # each board's full-power rate
    board_heat: tuple[float, ...]  # how much hotter than its siblings each board runs
    board_serials: tuple[str, ...]
    reject_ratio: float
    best_share_factor: float


@dataclass(frozen=True)
class _Segment:
    t0: float
    work0: tuple[float, ...]  # GH done per board since the mining process started
    rate0: tuple[float, ...]  # GH/s per board at t0
    rate1: tuple[float, ...]  # target GH/s per board
    ramp_s: float
    rise0: tuple[float, ...]  # board temperature above ambient at t0
    rise1: tuple[float, ...]


def _rate_at(seg: _Segment, board: int, t: float) -> float:
    r0, r1 = seg.rate0[board], seg.rate1[board]
    if seg.ramp_s <= 0:
        return r1
    left = max(0.0, 1.0 - (t - seg.t0) / seg.ramp_s)
    return r1 + (r0 - r1) * left


def _work_at(seg: _Segment, board: int, t: float) -> float:
    dt = max(0.0, t - seg.t0)
    r0, r1 = seg.rate0[board], seg.rate1[board]
    work = seg.work0[board] + r1 * dt
    if seg.ramp_s > 0:
        ramp = min(dt, seg.ramp_s)
        work += (r0 - r1) * (ramp - ramp * ramp / (2 * seg.ramp_s))
    return work


def _rise_at(seg: _Segment, board: int, t: float) -> float:
    decay = math.exp(-max(0.0, t - seg.t0) / THERMAL_TAU_S)
    return seg.rise1[board] + (seg.rise0[board] - seg.rise1[board]) * decay


@dataclass
class EmulatedMiner:
    spec: MinerSpec
    booted_at: float
    process_started_at: float
    mining: bool = True
    hashpower_locked: bool = False  # Avalon `hashpower,0`: boards stay off until a reboot (commands.md 2.5)
    power_limit_w: int = 0
    work_mode: int = 0  # Antminer bitmain-work-mode: 0 normal, 1 sleep, 3 low power
    led: bool = False
    faults: dict[FaultKind, Fault] = field(default_factory=dict)
    _segment: _Segment | None = None
    _unit: _Unit | None = None
    _reading_cache: Reading | None = None  # the last reading; a joined request reads it several times

    @classmethod
    def create(cls, spec: MinerSpec, now: float) -> EmulatedMiner:
        """A miner that has been up for a seeded while and mining steadily."""
        uptime = 86_400.0 * (1.0 + 20.0 * rng.uniform(spec.seed, 0x0B007))
        elapsed = min(uptime - 120.0, 3_600.0 * (2.0 + 70.0 * rng.uniform(spec.seed, 0xE1A)))
        miner = cls(spec=spec, booted_at=now - uptime, process_started_at=now - elapsed)
        miner.power_limit_w = spec.model.nominal_w
        targets, rises = miner._targets()
        miner._segment = _Segment(
            t0=now,
            work0=tuple(rate * elapsed for rate in targets),
            rate0=targets,
            rate1=targets,
            ramp_s=0.0,
            rise0=rises,
            rise1=rises,
        )
        return miner

    @property
    def model(self) -> ModelSpec:
        return self.spec.model

    @property
    def address(self) -> str:
        return self.spec.address

    # ------------------------------------------------------------------ control

    def sleep(self, now: float) -> None:
        self.mining = False
        self._retarget(now, ramp_s=0.0)

    def wake(self, now: float, *, restart_process: bool) -> None:
        """Resume hashing; firmwares that restart their mining process on wake reset Elapsed (Q8)."""
        if self.hashpower_locked:
            return
        was_mining = self.mining
        self.mining = True
        if restart_process and not was_mining:
            self.process_started_at = now
        self._retarget(now, ramp_s=WAKE_RAMP_S, reset_work=restart_process and not was_mining)

    def hashpower_off(self, now: float) -> None:
        self.hashpower_locked = True
        self.sleep(now)

    def restart(self, now: float, *, reboot: bool) -> None:
        """Restart the mining process (Elapsed and counters reset); a reboot also resets uptime."""
        self.process_started_at = now
        if reboot:
            self.booted_at = now
            self.hashpower_locked = False
            self.mining = self.work_mode != 1
        self._retarget(now, ramp_s=WAKE_RAMP_S, reset_work=True, from_zero=True)

    def set_power_limit(self, now: float, watts: int) -> None:
        self.power_limit_w = max(int(self.model.standby_w) + 1, watts)
        self._retarget(now, ramp_s=LIMIT_RAMP_S)

    def set_fault(self, now: float, fault: Fault) -> None:
        self.faults[fault.kind] = fault
        self._reading_cache = None
        if fault.kind not in NETWORK_FAULTS:  # network faults leave the physics (and any ramp) alone
            self._retarget(now, ramp_s=0.0)

    def clear_fault(self, now: float, kind: FaultKind | None = None) -> None:
        cleared = set(self.faults) if kind is None else {kind} & set(self.faults)
        for gone in cleared:
            del self.faults[gone]
        self._reading_cache = None
        if cleared - NETWORK_FAULTS:
            self._retarget(now, ramp_s=0.0)

    def lost_board(self) -> int | None:
        fault = self.faults.get(FaultKind.BOARD_LOST)
        if fault is None:
            return None
        board = self.model.boards - 1 if fault.board is None else fault.board
        return min(board, self.model.boards - 1)

    # ------------------------------------------------------------------ physics

    @property
    def unit(self) -> _Unit:
        """The unit's own constants, drawn from its seed once and read on every request."""
        unit = self._unit
        if unit is None:
            model, spec, seed = self.model, self.spec, self.spec.seed
            per_board = model.nominal_ths * 1000.0 / model.boards * spec.hash_factor
            boards = range(model.boards)
            unit = self._unit = _Unit(
                board_ghs=tuple(per_board * (1.0 + 0.015 * rng.normal(seed, 0xB0A2D, b)) for b in boards),
                board_heat=tuple(1.0 + 0.04 * rng.normal(seed, 0x4EA7, b) for b in boards),
                board_serials=tuple(f"{spec.serial[-8:]}B{b}{rng.mix(seed, 0x5E, b) % 100000:05d}" for b in boards),
                reject_ratio=0.001 + 0.004 * rng.uniform(seed, 0x2E1),
                best_share_factor=1.0 + 40.0 * rng.uniform(seed, 0xBE57),
            )
        return unit

    def _full_board_ghs(self) -> tuple[float, ...]:
        return self.unit.board_ghs

    def _targets(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Target GH/s and temperature rise per board for the current control state and faults."""
        model = self.model
        full = self._full_board_ghs()
        hashing = self.mining and not self.hashpower_locked
        nominal_draw = model.nominal_w * self.spec.power_factor
        scale = min(1.0, max(self.power_limit_w - model.standby_w, 0.0) / (nominal_draw - model.standby_w))
        lost = self.lost_board()
        rates = []
        rises = []
        for board, board_full in enumerate(full):
            if not hashing or board == lost:
                rates.append(0.0)
                rises.append(0.0 if board == lost else 1.5)
                continue
            rates.append(board_full * scale)
            rise = model.board_rise_c * (0.35 + 0.65 * scale) * self.unit.board_heat[board]
            if FaultKind.FAN_FAILURE in self.faults:
                rise += FAN_FAILURE_RISE_C
            if FaultKind.OVERHEAT in self.faults:
                rise += OVERHEAT_RISE_C
            rises.append(rise)
        return tuple(rates), tuple(rises)

    def _retarget(self, now: float, *, ramp_s: float, reset_work: bool = False, from_zero: bool = False) -> None:
        seg = self._segment
        boards = range(self.model.boards)
        if seg is None:
            raise RuntimeError("miner used before create()")
        rate0 = tuple(0.0 if from_zero else _rate_at(seg, b, now) for b in boards)
        work0 = tuple(0.0 if reset_work else _work_at(seg, b, now) for b in boards)
        rise0 = tuple(_rise_at(seg, b, now) for b in boards)
        rate1, rise1 = self._targets()
        self._segment = _Segment(now, work0, rate0, rate1, ramp_s, rise0, rise1)
        self._reading_cache = None

    def ambient_c(self, now: float) -> float:
        """Hall temperature: a daily swing around 24 C plus where the miner stands."""
        return 24.0 + self.spec.ambient_offset_c + 2.5 * math.sin(2.0 * math.pi * (now % 86_400.0) / 86_400.0)

    def reading(self, now: float) -> Reading:
        cached = self._reading_cache
        if cached is not None and cached.now == now:
            return cached
        self._reading_cache = cached = self._compute_reading(now)
        return cached

    def _compute_reading(self, now: float) -> Reading:
        seg = self._segment
        if seg is None:
            raise RuntimeError("miner used before create()")
        model, spec, seed = self.model, self.spec, self.spec.seed
        ambient = self.ambient_c(now)
        full = self._full_board_ghs()
        lost = self.lost_board()
        elapsed = max(0.0, now - self.process_started_at)
        difficulty = 65536.0 if model.personality in (Personality.ANTMINER_LEGACY, Personality.BRAIINS) else 262144.0
        unit = self.unit
        reject_ratio = unit.reject_ratio
        share_gh = difficulty * _TWO_32 / 1e9
        b5, b60 = int(now // 5), int(now // 60)
        nominal_draw = model.nominal_w * spec.power_factor
        watts_per_ghs = (nominal_draw - model.standby_w) / sum(full)
        chip_per_rise = model.chip_over_board_c / model.board_rise_c if model.board_rise_c else 0.0
        work_to_hw = 1e9 / _TWO_32 * 2e-6

        boards = []
        for b in range(model.boards):
            rate = _rate_at(seg, b, now)
            work = _work_at(seg, b, now)
            rise = _rise_at(seg, b, now)
            board_temp = ambient + rise
            chip_temp = board_temp + rise * chip_per_rise
            accepted = int(work / share_gh)
            # Measurement jitter from two hashes per board: the 5 s window, and one lane each for the
            # 1, 5 and 15 minute windows (redrawn every minute; their amplitudes keep them apart).
            n5 = rng.lanes(seed, 5, b, b5)[0]
            _, n1m, n5m, n15m = rng.lanes(seed, 60, b, b60)
            boards.append(
                BoardReading(
                    position=b,
                    chain_id=model.chain_ids[b],
                    present=b != lost,
                    chips=0 if b == lost else model.chips_per_board,
                    serial=unit.board_serials[b],
                    ideal_ghs=full[b],
                    ghs=rate,
                    ghs_5s=rate * (1.0 + 0.02 * n5),
                    ghs_1m=rate * (1.0 + 0.006 * n1m),
                    ghs_5m=rate * (1.0 + 0.003 * n5m),
                    ghs_15m=rate * (1.0 + 0.002 * n15m),
                    ghs_avg=work / elapsed if elapsed > 0 else 0.0,
                    board_temp_c=round(board_temp, 2),
                    chip_temp_c=round(chip_temp, 2),
                    inlet_temp_c=round(ambient + rise * 0.75, 2),
                    outlet_temp_c=round(ambient + rise * 1.25, 2),
                    work_gh=work,
                    accepted=accepted,
                    rejected=int(accepted * reject_ratio),
                    hw_errors=int(work * work_to_hw),
                    power_w=watts_per_ghs * rate,
                )
            )
        total_rate = sum(b.ghs for b in boards)
        work_total = sum(b.work_gh for b in boards)
        accepted_total = sum(b.accepted for b in boards)
        hashing = total_rate > 0
        power = model.standby_w + sum(b.power_w for b in boards)
        power *= 1.0 + (0.004 * rng.noise(seed, 0x90, b5) if hashing else 0.0)

        hottest = max((b.board_temp_c for b in boards if b.present), default=ambient)
        if FaultKind.OVERHEAT in self.faults or FaultKind.FAN_FAILURE in self.faults:
            fan_pct = 100
        elif not (self.mining and not self.hashpower_locked):
            fan_pct = 15
        else:
            fan_pct = int(min(100.0, max(30.0, 35.0 + (hottest - 55.0) * 4.0)))
        failed_fan = self.faults[FaultKind.FAN_FAILURE].fan if FaultKind.FAN_FAILURE in self.faults else None
        fan_noise = rng.lanes(seed, 0xFA, b60)
        fans = tuple(
            0
            if f == failed_fan
            else int(round(model.fan_max_rpm * fan_pct / 100.0 * (1.0 + 0.01 * fan_noise[f % 4]) / 60.0) * 60)
            for f in range(model.fans)
        )

        if accepted_total and hashing:
            since = (work_total % share_gh) / total_rate
            last_share = max(self.process_started_at, now - since)
        elif accepted_total:
            last_share = min(now, seg.t0)
        else:
            last_share = 0.0
        best = int(difficulty * unit.best_share_factor * math.sqrt(max(accepted_total, 1)))

        return Reading(
            now=now,
            mining=self.mining and not self.hashpower_locked,
            elapsed_s=int(elapsed),
            uptime_s=int(now - self.booted_at),
            ambient_c=round(ambient, 2),
            boards=tuple(boards),
            fans_rpm=fans,
            fan_pct=fan_pct,
            power_w=round(power, 1),
            power_limit_w=self.power_limit_w,
            ideal_ghs=sum(full),
            ghs=total_rate,
            ghs_5s=sum(b.ghs_5s for b in boards),
            ghs_1m=sum(b.ghs_1m for b in boards),
            ghs_5m=sum(b.ghs_5m for b in boards),
            ghs_15m=sum(b.ghs_15m for b in boards),
            ghs_avg=work_total / elapsed if elapsed > 0 else 0.0,
            work_gh=work_total,
            accepted=accepted_total,
            rejected=sum(b.rejected for b in boards),
            hw_errors=sum(b.hw_errors for b in boards),
            difficulty=difficulty,
            last_share_at=last_share,
            best_share=best,
            faults=frozenset(self.faults),
        )

    def truth(self, now: float) -> MinerTruth:
        r = self.reading(now)
        return MinerTruth(
            address=self.address,
            model=self.model.name,
            make=self.model.make,
            personality=self.model.personality.value,
            serial=self.spec.serial,
            mac=self.spec.mac,
            mining=r.mining,
            faults=tuple(sorted(k.value for k in r.faults)),
            hashrate_ths=round(r.ghs / 1000.0, 4),
            board_hashrates_ths=tuple(round(b.ghs / 1000.0, 4) for b in r.boards),
            board_temps_c=tuple(b.board_temp_c if b.present else 0.0 for b in r.boards),
            chip_temps_c=tuple(b.chip_temp_c if b.present else 0.0 for b in r.boards),
            fans_rpm=r.fans_rpm,
            power_w=r.power_w,
            power_limit_w=r.power_limit_w,
            ambient_c=r.ambient_c,
            accepted=r.accepted,
            rejected=r.rejected,
            elapsed_s=r.elapsed_s,
            uptime_s=r.uptime_s,
        )
