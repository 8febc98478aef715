"""The one grammar of ``--device`` (and of :func:`llamatouch.device.connect`).

``virtual`` / ``virtual:WORLD``
    the virtual device in process (no ADB; fastest);
``adb-virtual`` / ``adb-virtual:WORLD``
    the virtual device served over the ADB protocol and driven through a real ``adb`` server;
``adb:SERIAL`` or a bare ``SERIAL``
    a phone or emulator known to ``adb`` (``emulator-5554``, ``127.0.0.1:5555``...).

Without ``:WORLD`` a virtual kind runs each task in the task's own world (the runner), or in
the ``demo`` world (:func:`~llamatouch.device.connect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from llamatouch.errors import DeviceError


class DeviceKind(StrEnum):
    """The kinds of device ``--device`` names (the same strings are written to traces)."""

    #: the virtual device in process
    VIRTUAL = "virtual"
    #: the virtual device behind our ADB wire-protocol server and a real ``adb``
    ADB_VIRTUAL = "adb-virtual"
    #: a phone or emulator reached through ``adb``
    ADB = "adb"


#: The device when none is named: every task in its own world, through real ``adb``.
DEFAULT_DEVICE = "adb-virtual"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A parsed ``--device`` value.

    Attributes:
        kind: which kind of device.
        arg: the world (virtual kinds; ``""``: the task's own world) or the adb serial.
    """

    kind: DeviceKind
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> DeviceSpec:
        """Parse ``text`` (see the module docstring); an empty value raises DeviceError."""
        text = text.strip()
        if not text:
            raise DeviceError("empty device spec (try virtual:demo, adb-virtual:demo or a serial)")
        head, sep, rest = text.partition(":")
        for kind in DeviceKind:
            if head == kind.value and (sep or kind is not DeviceKind.ADB):
                if kind is DeviceKind.ADB and not rest:
                    raise DeviceError(f"device {text!r}: adb: needs a serial (adb:emulator-5554)")
                return cls(kind, rest)
        return cls(DeviceKind.ADB, text)

    @property
    def is_virtual(self) -> bool:
        """``True`` for the virtual device (in process or over ADB)."""
        return self.kind is not DeviceKind.ADB

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.arg}" if self.arg else self.kind.value
