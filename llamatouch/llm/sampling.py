"""Choosing the next token fast, with an optional GBNF grammar checked lazily.

One job: given the logits llama.cpp just computed, return the next token id.

Why not llama-cpp-python's ``Llama.generate``/``sample``: its sampler chain applies the grammar
to *every* token of the vocabulary at every step (49,152 candidate strings matched against the
grammar's stacks for SmolLM2) before choosing one. That costs more than a third of a decode step
of a small model (measured: 21-24 ms of CPU per token with a JSON-schema grammar against 16-17
without, on the embedded model with one thread).

This sampler does what llama.cpp's own ``common_sampler`` does instead: choose a token *without*
the grammar (greedy: the arg-max of the logits; otherwise top-k / typical / top-p / min-p /
temperature / seeded draw, the same chain llama-cpp-python builds), then ask the grammar about
that one token. Only when the grammar rejects it are all candidates filtered by the grammar and
the choice made again. At temperature 0 the answer is exactly the one of filtering first (the
arg-max of the allowed tokens is the global arg-max whenever that is allowed; ties break on the
lowest id in both); when sampling, accepting an allowed draw and re-drawing from the
grammar-filtered distribution otherwise gives every allowed token its filtered probability.

Logits are read in place through a numpy view of llama.cpp's buffer (no copy in the greedy path).
"""

from __future__ import annotations

import ctypes
import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import LlamaGrammar

#: Greedy decoding, unconstrained choice rejected: the grammar first checks only this many
#: highest-logit tokens (exact: falls back to the whole vocabulary when none of them is allowed).
GREEDY_SHORTLIST = 256
#: numpy layout of llama.cpp's ``llama_token_data`` (int32 id, float logit, float p).
TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)])


class GrammarDeadEnd(Exception):
    """The grammar allows no token at all (cannot happen for a grammar that accepts its
    own output; reported instead of sampling garbage)."""


