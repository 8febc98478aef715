"""Annotation schema: round trips, validation errors naming file and field, the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.errors import JsonFormatError, SchemaError
from llamatouch.essential.schema import (
    ANNOTATION_SCHEMA,
    ANNOTATION_SCHEMA_1_1,
    PRIMITIVE_TYPES,
    AbsentPrimitive,
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    FuzzyPrimitive,
    ImagePrimitive,
    InstalledPrimitive,
    Locator,
    SemanticPrimitive,
    TypePrimitive,
    UninstalledPrimitive,
    annotation_to_json,
    load_annotation,
    load_annotations_dir,
    save_annotation,
)
from llamatouch.paths import annotations_dir

COMP = Component(
    resource_id="com.app:id/t",
    class_name="android.widget.TextView",
    text="Hi",
    bounds=(0.1, 0.2, 0.3, 0.4),
    alternatives=[Locator(text="Hi")],
)


def every_primitive() -> Annotation:
    prims = [
        ActivityPrimitive(activity="com.app/.Main"),
        TypePrimitive(text="hello", match="contains", case_sensitive=True),
        ClickPrimitive(component=COMP, jitter=0.01),
        InstalledPrimitive(package="com.duolingo"),
        UninstalledPrimitive(package="com.spotify.music"),
        ExactPrimitive(
            component=Component(text="x", checked=True, bounds=(0, 0, 1, 1)),
            position_tolerance=0.05,
        ),
        AbsentPrimitive(component=Component(content_desc="Close")),
        FuzzyPrimitive(component=COMP, threshold=0.8, scorer="token_set_ratio"),
        FuzzyPrimitive(scope="screen", text="a b c"),
        ImagePrimitive(component=COMP, hash="0123456789abcdef", algo="phash", max_distance=6),
        SemanticPrimitive(scope="screen", text="a settings page", threshold=0.5),
    ]
    assert {p.type for p in prims} == set(PRIMITIVE_TYPES)
    return Annotation(
        "task-1",
        "do x",
        "com.app",
        [
            Checkpoint(prims[:5], note="first", gt_step=0),
            Checkpoint(prims[5:], final=True, gt_step=3),
        ],
        provenance={"method": "manual"},
        gt_actions=[{"action": "tap", "x": 1, "y": 2}, {"action": "finish"}],
    )


def test_round_trip_every_primitive(tmp_path):
    ann = every_primitive()
    path = tmp_path / "task-1.json"
    save_annotation(ann, path)
    back = load_annotation(path)
    assert annotation_to_json(back) == annotation_to_json(ann)
    assert json.loads(path.read_text())["schema"] == ANNOTATION_SCHEMA
    assert back.checkpoints[0].primitives[2].component == COMP


def _write(tmp_path: Path, data: object, name: str = "bad.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def _base() -> dict:
    return annotation_to_json(every_primitive())


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda d: d["checkpoints"][0]["primitives"][0].update(type="teleport"),
            "checkpoints[0].primitives[0].type",
        ),
        (
            lambda d: d["checkpoints"][1]["primitives"][3].update(threshold="high"),
            "checkpoints[1].primitives[3].threshold",
        ),
        (
            lambda d: d["checkpoints"][1]["primitives"][0].pop("component"),
            "checkpoints[1].primitives[0].component",
        ),
        (
            lambda d: d["checkpoints"][0]["primitives"][3].pop("package"),
            "checkpoints[0].primitives[3].package",
        ),
        (
            lambda d: d["checkpoints"][0]["primitives"][0].update(colour="red"),
            "checkpoints[0].primitives[0].colour",
        ),
        (
            lambda d: d["checkpoints"][1]["primitives"][5].update(hash="xyz"),
            "checkpoints[1].primitives[5].hash",
        ),
        (lambda d: d["checkpoints"][0].update(final=True), "checkpoints[0].final"),
        (lambda d: d["checkpoints"][0].update(gt_step=-1), "checkpoints[0].gt_step"),
        (lambda d: d.pop("task_id"), "<top>.task_id"),
        (lambda d: d.update(schema="llamatouch.essential/0"), "schema"),
        (lambda d: d.update(checkpoints=[]), "checkpoints"),
        (lambda d: d["gt_actions"].append({"action": "fly"}), "gt_actions[2]"),
        (
            lambda d: d["checkpoints"][1]["primitives"][0]["component"].update(bounds=[0, 0, 2, 1]),
            "checkpoints[1].primitives[0].component.bounds",
        ),
    ],
)
def test_validation_names_file_and_field(tmp_path, mutate, field):
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(SchemaError) as ei:
        load_annotation(path)
    assert ei.value.field == field
    assert str(path) in str(ei.value)


def test_malformed_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{")
    with pytest.raises(JsonFormatError, match="malformed JSON"):
        load_annotation(p)


def test_store_collects_errors_and_goes_on(tmp_path):
    save_annotation(every_primitive(), tmp_path / "task-1.json")
    dup = every_primitive()
    save_annotation(dup, tmp_path / "sub" / "again.json")
    _write(tmp_path, {"schema": ANNOTATION_SCHEMA}, "broken.json")
    (tmp_path / "garbage.json").write_text("not json")
    got = load_annotations_dir(tmp_path)
    assert set(got) == {"task-1"}
    assert len(got.errors) == 3
    messages = " ".join(str(e) for e in got.errors)
    assert "broken.json" in messages and "garbage.json" in messages and "duplicate" in messages


def test_shipped_annotations_are_valid():
    got = load_annotations_dir(annotations_dir())
    assert got.errors == []
    assert len(got) >= 141


# -- schema 1.1: per-checkpoint persist / shared_screen ------------------------------------


def _two_checkpoints(**second: bool) -> Annotation:
    return Annotation(
        "task-2",
        "turn it on",
        "com.app",
        [
            Checkpoint([ActivityPrimitive(activity="com.app/.Settings")]),
            Checkpoint(
                [ExactPrimitive(component=Component(text="Autosave", checked=True))],
                **second,
            ),
        ],
    )


def test_version_1_files_still_load_and_are_written_as_version_1(tmp_path):
    path = tmp_path / "a.json"
    data = annotation_to_json(_two_checkpoints())
    assert data["schema"] == ANNOTATION_SCHEMA == "llamatouch.essential/1"
    path.write_text(json.dumps(data))
    back = load_annotation(path)
    assert back.schema == ANNOTATION_SCHEMA
    assert [(c.persist, c.shared_screen) for c in back.checkpoints] == [(False, False)] * 2


def test_persist_and_shared_screen_round_trip_as_version_1_1(tmp_path):
    ann = _two_checkpoints(persist=True, shared_screen=True)
    path = tmp_path / "task-2.json"
    save_annotation(ann, path)
    raw = json.loads(path.read_text())
    assert raw["schema"] == ANNOTATION_SCHEMA_1_1 == "llamatouch.essential/1.1"
    assert raw["checkpoints"][1]["persist"] is True
    assert raw["checkpoints"][1]["shared_screen"] is True
    assert "persist" not in raw["checkpoints"][0]
    back = load_annotation(path)
    assert back.schema == ANNOTATION_SCHEMA_1_1
    assert back.checkpoints[1].persist and back.checkpoints[1].shared_screen
    assert annotation_to_json(back) == raw
    # a 1.1 file that uses no 1.1 field is written back as version 1
    back.checkpoints[1].persist = back.checkpoints[1].shared_screen = False
    assert annotation_to_json(back)["schema"] == ANNOTATION_SCHEMA


@pytest.mark.parametrize(
    ("schema", "mutate", "field", "message"),
    [
        # the 1.1 fields do not exist in version 1
        (ANNOTATION_SCHEMA, {"persist": True}, "checkpoints[1].persist", "needs schema"),
        (ANNOTATION_SCHEMA, {"shared_screen": True}, "checkpoints[1].shared_screen", "needs"),
        (ANNOTATION_SCHEMA_1_1, {"persist": "yes"}, "checkpoints[1].persist", "true/false"),
        (ANNOTATION_SCHEMA_1_1, {"shared_screen": 1}, "checkpoints[1].shared_screen", "true"),
        (ANNOTATION_SCHEMA_1_1, {"sticky": True}, "checkpoints[1].sticky", "unknown field"),
    ],
)
def test_version_1_1_fields_are_validated(tmp_path, schema, mutate, field, message):
    data = annotation_to_json(_two_checkpoints())
    data["schema"] = schema
    data["checkpoints"][1].update(mutate)
    path = _write(tmp_path, data)
    with pytest.raises(SchemaError, match=message) as ei:
        load_annotation(path)
    assert ei.value.field == field


def test_the_first_checkpoint_cannot_share_a_previous_screen(tmp_path):
    data = annotation_to_json(_two_checkpoints())
    data["schema"] = ANNOTATION_SCHEMA_1_1
    data["checkpoints"][0]["shared_screen"] = True
    with pytest.raises(SchemaError, match="no previous") as ei:
        load_annotation(_write(tmp_path, data))
    assert ei.value.field == "checkpoints[0].shared_screen"


def test_persist_needs_a_state_primitive(tmp_path):
    data = annotation_to_json(_two_checkpoints())
    data["schema"] = ANNOTATION_SCHEMA_1_1
    data["checkpoints"][1] = {"persist": True, "primitives": [{"type": "type", "text": "x"}]}
    with pytest.raises(SchemaError, match="needs a state primitive") as ei:
        load_annotation(_write(tmp_path, data))
    assert ei.value.field == "checkpoints[1].persist"


def test_state_primitives_leave_out_events():
    cp = Checkpoint(
        [
            ClickPrimitive(component=COMP),
            TypePrimitive(text="x"),
            ExactPrimitive(component=COMP),
            ActivityPrimitive(activity="com.app/.Main"),
        ]
    )
    assert [p.type for p in cp.state_primitives()] == ["exact", "activity"]
