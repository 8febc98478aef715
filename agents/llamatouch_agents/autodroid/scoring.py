"""Choosing an element by the model's likelihood (``--agent-param answer=score``).

Instead of letting a small model generate its answer, every candidate answer is scored: the
prompt and the answer's opening (``{"finished": false, "element": "``) are evaluated once, then
for each element label on the screen the log-probability of the label and its closing quote
is summed token by token from the KV cache of that prefix. The best-scoring label is the
answer; ``finished`` is decided first by comparing the probabilities of ``true`` and ``false``
after ``{"finished": ``. Label scores are calibrated against the same prompt without the task
(the model's prior for each label: uncalibrated, SmolLM2-135M preferred 'More options' for
every task). Two prompt prefills per step (sharing the system prompt with the backend's prefix
cache), plus one single-token evaluation per label token and prompt.

Needs a llama.cpp backend (:class:`~llamatouch.llm.llamacpp.LlamaCppBackend`): it reads the
logits through ``llama_cpp``'s public functions on the backend's model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from llamatouch.errors import LLMError
from llamatouch.llm.base import ChatMessage, LLMBackend

#: The answer's opening before the finished flag and before the element label.
FINISHED_PREFIX = '{"finished": '
ELEMENT_PREFIX = '{"finished": false, "element": "'


@dataclass(frozen=True, slots=True)
class Scored:
    """The outcome of scoring one screen.

    Attributes:
        finished: ``true`` was more likely than ``false`` after ``{"finished": ``.
        label: the best label (``""`` when finished).
        scores: per label, the summed log-probability of its tokens and closing quote.
        evaluated_tokens: tokens evaluated (prompt suffix not in the cache + label tokens).
    """

    finished: bool
    label: str
    scores: dict[str, float]
    evaluated_tokens: int


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = float(np.max(logits))
    return logits - (m + math.log(float(np.sum(np.exp(logits - m)))))


class LikelihoodScorer:
    """Scores candidate labels with a llama.cpp backend (see the module docstring)."""

    def __init__(self, backend: LLMBackend) -> None:
        llama = getattr(backend, "llama", None)
        tokenize_prompt = getattr(backend, "tokenize_prompt", None)
        if llama is None or tokenize_prompt is None:
            raise LLMError(
                f"answer=score needs a llama.cpp model, not the {backend.name!r} backend"
            )
        import llama_cpp

        self._llama_cpp: Any = llama_cpp
        self.backend = backend
        self.llm: Any = llama
        self._tokenize_prompt: Any = tokenize_prompt
        self._n_vocab = int(self.llm.n_vocab())

    def _text_tokens(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _logits(self) -> np.ndarray:
        ptr = self._llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.array(np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)), dtype=np.float64)

    def _prefill(self, tokens: list[int]) -> int:
        """Evaluate ``tokens`` reusing the cached common prefix; return the tokens evaluated."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = max(0, min(common, len(tokens) - 2))  # fresh logits, never a 1-token batch
        llm.n_tokens = common  # llama_cpp.Llama.eval drops the KV cache past n_tokens
        llm.eval(tokens[common:])
        return len(tokens) - common

    def score(
        self,
        messages: list[ChatMessage],
        labels: list[str],
        baseline: list[ChatMessage] | None = None,
    ) -> Scored:
        """Score ``labels`` as the answer to ``messages`` (see the module docstring). With
        ``baseline`` (the same prompt without the task), each label's score is calibrated:
        its log-probability minus its log-probability under the baseline (what the label
        owes to the task rather than to the model's prior for it)."""
        if not labels:
            raise LLMError("answer=score: no element to choose from")
        prompt = list(self._tokenize_prompt(messages))
        done = self._prefill(prompt + self._text_tokens(FINISHED_PREFIX))
        lp = _log_softmax(self._logits())
        t_true, t_false = self._text_tokens("true")[0], self._text_tokens("false")[0]
        if lp[t_true] > lp[t_false]:
            return Scored(True, "", {}, done)
        scores, n = self._label_scores(prompt, labels)
        done += n
        if baseline is not None:
            prior, n = self._label_scores(list(self._tokenize_prompt(baseline)), labels)
            done += n
            scores = {k: v - prior[k] for k, v in scores.items()}
        best = max(labels, key=lambda k: scores[k])
        return Scored(False, best, scores, done)

    def _label_scores(self, prompt: list[int], labels: list[str]) -> tuple[dict[str, float], int]:
        done = self._prefill(prompt + self._text_tokens(ELEMENT_PREFIX))
        base = self.llm.n_tokens
        first = _log_softmax(self._logits())
        scores: dict[str, float] = {}
        for label in labels:
            toks = self._text_tokens(label + '"')
            total, cur = 0.0, first
            self.llm.n_tokens = base
            for i, t in enumerate(toks):
                total += float(cur[t])
                if i + 1 < len(toks):
                    self.llm.eval([t])
                    done += 1
                    cur = _log_softmax(self._logits())
            scores[label] = total
        self.llm.n_tokens = base
        return scores, done


__all__ = ["ELEMENT_PREFIX", "FINISHED_PREFIX", "LikelihoodScorer", "Scored"]
