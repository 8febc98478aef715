"""The semantic primitive through the real all-MiniLM-L6-v2 encoder (numpy, no torch)."""

from __future__ import annotations

from evaluator_synth import screen

from llamatouch.embed import get_encoder
from llamatouch.essential.schema import (
    Annotation,
    Checkpoint,
    Component,
    Primitive,
    SemanticPrimitive,
)
from llamatouch.evaluator import evaluate

SCR = screen(
    {"text": "Delete all events"}, {"text": "Customize colors", "bounds": (0, 300, 900, 400)}
)


def _ann(p: Primitive) -> Annotation:
    return Annotation("t", "", "", [Checkpoint([p])])


def test_semantic_component_and_screen(make_trace):
    tr = make_trace([(SCR, None, {})])
    close = SemanticPrimitive(component=Component(text="Remove every event"), threshold=0.6)
    v = evaluate(tr, _ann(close))
    assert v.success, v.evidence
    assert v.evidence[0].found["text"] == "Delete all events"
    far = SemanticPrimitive(component=Component(text="Take a selfie"), threshold=0.6)
    v = evaluate(tr, _ann(far))
    assert v.status == "fail" and v.evidence[0].score < 0.6
    scr = SemanticPrimitive(
        scope="screen", text="calendar settings: delete events, colours", threshold=0.5
    )
    assert evaluate(tr, _ann(scr)).success


def test_encoder_is_loaded_once_and_caches(make_trace):
    enc = get_encoder()
    tr = make_trace([(SCR, None, {}), (SCR, None, {})])
    p = SemanticPrimitive(component=Component(text="Erase all events"), threshold=0.99)
    evaluate(tr, _ann(p))
    assert get_encoder() is enc
    before = len(enc._cache)
    evaluate(tr, _ann(p))  # the same texts again: nothing new is encoded
    assert len(enc._cache) == before
