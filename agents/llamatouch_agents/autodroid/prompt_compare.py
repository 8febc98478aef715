"""Our prompt against the AutoDroid artifact's released prompts, step by step.

The offline step-wise evaluation is run with ``prompt=paper`` on the released answers
(:class:`~llamatouch.llm.recorded.RecordedBackend`); every prompt our agent builds is compared
with the released prompt of the same task and step after normalising whitespace. A prompt that
differs is split into its sections (``template``: the introduction and answer format; ``task``;
``history``; ``screen``) and each differing section is counted; ``memory hints`` counts
prompts that are equal once the artifact's memory annotations (``onclick=jump to a GUI about
...``, from the artifact's exploration memory, which we do not have) are removed from it.

Usage: ``python -m llamatouch_agents.autodroid.prompt_compare DROIDTASK_DIR LOG_DIR``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.agent import AgentOptions
from llamatouch.llm.base import ChatMessage, LLMBackend, LLMResult
from llamatouch.llm.recorded import RecordedBackend, RecordedMatch, strip_memory_hints
from llamatouch_agents.autodroid.offline import OfflineConfig, run_offline_stepwise

#: Sections of the paper's prompt, by the text that starts them.
SECTIONS = (
    ("template", ""),
    ("task", "Task: "),
    ("history", "Previous UI actions:"),
    ("screen", "Current UI state:"),
    ("template", "Your answer should"),
)


def _norm(text: str) -> str:
    return " ".join(text.split())


def split_sections(prompt: str) -> dict[str, str]:
    """The paper prompt's sections (``template`` joins the introduction and answer format)."""
    marks = [(name, prompt.find(start) if start else 0) for name, start in SECTIONS]
    found = sorted((pos, name) for name, pos in marks if pos >= 0)
    out: dict[str, str] = {}
    for i, (pos, name) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(prompt)
        out[name] = out.get(name, "") + _norm(prompt[pos:end])
    return out


@dataclass(slots=True)
class PromptComparison:
    """Figures of :func:`compare_prompts`.

    Attributes:
        steps: prompts compared (steps whose released prompt was matched).
        identical: equal after normalising whitespace.
        identical_without_hints: equal once the artifact's memory annotations are removed.
        differing_sections: per section, prompts where it differs (after removing hints).
        examples: per section, one (app, task, step) where it differs.
        unmatched: steps our run asked about that the recorded run did not answer.
    """

    steps: int = 0
    identical: int = 0
    identical_without_hints: int = 0
    differing_sections: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    unmatched: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "identical": self.identical,
            "identical_without_hints": self.identical_without_hints,
            "differing_sections": dict(self.differing_sections),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "unmatched": self.unmatched,
        }


class _Capture(LLMBackend):
    """Delegates to a recorded backend and keeps each prompt with its match."""

    name = "capture"

    def __init__(self, inner: RecordedBackend) -> None:
        self.inner = inner
        self.calls: list[tuple[str, RecordedMatch]] = []

    def begin_task(self, app: str) -> None:
        self.inner.begin_task(app)

    def complete(self, messages: list[ChatMessage], **kwargs: Any) -> LLMResult:
        result = self.inner.complete(messages, **kwargs)
        if self.inner.last_match is not None:
            self.calls.append((messages[0].content, self.inner.last_match))
        return result


def compare_prompts(
    droidtask_dir: Path, log_dir: Path, *, screen: str = "rendered"
) -> PromptComparison:
    """Compare our paper-style prompts with the released ones (see the module docstring)."""
    backend = _Capture(RecordedBackend(log_dir))
    report = run_offline_stepwise(
        OfflineConfig(Path(droidtask_dir), screen=screen),
        AgentOptions(params={"prompt": "paper", "memory": "off"}),
        llm=backend,
    )
    out = PromptComparison()
    out.unmatched = sum(1 for s in report.steps if s.error_kind not in ("", "label-not-on-screen"))
    for ours, match in backend.calls:
        theirs = match.step.prompt
        if not theirs:
            continue
        out.steps += 1
        if _norm(ours) == _norm(theirs):
            out.identical += 1
            out.identical_without_hints += 1
            continue
        plain = strip_memory_hints(theirs)
        if _norm(ours) == _norm(plain):
            out.identical_without_hints += 1
            out.differing_sections["memory hints only"] += 1
            continue
        a, b = split_sections(ours), split_sections(plain)
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                out.differing_sections[name] += 1
                out.examples.setdefault(name, (match.step.app, match.step.task, match.step.step))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("droidtask_dir", type=Path)
    ap.add_argument("log_dir", type=Path)
    ap.add_argument("--screen", default="rendered", choices=("rendered", "recorded"))
    args = ap.parse_args(argv)
    c = compare_prompts(args.droidtask_dir, args.log_dir, screen=args.screen)
    share = 100 * c.identical / max(c.steps, 1)
    share2 = 100 * c.identical_without_hints / max(c.steps, 1)
    print(f"prompts compared: {c.steps} (unanswered steps: {c.unmatched})")
    print(f"identical (whitespace normalised): {c.identical} ({share:.1f}%)")
    print(f"identical once the artifact's memory hints are removed: "
          f"{c.identical_without_hints} ({share2:.1f}%)")
    for name, n in c.differing_sections.most_common():
        ex = c.examples.get(name)
        where = f"  e.g. {ex[0]} / {ex[1]!r} step {ex[2]}" if ex else ""
        print(f"  differs in {name}: {n}{where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["PromptComparison", "compare_prompts", "split_sections"]
