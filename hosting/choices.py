"""Choices shared by hosting models, serializers, filters and the poller."""

from django.db import models


class Firmware(models.TextChoices):
    """The miner software a miner runs; decides how it is polled and controlled (protocol notes)."""

    ANTMINER_STOCK = "antminer_stock", "Antminer stock (bmminer/cgminer)"
    BRAIINS_OS = "braiins_os", "Braiins OS (BOSminer)"
    WHATSMINER = "whatsminer", "Whatsminer (btminer)"
    AVALON = "avalon", "Avalon (Canaan cgminer)"
    LUXOS = "luxos", "LuxOS (LUXminer)"


class MinerStatus(models.TextChoices):
    """What the platform last concluded about a miner."""

    UNKNOWN = "unknown", "Not polled yet"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    STOPPED = "stopped", "Stopped / curtailed"
    MAINTENANCE = "maintenance", "In maintenance"


class PollOutcome(models.TextChoices):
    """How one poll of one miner ended (see hosting/clients)."""

    OK = "ok", "OK"
    REFUSED = "refused", "Connection refused"
    CONNECT_TIMEOUT = "connect_timeout", "Connect timed out"
    READ_TIMEOUT = "read_timeout", "No answer in time"
    RESET = "reset", "Connection reset"
    EMPTY = "empty", "Closed without answering"
    TRUNCATED = "truncated", "Reply cut short"
    GARBAGE = "garbage", "Unreadable reply"


class AlertKind(models.TextChoices):
    """What an alert is about; one open alert per miner and kind at a time."""

    CHIP_TEMP_HIGH = "chip_temp_high", "Chip temperature high"
    HASHRATE_LOW = "hashrate_low", "Hashrate below nominal"
    FAN_STOPPED = "fan_stopped", "Fan stopped"
    OFFLINE = "offline", "Offline"
    ANOMALY = "anomaly", "Anomaly"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class MinerAction(models.TextChoices):
    """A control command sent to a miner, or its identification (what make, model and firmware it is)."""

    START = "start", "Start"
    STOP = "stop", "Stop / sleep"
    REBOOT = "reboot", "Reboot"
    POWER_TARGET = "power_target", "Set power target"
    IDENTIFY = "identify", "Identify"
