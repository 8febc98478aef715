"""Picklable test doubles for the runner tests: a device factory whose first devices vanish
mid-episode (real fault injection in the virtual device), and counts its opens in a file (the
workers are separate processes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llamatouch.runner.devices import DeviceSlot


class FaultySlot(DeviceSlot):
    """A device slot whose first ``fail_opens`` devices vanish a few calls after opening."""

    counter: Path
    fail_opens: int

    def _open(self, world_name: str):  # type: ignore[no-untyped-def]
        held = super()._open(world_name)
        with self.counter.open("a") as fh:
            fh.write("o")
        if len(self.counter.read_text()) <= self.fail_opens:
            from llamatouch_emulator.virtual import FaultConfig

            held.device.faults = FaultConfig(drop_after_calls=held.device.calls + 4)
        return held


@dataclass(frozen=True)
class FaultySlots:
    """A ``device_factory`` for :func:`llamatouch.runner.run_eval`."""

    counter: Path
    fail_opens: int

    def __call__(self, spec: str, index: int, world_base: Path | None, seed: int) -> FaultySlot:
        slot = FaultySlot(spec, index, world_base, seed)
        slot.counter = self.counter
        slot.fail_opens = self.fail_opens
        return slot

    def opened(self) -> int:
        return len(self.counter.read_text()) if self.counter.exists() else 0
