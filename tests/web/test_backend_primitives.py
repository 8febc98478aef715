"""The annotation tool's primitive builders: one per primitive class, each validated by the
schema (fast tier: a synthetic step, no ../shared, no browser)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.actions import Tap, Type
from llamatouch.errors import SchemaError
from llamatouch.essential.schema import PRIMITIVE_TYPES, Primitive
from llamatouch.trace.format import StepRecord, TraceStep
from llamatouch.ui.node import Bounds, UINode, UIScreen, build_screen
from llamatouch.web.backend import make_primitive

W, H = 1080, 2400


def _screen() -> UIScreen:
    root = UINode(index=0, parent=None, class_name="android.widget.FrameLayout",
                  package="com.app", bounds=Bounds(0, 0, W, H), children=[1])
    save = UINode(index=1, parent=0, class_name="android.widget.Button", package="com.app",
                  bounds=Bounds(100, 200, 500, 300), text="Save", resource_id="com.app:id/save",
                  clickable=True)
    return build_screen([root, save], width=W, height=H, activity="com.app/.Main")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (W // 4, H // 4), (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def _step(tmp_path: Path, action: object = None) -> TraceStep:
    rec = StepRecord(index=3, activity="com.app/.Main", package="com.app", action=action,
                     width=W, height=H)
    return TraceStep(rec, tmp_path)


@pytest.mark.parametrize("kind", list(PRIMITIVE_TYPES))
def test_every_type_is_built_and_parses_back_to_its_class(kind, tmp_path):
    scr = _screen()
    step = _step(tmp_path, Type(text="hello") if kind == "type" else Tap(x=300, y=250))
    obj = make_primitive(kind, step, scr, scr.nodes[1], "com.app", _png())
    assert obj["type"] == kind
    assert type(Primitive.from_json(obj)) is PRIMITIVE_TYPES[kind]
    if "component" in obj and kind not in ("fuzzy", "semantic"):
        assert obj["component"]["resource_id"] == "com.app:id/save"


def test_builders_fill_the_defaults(tmp_path):
    scr = _screen()
    step = _step(tmp_path, Type(text="hello"))
    assert make_primitive("type", step, None, None, "", None) == {
        "type": "type", "match": "equals", "text": "hello"
    }
    fuzzy = make_primitive("fuzzy", step, scr, scr.nodes[1], "", None)
    assert (fuzzy["scope"], fuzzy["threshold"]) == ("component", 0.85)
    assert make_primitive("click", step, scr, scr.nodes[1], "", None)["jitter"] == 0.02
    assert make_primitive("uninstalled", step, None, None, "", None)["package"] == "com.app"


@pytest.mark.parametrize(
    ("kind", "action", "node", "png", "field", "message"),
    [
        ("exact", None, False, False, "exact", "click a component"),
        ("semantic", None, False, False, "semantic", "click a component"),
        ("image", None, True, False, "image", "no screenshot"),
        ("type", Tap(x=1, y=1), False, False, "type", "typed no text"),
        ("teleport", None, False, False, "type", "unknown primitive"),
    ],
)
def test_a_screen_that_cannot_give_the_type_is_a_named_error(
    kind, action, node, png, field, message, tmp_path
):
    scr = _screen()
    with pytest.raises(SchemaError, match=message) as err:
        make_primitive(kind, _step(tmp_path, action), scr, scr.nodes[1] if node else None, "",
                       _png() if png else None)
    assert "step 3" in str(err.value) and field in str(err.value)
