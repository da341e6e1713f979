"""The plain description of a fleet: who sits at which address. Deterministic from (count, seed, base).

Nothing here touches the database; the management command that registers the fleet as Miner rows reads
`FleetSpec.miners` and `MinerSpec.as_row()`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from hosting.emulator import rng
from hosting.emulator.catalog import FLEET_MIX, MODELS, ModelSpec, Personality

RPC_PORT = 4028
WEB_PORT = 80
DEFAULT_BASE = "127.1.0.1"
_SERIAL_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class PoolSpec:
    url: str
    user: str
    password: str = "x"  # noqa: S105 -- the pool password every miner sends; pools ignore it


@dataclass(frozen=True)
class MinerSpec:
    index: int
    address: str
    model_key: str
    serial: str
    mac: str
    hostname: str
    pools: tuple[PoolSpec, ...]
    seed: int  # per-miner key for every seeded quantity below and for reading noise
    ambient_offset_c: float  # where the miner sits in the hall
    hash_factor: float  # this unit's hashrate relative to nominal
    power_factor: float  # this unit's draw relative to nominal

    @property
    def model(self) -> ModelSpec:
        return MODELS[self.model_key]

    @property
    def personality(self) -> Personality:
        return self.model.personality

    def as_row(self) -> dict[str, str | int | float]:
        """The fields an inventory needs, as plain values."""
        model = self.model
        return {
            "address": self.address,
            "rpc_port": RPC_PORT,
            "make": model.make,
            "model": model.name,
            "firmware": model.personality.value,
            "serial": self.serial,
            "mac": self.mac,
            "hostname": self.hostname,
            "nominal_ths": model.nominal_ths,
            "nominal_w": model.nominal_w,
        }


@dataclass(frozen=True)
class FleetSpec:
    seed: int
    miners: tuple[MinerSpec, ...]

    def __iter__(self) -> Iterator[MinerSpec]:
        return iter(self.miners)

    def __len__(self) -> int:
        return len(self.miners)

    def by_address(self) -> Mapping[str, MinerSpec]:
        return {m.address: m for m in self.miners}

    @property
    def first_address(self) -> str:
        return self.miners[0].address

    @property
    def last_address(self) -> str:
        return self.miners[-1].address


def addresses(base: str, count: int) -> list[str]:
    """`count` loopback addresses from `base`, skipping host parts .0 and .255 (ambiguous to people)."""
    start = ipaddress.IPv4Address(base)
    if not start.is_loopback:
        raise ValueError(f"base address {base} is not in 127.0.0.0/8")
    result: list[str] = []
    current = int(start)
    while len(result) < count:
        candidate = ipaddress.IPv4Address(current)
        if not candidate.is_loopback:
            raise ValueError(f"{count} miners from {base} run past 127.255.255.255")
        if current & 0xFF not in (0, 255):
            result.append(str(candidate))
        current += 1
    return result


def _serial(prefix: str, key: int, length: int) -> str:
    chars = [_SERIAL_ALPHABET[rng.mix(key, i) % len(_SERIAL_ALPHABET)] for i in range(length)]
    return prefix + "".join(chars)


def _pick_model(seed: int, index: int, mix: Sequence[tuple[str, float]]) -> str:
    total = sum(weight for _, weight in mix)
    point = rng.uniform(seed, index, 0xF1EE7) * total
    for key, weight in mix:
        point -= weight
        if point < 0:
            return key
    return mix[-1][0]


def build_fleet_spec(
    count: int,
    seed: int,
    base: str = DEFAULT_BASE,
    mix: Sequence[tuple[str, float]] = FLEET_MIX,
) -> FleetSpec:
    """A fleet of `count` miners; the same arguments always give the same fleet."""
    if count < 1:
        raise ValueError("a fleet needs at least one miner")
    unknown = [key for key, _ in mix if key not in MODELS]
    if unknown:
        raise ValueError(f"unknown model keys in mix: {', '.join(unknown)}")
    miners = []
    for index, address in enumerate(addresses(base, count)):
        key = rng.mix(seed, index, rng.text_key(address))
        model = MODELS[_pick_model(seed, index, mix)]
        hostname = f"{model.key.split('-')[0]}-{index + 1:05d}"
        worker = f"farm.{hostname}"
        pools = (
            PoolSpec("stratum+tcp://stratum.pool.invalid:3333", worker),
            PoolSpec("stratum+tcp://stratum.pool.invalid:443", worker),
            PoolSpec("stratum+tcp://stratum.pool.invalid:25", worker),
        )
        mac_bytes = [0x02] + [rng.mix(key, 0x3AC, i) & 0xFF for i in range(5)]
        serial_prefix = {"Bitmain": "JY", "MicroBT": "HKM", "Canaan": "A"}[model.make]
        miners.append(
            MinerSpec(
                index=index,
                address=address,
                model_key=model.key,
                serial=_serial(serial_prefix, key, 15),
                mac=":".join(f"{b:02X}" for b in mac_bytes),
                hostname=hostname,
                pools=pools,
                seed=key,
                ambient_offset_c=round(rng.normal(key, 0xA3B) * 2.0, 2),
                hash_factor=1.0 + 0.02 * rng.normal(key, 0x4A54),
                power_factor=1.0 + 0.015 * rng.normal(key, 0x90E),
            )
        )
    return FleetSpec(seed=seed, miners=tuple(miners))


def single_model_fleet(model_key: str, count: int, seed: int, base: str) -> FleetSpec:
    """A fleet of one model only (tests and demos of one personality)."""
    return build_fleet_spec(count, seed, base, mix=((model_key, 1.0),))
