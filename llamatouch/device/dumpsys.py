"""Parsers for the few ``dumpsys`` / ``pidof`` answers the on-device LLM figures need.

Every parser takes the command's text and returns ``None`` for what it cannot find: devices
differ (``thermalservice`` exists from Android 10; old ``meminfo`` tables have no RSS column),
and a missing figure is recorded as unknown, never as an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOTAL_PSS_RE = re.compile(r"TOTAL PSS:\s*(\d+)")
_TOTAL_RSS_RE = re.compile(r"TOTAL RSS:\s*(\d+)")
_TOTAL_ROW_RE = re.compile(r"^\s*TOTAL\s+(\d+(?:\s+\d+)*)\s*$", re.M)
_THERMAL_RE = re.compile(r"^\s*Thermal Status:\s*(\d+)\s*$", re.M)
#: ASCII digits only (``str.isdigit`` accepts "¹", which ``int`` refuses).
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Battery:
    """``dumpsys battery``.

    Attributes:
        level: charge in percent of ``scale`` (``None``: not reported).
        temperature_c: battery temperature in degrees Celsius (reported in tenths).
        plugged: on AC, USB or wireless power (``None``: not reported).
    """

    level: int | None
    temperature_c: float | None
    plugged: bool | None


def parse_pidof(text: str) -> int | None:
    """The first pid ``pidof NAME`` printed (``None``: no such process)."""
    for word in text.split():
        if _DIGITS.fullmatch(word) and int(word) > 0:
            return int(word)
    return None


def parse_meminfo(text: str) -> tuple[int | None, int | None]:
    """(TOTAL PSS kB, TOTAL RSS kB) from ``dumpsys meminfo PID``.

    The summary line (``TOTAL PSS: N ... TOTAL RSS: M``, Android 10+) is preferred; else the
    ``TOTAL`` row of the table (PSS first; RSS is its fifth column when the table's header
    has an ``Rss`` column, Android 10+; before that the fifth column is the heap size).
    ``(None, None)`` for "No process found" and anything unreadable.
    """
    pss_m, rss_m = _TOTAL_PSS_RE.search(text), _TOTAL_RSS_RE.search(text)
    pss = int(pss_m.group(1)) if pss_m else None
    rss = int(rss_m.group(1)) if rss_m else None
    if pss is None:
        row = _TOTAL_ROW_RE.search(text)
        if row:
            nums = [int(n) for n in row.group(1).split()]
            pss = nums[0]
            header = text[: row.start()].rsplit("MEMINFO", 1)[-1]
            has_rss = re.search(r"^\s*Pss\s+Private\s+Private\s+SwapPss\s+Rss\b", header, re.M)
            if rss is None and len(nums) >= 5 and has_rss:
                rss = nums[4]
    return pss, rss


def _field(text: str, name: str) -> str | None:
    m = re.search(rf"^\s*{re.escape(name)}:\s*(\S+)\s*$", text, re.M)
    return m.group(1) if m else None


def parse_battery(text: str) -> Battery:
    """Level (percent), temperature (°C) and charging state from ``dumpsys battery``."""
    level_s, scale_s, temp_s = _field(text, "level"), _field(text, "scale"), \
        _field(text, "temperature")
    level: int | None = None
    if level_s is not None and _DIGITS.fullmatch(level_s):
        level = int(level_s)
        if scale_s is not None and _DIGITS.fullmatch(scale_s) and int(scale_s) not in (0, 100):
            level = round(100 * level / int(scale_s))
    temp = None
    if temp_s is not None and re.fullmatch(r"-?[0-9]+", temp_s):
        temp = int(temp_s) / 10.0
    powered = [_field(text, f"{k} powered") for k in ("AC", "USB", "Wireless", "Dock")]
    known = [p for p in powered if p in ("true", "false")]
    plugged = any(p == "true" for p in known) if known else None
    return Battery(level, temp, plugged)


def parse_thermal_status(text: str) -> int | None:
    """``Thermal Status: N`` from ``dumpsys thermalservice`` (0 none .. 6 shutdown)."""
    m = _THERMAL_RE.search(text)
    if not m:
        return None
    value = int(m.group(1))
    return value if 0 <= value <= 6 else None
