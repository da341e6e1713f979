"""Serve an emulated fleet of CGMiner-speaking miners on loopback addresses until interrupted.

python -m hosting.emulator --count 300 --seed 1 --faults "hung=0.01,offline=0.02"
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Sequence

from hosting.emulator.control import DEFAULT_CONTROL, start_control
from hosting.emulator.faults import FaultPlan, FaultSchedule, parse_fault_plans
from hosting.emulator.fleet import Fleet
from hosting.emulator.server import FleetServer, new_event_loop, raise_fd_limit
from hosting.emulator.spec import DEFAULT_BASE, FleetSpec, build_fleet_spec

logger = logging.getLogger("hosting.emulator")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hosting.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="number of miners (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="fleet seed: models, serials, noise, faults")
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"first loopback address (default {DEFAULT_BASE})")
    parser.add_argument(
        "--faults",
        default="",
        help='seeded fault schedule, share of the fleet in each fault at any moment: "hung=0.01,offline=0.02"',
    )
    parser.add_argument("--fault-duration", type=float, default=600.0, help="seconds a scheduled fault lasts")
    parser.add_argument(
        "--control", default=DEFAULT_CONTROL, help=f"host:port of the JSON control API (default {DEFAULT_CONTROL})"
    )
    parser.add_argument("--no-http", action="store_true", help="serve RPC only (no port-80 web pages)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, spec: FleetSpec, plans: tuple[FaultPlan, ...]) -> None:
    schedule = FaultSchedule(args.seed, plans, epoch=time.time()) if plans else None
    server = FleetServer(Fleet(spec, schedule=schedule), http=not args.no_http)
    await server.start()
    control = await start_control(server, args.control)
    logger.info(
        "serving %d miners %s..%s on port 4028, control API on http://%s",
        len(spec),
        spec.first_address,
        spec.last_address,
        args.control,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    logger.info("stopping")
    await control.cleanup()
    await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        spec = build_fleet_spec(args.count, args.seed, args.base)
        plans = parse_fault_plans(args.faults, args.fault_duration)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit = raise_fd_limit()
    if args.count + 100 > limit:
        logger.warning("%d miners need more than the %d open files this process may hold", args.count, limit)
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(args, spec, plans))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
