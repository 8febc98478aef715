"""Action-matching baselines, from their published rules.

**Exact action match** (Android in the Wild, Rawles et al. 2023, ``action_matching.py`` of
google-research/android_in_the_wild): two actions match when

- both are taps (touch and lift within 0.04 of the screen) and either both points fall inside
  one element box of the screen grown by the augment fraction 1.4 in width and height (the
  published code adds 1.4x the size, 0.7x on each side), or their normalised (y, x) distance
  is at most 0.14;
- both are drags (swipes/scrolls) with the same main axis (the published rule compares the
  axis of largest movement only);
- otherwise their action types are equal, and for ``type`` the typed texts are equal after
  lower-casing (the text check of the AITW-derived evaluations, e.g. Auto-UI/SeeClick).

Element boxes are the visible leaf nodes of the agent's hierarchy at that step (the closest
analogue of AITW's OCR/icon detections; containers are left out because a full-screen box
would make every pair of taps match). ``wait`` actions are dropped from both sequences.
An episode succeeds when the agent's sequence has the ground truth's length and matches it
action by action.

**LCS**: the longest common subsequence of the two sequences under the same action match;
success when ``LCS / len(ground truth) >= lcs_threshold`` (default 1.0: the ground-truth
actions all appear, in order, among the agent's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llamatouch.actions import (
    Action,
    Finish,
    Key,
    LongPress,
    OpenApp,
    Scroll,
    Swipe,
    Tap,
    Type,
    Wait,
    action_from_json,
)
from llamatouch.errors import ActionError, EvaluationError
from llamatouch.essential.schema import Annotation
from llamatouch.evaluator.options import Evidence, Verdict
from llamatouch.evaluator.stepview import StepView
from llamatouch.trace.format import Trace

TAP_DISTANCE_THRESHOLD = 0.14
BOX_AUGMENT_FRACTION = 1.4
SWIPE_DISTANCE_THRESHOLD = 0.04

#: scroll direction -> normalised (y, x) touch and lift (content scrolls ``direction``: the
#: finger moves the other way, as in AITW's "scroll down" = touch (0.8) -> lift (0.2) in y).
_SCROLL_VECTORS = {
    "down": ((0.8, 0.5), (0.2, 0.5)),
    "up": ((0.2, 0.5), (0.8, 0.5)),
    "right": ((0.5, 0.8), (0.5, 0.2)),
    "left": ((0.5, 0.2), (0.5, 0.8)),
}


@dataclass(slots=True)
class AitwAction:
    """An action in AITW terms: a type name, normalised (y, x) touch/lift, typed text."""

    kind: str  # dual_point | type | key:<name> | open_app | finish
    touch: tuple[float, float] = (-1.0, -1.0)
    lift: tuple[float, float] = (-1.0, -1.0)
    text: str = ""


def to_aitw(action: Action, width: int, height: int) -> AitwAction | None:
    """Map one of our actions to AITW terms (``None`` for ``wait``)."""
    w, h = max(width, 1), max(height, 1)
    if isinstance(action, Wait):
        return None
    if isinstance(action, (Tap, LongPress)):
        p = (action.y / h, action.x / w)
        return AitwAction("dual_point", p, p)
    if isinstance(action, Swipe):
        return AitwAction(
            "dual_point", (action.y1 / h, action.x1 / w), (action.y2 / h, action.x2 / w)
        )
    if isinstance(action, Scroll):
        touch, lift = _SCROLL_VECTORS[action.direction]
        return AitwAction("dual_point", touch, lift)
    if isinstance(action, Type):
        return AitwAction("type", text=action.text)
    if isinstance(action, Key):
        return AitwAction(f"key:{action.key}")
    if isinstance(action, OpenApp):
        return AitwAction("open_app", text=action.package)
    if isinstance(action, Finish):
        return AitwAction("finish")
    return AitwAction(action.kind)


def _is_tap(a: AitwAction) -> bool:
    return math.dist(a.touch, a.lift) <= SWIPE_DISTANCE_THRESHOLD


Box = tuple[float, float, float, float]  # normalised top, left, bottom, right


def _grown(box: Box) -> Box:
    t, lft, b, r = box
    dh, dw = (b - t) * BOX_AUGMENT_FRACTION / 2, (r - lft) * BOX_AUGMENT_FRACTION / 2
    return (max(0.0, t - dh), max(0.0, lft - dw), min(1.0, b + dh), min(1.0, r + dw))


def _inside(p: tuple[float, float], box: Box) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def actions_match(a: AitwAction, b: AitwAction, boxes: list[Box]) -> bool:
    """The AITW action match (see the module docstring)."""
    if a.kind != "dual_point" or b.kind != "dual_point":
        if a.kind != b.kind:
            return False
        if a.kind in ("type", "open_app"):
            return a.text.strip().lower() == b.text.strip().lower()
        return True
    ta, tb = _is_tap(a), _is_tap(b)
    if ta != tb:
        return False
    if ta:
        if any(_inside(a.touch, g) and _inside(b.touch, g) for g in map(_grown, boxes)):
            return True
        return math.dist(a.touch, b.touch) <= TAP_DISTANCE_THRESHOLD
    da = (a.lift[0] - a.touch[0], a.lift[1] - a.touch[1])
    db = (b.lift[0] - b.touch[0], b.lift[1] - b.touch[1])
    axis_a = 0 if abs(da[0]) >= abs(da[1]) else 1
    axis_b = 0 if abs(db[0]) >= abs(db[1]) else 1
    return axis_a == axis_b


def screen_boxes(sv: StepView) -> list[Box]:
    """Visible leaf nodes of the step's hierarchy as normalised boxes (empty if none)."""
    try:
        screen = sv.screen()
        w, h = sv.screen_size()
    except EvaluationError:
        return []
    out: list[Box] = []
    for n in screen.nodes:
        if n.children or not n.visible or n.bounds.area <= 0:
            continue
        b = n.bounds
        out.append((b.top / h, b.left / w, b.bottom / h, b.right / w))
    return out


