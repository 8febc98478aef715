"""One CLI vocabulary: one name per concept across subcommands, shared argument groups,
defaults shown in every help, old spellings still working (hidden), and ``score --out DIR``
writing a run folder that ``report`` reads (issue 14 item 7)."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llamatouch.cli import build_parser, main
from llamatouch.cli.common import PRIMITIVE_TYPE_NAMES
from llamatouch.essential.schema import PRIMITIVE_TYPES
from llamatouch.paths import annotations_dir


def _subparsers(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}".strip(), sub
                yield from _subparsers(sub, f"{path} {name}")


def _commands() -> dict[str, argparse.ArgumentParser]:
    return dict(_subparsers(build_parser()))


def _options(parser: argparse.ArgumentParser, *, hidden: bool = False) -> set[str]:
    return {
        opt
        for a in parser._actions
        if hidden or a.help is not argparse.SUPPRESS
        for opt in a.option_strings
    }


def _group(parser: argparse.ArgumentParser, title: str) -> set[str]:
    for g in parser._action_groups:
        if g.title == title:
            return {o for a in g._group_actions if a.help is not argparse.SUPPRESS
                    for o in a.option_strings}
    return set()


# -- one name per concept ------------------------------------------------------------------
#: (subcommand, the old spelling kept as a hidden alias, its new name)
RENAMED = (
    ("eval", "--require-finish", "--require-completion"),
    ("score", "--require-finish", "--require-completion"),
    ("report", "--max-steps", "--steps-shown"),
    ("annotate", "--task-id", "--task"),
)


@pytest.mark.parametrize(("cmd", "old", "new"), RENAMED)
def test_renamed_option_listed_under_its_new_name_only(cmd: str, old: str, new: str) -> None:
    parser = _commands()[cmd]
    assert new in _options(parser)
    assert old not in _options(parser), f"{cmd} still lists {old}"
    assert old in _options(parser, hidden=True), f"{cmd} no longer accepts {old}"
    assert old not in parser.format_help()


def test_old_spellings_still_work() -> None:
    p = build_parser()
    assert p.parse_args(["eval", "--require-finish"]).require_completion is True
    assert p.parse_args(["eval", "--require-completion"]).require_completion is True
    assert p.parse_args(["eval"]).require_completion is None  # unset: --resume can tell
    assert p.parse_args(["report", ".", "--max-steps", "3"]).steps_shown == 3
    assert p.parse_args(["report", ".", "--steps-shown", "4"]).steps_shown == 4
    assert p.parse_args(["report", "."]).steps_shown == 0
    assert p.parse_args(["annotate", ".", "--task-id", "t1"]).task == "t1"
    assert p.parse_args(["annotate", ".", "--task", "t2"]).task == "t2"
    assert p.parse_args(["annotate", "."]).task == ""


def test_old_alias_is_checked_like_the_new_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["report", ".", "--max-steps", "-1"])
    assert exc.value.code == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_no_option_name_left_with_two_spellings_of_one_concept() -> None:
    """Across every subcommand, none lists a spelling the vocabulary replaced."""
    replaced = {"--require-finish", "--task-id"}
    for name, parser in _commands().items():
        assert not _options(parser) & replaced, name
    # --max-steps keeps one meaning: the step limit of an episode (eval only)
    users = [n for n, p in _commands().items() if "--max-steps" in _options(p)]
    assert users == ["eval"]


def test_out_always_names_where_the_command_writes() -> None:
    """``--out`` has one meaning everywhere: the folder (DIR) or file (FILE) written."""
    from llamatouch.cli import args as argtypes

    seen = []
    for name, parser in _commands().items():
        for a in parser._actions:
            if "--out" not in a.option_strings:
                continue
            seen.append(name)
            assert a.metavar in ("DIR", "FILE"), (name, a.metavar)
            if a.type is argtypes.output_dir:
                assert a.metavar == "DIR", name
            if a.type is argtypes.output_file:
                assert a.metavar == "FILE", name
    assert {"eval", "score", "report", "datasets import", "world record"} <= set(seen)


# -- shared groups -------------------------------------------------------------------------
def test_eval_and_score_share_the_evaluator_options() -> None:
    cmds = _commands()
    shared = {"--require-completion", "--allow-shared-screen", "--skip"}
    assert shared <= _group(cmds["eval"], "evaluator")
    assert shared | {"--evaluator", "--lcs-threshold"} == _group(cmds["score"], "evaluator")


def test_skip_names_every_primitive_type() -> None:
    assert set(PRIMITIVE_TYPE_NAMES) == set(PRIMITIVE_TYPES)


def test_unknown_skip_type_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["eval"], ["score", ".", "--annotations", "."]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args([*cmd, "--skip", "nonsense"])
        assert exc.value.code == 2
        assert "--skip" in capsys.readouterr().err


def test_devices_uses_the_adb_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5099")
    parser = _commands()["devices"]
    assert _group(parser, "adb") == {"--adb-host", "--adb-port", "--timeout"}
    ns = parser.parse_args([])
    assert (ns.adb_host, ns.adb_port, ns.timeout) == ("127.0.0.1", 5099, 5.0)
    assert _group(_commands()["eval"], "adb") == {"--adb-host", "--adb-port"}
    assert _group(_commands()["world record"], "adb") == {"--adb-host", "--adb-port"}


def test_adb_server_env_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from llamatouch.cli.common import adb_server_env

    monkeypatch.delenv("ANDROID_ADB_SERVER_HOST", raising=False)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5037")
    with adb_server_env("10.0.0.2", 5099):
        assert os.environ["ANDROID_ADB_SERVER_HOST"] == "10.0.0.2"
        assert os.environ["ANDROID_ADB_SERVER_PORT"] == "5099"
    assert "ANDROID_ADB_SERVER_HOST" not in os.environ
    assert os.environ["ANDROID_ADB_SERVER_PORT"] == "5037"


def test_eval_evaluator_options_reach_the_config(tmp_path: Path) -> None:
    from llamatouch.cli import eval_cmd

    ns = build_parser().parse_args(
        ["eval", "--agent", "replay", "--out", str(tmp_path / "r"), "--require-finish",
         "--allow-shared-screen", "--skip", "semantic", "--skip", "image"])
    config = eval_cmd._config(ns, {})
    assert config.require_completion is True
    assert config.allow_shared_screen is True
    assert config.skip_types == ("image", "semantic")


def test_scorer_passes_the_options_to_the_evaluator() -> None:
    from llamatouch.runner.scorer import Scorer

    opts = Scorer(None, require_completion=True, allow_shared_screen=True,
                  skip_types=("click",))._evaluator_options()
    assert (opts.require_completion, opts.allow_shared_screen, opts.skip_types) == (
        True, True, frozenset({"click"}))


# -- defaults shown ------------------------------------------------------------------------
def _trivial(default: object) -> bool:
    return default is None or default is False or default is argparse.SUPPRESS or (
        isinstance(default, list | tuple) and not default)


def test_every_help_shows_the_defaults() -> None:
    missing = []
    for name, parser in _commands().items():
        formatter = parser._get_formatter()
        for a in parser._actions:
            if not a.option_strings or a.help is argparse.SUPPRESS or _trivial(a.default):
                continue
            if isinstance(a, argparse._HelpAction | argparse._VersionAction):
                continue
            assert a.help, f"{name} {a.option_strings[0]} has no help"
            text = formatter._get_help_string(a) or ""
            if "default" not in text.lower():
                missing.append(f"{name} {a.option_strings[0]}")
        assert "%(default)" not in parser.format_help()
    assert not missing, f"options whose help does not show the default: {missing}"


def test_defaults_are_written_one_way() -> None:
    """``(default: X)``, never ``(default X)``, in the commands this vocabulary covers."""
    for name in ("eval", "score", "report", "annotate", "devices"):
        text = " ".join(_commands()[name].format_help().split())
        assert not re.search(r"\(default [^:]", text), (name, text)


# -- score --out DIR: a run folder report reads ---------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A replay run of the demo suite on the in-process virtual device."""
    out = tmp_path_factory.mktemp("vocab") / "demo-run"
    assert main(["eval", "--agent", "replay", "--device", "virtual", "--out", str(out),
                 "--no-progress"]) == 0
    return out


