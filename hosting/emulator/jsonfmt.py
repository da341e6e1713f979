"""JSON written the way each firmware prints it, at the speed of the standard library's C encoder.

cgminer's api.c prints doubles with fixed decimals (`"MHS av":76718604.38`, `"Difficulty Accepted":
588906496.00000000`), S19-era Bitmain firmware writes `", "` and `": "` (quirks.md Q19), and S9 bmminer
leaves out the comma between the first two `STATS` objects (Q2). `json.dumps` does the separators; the
other two are marked inside the values and patched in the encoded text with two `str.replace` calls,
because walking every value in Python costs more than the rest of a request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

# Control characters never appear in miner data; json escapes them to these exact sequences.
_FIXED_MARK = "\x01"
_FIXED_OPEN, _FIXED_CLOSE = '"\\u0001', '\\u0001"'
_GLUE_MARK = "\x02"
_GLUE_TEXT = '"\\u0002"'


_FIXED_FORMATS = tuple(f"{_FIXED_MARK}%.{places}f{_FIXED_MARK}" for places in range(9))


def fixed(value: float, places: int) -> str:
    """A number printed with exactly `places` decimals, as C's `%.Nf`: marked text until encoded.

    A plain function over a format string, not a class: replies hold dozens of these, and building a
    str subclass costs several times more.
    """
    return _FIXED_FORMATS[places] % value


# The same as bound string methods: C calls, for the dozens of fixed numbers a reply holds.
fixed2 = _FIXED_FORMATS[2].__mod__
fixed4 = _FIXED_FORMATS[4].__mod__
fixed6 = _FIXED_FORMATS[6].__mod__
fixed8 = _FIXED_FORMATS[8].__mod__


class Glued(list["JsonValue"]):
    """A list whose first two items are written without a comma between them (S9 `stats`, Q2)."""

    def __init__(self, items: Iterable[JsonValue]) -> None:
        listed = list(items)
        super().__init__([*listed[:1], _GLUE_MARK, *listed[1:]] if len(listed) > 1 else listed)


JsonValue: TypeAlias = str | int | float | bool | Sequence["JsonValue"] | Mapping[str, "JsonValue"] | None


@dataclass(frozen=True)
class Style:
    item_sep: str = ","
    key_sep: str = ":"


COMPACT = Style()
SPACED = Style(", ", ": ")


def encode(value: JsonValue, style: Style = COMPACT) -> str:
    text = json.dumps(value, separators=(style.item_sep, style.key_sep))
    if _FIXED_OPEN in text:
        text = text.replace(_FIXED_OPEN, "").replace(_FIXED_CLOSE, "")
    if _GLUE_TEXT in text:
        text = text.replace(f"{style.item_sep}{_GLUE_TEXT}{style.item_sep}", "")
    return text


def plain(value: JsonValue) -> str:
    """A scalar as text mode prints it: fixed numbers without their marks, booleans in lower case."""
    if isinstance(value, str):
        return value[1:-1] if value.startswith(_FIXED_MARK) else value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return encode(value)
