"""Per-step LLM latency with the model behind ``adb forward`` vs in process: the cost of the hop.

The same embedded model (SmolLM2-135M-Instruct, one llama.cpp thread each) answers the same
AutoDroid-like prompts two ways, interleaved step by step so both see the same machine load:

- ``in-process``: :class:`~llamatouch.llm.llamacpp.LlamaCppBackend` in this process (what
  ``--model embedded`` does);
- ``on-device``: the virtual device's model server (``emulator serve --llm-server``: the same
  backend in its own process) reached through the real adb server's forward and the virtual
  device's ADB transport, by :class:`~llamatouch.llm.on_device.OnDeviceBackend` (what
  ``--model device:8080`` does).

Each keeps its own prefix cache over the same sequence of prompts, so prefill and decode do the
same work; the difference of the host-side wall times is the hop (HTTP + adb forward + the ADB
stream), also shown as host total minus the server's own prefill + decode seconds.

Prompts: a system prompt, the task, the screen (the clickable elements of a demo-world state,
one per line with ids) and the history, JSON-schema answer, greedy; one "episode" walks
``--steps`` states of the demo world.

Run: ``ADB_MDNS=0 .venv/bin/python benchmarks/bench_on_device.py [--steps 6] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from llamatouch.device.forward import AdbServerAddress, create_forward, remove_forward
from llamatouch.llm import ChatMessage, LLMConfig, load_backend, resolve_gguf
from llamatouch.llm.llamacpp import LlamaCppBackend
from llamatouch_emulator.harness import AdbSession
from llamatouch_emulator.llm_server import LLMServerProcess, host_on

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "element_id": {"type": "integer", "minimum": 0, "maximum": 99},
        "action": {"type": "string", "enum": ["tap", "input", "back", "finish"]},
        "input_text": {"type": "string", "maxLength": 24},
    },
    "required": ["element_id", "action", "input_text"],
    "additionalProperties": False,
}
SYSTEM = ("You are a smartphone assistant. You are given a task and the current screen as a "
          "list of elements with ids. Choose the one element to act on next and the action, "
          "or finish when the task is done. Answer in JSON.")


def _prompts(session: AdbSession, steps: int) -> list[list[ChatMessage]]:
    """AutoDroid-like prompts over ``steps`` screens of the demo world."""
    world = session.virtual.world
    ids = sorted(world.states)[:steps]
    out: list[list[ChatMessage]] = []
    history: list[str] = []
    for i, sid in enumerate(ids):
        screen = world.screen(sid)
        lines = [f"<button id={k}>{n.text or n.content_desc or n.class_name.split('.')[-1]}"
                 "</button>" for k, n in enumerate(screen.nodes) if n.clickable][:40]
        user = (f"Task: open the world clock and add Tokyo.\nScreen {sid}:\n" + "\n".join(lines)
                + "\nHistory:\n" + ("\n".join(history) or "(none)") + "\nYour answer:")
        out.append([ChatMessage("system", SYSTEM), ChatMessage("user", user)])
        history.append(f"step {i}: tapped an element on {sid}")
    return out


def _timed(llm: Any, msgs: list[ChatMessage]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = llm.complete(msgs, json_schema=SCHEMA, max_tokens=40)
    return result, time.perf_counter() - t0


def _summary(name: str, xs: list[float]) -> str:
    return (f"{name:<34} mean {1000 * statistics.mean(xs):8.1f} ms   median "
            f"{1000 * statistics.median(xs):8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6, help="screens (LLM calls) per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds over the same screens")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads, both sides")
    args = ap.parse_args()

    server = LLMServerProcess.start("embedded", threads=args.threads)
    local = LlamaCppBackend(LLMConfig(n_threads=args.threads), resolve_gguf("embedded"))
    try:
        with AdbSession.for_world("demo") as session:
            assert session.server is not None
            host_on(session.server, server)
            fwd = create_forward(AdbServerAddress("127.0.0.1", session.adb_port),
                                 session.serial, 8080)
            remote = load_backend(LLMConfig(model="device:8080", base_url=fwd.base_url))
            try:
                prompts = _prompts(session, args.steps)
                rows: list[dict[str, float]] = []
                same = 0
                for rnd in range(args.rounds):
                    for i, msgs in enumerate(prompts):
                        # alternate which side goes first (ABBA), so neither always runs on
                        # a machine the other has just warmed or loaded
                        local_first = (rnd + i) % 2 == 0
                        if not local_first:
                            b, dt_b = _timed(remote, msgs)
                        a, dt_a = _timed(local, msgs)
                        if local_first:
                            b, dt_b = _timed(remote, msgs)
                        same += a.text == b.text
                        rows.append({
                            "local": dt_a, "remote": dt_b,
                            "local_work": a.usage.prefill_s + a.usage.decode_s,
                            "server_work": b.usage.prefill_s + b.usage.decode_s,
                            "prompt": b.usage.prompt_tokens,
                            "cached": b.usage.cached_prompt_tokens,
                        })
            finally:
                remote.close()
                remove_forward(fwd)
    finally:
        local.close()
        server.stop()
    n = len(rows)
    print(f"{n} steps ({args.rounds} rounds x {args.steps} screens), "
          f"{statistics.mean(r['prompt'] for r in rows):.0f} prompt tokens per step "
          f"({statistics.mean(r['cached'] for r in rows):.0f} from the server's cache), "
          f"{args.threads} llama.cpp thread(s) each; identical answers: {same}/{n}")
    local_s = [r["local"] for r in rows]
    remote_s = [r["remote"] for r in rows]
    hop = [r["remote"] - r["server_work"] for r in rows]
    print(_summary("in process (host wall)", local_s))
    print(_summary("behind adb forward (host wall)", remote_s))
    print(_summary("  server prefill + decode", [r["server_work"] for r in rows]))
    print(_summary("  hop (host wall - server work)", hop))
    diff = [b - a for a, b in zip(local_s, remote_s, strict=True)]
    print(_summary("difference per step (fwd - local)", diff))
    ratio = statistics.median(remote_s) / statistics.median(local_s)
    print(f"ratio behind forward / in process (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
