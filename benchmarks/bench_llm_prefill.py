"""Prefill with and without prompt-prefix KV caching, on the embedded model; encoder throughput.

An AutoDroid-like agent prompt: a system prompt, the task, a ~600-token HTML screen that changes
a little from step to step, the action history, and a JSON-schema-constrained answer. Each step
is run twice, interleaved so both see the same machine load:

- ``cached``: one backend keeps its KV cache between steps (``LLMConfig.prefix_cache=True``);
- ``fresh``: a second backend that re-evaluates the whole prompt every step
  (``prefix_cache=False``; the same as a fresh context per step).

Two prompt layouts are measured, because where the changing text sits decides what the cache
can keep:

- ``stable-first``: system, task, screen, history (the screen changes near its end, the history
  grows at the very end) -- the layout the cache rewards;
- ``history-first``: system, task, history, screen -- every new history line invalidates the
  cached screen.

Target (issue 5): at least 2x less prefill time per step after the first with caching.

Run: ``.venv/bin/python benchmarks/bench_llm_prefill.py [--steps N] [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from llamatouch.embed.minilm import MiniLMConfig, MiniLMEncoder
from llamatouch.llm import ChatMessage, LLMConfig, LLMResult, load_backend
from llamatouch.llm.llamacpp import LlamaCppBackend

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "element_id": {"type": "integer", "minimum": 0, "maximum": 99},
        "action": {"type": "string", "enum": ["tap", "input", "scroll_up", "scroll_down",
                                               "back", "finish"]},
        "input_text": {"type": "string", "maxLength": 32},
        "finished": {"type": "boolean"},
    },
    "required": ["element_id", "action", "input_text", "finished"],
    "additionalProperties": False,
}

SYSTEM = (
    "You are a smartphone assistant that completes tasks on an Android phone by operating its "
    "user interface. The current screen is given as simplified HTML: every interactive element "
    "has an integer id; <button> can be tapped, <input> accepts text, <checkbox> toggles, "
    "<scroller> can be scrolled up or down. Choose exactly one element and one action per step. "
    "If the task is complete, answer with action \"finish\". Answer only with a JSON object with "
    "the keys element_id, action, input_text and finished."
)
TASK = "Task: In the Clock app, create an alarm for 7:30 am on weekdays labelled 'gym'."

LABELS = [
    "Alarm", "Clock", "Timer", "Stopwatch", "Bedtime", "Add alarm", "6:00 AM", "6:30 AM",
    "7:00 AM", "7:15 AM", "8:00 AM", "9:45 AM", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
    "Label", "Ringtone", "Vibrate", "Snooze", "Delete", "Settings", "Help", "Send feedback",
]


def screen_html(step: int) -> str:
    """~600 tokens of screen HTML; only the last elements change with ``step``."""
    rows = []
    for i in range(48):
        label = LABELS[i % len(LABELS)]
        if i % 7 == 3:
            rows.append(f"<checkbox id={i} checked={str(i % 2 == 0).lower()}>{label}</checkbox>")
        elif i % 11 == 5:
            rows.append(f"<input id={i}>{label} name</input>")
        else:
            rows.append(f"<button id={i}>{label}</button>")
    rows.append("<scroller id=48>alarm list</scroller>")
    # what changes between steps: the selected time and one toggle near the end of the screen
    rows.append(f"<p id=49>Selected: 7:{(step * 5) % 60:02d} AM</p>")
    rows.append(f"<checkbox id=50 checked={str(step % 2 == 0).lower()}>Weekdays</checkbox>")
    return "<html>\n" + "\n".join(rows) + "\n</html>"


def history(step: int) -> str:
    acts = [f"- step {i}: tap(element {5 + i})" for i in range(step)]
    return "Previous actions:\n" + ("\n".join(acts) if acts else "(none)")


def prompt(step: int, layout: str) -> list[ChatMessage]:
    if layout == "stable-first":
        user = f"{TASK}\nCurrent screen:\n{screen_html(step)}\n{history(step)}\nYour answer:"
    else:
        user = f"{TASK}\n{history(step)}\nCurrent screen:\n{screen_html(step)}\nYour answer:"
    return [ChatMessage("system", SYSTEM), ChatMessage("user", user)]


def run_layout(cached: LlamaCppBackend, fresh: LlamaCppBackend, layout: str,
               steps: int) -> float:
    print(f"\n== layout: {layout} ==", flush=True)
    print(f"{'step':>4} {'prompt':>6} | {'cached':>6} {'prefill_s':>9} {'decode_s':>8} | "
          f"{'fresh prefill_s':>15} {'decode_s':>8} | {'ratio':>6}")
    cached.reset_cache()
    c_pf: list[float] = []
    f_pf: list[float] = []
    c_tok: list[int] = []
    f_tok: list[int] = []
    decode_tps: list[float] = []
    prefill_tps: list[float] = []
    for step in range(steps):
        msgs = prompt(step, layout)
        rc: LLMResult = cached.complete(msgs, json_schema=SCHEMA, max_tokens=64)
        rf: LLMResult = fresh.complete(msgs, json_schema=SCHEMA, max_tokens=64)
        uc, uf = rc.usage, rf.usage
        assert uf.cached_prompt_tokens == 0
        ratio = uf.prefill_s / uc.prefill_s if uc.prefill_s > 0 else float("inf")
        print(f"{step:>4} {uc.prompt_tokens:>6} | {uc.cached_prompt_tokens:>6} "
              f"{uc.prefill_s:>9.3f} {uc.decode_s:>8.3f} | {uf.prefill_s:>15.3f} "
              f"{uf.decode_s:>8.3f} | {ratio:>5.1f}x", flush=True)
        prefill_tps.append(uf.prompt_tokens / uf.prefill_s)
        if uc.completion_tokens:
            decode_tps.append(uc.completion_tokens / uc.decode_s)
        if step > 0:
            c_pf.append(uc.prefill_s)
            f_pf.append(uf.prefill_s)
            c_tok.append(uc.prefilled_tokens)
            f_tok.append(uf.prefilled_tokens)
    mc, mf = statistics.mean(c_pf), statistics.mean(f_pf)
    medc, medf = statistics.median(c_pf), statistics.median(f_pf)
    print(f"mean prefill per step after the first: cached {mc:.3f} s, fresh {mf:.3f} s "
          f"-> {mf / mc:.1f}x less with caching (target >= 2x); median ratio "
          f"{medf / medc:.1f}x")
    print(f"prefilled tokens per step after the first: cached {statistics.mean(c_tok):.0f}, "
          f"fresh {statistics.mean(f_tok):.0f} -> {sum(f_tok) / max(1, sum(c_tok)):.1f}x fewer")
    print(f"prefill throughput (fresh): {statistics.mean(prefill_tps):.0f} tokens/s; "
          f"decode throughput: {statistics.mean(decode_tps):.1f} tokens/s")
    return mf / mc


def bench_encoder() -> None:
    print("\n== sentence encoder (all-MiniLM-L6-v2, numpy) ==")
    texts = [f"tap the {LABELS[i % len(LABELS)]} button to open page {i} of the settings"
             for i in range(512)]
    enc = MiniLMEncoder(MiniLMConfig(cache_size=0))
    enc.encode(texts[:8])  # warm-up
    t = time.perf_counter()
    enc.encode(texts)
    cold = time.perf_counter() - t
    print(f"cold: {len(texts)} sentences in {cold:.2f} s = {len(texts) / cold:.0f} sentences/s")
    one = time.perf_counter()
    for s in texts[:64]:
        enc.encode([s])
    single = time.perf_counter() - one
    print(f"one at a time: {64 / single:.0f} sentences/s (batching gain "
          f"{(len(texts) / cold) / (64 / single):.1f}x)")
    cached = MiniLMEncoder(MiniLMConfig(cache_size=4096))
    cached.encode(texts)
    t = time.perf_counter()
    cached.encode(texts)
    hot = time.perf_counter() - t
    print(f"cached: {len(texts) / hot:.0f} sentences/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    base = LLMConfig(n_ctx=4096, n_threads=args.threads, timeout_s=600.0)
    t = time.perf_counter()
    cached = load_backend(base)
    fresh = load_backend(LLMConfig(n_ctx=4096, n_threads=args.threads, timeout_s=600.0,
                                   prefix_cache=False))
    assert isinstance(cached, LlamaCppBackend) and isinstance(fresh, LlamaCppBackend)
    print(f"model: {cached.model_name}, threads: {base.threads()}, "
          f"two instances loaded in {time.perf_counter() - t:.2f} s")
    ratios = {layout: run_layout(cached, fresh, layout, args.steps)
              for layout in ("stable-first", "history-first")}
    cached.close()
    fresh.close()
    bench_encoder()
    print("\n== summary ==")
    for layout, r in ratios.items():
        print(f"{layout}: prefill per step after the first is {r:.1f}x lower with prefix caching")


if __name__ == "__main__":
    main()
