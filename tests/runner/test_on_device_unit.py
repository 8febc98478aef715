"""``--model device:PORT`` without a device: the checks that refuse a run before it starts, and
the typed ``usage.on_device`` record (old traces without it still read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.errors import SchemaError
from llamatouch.runner import EvalConfig
from llamatouch.runner.results import result_from_manifest
from llamatouch.runner.runconfig import RunError, check_config
from llamatouch.trace.format import TraceManifest
from llamatouch.trace.records import DeviceLLMState, EpisodeUsage, OnDeviceUsage


@pytest.mark.parametrize(("model", "devices", "message"), [
    ("device:abc", ("127.0.0.1:15555",), "device:PORT"),
    ("device:8080", (), "--device SERIAL"),
    ("device:8080", ("virtual:demo",), "'virtual:demo' cannot host"),
    ("device:8080", ("127.0.0.1:15555", "adb-virtual"), "'adb-virtual' cannot host"),
])
def test_device_model_needs_an_adb_device(tmp_path: Path, model: str,
                                          devices: tuple[str, ...], message: str) -> None:
    with pytest.raises(RunError, match=message):
        check_config(EvalConfig(agent="autodroid", out=tmp_path, model=model, devices=devices))
    check_config(EvalConfig(agent="autodroid", out=tmp_path, model="device:8080",
                            devices=("emulator-5554",)))


def _manifest(usage: EpisodeUsage) -> TraceManifest:
    return TraceManifest(episode_id="t__autodroid__t0", usage=usage)


def test_on_device_usage_round_trips_and_old_traces_read(tmp_path: Path) -> None:
    start = DeviceLLMState(at=1.0, pid=42, pss_kb=204800, rss_kb=300000, battery_level=90,
                           battery_temp_c=31.5, plugged=False, thermal_status=1)
    end = DeviceLLMState(at=2.0, pid=42, pss_kb=307200, battery_level=88)
    od = OnDeviceUsage(serial="R58M", port=8080, model="m.gguf", start=start, end=end)
    m = _manifest(EpisodeUsage(on_device=od, actions=3))
    back = TraceManifest.from_json(json.loads(json.dumps(m.to_json())))
    assert back.usage.on_device == od and "on_device" not in back.usage.extra
    row = result_from_manifest(back, "traces/x")
    assert row.device_llm_pss_mb == 300.0 and row.device_battery_drop == 2.0
    # a trace written before the field existed: no on_device, zero columns
    old = _manifest(EpisodeUsage(actions=3)).to_json()
    assert "on_device" not in old["usage"]
    read = TraceManifest.from_json(old)
    assert read.usage.on_device is None
    assert result_from_manifest(read, "t").device_llm_pss_mb == 0.0
    # a device that could not say: nulls, not errors
    partial = json.loads(json.dumps(m.to_json()))
    partial["usage"]["on_device"]["end"] = None
    partial["usage"]["on_device"]["start"] = {"at": 1.0, "pid": None, "thermal_status": None}
    got = TraceManifest.from_json(partial).usage.on_device
    assert got is not None and got.end is None and got.start == DeviceLLMState(at=1.0)


@pytest.mark.parametrize(("path", "value"), [
    (("start", "pss_kb"), -1), (("start", "plugged"), "yes"), (("port",), 70000),
    (("start",), "hot"),
])
def test_a_bad_on_device_field_names_the_field(path: tuple[str, ...], value: object) -> None:
    od = OnDeviceUsage(serial="s", port=8080, start=DeviceLLMState(at=1.0))
    data = _manifest(EpisodeUsage(on_device=od)).to_json()
    target = data["usage"]["on_device"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SchemaError, match="on_device." + ".".join(path)):
        TraceManifest.from_json(data, "m.json")