def _score(traces: Path, *extra: str) -> int:
    return main(["score", str(traces), "--annotations", str(annotations_dir() / "demo"),
                 "--no-progress", *extra])


def test_score_out_writes_a_run_folder_report_reads(demo_run: Path, tmp_path: Path) -> None:
    from llamatouch.report.data import load_run
    from llamatouch.runner.results import COLUMNS

    out = tmp_path / "scored"
    assert _score(demo_run / "traces", "--out", str(out)) == 0
    for name in ("results.json", "results.csv", "summary.json", "run.json"):
        assert (out / name).is_file(), name
    scored = json.loads((out / "results.json").read_text())
    evaluated = {r["episode_id"]: r for r in json.loads((demo_run / "results.json").read_text())}
    assert len(scored) == len(evaluated) == 15
    assert list(scored[0]) == list(COLUMNS)  # the eval row format
    for row in scored:
        ref = evaluated[row["episode_id"]]
        assert row["evaluator"] == "essential" and ref["evaluator"] == ""
        for col in ("task_id", "app", "agent", "trial", "status", "verdict", "success",
                    "steps", "oracle"):
            assert row[col] == ref[col], (row["episode_id"], col)
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header == list(COLUMNS)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["successes"] == 15
    config = json.loads((out / "run.json").read_text())
    assert config["schema"] == "llamatouch.score-run/1"
    assert config["config"]["evaluator"] == "essential"

    run = load_run(out)
    assert {ep.episode_id for ep in run.episodes} == set(evaluated)
    assert {ep.evaluator for ep in run.episodes} == {"essential"}

    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    for eid in evaluated:
        assert eid in page
    assert page.count('data-verdict="success"') >= 15