@dataclass(slots=True)
class _Seq:
    actions: list[Action]
    steps: list[int]  # the trace step of each action (agent) or its index (ground truth)
    raw: list[dict[str, Any]]


def _agent_sequence(views: list[StepView]) -> _Seq:
    acts: list[Action] = []
    steps: list[int] = []
    raw: list[dict[str, Any]] = []
    for sv in views:
        a = sv.action()
        if a is None or isinstance(a, Wait):
            continue
        acts.append(a)
        steps.append(sv.index)
        raw.append(a.to_json())
    return _Seq(acts, steps, raw)


def _gt_sequence(ann: Annotation) -> _Seq:
    acts: list[Action] = []
    raw: list[dict[str, Any]] = []
    for i, obj in enumerate(ann.gt_actions):
        try:
            a = action_from_json(obj)
        except ActionError as exc:
            raise EvaluationError(f"annotation {ann.task_id}: gt_actions[{i}]: {exc}") from exc
        if isinstance(a, Wait):
            continue
        acts.append(a)
        raw.append(obj)
    return _Seq(acts, list(range(len(acts))), raw)


def _prepare(trace: Trace, ann: Annotation) -> tuple[list[StepView], _Seq, _Seq]:
    if not ann.gt_actions:
        raise EvaluationError(f"annotation {ann.task_id} has no gt_actions for the baseline")
    views = [StepView(s) for s in trace.steps]
    return views, _agent_sequence(views), _gt_sequence(ann)


