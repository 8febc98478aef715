"""The annotation app's link to the annotation store, the proposer and the evaluator.

One place that turns the pages' JSON into :class:`~llamatouch.essential.schema.Annotation`
objects (schema-validated), asks the evaluator for verdicts and builds primitives from a
clicked component, so the web layer never depends on the schema's internals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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


@dataclasses.dataclass(frozen=True, slots=True)
class _Source:
    """What a new primitive is read from: a step of the trace, its screen, the clicked node.

    Attributes:
        kind: the JSON type of the primitive being built.
        where: how errors name the source (``step N``).
        step: the trace step.
        screen, node: the step's screen and the node the annotator clicked (``None`` = none).
        task_app: the task's app package (``""`` = unknown).
        png: the step's screenshot (``None`` = none recorded).
    """

    kind: str
    where: str
    step: TraceStep
    screen: UIScreen | None
    node: UINode | None
    task_app: str
    png: bytes | None

    def component(self) -> tuple[UINode, UIScreen]:
        if self.node is None or self.screen is None:
            raise SchemaError(self.where, self.kind, "click a component on the screen first")
        return self.node, self.screen


def _located(src: _Source) -> dict[str, Any]:
    return {"component": component_json(*src.component())}


def _similar(threshold: float) -> Callable[[_Source], dict[str, Any]]:
    def build(src: _Source) -> dict[str, Any]:
        comp = component_json(*src.component())
        return {"component": comp, "scope": "component", "threshold": threshold}

    return build


def _click(src: _Source) -> dict[str, Any]:
    comp = component_json(*src.component())
    return {"component": comp, "jitter": schema.DEFAULT_CLICK_JITTER}


def _image(src: _Source) -> dict[str, Any]:
    node, screen = src.component()
    if src.png is None:
        raise SchemaError(src.where, "image", "this step has no screenshot to hash")
    return {"component": component_json(node, screen), **_image_hash(src.png, node, screen)}


def _activity(src: _Source) -> dict[str, Any]:
    if not src.step.record.activity:
        raise SchemaError(src.where, "activity", "the step recorded no activity")
    return {"activity": src.step.record.activity}


def _typed(src: _Source) -> dict[str, Any]:
    act = src.step.record.action
    if not isinstance(act, Type) or not act.text:
        raise SchemaError(src.where, "type", "the action on this screen typed no text")
    return {"text": act.text, "match": "equals"}


def _package(src: _Source) -> dict[str, Any]:
    pkg = src.task_app or src.step.record.package
    if not pkg:
        raise SchemaError(src.where, src.kind, "no package known for this task")
    return {"package": pkg}


#: How each primitive class is filled in from a screen of the trace (its fields but ``type``).
_BUILDERS: dict[type[schema.Primitive], Callable[[_Source], dict[str, Any]]] = {
    schema.ExactPrimitive: _located,
    schema.AbsentPrimitive: _located,
    schema.FuzzyPrimitive: _similar(schema.DEFAULT_FUZZY_COMPONENT),
    schema.SemanticPrimitive: _similar(schema.DEFAULT_SEMANTIC),
    schema.ClickPrimitive: _click,
    schema.ImagePrimitive: _image,
    schema.ActivityPrimitive: _activity,
    schema.TypePrimitive: _typed,
    schema.InstalledPrimitive: _package,
    schema.UninstalledPrimitive: _package,
}


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
    where = f"step {step.index}"
    cls = schema.PRIMITIVE_TYPES.get(kind)
    if cls is None:
        raise SchemaError(where, "type", f"unknown primitive {kind!r}")
    fields = _BUILDERS[cls](_Source(kind, where, step, screen, node, task_app, png))
    # validate through the schema (one-primitive checkpoint) and return its normal form
    probe = {"schema": schema.ANNOTATION_SCHEMA, "task_id": "probe", "instruction": "",
             "app": "", "checkpoints": [{"primitives": [{"type": kind, **fields}]}]}
    ann = schema.annotation_from_json(probe, where)
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
