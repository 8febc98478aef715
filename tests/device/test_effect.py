"""``ActResult.effect`` is an :class:`Effect` everywhere (devices, traces, agents' history),
and the same strings on disk."""

from __future__ import annotations

import pytest

from llamatouch.actions import Finish, Tap, Wait
from llamatouch.agent import StepHistory
from llamatouch.device.base import ActResult, Effect
from llamatouch.trace.records import act_result_from_json, act_result_to_json


def test_a_plain_string_becomes_the_enum_and_stays_a_string_on_disk() -> None:
    res = ActResult(ok=True, effect="no_effect")  # type: ignore[arg-type]  # a plug-in's str
    assert res.effect is Effect.NO_EFFECT
    on_disk = act_result_to_json(res)
    assert on_disk is not None and on_disk["effect"] == "no_effect"
    assert type(on_disk["effect"]) is str
    back = act_result_from_json(on_disk)
    assert back is not None and back.effect is Effect.NO_EFFECT


def test_an_unknown_effect_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="changed, no_effect, unknown, finished, invalid"):
        ActResult(ok=True, effect="exploded")  # type: ignore[arg-type]


def test_history_carries_the_enum() -> None:
    h = StepHistory(index=0, action=Tap(x=1, y=2))
    assert h.effect is Effect.UNKNOWN and h.effect == "unknown"


def test_the_virtual_device_reports_enums() -> None:
    from llamatouch.testing import virtual_device

    dev = virtual_device("demo")
    try:
        dev.reset()
        res = dev.act(Wait(seconds=0.0))
        assert res.effect is Effect.NO_EFFECT
        assert dev.act(Finish(status="success")).effect is Effect.FINISHED
    finally:
        dev.close()