class TokenSampler:
    """Next-token choice for one llama.cpp context (not thread-safe; the backend holds a lock).

    Args:
        llama_cpp: the ``llama_cpp`` module (imported lazily by the backend).
        vocab: the model's ``llama_vocab`` pointer.
        n_vocab: vocabulary size.
    """

    def __init__(self, llama_cpp: ModuleType, vocab: Any, n_vocab: int) -> None:
        self._lc = llama_cpp
        self._vocab = vocab
        self.n_vocab = n_vocab
        self._ids = np.arange(n_vocab, dtype=np.intc)
        self._cand = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self._cand_ptr = self._cand.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data))
        self._cand_arr = llama_cpp.llama_token_data_array(
            data=self._cand_ptr, size=n_vocab, selected=-1, sorted=False
        )
        self._one = np.zeros(1, dtype=TOKEN_DATA)
        self._one_ptr = self._one.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data))
        self._one_arr = llama_cpp.llama_token_data_array(
            data=self._one_ptr, size=1, selected=-1, sorted=False
        )
        self._grammars: dict[str, Any] = {}  # GBNF text -> llama_sampler (reset per answer)
        self._grammar: Any = None
        self._chain: Any = None
        self.temperature = 0.0
        #: Tokens for which the grammar rejected the unconstrained choice (for benchmarks).
        self.rejections = 0

    # -- per answer -----------------------------------------------------------------------------

    def start(
        self,
        grammar: LlamaGrammar | None,
        temperature: float,
        seed: int,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
    ) -> None:
        """Prepare for a new answer (grammar at its start state, a fresh seeded chain)."""
        lc = self._lc
        self._grammar = None
        if grammar is not None:
            key = grammar._grammar
            smpl = self._grammars.get(key)
            if smpl is None:
                smpl = lc.llama_sampler_init_grammar(
                    self._vocab, key.encode("utf-8"), grammar._root.encode("utf-8")
                )
                if not smpl:
                    raise ValueError("llama.cpp could not parse the grammar")
                self._grammars[key] = smpl
            else:
                lc.llama_sampler_reset(smpl)
            self._grammar = smpl
        self._free_chain()
        self.temperature = temperature
        if temperature > 0.0:
            chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
            for smpl in (
                lc.llama_sampler_init_top_k(top_k),
                lc.llama_sampler_init_typical(typical_p, 1),
                lc.llama_sampler_init_top_p(top_p, 1),
                lc.llama_sampler_init_min_p(min_p, 1),
                lc.llama_sampler_init_temp(temperature),
                lc.llama_sampler_init_dist(seed & 0xFFFFFFFF),
            ):
                lc.llama_sampler_chain_add(chain, smpl)
            self._chain = chain

    def next_token(self, ctx: Any) -> int:
        """The next token after the last evaluated position of ``ctx`` (accepted by the
        grammar, whose state advances).

        Raises:
            GrammarDeadEnd: the grammar allows no token.
        """
        lc = self._lc
        ptr = lc.llama_get_logits_ith(ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        token = self._choose(logits, grammar_first=False)
        if self._grammar is not None:
            if not self._allowed(token, float(logits[token])):
                self.rejections += 1
                token = self._choose(logits, grammar_first=True)
            lc.llama_sampler_accept(self._grammar, token)
        if self._chain is not None:
            lc.llama_sampler_accept(self._chain, token)
        return token

    # -- internals ------------------------------------------------------------------------------

    def _allowed(self, token: int, logit: float) -> bool:
        one = self._one
        one["id"][0] = token
        one["logit"][0] = logit
        one["p"][0] = 0.0
        arr = self._one_arr
        arr.data, arr.size, arr.selected, arr.sorted = self._one_ptr, 1, -1, False
        self._lc.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        return math.isfinite(float(one["logit"][0]))

    def _greedy_shortlist(self, logits: np.ndarray) -> int | None:
        """The best grammar-allowed token among the highest logits, or ``None`` when the
        shortlist cannot decide (nothing allowed in it, or a tie at its lower edge)."""
        k = min(GREEDY_SHORTLIST, self.n_vocab)
        top = np.argpartition(logits, -k)[-k:]
        cand = self._cand
        cand["id"][:k] = top
        cand["logit"][:k] = logits[top]
        cand["p"][:k] = 0.0
        floor = float(cand["logit"][:k].min())
        arr = self._cand_arr
        arr.data, arr.size, arr.selected, arr.sorted = self._cand_ptr, k, -1, False
        self._lc.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        view = cand["logit"][:k]
        best = float(view.max())
        if not math.isfinite(best) or best <= floor:
            return None
        # ties break on the lowest id, as np.argmax over the whole vocabulary does
        return int(cand["id"][:k][view == best].min())

    def _choose(self, logits: np.ndarray, grammar_first: bool) -> int:
        if self._chain is None:
            if not grammar_first:
                return int(np.argmax(logits))  # greedy, no copy
            short = self._greedy_shortlist(logits)
            if short is not None:
                return short
        cand = self._cand
        cand["id"] = self._ids
        cand["logit"] = logits
        cand["p"] = 0.0
        arr = self._cand_arr
        arr.data, arr.size, arr.selected, arr.sorted = self._cand_ptr, self.n_vocab, -1, False
        if grammar_first:
            self._lc.llama_sampler_apply(self._grammar, ctypes.byref(arr))
        if self._chain is None:
            view = cand["logit"][: arr.size]
            best = int(np.argmax(view))
            if not math.isfinite(float(view[best])):
                raise GrammarDeadEnd("the grammar allows no next token")
            return int(cand["id"][best])
        if grammar_first and not np.isfinite(cand["logit"][: arr.size]).any():
            raise GrammarDeadEnd("the grammar allows no next token")
        self._lc.llama_sampler_apply(self._chain, ctypes.byref(arr))
        if not 0 <= arr.selected < arr.size:
            raise GrammarDeadEnd(f"the sampler selected no token (index {arr.selected})")
        return int(cand["id"][arr.selected])

    def _free_chain(self) -> None:
        if self._chain is not None:
            self._lc.llama_sampler_free(self._chain)
            self._chain = None

    def close(self) -> None:
        """Free the llama.cpp samplers. Idempotent."""
        self._free_chain()
        for smpl in self._grammars.values():
            self._lc.llama_sampler_free(smpl)
        self._grammars.clear()
        self._grammar = None
