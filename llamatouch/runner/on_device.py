"""The worker side of ``--model device:PORT``: one ``adb forward`` per device, the agent's
endpoint, and the device's state around each episode.

:class:`OnDeviceLLM` lives in an :class:`~llamatouch.runner.worker.EpisodeWorker`, so it runs
where the device is held (a local worker process, or a Ray actor on the node with the phone):

- :meth:`OnDeviceLLM.options_for` makes (once per device, through the adb server the device
  is driven by) ``adb forward tcp:0 tcp:PORT``, checks that a model server answers behind it
  (``GET /v1/models``; nothing there is an :class:`~llamatouch.errors.LLMUnavailableError`,
  an infrastructure failure the worker retries), and returns the agent's options with
  ``base_url`` pointing at the forward; the agent builds its backend from them as usual
  (``device:PORT`` → :class:`~llamatouch.llm.on_device.OnDeviceBackend`);
- :meth:`OnDeviceLLM.state` reads the serving process's memory, the battery and the thermal
  status through ``adb shell``;
- :meth:`OnDeviceLLM.close` removes the forwards (also run when a worker is stopped by
  ``SIGTERM``; after a ``kill -9`` see :mod:`llamatouch.device.forward`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from llamatouch.agent import AgentOptions
from llamatouch.device.base import Device
from llamatouch.device.dumpsys import (
    parse_battery,
    parse_meminfo,
    parse_pidof,
    parse_thermal_status,
)
from llamatouch.device.forward import AdbServerAddress, Forward, create_forward, remove_forward
from llamatouch.errors import LlamaTouchError, LLMError, LLMUnavailableError
from llamatouch.llm.on_device import probe_models
from llamatouch.trace.records import DeviceLLMState, OnDeviceUsage

log = logging.getLogger(__name__)

#: The process ``pidof`` looks for: llama.cpp's server.
SERVER_PROCESS = "llama-server"
#: Bound on each state query (``dumpsys meminfo`` can take a while on a phone).
STATE_TIMEOUT_S = 15.0


def adb_address(device: Device) -> tuple[AdbServerAddress, str]:
    """The adb server a device is driven through, and its serial there.

    Raises:
        LLMError: the device is not reached through adb (an in-process virtual device).
    """
    from llamatouch.device.adb import AdbConfig

    cfg: Any = getattr(device, "config", None)
    if not isinstance(cfg, AdbConfig) or not device.serial:
        raise LLMError(
            f"--model device:PORT needs a device reached through adb (a phone's serial, or a "
            f"virtual device served with 'llamatouch emulator serve --llm-server'); "
            f"{device.serial or type(device).__name__} is not"
        )
    return AdbServerAddress(cfg.adb_host, cfg.adb_port), device.serial


class OnDeviceLLM:
    """Forwards and device figures for the model server on port ``port`` of each device.

    Args:
        port: the server's port on the device.
        process: its process name on the device (for ``pidof``).
    """

    def __init__(self, port: int, process: str = SERVER_PROCESS) -> None:
        self.port = port
        self.process = process
        self._forwards: dict[tuple[AdbServerAddress, str], Forward] = {}
        self._models: dict[tuple[AdbServerAddress, str], str] = {}

    def _link(self, device: Device) -> tuple[Forward, str]:
        server, serial = adb_address(device)
        key = (server, serial)
        fwd = self._forwards.get(key)
        if fwd is not None:
            try:
                self._models[key] = probe_models(fwd.base_url)
                return fwd, self._models[key]
            except LLMUnavailableError as exc:
                # the device reconnected (its forwards went with it) or the server restarted
                log.info("forward %s no longer answers (%s); making it again", fwd.base_url, exc)
                remove_forward(fwd)
                del self._forwards[key]
        fwd = create_forward(server, serial, self.port)
        self._forwards[key] = fwd
        try:
            self._models[key] = probe_models(fwd.base_url)
        except LLMUnavailableError as exc:
            raise LLMUnavailableError(
                f"no LLM server on {serial} port {self.port} (start llama-server there, see "
                f"docs/on-device.md): {exc}"
            ) from exc
        return fwd, self._models[key]

    def options_for(self, device: Device, options: AgentOptions) -> AgentOptions:
        """``options`` with ``base_url`` set to the forward to ``device``'s model server.

        Raises:
            LLMUnavailableError: no server answers on the device's port.
            DeviceError: the forward could not be made (device gone...).
            LLMError: the device is not reached through adb.
        """
        fwd, _ = self._link(device)
        return replace(options, base_url=fwd.base_url)

    def usage(self, device: Device) -> OnDeviceUsage:
        """The episode's ``usage.on_device`` record (states filled in by the caller)."""
        server, serial = adb_address(device)
        return OnDeviceUsage(serial=serial, port=self.port,
                             model=self._models.get((server, serial), ""))

    def state(self, device: Device) -> DeviceLLMState:
        """The serving process's memory, the battery and the thermal status, read through
        ``adb shell``; what the device cannot say is ``None``."""
        shell = getattr(device, "shell", None)
        out = DeviceLLMState(at=time.time())
        if not callable(shell):
            return out

        def ask(command: str) -> str:
            try:
                return str(shell(command, STATE_TIMEOUT_S))
            except LlamaTouchError as exc:
                log.info("%s: %r failed: %s", device.serial, command, exc)
                return ""

        out.pid = parse_pidof(ask(f"pidof {self.process}"))
        if out.pid is not None:
            out.pss_kb, out.rss_kb = parse_meminfo(ask(f"dumpsys meminfo {out.pid}"))
        battery = parse_battery(ask("dumpsys battery"))
        out.battery_level, out.battery_temp_c = battery.level, battery.temperature_c
        out.plugged = battery.plugged
        out.thermal_status = parse_thermal_status(ask("dumpsys thermalservice"))
        return out

    def close(self) -> None:
        """Remove every forward made (idempotent)."""
        for fwd in self._forwards.values():
            remove_forward(fwd)
        self._forwards.clear()
