"""Parsers of the dumpsys / pidof answers behind the on-device LLM figures.

The samples follow what Android prints (meminfo of a native process on Android 10+ and on
Android 9, battery, thermalservice); hypothesis checks that no text makes a parser raise and that
generated answers read back exactly.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llamatouch.device.dumpsys import (
    parse_battery,
    parse_meminfo,
    parse_pidof,
    parse_thermal_status,
)

MEMINFO_ANDROID_13 = """\
Applications Memory Usage (in Kilobytes):
Uptime: 91826733 Realtime: 305331412

** MEMINFO in pid 18423 [llama-server] **
                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap
                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free
                ------   ------   ------   ------   ------   ------   ------   ------
  Native Heap   412388   412352        0        0   413120        0        0        0
  Dalvik Heap        0        0        0        0        0        0        0        0
        Stack      132      132        0        0      140
    Other mmap   704013        8   703980        0   704520
      Unknown      880      880        0        0     1024
        TOTAL  1117413   413372   703980        0  1118804        0        0        0

 App Summary
                       Pss(KB)                        Rss(KB)
                        ------                         ------
           Java Heap:        0                              0
         Native Heap:   412352                         413120
               Stack:      132                            140

           TOTAL PSS:  1117413            TOTAL RSS:  1118804      TOTAL SWAP PSS:        0
"""

MEMINFO_ANDROID_9 = """\
Applications Memory Usage (in Kilobytes):
Uptime: 1234 Realtime: 1234

** MEMINFO in pid 4242 [llama-server] **
                   Pss  Private  Private  SwapPss     Heap     Heap     Heap
                 Total    Dirty    Clean    Dirty     Size    Alloc     Free
                ------   ------   ------   ------   ------   ------   ------
  Native Heap   100200   100100        0        0        0        0        0
        TOTAL   250400   100200   150000        0        0        0        0
"""

BATTERY = """\
Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Max charging current: 500000
  status: 2
  health: 2
  present: true
  level: 87
  scale: 100
  voltage: 4312
  temperature: 312
  technology: Li-ion
"""

THERMAL = """\
IsStatusOverride: false
ThermalEventListeners:
	callbacks: 2
	killed: false
ThermalStatusListeners:
	callbacks: 1
Thermal Status: 2
Cached temperatures:
	Temperature{mValue=41.5, mType=0, mName=CPU0, mStatus=0}
HAL Ready: true
"""


def test_meminfo_android_13_summary_line() -> None:
    assert parse_meminfo(MEMINFO_ANDROID_13) == (1117413, 1118804)
    table_only = MEMINFO_ANDROID_13.split(" App Summary")[0]  # the TOTAL row's Rss column
    assert parse_meminfo(table_only) == (1117413, 1118804)


def test_meminfo_android_9_table_row_without_rss() -> None:
    assert parse_meminfo(MEMINFO_ANDROID_9) == (250400, None)


def test_meminfo_of_a_missing_process() -> None:
    assert parse_meminfo("No process found for: 99999\n") == (None, None)


def test_battery_thermal_pidof() -> None:
    b = parse_battery(BATTERY)
    assert (b.level, b.temperature_c, b.plugged) == (87, 31.2, True)
    assert parse_battery("").level is None and parse_battery("").plugged is None
    unplugged = BATTERY.replace("USB powered: true", "USB powered: false")
    assert parse_battery(unplugged).plugged is False
    half_scale = BATTERY.replace("scale: 100", "scale: 200")
    assert parse_battery(half_scale).level == 44  # 87 of 200
    assert parse_thermal_status(THERMAL) == 2
    assert parse_thermal_status("Can't find service: thermalservice\n") is None  # Android 9
    assert parse_pidof("18423\n") == 18423 and parse_pidof("18423 18500\n") == 18423
    assert parse_pidof("") is None and parse_pidof("/system/bin/sh: pidof: x\n") is None


@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    parse_meminfo(text)
    parse_battery(text)
    parse_thermal_status(text)
    parse_pidof(text)


@given(pss=st.integers(0, 10**9), rss=st.integers(0, 10**9))
def test_meminfo_reads_back_what_was_printed(pss: int, rss: int) -> None:
    text = MEMINFO_ANDROID_13.replace("1117413", str(pss)).replace("1118804", str(rss))
    assert parse_meminfo(text) == (pss, rss)


@given(level=st.integers(0, 100), tenths=st.integers(-200, 900), status=st.integers(0, 6))
def test_battery_and_thermal_read_back(level: int, tenths: int, status: int) -> None:
    text = BATTERY.replace("level: 87", f"level: {level}").replace(
        "temperature: 312", f"temperature: {tenths}")
    b = parse_battery(text)
    assert b.level == level and b.temperature_c == tenths / 10
    assert parse_thermal_status(THERMAL.replace("Thermal Status: 2",
                                                f"Thermal Status: {status}")) == status
