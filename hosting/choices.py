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


class CurtailmentTargetKind(models.TextChoices):
    """What a curtailment plan asks for."""

    SHED_KW = "shed_kw", "Shed kW"
    SITE_CAP_KW = "site_cap_kw", "Cap the site's power (kW)"
    MINERS = "miners", "Turn off a number of miners"
    THERMAL_C = "thermal_c", "Turn off miners hotter than (°C)"


class CurtailmentStrategy(models.TextChoices):
    PERFORMANCE_PRIORITY = "performance_priority", "Performance priority (least efficient first)"
    OPTIMAL = "optimal", "Optimal (least hashrate lost)"
    PARTIAL = "partial", "Partial (power targets and off)"
    CUSTOMER_AWARE = "customer_aware", "Customer-aware"


class CurtailmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending"
    EXECUTING = "executing", "Executing"
    EXECUTED = "executed", "Executed"
    RECOVERING = "recovering", "Recovering"
    RECOVERED = "recovered", "Recovered"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class CurtailmentSource(models.TextChoices):
    """Where a plan came from."""

    PAGE = "page", "Curtailment page"
    API = "api", "API"
    DEMAND_RESPONSE = "demand_response", "Demand-response request"
    PRICE_RULE = "price_rule", "Energy price rule"


class CurtailmentAction(models.TextChoices):
    """What is done to one miner: sleep (fans on, hashing off) where the firmware has it, else off."""

    OFF = "off", "Off / sleep"
    POWER_TARGET = "power_target", "Lower power target"


class CurtailmentStep(models.TextChoices):
    """Where one miner of a plan is: its curtailment command, then its recovery."""

    PLANNED = "planned", "Planned"
    SENT = "sent", "Command sent"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CONFIRMED = "confirmed", "Confirmed by telemetry"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
