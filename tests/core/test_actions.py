"""The typed action schema: strict parsing, round trips, screen checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamatouch.actions import (
    ACTION_TYPES,
    Finish,
    Key,
    Scroll,
    Swipe,
    Tap,
    Type,
    action_from_json,
    check_on_screen,
)
from llamatouch.errors import ActionError


@pytest.mark.parametrize(
    "obj, expected",
    [
        ({"action": "tap", "x": 10, "y": 20}, Tap(10, 20)),
        ({"action": "tap", "x": 10.0, "y": 20.4}, Tap(10, 20)),
        ({"action": "swipe", "x1": 1, "y1": 2, "x2": 3, "y2": 4}, Swipe(1, 2, 3, 4)),
        ({"action": "scroll", "direction": "down"}, Scroll("down")),
        (
            {"action": "type", "text": "hi; rm -rf /", "clear": False},
            Type("hi; rm -rf /", clear=False),
        ),
        ({"action": "key", "key": "back"}, Key("back")),
        ({"action": "finish"}, Finish()),
    ],
)
def test_parses_valid_actions(obj: dict, expected: object) -> None:
    assert action_from_json(obj) == expected


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"action": "teleport"}, "unknown action"),
        ("tap(1,2)", "must be a JSON object"),
        ({"x": 1}, "unknown action"),
        ({"action": "tap", "x": 1}, "missing"),
        ({"action": "tap", "x": "1", "y": 2}, "must be a number"),
        ({"action": "tap", "x": True, "y": 2}, "must be a number"),
        ({"action": "tap", "x": 1, "y": 2, "z": 3}, "unknown field"),
        ({"action": "key", "key": "self_destruct"}, "unknown key"),
        ({"action": "scroll", "direction": "sideways"}, "direction"),
        ({"action": "wait", "seconds": 3600}, "wait.seconds"),
        ({"action": "finish", "status": "maybe"}, "finish.status"),
        ({"action": "open_app", "package": ""}, "must not be empty"),
        ({"action": "type", "text": 5}, "must be a string"),
    ],
)
def test_rejects_malformed_actions(obj: object, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        action_from_json(obj)


def test_every_action_type_round_trips_through_json() -> None:
    samples = {
        "tap": {"x": 1, "y": 2, "element": "/A[0]"},
        "long_press": {"x": 1, "y": 2, "duration_ms": 800},
        "swipe": {"x1": 1, "y1": 2, "x2": 3, "y2": 4, "duration_ms": 100},
        "scroll": {"direction": "up", "x": 5, "y": 6},
        "type": {"text": "héllo", "element": "/B[1]", "clear": True},
        "key": {"key": "enter"},
        "open_app": {"package": "com.example", "activity": ".Main"},
        "wait": {"seconds": 0.5},
        "finish": {"status": "infeasible", "answer": "no"},
    }
    assert set(samples) == set(ACTION_TYPES)
    for kind, fields in samples.items():
        action = action_from_json({"action": kind, **fields})
        again = action_from_json(json.loads(json.dumps(action.to_json())))
        assert again == action
        assert again.to_json()["action"] == kind


@given(st.text(max_size=200))
def test_type_text_is_kept_verbatim(text: str) -> None:
    assert action_from_json({"action": "type", "text": text}).to_json()["text"] == text


def test_check_on_screen() -> None:
    check_on_screen(Tap(0, 0), 100, 100)
    check_on_screen(Tap(99, 99), 100, 100)
    with pytest.raises(ActionError, match="outside"):
        check_on_screen(Tap(100, 5), 100, 100)
    with pytest.raises(ActionError, match="outside"):
        check_on_screen(Swipe(1, 1, 1, -5), 100, 100)
    check_on_screen(Scroll("down"), 100, 100)  # no point given: nothing to check
