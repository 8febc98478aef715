"""Typed errors. Every error names what is wrong (a file, a step, a field)."""

from __future__ import annotations

from pathlib import Path


class LlamaTouchError(Exception):
    """Base of every error llamatouch raises on purpose."""


class InputFormatError(LlamaTouchError):
    """A file or payload is malformed. ``source`` names the file (or stream) at fault."""

    def __init__(self, source: str | Path, message: str) -> None:
        self.source = str(source)
        self.message = message
        super().__init__(f"{self.source}: {message}")


class XmlFormatError(InputFormatError):
    """Malformed, oversized or unsafe XML (e.g. entity declarations)."""


class JsonFormatError(InputFormatError):
    """Malformed JSON, or JSON that does not follow the expected schema."""


class ImageFormatError(InputFormatError):
    """A PNG/JPEG that cannot be decoded."""


class SchemaError(InputFormatError):
    """A record that parses but does not follow its schema; ``field`` names the field."""

    def __init__(self, source: str | Path, field: str, message: str) -> None:
        self.field = field
        super().__init__(source, f"field {field!r}: {message}")


class ActionError(LlamaTouchError):
    """An action that is unknown, malformed or cannot be executed on this screen."""


class DeviceError(LlamaTouchError):
    """Infrastructure failure on the device side (not the agent's fault)."""


class DeviceTimeoutError(DeviceError):
    """A device call exceeded its timeout."""


class DeviceGoneError(DeviceError):
    """The device disappeared and a bounded reconnect attempt failed."""


class DumpError(DeviceError):
    """``uiautomator dump`` failed (e.g. "null root node") after bounded retries."""


class PathEscapeError(LlamaTouchError):
    """A path from a task file or web request tried to leave its root."""


class LLMError(LlamaTouchError):
    """An LLM backend failed (timeout, transport, unusable answer after retries)."""


class LLMUnavailableError(LLMError):
    """The LLM service could not be reached or answered with a server-side failure
    (connection refused, timeout, HTTP 5xx or 429) after the backend's retries with back-off.

    An *infrastructure* failure, not the agent's: the runner excludes the episode from the
    success rate, reports it as ``infra`` and re-runs it on ``--resume``.
    """


class AgentError(LlamaTouchError):
    """An agent could not produce a valid action (counted as an agent failure)."""


class EvaluationError(LlamaTouchError):
    """A primitive could not be computed (the verdict becomes ``error``, with this reason)."""
