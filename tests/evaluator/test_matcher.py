"""The ordered walk: checkpoint order, shared screens, final, completion, error propagation."""

from __future__ import annotations

from evaluator_synth import screen

from llamatouch.essential.schema import Annotation, Checkpoint, Component, Primitive
from llamatouch.evaluator import EvalOptions, evaluate

A = screen({"text": "Alpha"})
B = screen({"text": "Beta"})
AB = screen({"text": "Alpha"}, {"text": "Beta", "bounds": (0, 300, 500, 400)})
FIN = {"action": "finish", "status": "success"}
TAP = {"action": "tap", "x": 10, "y": 10}


def has(text: str) -> Primitive:
    return Primitive("exact", component=Component(text=text))


def ann(*cps: Checkpoint) -> Annotation:
    return Annotation("t", "x", "com.app", list(cps))


def test_checkpoints_in_order(make_trace):
    a = ann(Checkpoint([has("Alpha")]), Checkpoint([has("Beta")]))
    v = evaluate(make_trace([(A, TAP, {}), (B, FIN, {})]), a)
    assert v.success and v.checkpoint_steps == [0, 1]
    v = evaluate(make_trace([(B, TAP, {}), (A, FIN, {})]), a)
    assert v.status == "fail" and v.checkpoint_steps == [1, None]
    assert "checkpoint 1" in v.reason


def test_primitives_of_a_checkpoint_hold_on_one_screen(make_trace):
    a = ann(Checkpoint([has("Alpha"), has("Beta")]))
    assert evaluate(make_trace([(A, TAP, {}), (B, FIN, {})]), a).status == "fail"
    assert evaluate(make_trace([(AB, FIN, {})]), a).success


def test_shared_screen_option(make_trace):
    a = ann(Checkpoint([has("Alpha")]), Checkpoint([has("Beta")]))
    tr = make_trace([(AB, FIN, {})])
    assert evaluate(tr, a).status == "fail"
    v = evaluate(tr, a, EvalOptions(allow_shared_screen=True))
    assert v.success and v.checkpoint_steps == [0, 0]


def test_final_checkpoint_must_hold_on_the_last_screen(make_trace):
    a = ann(Checkpoint([has("Alpha")]), Checkpoint([has("Beta")], final=True))
    assert evaluate(make_trace([(A, TAP, {}), (B, FIN, {})]), a).success
    v = evaluate(make_trace([(A, TAP, {}), (B, TAP, {}), (A, FIN, {})]), a)
    assert v.status == "fail" and "last screen" in v.reason


def test_require_completion(make_trace):
    a = ann(Checkpoint([has("Alpha")]))
    tr = make_trace([(A, None, {})])
    assert evaluate(tr, a).success
    v = evaluate(tr, a, EvalOptions(require_completion=True))
    assert v.status == "fail" and "did not declare completion" in v.reason
    tr = make_trace([(A, FIN, {})])
    assert evaluate(tr, a, EvalOptions(require_completion=True)).success


def test_uncomputable_step_is_error_only_when_it_matters(make_trace, tmp_path):
    a = ann(Checkpoint([has("Beta")]))
    # step 0 has no hierarchy but step 1 satisfies the checkpoint: success, problem listed
    tr = make_trace([(A, TAP, {}), (B, FIN, {})])
    (tr.root / "steps" / "0000" / "screen.xml").unlink()
    v = evaluate(tr, a)
    assert v.success and v.problems and "screen.xml" in v.problems[0]
    # the only step that could satisfy it is unreadable: error, never a silent fail
    tr = make_trace([(A, TAP, {}), (B, FIN, {})])
    (tr.root / "steps" / "0001" / "screen.xml").write_text("<hierarchy><node")
    v = evaluate(tr, a)
    assert v.status == "error" and "malformed XML" in v.reason
    # a primitive that definitely fails on the same screen makes the unknown irrelevant
    a2 = ann(Checkpoint([Primitive("type", text="zzz"), has("Beta")]))
    v = evaluate(tr, a2)
    assert v.status == "fail"


def test_infra_error_episode_that_failed_is_error(make_trace):
    a = ann(Checkpoint([has("Beta")]))
    tr = make_trace([(A, None, {})], status="infra_error")
    assert evaluate(tr, a).status == "error"
    assert evaluate(tr, a, EvalOptions(infra_error_is_error=False)).status == "fail"
    tr = make_trace([(B, None, {})], status="infra_error")
    assert evaluate(tr, a).success


def test_empty_trace_fails(make_trace):
    v = evaluate(make_trace([]), ann(Checkpoint([has("Alpha")])))
    assert v.status == "fail" and v.reason == "the trace has no steps"


def test_verdict_json_has_evidence(make_trace):
    v = evaluate(make_trace([(A, FIN, {})]), ann(Checkpoint([has("Alpha")])))
    js = v.to_json()
    assert js["status"] == "success"
    ev = js["evidence"][0]
    assert ev["type"] == "exact" and ev["passed"] is True and ev["found"]["text"] == "Alpha"
