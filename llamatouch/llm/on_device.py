"""``device:PORT``: the model served on the episode's device, reached through ``adb forward``.

``LLMConfig(model="device:8080", base_url="http://127.0.0.1:LOCAL/v1")`` is an
:class:`~llamatouch.llm.openai_backend.OpenAIBackend` on the forwarded port whose model id is
read from the server (``GET /v1/models``: llama-server answers with the loaded file's name).
The runner (:mod:`llamatouch.runner.on_device`) makes the forward for each episode's device and
fills in ``base_url``; without it the spec cannot be used (the port is on a device, not here).

llama-server reports its own prefill/decode milliseconds and cached tokens (``timings``), so
a step's ``prefill_s``/``decode_s`` are the device's and ``total_s`` the host's wall time; the
difference is the hop (adb forward + HTTP).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace

from llamatouch.errors import LLMError, LLMUnavailableError
from llamatouch.llm.base import LLMConfig
from llamatouch.llm.openai_backend import OpenAIBackend

DEVICE_PREFIX = "device:"
#: Seconds the readiness probe (``GET /v1/models``) may take.
PROBE_TIMEOUT_S = 10.0


def device_port(model: str) -> int | None:
    """The device port of a ``device:PORT`` spec; ``None`` for any other spec.

    Raises:
        LLMError: ``device:`` followed by something other than a port 1..65535.
    """
    if not model.startswith(DEVICE_PREFIX):
        return None
    raw = model[len(DEVICE_PREFIX):]
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise LLMError(f"model {model!r}: expected device:PORT with a port 1..65535 (the port "
                       "the model server listens on, on the device)")
    return int(raw)


def probe_models(base_url: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """The first model id the server at ``base_url`` lists (``GET BASE/models``).

    Raises:
        LLMUnavailableError: nothing answers (refused, reset, timeout, HTTP 5xx).
        LLMError: an answer that is not a model list.
    """
    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL
            body = resp.read(1 << 20)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise LLMUnavailableError(f"{url}: HTTP {exc.code}") from exc
        raise LLMError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise LLMUnavailableError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
    try:
        data = json.loads(body)
        model_id = data["data"][0]["id"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"{url}: not a model list: {body[:200]!r}") from exc
    if not isinstance(model_id, str) or not model_id:
        raise LLMError(f"{url}: model list without an id")
    return model_id


class OnDeviceBackend(OpenAIBackend):
    """The OpenAI-compatible server on the device, through the runner's forward."""

    name = "on-device"

    def __init__(self, config: LLMConfig) -> None:
        port = device_port(config.model)
        if port is None:
            raise LLMError(f"model {config.model!r}: expected 'device:PORT'")
        if not config.base_url:
            raise LLMError(
                f"model {config.model!r} is served on the episode's device: use it with "
                "llamatouch eval --device SERIAL (the runner forwards the port through adb); "
                "see docs/on-device.md"
            )
        model_id = probe_models(config.base_url, min(PROBE_TIMEOUT_S, config.timeout_s))
        super().__init__(replace(config, model=f"openai:{model_id}"))
        #: the server's port on the device
        self.device_port = port

    def __repr__(self) -> str:
        return f"OnDeviceBackend(port={self.device_port}, model={self.model_id!r})"

    def describe(self) -> str:
        return (f"device:{self.device_port} ({self.model_id}) through adb forward at "
                f"{self.public_url}")
