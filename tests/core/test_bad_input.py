"""Bad input through the real command line (``python -m llamatouch`` in a subprocess): every
malformed file or argument gives one clear line naming the file and field (or the argument),
the documented exit status, and never a Python traceback; nothing bad is silently accepted.

Exit statuses: 2 for a bad argument or a malformed input file the command cannot go on without;
a bad file *inside* a run (a trace, a row, a screenshot) is that episode's problem: ``score``
gives it an ``error`` row (exit 1 when nothing could be scored) and ``report`` lists it on the
page (exit 0). The last test prints the tally (clear errors vs tracebacks vs silently accepted).
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.actions import Finish, Tap
from llamatouch.runner.results import COLUMNS, collect_results
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter
from llamatouch.trace.records import EpisodeUsage, TaskRef

pytestmark = pytest.mark.slow  # ~50 subprocesses of the CLI

HIERARCHY = (b'<?xml version="1.0" encoding="UTF-8"?><hierarchy rotation="0">'
             b'<node index="0" text="OK" resource-id="ok" class="android.widget.Button" '
             b'package="com.app" content-desc="" clickable="true" enabled="true" '
             b'bounds="[0,0][40,80]" /></hierarchy>')


def _png(width: int = 40, height: int = 80) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "olive").save(buf, "PNG")
    return buf.getvalue()


def _bomb_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8,
                                                             2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _trace(root: Path, eid: str = "t__a__t0") -> Path:
    folder = root / "traces" / eid
    w = TraceWriter(folder, TraceManifest(episode_id=eid, task=TaskRef(id="t", app="com.app",
                                                                     instruction="tap OK"),
                                          agent={"name": "a"}))
    w.write_step(StepRecord(index=0, action=Tap(5, 5), width=40, height=80), _png(), HIERARCHY)
    w.write_step(StepRecord(index=1, action=Finish(), width=40, height=80), _png(), HIERARCHY)
    w.update(usage=EpisodeUsage(actions=2))
    w.finish("finished")
    return folder


def _edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    result = change(data)
    path.write_text(json.dumps(data if result is None else result))


@dataclass(frozen=True)
class Case:
    """One malformed input: how to make it, the command, what must be said."""

    name: str
    make: Callable[[Path], list[str]]  # builds the input under the folder, returns argv
    code: int
    says: tuple[str, ...]  # all must appear in stdout + stderr (or in the written report)


def _run_dir(tmp: Path) -> Path:
    run = tmp / "run"
    _trace(run)
    return run


def _manifest(tmp: Path) -> Path:
    return _run_dir(tmp) / "traces" / "t__a__t0" / "manifest.json"


def _anns(tmp: Path) -> Path:
    (tmp / "anns").mkdir(exist_ok=True)
    return tmp / "anns"


def _bad_manifest(field: str, value: object) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        m = _manifest(tmp)
        _edit_json(m, lambda d: d.__setitem__(field, value))
        return m

    return make


def _score(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    def argv(tmp: Path) -> list[str]:
        make(tmp)
        return ["score", str(tmp / "run" / "traces"), "--annotations", str(_anns(tmp))]

    return argv


def _report(make: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    def argv(tmp: Path) -> list[str]:
        make(tmp)
        return ["report", str(tmp / "run"), "--out", str(tmp / "r.html")]

    return argv


def _annotate(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    def argv(tmp: Path) -> list[str]:
        m = make(tmp)
        return ["annotate", str(m.parent), "--annotations", str(tmp / "store"), "--port", "0",
                "--no-browser"]

    return argv


def _rows(tmp: Path, field: str, value: object) -> None:
    run = _run_dir(tmp)
    rows = [asdict(r) for r in collect_results(run)]
    rows[0][field] = value
    (run / "results.json").write_text(json.dumps(rows))


def _csv_rows(tmp: Path, field: str, value: str) -> None:
    run = _run_dir(tmp)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    w.writeheader()
    for r in collect_results(run):
        w.writerow({**asdict(r), field: value})
    (run / "results.csv").write_text(buf.getvalue())


def _step(field: str, value: object) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        m = _manifest(tmp)
        _edit_json(m.parent / "steps" / "0001" / "step.json",
                   lambda d: d.__setitem__(field, value))
        return m

    return make


def _file(tmp: Path, name: str = "afile") -> Path:
    (tmp / name).write_text("x")
    return tmp / name


def _bytes(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def _symlinked_step(tmp: Path) -> Path:
    m = _manifest(tmp)
    outside = _trace(tmp / "elsewhere", "other")
    step = m.parent / "steps" / "0001"
    for f in step.iterdir():
        f.unlink()
    step.rmdir()
    os.symlink(outside / "steps" / "0001", step)
    return m


def _bombs_with_image_check(tmp: Path) -> Path:
    """Every screenshot a decompression bomb, and an annotation whose only check is an image
    primitive: the verdict is ``error`` naming the file, not an exception."""
    m = _manifest(tmp)
    for i in (0, 1):
        (m.parent / "steps" / f"{i:04d}" / "screen.png").write_bytes(_bomb_png())
    ann = {"schema": "llamatouch.essential/1.1", "task_id": "t", "instruction": "tap OK",
           "app": "com.app", "checkpoints": [{"primitives": [
               {"type": "image", "component": {"resource_id": "ok", "bounds": [0, 0, 1, 1]},
                "hash": "0" * 16, "algo": "dhash", "max_distance": 10}]}]}
    (_anns(tmp) / "t.json").write_text(json.dumps(ann))
    return m


def _bomb(tmp: Path) -> Path:
    m = _manifest(tmp)
    (m.parent / "steps" / "0001" / "screen.png").write_bytes(_bomb_png())
    return m


CASES: list[Case] = [
    # -- files: trace manifests and step records ----------------------------------------
    Case("score: manifest num_steps '4'", _score(_bad_manifest("num_steps", "4")), 1,
         ("manifest.json", "'num_steps'")),
    Case("score: manifest task 'x'", _score(_bad_manifest("task", "x")), 1,
         ("manifest.json", "'task'")),
    Case("score: manifest status 'done'", _score(_bad_manifest("status", "done")), 1,
         ("manifest.json", "'status'")),
    Case("score: manifest usage []", _score(_bad_manifest("usage", [])), 1,
         ("manifest.json", "'usage'")),
    Case("score: manifest verdict 7", _score(_bad_manifest("verdict", 7)), 1,
         ("manifest.json", "'verdict'")),
    Case("score: step action 'tap'", _score(_step("action", "tap")), 1,
         ("step.json", "'action'")),
    Case("score: step width '40'", _score(_step("width", "40")), 1, ("step.json", "'width'")),
    Case("score: step llm.calls '1'", _score(_step("llm", {"calls": "1"})), 1,
         ("step.json", "'llm.calls'")),
    Case("score: symlinked step folder", _score(_symlinked_step), 1, ("0001", "symbolic link")),
    Case("score: 100000x100000 PNGs under an image check", _score(_bombs_with_image_check), 1,
         ("screen.png", "image too large", "error")),
    Case("report: manifest num_steps '4' (only trace)", _report(_bad_manifest("num_steps", "4")),
         2, ("manifest.json", "'num_steps'", "not a run folder")),
    Case("report: manifest task 'x' (only trace)", _report(_bad_manifest("task", "x")), 2,
         ("manifest.json", "'task'")),
    Case("report: step timings {'act': 'slow'}", _report(_step("timings", {"act": "slow"})), 2,
         ("step.json", "'timings.act'")),
    Case("report: symlinked step folder", _report(_symlinked_step), 2, ("symbolic link",)),
    Case("annotate: manifest num_steps '4'", _annotate(_bad_manifest("num_steps", "4")), 2,
         ("manifest.json", "'num_steps'")),
    Case("annotate: manifest device 5", _annotate(_bad_manifest("device", 5)), 2,
         ("manifest.json", "'device'")),
    Case("annotate: symlinked step folder", _annotate(_symlinked_step), 2, ("symbolic link",)),
    # -- files: results, run.json, screenshots (the page lists them; exit 0) -------------
    Case("report: results.json steps '4'", _report(lambda t: _rows(t, "steps", "4")), 0,
         ("results.json", "[0].steps")),
    Case("report: results.json verdict 'great'", _report(lambda t: _rows(t, "verdict", "great")),
         0, ("results.json", "[0].verdict")),
    Case("report: results.json success 'yes'", _report(lambda t: _rows(t, "success", "yes")), 0,
         ("results.json", "[0].success")),
    Case("report: results.json nested 50k deep",
         _report(lambda t: (_run_dir(t) / "results.json").write_text("[" * 50_000)), 0,
         ("results.json",)),
    Case("report: results.csv llm_calls 'many'",
         _report(lambda t: _csv_rows(t, "llm_calls", "many")), 0, ("results.csv", "llm_calls")),
    Case("report: run.json oracle 'yes'",
         _report(lambda t: (_run_dir(t) / "run.json").write_text('{"oracle": "yes"}')), 0,
         ("run.json", "'oracle'")),
    Case("report: run.json not an object",
         _report(lambda t: (_run_dir(t) / "run.json").write_text("[1]")), 0, ("run.json",)),
    Case("report: summary.json not an object",
         _report(lambda t: (_run_dir(t) / "summary.json").write_text('"x"')), 0,
         ("summary.json",)),
    Case("report: 100000x100000 PNG", _report(_bomb), 0,
         ("unreadable screenshot", "screen.png")),
    # -- arguments ---------------------------------------------------------------------------
    Case("score --out FOLDER", lambda t: ["score", str(_run_dir(t) / "traces"), "--annotations",
                                          str(_anns(t)), "--out", str(t)], 2,
         ("--out", "is a folder")),
    Case("score TRACES_DIR is a file", lambda t: ["score", str(_file(t)), "--annotations",
                                                  str(_anns(t))], 2, ("TRACES_DIR", "afile")),
    Case("score --annotations missing", lambda t: ["score", str(t), "--annotations",
                                                   str(t / "nope")], 2,
         ("--annotations", "does not exist")),
    Case("score --labels missing", lambda t: ["score", str(t), "--annotations", str(t),
                                              "--labels", str(t / "nope.csv")], 2, ("--labels",)),
    Case("score --labels not UTF-8",
         lambda t: ["score", str(t), "--annotations", str(t), "--labels",
                    str(_bytes(t, "labels.csv", b"episode,human\n\xff\xfe,1\n"))], 2,
         ("labels.csv", "UTF-8")),
    Case("score --labels human 'maybe'",
         lambda t: ["score", str(t), "--annotations", str(t), "--labels",
                    str(_bytes(t, "labels.csv", b"episode,human\nx,maybe\n"))], 2,
         ("labels.csv", "line 2")),
    Case("score --lcs-threshold 2", lambda t: ["score", str(t), "--annotations", str(t),
                                               "--lcs-threshold", "2"], 2, ("--lcs-threshold",)),
    Case("score --workers -1", lambda t: ["score", str(t), "--annotations", str(t), "--workers",
                                          "-1"], 2, ("--workers",)),
    Case("report --out FOLDER", lambda t: ["report", str(_run_dir(t)), "--out", str(t)], 2,
         ("--out", "is a folder")),
    Case("report --out below a file", lambda t: ["report", str(_run_dir(t)), "--out",
                                                 str(_file(t) / "r.html")], 2,
         ("--out", "is a file")),
    Case("report RUN_DIR is a file", lambda t: ["report", str(_file(t))], 2,
         ("run_dir", "not a folder")),
    Case("report RUN_DIR/report.html is a folder",
         lambda t: (os.makedirs(_run_dir(t) / "report.html"), ["report", str(t / "run")])[1], 2,
         ("report.html", "is a folder")),
    Case("report --thumb-width -5", lambda t: ["report", str(t), "--thumb-width", "-5"], 2,
         ("--thumb-width",)),
    Case("report --max-steps -1", lambda t: ["report", str(t), "--max-steps", "-1"], 2,
         ("--max-steps",)),
    Case("annotate --port 99999", lambda t: ["annotate", str(_manifest(t).parent), "--port",
                                             "99999", "--no-browser"], 2,
         ("--port", "99999", "is not a port")),
    Case("annotate --port -1", lambda t: ["annotate", str(t), "--port", "-1"], 2, ("--port",)),
    Case("annotate --port http", lambda t: ["annotate", str(t), "--port", "http"], 2,
         ("--port",)),
    Case("annotate TRACE_DIR missing", lambda t: ["annotate", str(t / "nope")], 2,
         ("trace_dir", "does not exist")),
    Case("annotate --annotations is a file", lambda t: ["annotate", str(t), "--annotations",
                                                        str(_file(t))], 2,
         ("--annotations", "is a file")),
    Case("tasks list --width 0", lambda t: ["tasks", "list", "demo", "--width", "0"], 2,
         ("--width",)),
    Case("tasks list missing.json", lambda t: ["tasks", "list", str(t / "missing.json")], 2,
         ("missing.json",)),
    Case("datasets import PATH missing", lambda t: ["datasets", "import", "droidtask",
                                                    str(t / "nope"), "--out", str(t / "o")], 2,
         ("path", "does not exist")),
    Case("datasets import --out is a file", lambda t: ["datasets", "import", "droidtask", str(t),
                                                       "--out", str(_file(t))], 2,
         ("--out", "is a file")),
    Case("datasets import --max-problems -1",
         lambda t: ["datasets", "import", "droidtask", str(t), "--out", str(t / "o"),
                    "--max-problems", "-1"], 2, ("--max-problems",)),
    Case("devices --adb-port 99999", lambda t: ["devices", "--adb-port", "99999"], 2,
         ("--adb-port",)),
    Case("devices --timeout 0", lambda t: ["devices", "--timeout", "0"], 2, ("--timeout",)),
    Case("devices --timeout nan", lambda t: ["devices", "--timeout", "nan"], 2, ("--timeout",)),
    Case("eval --out FILE", lambda t: ["eval", "--agent", "random", "--out", str(_file(t))], 2,
         ("--out", "is a file")),
    Case("eval --resume: run.json config.max_steps '5'",
         lambda t: _run_json(t, "max_steps", "5"), 2, ("run.json", "config.max_steps")),
    Case("eval --resume: run.json config.workers true",
         lambda t: _run_json(t, "workers", True), 2, ("run.json", "config.workers")),
    Case("eval --resume: run.json config.task_ids 'x'",
         lambda t: _run_json(t, "task_ids", "x"), 2, ("run.json", "config.task_ids")),
    Case("eval --resume: run.json config.agent_params []",
         lambda t: _run_json(t, "agent_params", []), 2, ("run.json", "config.agent_params")),
    Case("eval --memory-dir FILE", lambda t: ["eval", "--agent", "random", "--memory-dir",
                                              str(_file(t)), "--out", str(t / "o")], 2,
         ("--memory-dir", "is a file")),
    Case("eval --annotations missing", lambda t: ["eval", "--agent", "random", "--annotations",
                                                  str(t / "nope"), "--out", str(t / "o")], 2,
         ("nope",)),
    Case("eval --workers -1", lambda t: ["eval", "--agent", "random", "--workers", "-1",
                                         "--out", str(t / "o")], 2, ("--workers",)),
]


def _run_json(tmp: Path, field: str, value: object) -> list[str]:
    """A run folder whose ``run.json`` records ``config.<field> = value`` (as a run of the
    random agent on one demo task would have written it)."""
    run = tmp / "R"
    run.mkdir()
    config = {"agent": "random", "out": str(run), "tasks": "demo",
              "task_ids": ["contacts-call-alice"], "devices": [], "workers": 0,
              "model": "embedded", "base_url": None, "trials": 1, "max_steps": None,
              "resume": False, "infra_retries": 2, "seed": 0, "annotations": "",
              "require_finish": False, "agent_params": {}, "memory_dir": "",
              "record_packages": True, field: value}
    (run / "run.json").write_text(json.dumps({"schema": _run_schema(), "config": config}))
    return ["eval", "--resume", "--out", str(run), "--no-progress"]


def _run_schema() -> str:
    from llamatouch.runner.runconfig import RUN_SCHEMA

    return RUN_SCHEMA


def _cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "ADB_MDNS": "0"}
    return subprocess.run([sys.executable, "-m", "llamatouch", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


TALLY: dict[str, list[str]] = {"clear": [], "traceback": [], "accepted": []}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    argv = case.make(tmp_path)
    done = _cli(argv, tmp_path)
    said = done.stdout + done.stderr
    page = tmp_path / "r.html"
    if case.code == 0 and page.is_file():
        said += html.unescape(page.read_text(encoding="utf-8"))
    if "Traceback" in done.stderr:
        TALLY["traceback"].append(case.name)
    elif done.returncode != case.code or not all(s in said for s in case.says):
        TALLY["accepted"].append(case.name)
    else:
        TALLY["clear"].append(case.name)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == case.code, (done.returncode, said[-2000:])
    for s in case.says:
        assert s in said, (s, said[-2000:])
    if case.code == 2:  # one line on stderr says what is wrong
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "error" in lines[0], done.stderr


def test_zz_tally() -> None:
    """The figure for the closing note (runs last in this file)."""
    total = sum(len(v) for v in TALLY.values())
    print(f"\nbad inputs: {total} run, {len(TALLY['clear'])} clear errors, "
          f"{len(TALLY['traceback'])} tracebacks, {len(TALLY['accepted'])} silently accepted "
          f"or unclear: {TALLY['traceback'] + TALLY['accepted']}")
    assert not TALLY["traceback"] and not TALLY["accepted"]
