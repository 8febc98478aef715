"""One class per primitive type: the registry, strict parsing per class, the evaluator's
dispatch by class, and byte-identical round trips of every shipped annotation."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamatouch.errors import SchemaError
from llamatouch.essential.schema import (
    PRIMITIVE_TYPES,
    ActivityPrimitive,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    FuzzyPrimitive,
    ImagePrimitive,
    InstalledPrimitive,
    Primitive,
    TypePrimitive,
    annotation_to_json,
    load_annotation,
)
from llamatouch.evaluator.primitives import CHECKS
from llamatouch.paths import annotations_dir

SHIPPED = sorted(annotations_dir().rglob("*.json"))


def test_shipped_annotations_exist():
    suites = {p.relative_to(annotations_dir()).parts[0] for p in SHIPPED}
    assert len(SHIPPED) > 100 and {"demo", "droidtask"} <= suites


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_annotation_round_trips_to_identical_bytes(path):
    ann = load_annotation(path)
    written = json.dumps(annotation_to_json(ann), indent=2, ensure_ascii=False) + "\n"
    assert written.encode("utf-8") == path.read_bytes()


def test_registry_names_one_class_per_json_type():
    assert list(PRIMITIVE_TYPES) == [
        "activity", "type", "click", "installed", "uninstalled",
        "exact", "absent", "fuzzy", "image", "semantic",
    ]  # fmt: skip
    for name, cls in PRIMITIVE_TYPES.items():
        assert cls.kind == name and issubclass(cls, Primitive)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "__slots__" in cls.__dict__


def test_evaluator_has_a_check_for_every_class():
    assert set(CHECKS) == set(PRIMITIVE_TYPES.values())


def test_each_class_holds_only_its_fields():
    names = {c.kind: {f.name for f in dataclasses.fields(c)} for c in PRIMITIVE_TYPES.values()}
    assert names["activity"] == {"activity", "match"}
    assert names["installed"] == names["uninstalled"] == {"package"}
    assert names["image"] == {"component", "hash", "algo", "max_distance"}
    assert "scorer" in names["fuzzy"] and "scorer" not in names["semantic"]
    assert not hasattr(ActivityPrimitive(activity="a/.B"), "component")


def test_primitives_are_immutable():
    p = InstalledPrimitive(package="com.a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.package = "com.b"  # type: ignore[misc]


def test_events_are_click_and_type():
    assert {c.kind for c in PRIMITIVE_TYPES.values() if c.event} == {"click", "type"}


def test_from_json_builds_the_registered_class_and_back():
    raw = {"type": "type", "text": "hello", "match": "contains"}
    p = Primitive.from_json(raw)
    assert p == TypePrimitive(text="hello", match="contains")
    assert p.to_json() == raw
    assert TypePrimitive.from_json(raw) == p


def test_from_json_on_a_subclass_refuses_another_type():
    with pytest.raises(SchemaError, match=r"p\.type.*expected 'click', got 'type'"):
        ClickPrimitive.from_json({"type": "type", "text": "x"}, "f.json", "p")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "installed", "package": "a", "text": "x"}, "<primitive>.text"),
        ({"type": "activity"}, "<primitive>.activity"),
        ({"type": "click"}, "<primitive>.component"),
        ({"type": "semantic", "scope": "screen", "text": "x", "scorer": "ratio"}, "<p>.scorer"),
        ({"type": "image", "component": {"text": "a"}, "hash": "0" * 16}, "component.bounds"),
        ({"type": 3}, "<primitive>.type"),
    ],
)
def test_from_json_is_strict_and_names_the_field(raw, field):
    with pytest.raises(SchemaError) as err:
        Primitive.from_json(raw, "ann.json")
    assert field.replace("<p>", "<primitive>") in str(err.value)
    assert "ann.json" in str(err.value)


_text = st.text(min_size=1, max_size=20)
_comp = st.builds(Component, text=_text, resource_id=st.none() | _text)
_prims = st.one_of(
    st.builds(ActivityPrimitive, activity=_text, match=st.sampled_from([None, "package"])),
    st.builds(TypePrimitive, text=_text, case_sensitive=st.booleans()),
    st.builds(ClickPrimitive, component=_comp, jitter=st.none() | st.floats(0, 0.5)),
    st.builds(InstalledPrimitive, package=_text),
    st.builds(ExactPrimitive, component=_comp),
    st.builds(FuzzyPrimitive, component=_comp, threshold=st.none() | st.floats(0, 1)),
    st.builds(FuzzyPrimitive, scope=st.just("screen"), text=_text),
    st.builds(
        ImagePrimitive,
        component=st.builds(Component, bounds=st.just((0.1, 0.1, 0.5, 0.5))),
        hash=st.text("0123456789abcdef", min_size=16, max_size=16),
        max_distance=st.none() | st.integers(0, 64),
    ),
)


@given(_prims)
def test_json_round_trip_keeps_the_primitive(p):
    data = json.loads(json.dumps(p.to_json()))
    assert data["type"] == p.kind
    back = Primitive.from_json(data)
    assert type(back) is type(p) and back.to_json() == p.to_json()
