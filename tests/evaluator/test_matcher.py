"""The ordered walk: checkpoint order, shared screens, final, completion, error propagation."""

from __future__ import annotations

from evaluator_synth import screen

from llamatouch.essential.schema import (
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    Primitive,
    TypePrimitive,
)
from llamatouch.evaluator import EvalOptions, evaluate

A = screen({"text": "Alpha"})
B = screen({"text": "Beta"})
AB = screen({"text": "Alpha"}, {"text": "Beta", "bounds": (0, 300, 500, 400)})
FIN = {"action": "finish", "status": "success"}
TAP = {"action": "tap", "x": 10, "y": 10}


def has(text: str) -> Primitive:
    return ExactPrimitive(component=Component(text=text))


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
    a2 = ann(Checkpoint([TypePrimitive(text="zzz"), has("Beta")]))
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


# -- per-checkpoint properties (schema 1.1) -------------------------------------------------

SETTINGS = "com.app/.Settings"
MAIN = "com.app/.Main"


def switch(on: bool) -> object:
    return screen(
        {
            "cls": "android.widget.Switch",
            "text": "Dark theme",
            "resource_id": "com.app:id/dark",
            "checkable": True,
            "clickable": True,
            "checked": on,
        }
    )


def dark_on(*, persist: bool) -> Checkpoint:
    comp = Component(resource_id="com.app:id/dark", text="Dark theme", checked=True)
    return Checkpoint(
        [ActivityPrimitive(activity=SETTINGS), ExactPrimitive(component=comp)],
        note="dark theme on",
        persist=persist,
    )


def test_persist_fails_a_state_reached_then_undone(make_trace):
    """A switch turned on, then off again: success without persist, fail with it."""
    steps = [
        (switch(False), TAP, {"activity": SETTINGS}),
        (switch(True), TAP, {"activity": SETTINGS}),
        (switch(False), {"action": "key", "key": "back"}, {"activity": SETTINGS}),
        (A, FIN, {"activity": MAIN}),
    ]
    tr = make_trace(steps)
    assert evaluate(tr, ann(dark_on(persist=False))).success
    v = evaluate(tr, ann(dark_on(persist=True)))
    assert v.status == "fail"
    assert "checkpoint 0 (dark theme on)" in v.reason and "step 2" in v.reason
    assert "persist" in v.reason and v.checkpoint_steps == [1]
    undone = [e for e in v.evidence if e.step == 2]
    assert undone and undone[-1].passed is False and undone[-1].type == "exact"
    assert undone[-1].primitive == 1 and undone[-1].detail.startswith("persist:")


def test_persist_allows_leaving_the_screen_with_the_state_kept(make_trace):
    # the last screen that shows the switch (context: activity + the switch, any state) has it
    # on; the agent then went elsewhere: the state persisted
    steps = [
        (switch(False), TAP, {"activity": SETTINGS}),
        (switch(True), {"action": "key", "key": "back"}, {"activity": SETTINGS}),
        (A, FIN, {"activity": MAIN}),
    ]
    v = evaluate(make_trace(steps), ann(dark_on(persist=True)))
    assert v.success and v.checkpoint_steps == [1]


def test_persist_without_context_is_judged_on_the_last_step(make_trace):
    cp = Checkpoint([has("Alpha")], persist=True, note="alpha listed")
    assert evaluate(make_trace([(B, TAP, {}), (A, TAP, {}), (AB, FIN, {})]), ann(cp)).success
    v = evaluate(make_trace([(B, TAP, {}), (A, TAP, {}), (B, FIN, {})]), ann(cp))
    assert v.status == "fail" and "alpha listed" in v.reason and "step 2" in v.reason


def test_persist_ignores_event_primitives(make_trace):
    # a click is an event of its own screen: only the state primitives must hold at the end
    tap_alpha = {"action": "tap", "x": 500, "y": 50}
    clickable_a = screen({"text": "Alpha", "clickable": True, "bounds": (0, 0, 1080, 100)})
    cp = Checkpoint([ClickPrimitive(component=Component(text="Alpha")), has("Alpha")], persist=True)
    v = evaluate(make_trace([(clickable_a, tap_alpha, {}), (clickable_a, FIN, {})]), ann(cp))
    assert v.success


def test_persist_unknown_later_step_is_error(make_trace):
    steps = [
        (switch(True), TAP, {"activity": SETTINGS}),
        (switch(True), FIN, {"activity": SETTINGS}),
    ]
    tr = make_trace(steps)
    (tr.root / "steps" / "0001" / "screen.xml").write_text("<hierarchy><node")
    v = evaluate(tr, ann(dark_on(persist=True)))
    assert v.status == "error" and "persist" in v.reason and "malformed XML" in v.reason


def test_shared_screen_is_a_property_of_the_checkpoint(make_trace):
    tr = make_trace([(AB, FIN, {})])
    first, second = Checkpoint([has("Alpha")]), Checkpoint([has("Beta")])
    assert evaluate(tr, ann(first, second)).status == "fail"
    second.shared_screen = True
    v = evaluate(tr, ann(first, second))
    assert v.success and v.checkpoint_steps == [0, 0]
    # only that checkpoint may share: a third one still needs a later screen
    third = Checkpoint([has("Alpha")])
    assert evaluate(tr, ann(first, second, third)).status == "fail"
    tr2 = make_trace([(AB, TAP, {}), (A, FIN, {})])
    assert evaluate(tr2, ann(first, second, third)).checkpoint_steps == [0, 0, 1]


# -- unreadable hierarchies are errors, never a pre-check fail ------------------------------

_NODE = '<node class="android.widget.TextView" text="{}" bounds="[0,0][1080,100]" />'
_UNREADABLE = {
    "xxe": (
        '<?xml version="1.0"?>\n<!DOCTYPE hierarchy [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<hierarchy rotation="0">' + _NODE.format("&xxe;") + "</hierarchy>",
        "DOCTYPE/ENTITY",
    ),
    "billion-laughs": (
        '<?xml version="1.0"?>\n<!DOCTYPE hierarchy [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
            for i in range(1, 10)
        )
        + ']><hierarchy rotation="0">'
        + _NODE.format("&lol9;")
        + "</hierarchy>",
        "DOCTYPE/ENTITY",
    ),
    "deep": (
        '<hierarchy rotation="0">'
        + '<node class="android.widget.FrameLayout" bounds="[0,0][1080,2400]">' * 50_000
        + "</node>" * 50_000
        + "</hierarchy>",
        "malformed XML",
    ),
}


def test_unreadable_hierarchies_are_errors_not_prechecked_fails(make_trace):
    """XXE, billion laughs and 50k-deep XML that still end in </hierarchy>: the quick text
    pre-check must not answer for them (none of them holds the needle "Beta")."""
    for kind, (doc, why) in _UNREADABLE.items():
        assert doc.rstrip().endswith("</hierarchy>") and "Beta" not in doc
        for prim in (has("Beta"), ClickPrimitive(component=Component(text="Beta"))):
            tr = make_trace([(A, {"action": "tap", "x": 5, "y": 5}, {})])
            (tr.root / "steps" / "0000" / "screen.xml").write_text(doc)
            v = evaluate(tr, ann(Checkpoint([prim])))
            assert v.status == "error", (kind, prim.type, v.reason)
            assert why in v.reason and "screen.xml" in v.reason, (kind, v.reason)
