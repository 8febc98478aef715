"""The annotation app's link to the annotation store, the proposer and the evaluator.

One place that turns the pages' JSON into :class:`~llamatouch.essential.schema.Annotation`
objects (schema-validated), asks the evaluator for verdicts and builds primitives from a
clicked component, so the web layer never depends on the schema's internals.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from llamatouch.actions import Type
from llamatouch.annotating.propose import component_of, propose_annotation
from llamatouch.errors import SchemaError
from llamatouch.essential import schema
from llamatouch.essential.schema import Annotation
from llamatouch.evaluator import evaluate as run_evaluator
from llamatouch.tasks import Task
from llamatouch.trace.format import Trace, TraceStep
from llamatouch.ui.node import UINode, UIScreen


def first_screen_trace(trace: Trace) -> Trace:
    """The task's first screen alone: step 0 with no action taken, as a one-step trace."""
    if not trace.steps:
        return trace
    first = trace.steps[0]
    record = dataclasses.replace(first.record, action=None, action_result=None)
    manifest = dataclasses.replace(trace.manifest, num_steps=1)
    return Trace(root=trace.root, manifest=manifest, steps=[TraceStep(record, first.folder)])


def annotation_to_json(annotation: Annotation) -> dict[str, Any]:
    return schema.annotation_to_json(annotation)


def annotation_from_json(obj: Any, source: str | Path) -> Annotation:
    """Validate ``obj`` against the schema; raises ``SchemaError`` naming the field."""
    return schema.annotation_from_json(obj, source)


def load_annotation(path: Path) -> Annotation:
    return schema.load_annotation(path)


def save_annotation(annotation: Annotation, path: Path) -> None:
    schema.save_annotation(annotation, path)


def propose(trace: Trace, task: Task | None = None) -> Annotation:
    return propose_annotation(trace, task)


def evaluate(trace: Trace, annotation: Annotation) -> dict[str, Any]:
    """The evaluator's verdict as JSON (``status``, ``checkpoint_steps``, ``evidence`` ...)."""
    verdict = run_evaluator(trace, annotation)
    return dict(verdict.to_json())


def component_json(node: UINode, screen: UIScreen) -> dict[str, Any]:
    """A clicked node as the schema's self-contained component (the proposer's description:
    attributes, state, relative box and locator alternatives)."""
    prim = schema.ExactPrimitive(component=component_of(node, screen))
    return dict(prim.to_json()["component"])


def make_primitive(
    kind: str,
    step: TraceStep,
    screen: UIScreen | None,
    node: UINode | None,
    task_app: str,
    png: bytes | None,
) -> dict[str, Any]:
    """Build one primitive of type ``kind`` from a screen of the trace (and a clicked node for
    component types), validated by the schema. Raises :class:`SchemaError` when the screen
    cannot give what the type needs (e.g. ``type`` on a step that typed nothing)."""
    src = f"step {step.index}"
    rec = step.record
    cls = schema.PRIMITIVE_TYPES.get(kind)
    if cls is None:
        raise SchemaError(src, "type", f"unknown primitive {kind!r}")
    obj: dict[str, Any] = {"type": kind}
    if "component" in {f.name for f in dataclasses.fields(cls)}:
        if node is None or screen is None:
            raise SchemaError(src, kind, "click a component on the screen first")
        obj["component"] = component_json(node, screen)
        if kind in ("fuzzy", "semantic"):
            obj["scope"] = "component"
            obj["threshold"] = (
                schema.DEFAULT_FUZZY_COMPONENT if kind == "fuzzy" else schema.DEFAULT_SEMANTIC
            )
        elif kind == "click":
            obj["jitter"] = schema.DEFAULT_CLICK_JITTER
        elif kind == "image":
            if png is None:
                raise SchemaError(src, "image", "this step has no screenshot to hash")
            obj.update(_image_hash(png, node, screen))
    elif kind == "activity":
        if not rec.activity:
            raise SchemaError(src, "activity", "the step recorded no activity")
        obj["activity"] = rec.activity
    elif kind == "type":
        act = rec.action
        if not isinstance(act, Type) or not act.text:
            raise SchemaError(src, "type", "the action on this screen typed no text")
        obj["text"] = act.text
        obj["match"] = "equals"
    elif kind in ("installed", "uninstalled"):
        pkg = task_app or rec.package
        if not pkg:
            raise SchemaError(src, kind, "no package known for this task")
        obj["package"] = pkg
    # validate through the schema (one-primitive checkpoint) and return its normal form
    probe = {"schema": schema.ANNOTATION_SCHEMA, "task_id": "probe", "instruction": "",
             "app": "", "checkpoints": [{"primitives": [obj]}]}
    ann = schema.annotation_from_json(probe, src)
    return dict(ann.checkpoints[0].primitives[0].to_json())


def _image_hash(png: bytes, node: UINode, screen: UIScreen) -> dict[str, Any]:
    from llamatouch.evaluator import imagehash
    from llamatouch.ui.image import decode_image

    with decode_image(png, "screenshot") as img:  # size checked before decoding
        sx = img.width / max(1, screen.width)
        sy = img.height / max(1, screen.height)
        b = node.bounds
        box = (b.left * sx, b.top * sy, b.right * sx, b.bottom * sy)
        digest = imagehash.image_hash(imagehash.crop(img, box), "dhash")
    return {"hash": digest, "algo": "dhash", "max_distance": schema.DEFAULT_IMAGE_DISTANCE}
