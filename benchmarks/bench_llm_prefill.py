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

Two more sections:

- ``throughput``: prefill tokens/s of the whole ~950-token prompt from an empty cache, and the
  build's CPU features (``llama_print_system_info``) -- run it under two builds (the portable
  one in ``.venv``, a native one in a throwaway venv) to see what portability costs;
- ``decode``: our backend's decode against llama-cpp-python's own ``create_completion`` on the
  same prompt tokens and the same ``Llama`` object, interleaved, with and without the JSON-schema
  grammar. Both calls find the prompt in the KV cache, so the call time is decode time; the
  figures are tokens per second of wall-clock time and, robust to other load on the machine
  when ``--threads 1``, milliseconds of process CPU time per token. Target (issue 15): our
  decode >= 90% of the library's.

Run: ``.venv/bin/python benchmarks/bench_llm_prefill.py [--steps N] [--threads N]
[--rounds N] [--sections prefix,throughput,decode,encoder]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

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


def _timed(fn: Callable[[], int]) -> tuple[int, float, float]:
    """Run ``fn`` (returns a token count); its count, wall seconds and process CPU seconds."""
    w, c = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - w, time.process_time() - c


def bench_throughput(backend: LlamaCppBackend, rounds: int) -> dict[str, float]:
    """Prefill of the whole prompt from an empty cache, and greedy decode, of our backend."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    print(f"\n== throughput ({backend.config.threads()} thread(s)) ==\nllama.cpp: {info}")
    msgs = prompt(0, "stable-first")
    pf_wall: list[float] = []
    pf_cpu: list[float] = []
    dec_wall: list[float] = []
    dec_cpu: list[float] = []
    for _ in range(rounds):
        backend.reset_cache()
        w, c = time.perf_counter(), time.process_time()
        r = backend.complete(msgs, max_tokens=1)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        pf_wall.append(r.usage.prompt_tokens / r.usage.prefill_s)
        pf_cpu.append(r.usage.prompt_tokens / cpu)
        n, wall, cpu = _timed(lambda: backend.complete(msgs, max_tokens=64).usage
                              .completion_tokens)
        dec_wall.append(n / wall)
        dec_cpu.append(n / cpu)
    out = {
        "prefill_tps": statistics.median(pf_wall), "prefill_tps_cpu": statistics.median(pf_cpu),
        "decode_tps": statistics.median(dec_wall), "decode_tps_cpu": statistics.median(dec_cpu),
    }
    print(f"prefill ({r.usage.prompt_tokens} tokens, empty cache): {out['prefill_tps']:.0f} "
          f"tokens/s wall, {out['prefill_tps_cpu']:.0f} tokens per CPU-second (median of "
          f"{rounds})")
    print(f"decode (greedy, no grammar, {n} tokens): {out['decode_tps']:.1f} tokens/s wall, "
          f"{out['decode_tps_cpu']:.1f} tokens per CPU-second")
    return out


def bench_decode(backend: LlamaCppBackend, rounds: int) -> dict[str, float]:
    """Our decode loop against ``Llama.create_completion``, side by side on one ``Llama``."""
    print(f"\n== decode: our backend vs llama-cpp-python's create_completion "
          f"({backend.config.threads()} thread(s), {rounds} interleaved rounds) ==")
    msgs = prompt(0, "stable-first")
    tokens = backend.tokenize_prompt(msgs)
    grammar = backend.grammar_for(SCHEMA)
    llama = backend.llama
    backend.complete(msgs, max_tokens=1)  # the prompt is in the KV cache from here on

    def ours(schema: dict[str, Any] | None) -> int:
        return backend.complete(msgs, json_schema=schema, max_tokens=64).usage.completion_tokens

    def library(use_grammar: bool) -> int:
        out: Any = llama.create_completion(tokens, max_tokens=64, temperature=0.0,
                                           grammar=grammar if use_grammar else None)
        return int(out["usage"]["completion_tokens"])

    runs: dict[str, Callable[[], int]] = {
        "ours+grammar": lambda: ours(SCHEMA),
        "library+grammar": lambda: library(True),
        "ours": lambda: ours(None),
        "library": lambda: library(False),
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    counts: dict[str, int] = {}
    for _ in range(rounds):
        for name, fn in runs.items():
            n, w, c = _timed(fn)
            counts[name] = n
            wall[name].append(n / w)
            cpu[name].append(1000 * c / n)
    tps = {k: statistics.median(v) for k, v in wall.items()}
    ms = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"{'':16} {'tokens':>6} {'tokens/s wall':>14} {'CPU ms/token':>13}")
    for name in runs:
        print(f"{name:16} {counts[name]:>6} {tps[name]:>14.1f} {ms[name]:>13.2f}")
    ratios = {
        "grammar: ours / library": tps["ours+grammar"] / tps["library+grammar"],
        "no grammar: ours / library": tps["ours"] / tps["library"],
        "ours+grammar / library without grammar": tps["ours+grammar"] / tps["library"],
    }
    cpu_ratios = {
        "grammar: ours / library": ms["library+grammar"] / ms["ours+grammar"],
        "no grammar: ours / library": ms["library"] / ms["ours"],
        "ours+grammar / library without grammar": ms["library"] / ms["ours+grammar"],
    }
    for k, r in ratios.items():
        print(f"decode speed, {k}: {100 * r:.0f}% wall, {100 * cpu_ratios[k]:.0f}% by CPU time "
              "(target >= 90%)")
    return {k: cpu_ratios[k] for k in ratios}


def bench_encoder() -> None:
    from llamatouch.embed.minilm import MiniLMConfig, MiniLMEncoder

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
    ap.add_argument("--rounds", type=int, default=5,
                    help="repetitions of the throughput and decode measurements")
    ap.add_argument("--sections", default="prefix,throughput,decode,encoder",
                    help="comma-separated: prefix, throughput, decode, encoder")
    args = ap.parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - {"prefix", "throughput", "decode", "encoder"}
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    base = LLMConfig(n_ctx=4096, n_threads=args.threads, timeout_s=600.0)
    t = time.perf_counter()
    cached = load_backend(base)
    assert isinstance(cached, LlamaCppBackend)
    print(f"model: {cached.model_name}, threads: {base.threads()}, "
          f"loaded in {time.perf_counter() - t:.2f} s")
    ratios: dict[str, float] = {}
    if "prefix" in sections:
        fresh = load_backend(LLMConfig(n_ctx=4096, n_threads=args.threads, timeout_s=600.0,
                                       prefix_cache=False))
        assert isinstance(fresh, LlamaCppBackend)
        ratios = {layout: run_layout(cached, fresh, layout, args.steps)
                  for layout in ("stable-first", "history-first")}
        fresh.close()
    throughput = bench_throughput(cached, args.rounds) if "throughput" in sections else {}
    decode = bench_decode(cached, args.rounds) if "decode" in sections else {}
    cached.close()
    if "encoder" in sections:
        bench_encoder()
    print("\n== summary ==")
    for layout, r in ratios.items():
        print(f"{layout}: prefill per step after the first is {r:.1f}x lower with prefix caching")
    if throughput:
        print(f"prefill {throughput['prefill_tps']:.0f} tokens/s, decode "
              f"{throughput['decode_tps']:.1f} tokens/s (wall); per CPU-second: prefill "
              f"{throughput['prefill_tps_cpu']:.0f}, decode {throughput['decode_tps_cpu']:.1f}")
    for k, r in decode.items():
        print(f"decode, {k}: {100 * r:.0f}% (CPU time per token)")


if __name__ == "__main__":
    main()