class _Matcher:
    """Compares agent action *i* with ground-truth action *j* on agent step *i*'s screen
    (both normalised by that screen's size, its leaf boxes as AITW's element boxes)."""

    def __init__(self, views: list[StepView], agent: _Seq, gt: _Seq) -> None:
        self.views, self.agent, self.gt = views, agent, gt
        self._boxes: dict[int, list[Box]] = {}

    def __call__(self, i: int, j: int) -> bool:
        sv = self.views[self.agent.steps[i]]
        w, h = sv.record.width or 1080, sv.record.height or 1920
        a = to_aitw(self.agent.actions[i], w, h)
        b = to_aitw(self.gt.actions[j], w, h)
        if a is None or b is None:
            return a is b
        s = self.agent.steps[i]
        if s not in self._boxes:
            self._boxes[s] = screen_boxes(sv)
        return actions_match(a, b, self._boxes[s])


def _verdict(ok: bool, reason: str, ann: Annotation, trace: Trace, ev: list[Evidence]) -> Verdict:
    return Verdict(
        status="success" if ok else "fail",
        checkpoint_steps=[],
        evidence=ev,
        reason=reason,
        task_id=ann.task_id,
        episode_id=trace.manifest.episode_id,
    )


def _error(exc: Exception, ann: Annotation, trace: Trace) -> Verdict:
    return Verdict("error", [], [], str(exc), ann.task_id, trace.manifest.episode_id, [str(exc)])


def evaluate_exact_match(trace: Trace, ann: Annotation) -> Verdict:
    """AITW-style episode-level exact action match."""
    try:
        views, agent, gt = _prepare(trace, ann)
        ev: list[Evidence] = []
        n = min(len(agent.actions), len(gt.actions))
        ok = len(agent.actions) == len(gt.actions)
        first_bad: int | None = None
        match = _Matcher(views, agent, gt)
        for i in range(n):
            m = match(i, i)
            ev.append(
                Evidence(
                    0,
                    i,
                    "action",
                    agent.steps[i],
                    m,
                    float(m),
                    1.0,
                    gt.raw[i],
                    agent.raw[i],
                    "AITW action match",
                )
            )
            if not m and first_bad is None:
                first_bad = i
        if first_bad is not None:
            ok = False
            reason = f"action {first_bad} differs from the ground truth"
        elif not ok:
            reason = f"{len(agent.actions)} actions, ground truth has {len(gt.actions)}"
        else:
            reason = f"all {len(gt.actions)} actions match the ground truth"
        return _verdict(ok, reason, ann, trace, ev)
    except EvaluationError as exc:
        return _error(exc, ann, trace)


def lcs_length(agent: _Seq, gt: _Seq, views: list[StepView]) -> tuple[int, list[tuple[int, int]]]:
    """LCS under the AITW match; also the matched (agent index, gt index) pairs."""
    n, m = len(agent.actions), len(gt.actions)
    match = _Matcher(views, agent, gt)
    eq = [[match(i, j) for j in range(m)] for i in range(n)]
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            dp[i][j] = dp[i + 1][j + 1] + 1 if eq[i][j] else max(dp[i + 1][j], dp[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if eq[i][j] and dp[i][j] == dp[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i += 1
            j += 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            i += 1
        else:
            j += 1
    return dp[0][0], pairs


def evaluate_lcs(trace: Trace, ann: Annotation, threshold: float = 1.0) -> Verdict:
    """LCS baseline (see the module docstring)."""
    try:
        views, agent, gt = _prepare(trace, ann)
        length, pairs = lcs_length(agent, gt, views)
        ratio = length / max(len(gt.actions), 1)
        ev = [
            Evidence(
                0,
                j,
                "action",
                agent.steps[i],
                True,
                1.0,
                1.0,
                gt.raw[j],
                agent.raw[i],
                "in the LCS",
            )
            for i, j in pairs
        ]
        ok = ratio >= threshold
        reason = f"LCS {length}/{len(gt.actions)} = {ratio:.2f} (threshold {threshold})"
        return _verdict(ok, reason, ann, trace, ev)
    except EvaluationError as exc:
        return _error(exc, ann, trace)
