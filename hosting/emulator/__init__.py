"""The fleet emulator: many CGMiner-speaking miners on loopback addresses, served by one asyncio process.

Start it with `python -m hosting.emulator --count 300`; tests use `hosting.emulator.testing.RunningFleet`.
Nothing here imports Django: the emulator runs beside the platform, not inside it.
"""
