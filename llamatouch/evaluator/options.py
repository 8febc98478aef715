"""Evaluator options and result records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llamatouch.essential import schema as S

Status = Literal["success", "fail", "error"]


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """How the essential-state evaluator judges a trace.

    Attributes:
        allow_shared_screen: one screen may satisfy several consecutive checkpoints (default
            no: each checkpoint needs a later screen than the previous one, as LlamaTouch).
        require_completion: the agent must have declared completion (its last action is
            ``finish`` with status ``success``); otherwise the verdict is ``fail``.
        fuzzy_component_threshold: default minimum similarity (0..1) of a component-scope
            ``fuzzy`` primitive that names no threshold.
        fuzzy_screen_threshold: same for screen-scope ``fuzzy`` primitives.
        semantic_threshold: default minimum cosine similarity of ``semantic`` primitives.
        image_max_distance: default largest Hamming distance (of 64 bits) of ``image``.
        image_shift: fraction of the crop size by which ``image`` also tries shifted crops.
        click_jitter: default ``click`` jitter (fraction of the screen width).
        skip_types: primitive types to ignore (ablations, or ``semantic`` when no encoder is
            wanted); a skipped primitive counts as holding and is listed as skipped.
        infra_error_is_error: a trace whose manifest status is ``infra_error`` and that does
            not satisfy the annotation scores ``error`` (the infrastructure, not the agent,
            may be at fault) instead of ``fail``.
    """

    allow_shared_screen: bool = False
    require_completion: bool = False
    fuzzy_component_threshold: float = S.DEFAULT_FUZZY_COMPONENT
    fuzzy_screen_threshold: float = S.DEFAULT_FUZZY_SCREEN
    semantic_threshold: float = S.DEFAULT_SEMANTIC
    image_max_distance: int = S.DEFAULT_IMAGE_DISTANCE
    image_shift: float = 0.1
    click_jitter: float = S.DEFAULT_CLICK_JITTER
    skip_types: frozenset[str] = field(default_factory=frozenset)
    infra_error_is_error: bool = True


@dataclass(slots=True)
class Evidence:
    """What one primitive compared on one step.

    Attributes:
        checkpoint: checkpoint index.
        primitive: primitive index within the checkpoint.
        type: primitive type.
        step: the trace step examined (``None``: no step could be examined).
        passed: ``True`` / ``False``; ``None`` when it could not be computed (see ``detail``)
            or was not evaluated because another primitive of the checkpoint failed first.
        score: the measured value (similarity, distance, 1/0 for boolean checks).
        threshold: the value ``score`` was compared with.
        expected: what the annotation asks for.
        found: what the trace showed.
        detail: human-readable explanation (also the error message when ``passed`` is None).
    """

    checkpoint: int
    primitive: int
    type: str
    step: int | None
    passed: bool | None
    score: float | None = None
    threshold: float | None = None
    expected: Any = None
    found: Any = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Verdict:
    """The evaluator's answer for one trace.

    Attributes:
        status: ``success``, ``fail`` or ``error`` (something could not be computed and the
            answer depends on it; ``reason`` says what).
        checkpoint_steps: per checkpoint, the step that satisfied it (``None``: not satisfied).
        evidence: per primitive, what was compared: on the satisfying step, or for the first
            unsatisfied checkpoint on its closest step (most primitives holding).
        reason: one sentence explaining the verdict.
        task_id, episode_id: what was scored.
        problems: every step that could not be examined, with the reason.
    """

    status: Status
    checkpoint_steps: list[int | None]
    evidence: list[Evidence]
    reason: str
    task_id: str = ""
    episode_id: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == "success"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "task_id": self.task_id,
            "episode_id": self.episode_id,
            "checkpoint_steps": list(self.checkpoint_steps),
            "evidence": [e.to_json() for e in self.evidence],
            "problems": list(self.problems),
        }
