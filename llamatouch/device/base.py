"""The one interface every device implements: real phones (``AdbDevice``), the in-process
virtual device, and anything a user plugs in."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import StrEnum

from llamatouch.actions import Action
from llamatouch.ui.node import UIScreen


@dataclass(slots=True)
class Observation:
    """What an agent sees at one step.

    Attributes:
        screen: the parsed view hierarchy (``screen.activity`` is the foreground activity).
        screenshot_png: PNG bytes of the screen (rendered from the hierarchy when the device
            has no recorded screenshot).
        hierarchy_xml: the raw ``uiautomator dump`` bytes the screen was parsed from.
        activity: foreground activity, ``package/.Activity``.
        package: foreground package.
        installed_packages: set when asked for (``observe(with_packages=True)``), else ``None``.
        started_at, finished_at: wall-clock seconds (time.time()) around the observation.
        timings: seconds spent per underlying call, e.g. ``{"screenshot": 0.02, "dump": 0.05}``.
    """

    screen: UIScreen
    screenshot_png: bytes
    hierarchy_xml: bytes
    activity: str
    package: str
    installed_packages: list[str] | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class Effect(StrEnum):
    """What an action did to the screen (``ActResult.effect``; ``action_result.effect`` in a
    trace, the same strings)."""

    CHANGED = "changed"
    NO_EFFECT = "no_effect"
    UNKNOWN = "unknown"
    FINISHED = "finished"
    INVALID = "invalid"


@dataclass(slots=True)
class ActResult:
    """What happened when an action ran.

    Attributes:
        ok: the device executed the action (not whether it changed the screen).
        effect: :attr:`Effect.CHANGED`, :attr:`Effect.NO_EFFECT` (nothing recorded for it on
            a virtual device), :attr:`Effect.UNKNOWN` (real devices cannot tell before the next
            observation), :attr:`Effect.FINISHED` for :class:`~llamatouch.actions.Finish`, or
            :attr:`Effect.INVALID` (the runner's, for an action the agent could not express).
            A plain string naming one of them is converted; any other is a ``ValueError``.
        detail: human-readable detail (e.g. which element was hit).
        started_at, finished_at: wall-clock seconds around the call.
        timings: seconds per underlying call.
    """

    ok: bool
    effect: Effect = Effect.UNKNOWN
    detail: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if type(self.effect) is not Effect:
            try:
                self.effect = Effect(self.effect)
            except ValueError:
                known = ", ".join(e.value for e in Effect)
                raise ValueError(
                    f"unknown action effect {self.effect!r}; known: {known}"
                ) from None


class Device(abc.ABC):
    """A phone, an emulator or a virtual device.

    Implementations raise :class:`~llamatouch.errors.DeviceError` subclasses for
    infrastructure failures and :class:`~llamatouch.errors.ActionError` for actions that are
    invalid on this device (e.g. outside the screen).
    """

    serial: str = ""

    @abc.abstractmethod
    def observe(self, *, with_packages: bool = False) -> Observation:
        """Screenshot, hierarchy, foreground activity (and installed packages if asked)."""

    @abc.abstractmethod
    def act(self, action: Action) -> ActResult:
        """Execute one action."""

    @abc.abstractmethod
    def open_app(self, package: str, activity: str | None = None) -> None:
        """Launch an app (its launcher activity unless ``activity`` is given)."""

    @abc.abstractmethod
    def stop_app(self, package: str) -> None:
        """Force-stop an app."""

    @abc.abstractmethod
    def press(self, key: str) -> None:
        """Press a named key (see :data:`llamatouch.actions.KEYS`)."""

    @abc.abstractmethod
    def installed_packages(self) -> list[str]:
        """Installed package names, sorted."""

    @abc.abstractmethod
    def reset(self, package: str | None = None) -> None:
        """Return to a task's start: home screen, or ``package`` freshly launched."""

    @abc.abstractmethod
    def health(self) -> bool:
        """``True`` when the device answers."""

    def screen_size(self) -> tuple[int, int]:
        """(width, height) in pixels; default: from a fresh observation."""
        obs = self.observe()
        return obs.screen.width, obs.screen.height

    def load_state(self, name: str) -> None:
        """Put the device in a saved state (optional capability).

        What ``name`` means is the device's: a world state id on the virtual device (a task's
        ``start_state``), a snapshot name on an Android emulator.

        Raises:
            NotImplementedError: this device cannot load states (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} does not support loading a state")

    def save_state(self, name: str) -> None:
        """Save the device's current state as ``name`` (optional capability).

        Raises:
            NotImplementedError: this device cannot save states (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} does not support saving a state")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; default does nothing."""