def test_score_out_inside_the_run_folder_keeps_the_screenshots(demo_run: Path,
                                                              tmp_path: Path) -> None:
    """Traces under the score folder are found by the report (paths never leave the root)."""
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(demo_run / "traces", run / "traces")
    assert _score(run / "traces", "--out", str(run), "--evaluator", "lcs") == 0
    rows = json.loads((run / "results.json").read_text())
    assert all(r["trace_dir"].startswith("traces/") for r in rows)
    assert {r["evaluator"] for r in rows} == {"lcs"}
    assert main(["report", str(run), "--steps-shown", "1"]) == 0
    assert "<img" in (run / "report.html").read_text()
    # scoring again into the same (score) folder is allowed
    assert _score(run / "traces", "--out", str(run)) == 0


def test_score_out_never_overwrites_an_eval_run(demo_run: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = (demo_run / "results.json").read_bytes()
    assert _score(demo_run / "traces", "--out", str(demo_run)) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "another run" in err and err.count("\n") == 1
    assert (demo_run / "results.json").read_bytes() == before


def test_score_out_file_keeps_its_old_meaning(demo_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.json"
    assert _score(demo_run / "traces", "--format", "json", "--out", str(out)) == 0
    data = json.loads(out.read_text())
    assert data["summary"]["total"] == 15 and len(data["results"]) == 15


# -- run.json compatibility ----------------------------------------------------------------
def test_old_run_json_with_require_finish_resumes(demo_run: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A run.json written before the new evaluator settings (no allow_shared_screen,
    no skip_types) resumes, and --require-completion is compared with its require_finish."""
    import shutil

    from llamatouch.runner import ResumeConflict, resume_config

    run = tmp_path / "old"
    shutil.copytree(demo_run, run)
    data = json.loads((run / "run.json").read_text())
    assert data["config"]["require_completion"] is False  # written under its current name
    assert "require_finish" not in data["config"]
    for key in ("allow_shared_screen", "skip_types", "require_completion"):
        del data["config"][key]
    data["config"]["require_finish"] = True  # how run.json named it before
    (run / "run.json").write_text(json.dumps(data))

    config = resume_config(run, {})
    assert config.require_completion is True
    assert (config.allow_shared_screen, config.skip_types) == (False, ())
    with pytest.raises(ResumeConflict):
        resume_config(run, {"require_completion": False})
    ns = build_parser().parse_args(["eval", "--resume", "--out", str(run),
                                    "--require-completion"])
    from llamatouch.cli import eval_cmd

    assert eval_cmd._config(ns, {}).require_completion is True
    capsys.readouterr()


# -- enums where strings were compared -------------------------------------------------------
def test_result_kinds_are_the_record_enums() -> None:
    from llamatouch.runner import results
    from llamatouch.trace.records import EpisodeStatus, FailureKind, VerdictStatus

    assert results._failure_kind("finished", "success") == FailureKind.NONE == ""
    assert results._failure_kind("infra_error", "not_run") == FailureKind.INFRA
    assert results._failure_kind("crash", "not_run") == FailureKind.CRASH
    assert results._failure_kind("finished", "unscored") == FailureKind.UNSCORED
    assert results._failure_kind("finished", "error") == FailureKind.EVAL
    assert results._failure_kind("step_limit", "fail") == FailureKind.AGENT
    assert type(results._failure_kind("finished", "fail")) is str  # same strings on disk
    assert "finished" in results.DONE_STATUSES and EpisodeStatus.CRASH in results.DONE_STATUSES
    assert VerdictStatus("not_run") is VerdictStatus.NOT_RUN


# -- the adb group reaches eval's adb devices -----------------------------------------------
@pytest.mark.slow
def test_eval_and_devices_find_a_device_on_the_adb_server_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A private adb server (the real adb binary) serving the virtual device: ``devices`` and
    ``eval`` find its serial with ``--adb-port``; the environment is restored afterwards."""
    import os

    from llamatouch_emulator.harness import AdbSession

    before = os.environ.get("ANDROID_ADB_SERVER_PORT")
    with AdbSession.for_world("demo") as session:
        port = str(session.adb_port)
        assert main(["devices", "--adb-port", port]) == 0
        assert session.serial in capsys.readouterr().out
        out = tmp_path / "on-adb"
        assert main(["eval", "--agent", "replay", "--device", session.serial, "--adb-port", port,
                     "--task", "clock-enable-830-alarm", "--infra-retries", "0",
                     "--out", str(out), "--no-progress"]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [(r["status"], r["verdict"]) for r in rows] == [("finished", "success")]
    assert os.environ.get("ANDROID_ADB_SERVER_PORT") == before


def test_the_scorer_answers_a_typed_verdict(tmp_path) -> None:
    """``Scorer.score`` gives the manifest's record (no JSON dict in between); a trace it
    cannot read is an ``error`` verdict naming why, not an exception."""
    from llamatouch.paths import annotations_dir
    from llamatouch.runner.scorer import Scorer
    from llamatouch.trace.records import VerdictRecord, VerdictStatus

    scorer = Scorer(annotations_dir() / "demo")
    task_id = sorted(scorer.annotations)[0]
    assert scorer.score(tmp_path / "missing", "no-such-task") is None
    verdict = scorer.score(tmp_path / "missing", task_id)
    assert isinstance(verdict, VerdictRecord)
    assert verdict.status is VerdictStatus.ERROR and "missing" in verdict.reason
