"""``llamatouch world record`` / ``world diff`` from the command line (in-process virtual
device; the adb path is in test_record_adb.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamatouch.cli import main
from llamatouch.cli.world_cmd import read_inputs
from llamatouch.errors import InputFormatError
from llamatouch.record.diff import diff_worlds, format_table, reachable_states
from llamatouch.tasks import load_suite
from llamatouch.world import load_world
from llamatouch_emulator.worlds import demo_world_dir, load_named_world

SHOP = "com.llamatouch.shop"


def test_record_then_diff_against_the_source(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shop"
    rc = main(["world", "record", "--device", "virtual:demo", "--app", SHOP, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "recorded 9 states" in captured.out and "done" in captured.out
    assert "states=" in captured.err and "edges=" in captured.err  # the progress bar
    assert load_world(out).apps[0].package == SHOP
    rc = main(["world", "diff", str(out), "demo", "--app", SHOP, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["coverage"] == 1.0 and data["reachable"] == {"in_b": 8, "found_in_a": 8,
                                                             "coverage": 1.0}
    assert data["states"]["only_b"] == 0 and data["states"]["both"] == 8
    assert data["transitions"]["both"] > 0
    rc = main(["world", "diff", str(out), "demo", "--app", SHOP])
    table = capsys.readouterr().out
    assert rc == 0 and "coverage (app com.llamatouch.shop): 100.0%" in table
    # a second recording into the same folder is refused (one line, exit 2); --resume works
    rc = main(["world", "record", "--device", "virtual:demo", "--app", SHOP, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "already holds a recording" in err and "Traceback" not in err
    rc = main(["world", "record", "--device", "virtual:demo", "--app", SHOP, "--out", str(out),
               "--resume"])
    assert rc == 0 and "done" in capsys.readouterr().out


def test_budget_stops_and_says_how_to_continue(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clock"
    rc = main(["world", "record", "--device", "virtual:demo", "--app", "com.llamatouch.clock",
               "--out", str(out), "--budget-steps", "25"])
    text = capsys.readouterr().out
    assert rc == 0 and "stopped: budget-steps" in text and "--resume" in text
    assert len(load_world(out).states) >= 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--budget-steps", "0"], "argument --budget-steps: 0 must be at least 1"),
        (["--budget-minutes", "-1"], "argument --budget-minutes"),
        (["--repeat", "0"], "argument --repeat"),
        (["--inputs", "MISSING"], "argument --inputs"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, extra: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["world", "record", "--device", "virtual:demo", "--app", SHOP,
            "--out", str(tmp_path / "w"), *[a.replace("MISSING", str(tmp_path / "no.txt"))
                                            for a in extra]]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_nothing_to_resume_is_one_line_and_exit_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["world", "record", "--device", "virtual:demo", "--app", SHOP,
                 "--out", str(tmp_path / "w"), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nothing to resume" in err and len(err.splitlines()) == 1


def test_bad_package_and_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["world", "record", "--device", "virtual:demo", "--app", "rm -rf /",
                 "--out", str(tmp_path / "w")]) == 2
    assert "not a package name" in capsys.readouterr().err
    bad = tmp_path / "inputs.json"
    bad.write_text('{"not": "a list"}')
    assert main(["world", "record", "--device", "virtual:demo", "--app", SHOP,
                 "--out", str(tmp_path / "w"), "--inputs", str(bad)]) == 2
    assert "expected a JSON list of strings" in capsys.readouterr().err


def test_inputs_file_feeds_the_text_fields(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("# texts my tasks type\nBuy milk\n\n")
    out = tmp_path / "notes"
    rc = main(["world", "record", "--device", "virtual:demo", "--app", "com.llamatouch.notes",
               "--out", str(out), "--inputs", str(inputs), "--avoid", "Uninstall"])
    assert rc == 0, capsys.readouterr().err
    world = load_world(out)
    assert {t.action["text"] for t in world.transitions if t.action["action"] == "type"} \
        == {"Buy milk"}
    d = diff_worlds(world, load_named_world("demo"), "com.llamatouch.notes")
    assert d.reachable_coverage == 1.0


def test_diff_of_a_world_with_itself_and_with_a_smaller_copy(tmp_path: Path) -> None:
    demo = load_named_world("demo")
    same = diff_worlds(demo, demo)
    assert same.coverage == 1.0 and not same.only_a and not same.only_b
    assert same.transitions_only_a == same.transitions_only_b == 0
    assert len(same.both) == len(demo.states)
    # drop one Notes screen (and its edges) from a copy
    copy = tmp_path / "demo"
    shutil.copytree(demo_world_dir(), copy)
    manifest = json.loads((copy / "world.json").read_text())
    gone = "notes_list_buy_milk"
    manifest["states"] = [s for s in manifest["states"] if s["id"] != gone]
    manifest["transitions"] = [t for t in manifest["transitions"]
                               if gone not in (t["source"], t["target"])]
    (copy / "world.json").write_text(json.dumps(manifest))
    small = load_world(copy)
    d = diff_worlds(small, demo, "com.llamatouch.notes")
    assert d.only_b == [gone] and not d.only_a
    assert d.coverage == pytest.approx(6 / 7)
    n_edges = sum(1 for t in demo.transitions if gone in (t.source, t.target)
                  and demo.states[t.source].package == "com.llamatouch.notes")
    assert d.transitions_only_b == n_edges and d.transitions_only_a == 0
    assert d.reachable_b == len([s for s in reachable_states(demo, "com.llamatouch.notes")
                                 if demo.states[s].package == "com.llamatouch.notes"])
    assert "only in A" in format_table(d)
    # the other way round: A has a state B lacks, coverage of B stays whole
    back = diff_worlds(demo, small, "com.llamatouch.notes")
    assert back.only_a == [gone] and back.coverage == 1.0


def test_diff_of_a_missing_world_is_a_user_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["world", "diff", str(tmp_path / "nope"), "demo"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_annotate_on_a_world_needs_a_suite(capsys: pytest.CaptureFixture[str]) -> None:
    # `llamatouch annotate WORLD` opens the authoring app (docs/record.md); it needs --suite
    assert main(["annotate", str(demo_world_dir()), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "--suite FILE is required" in err and "Traceback" not in err
    assert main(["world", "author", str(demo_world_dir()), "--no-browser"]) == 2
    assert "--suite FILE is required" in capsys.readouterr().err


_INPUT = st.text(min_size=1, max_size=20).filter(lambda t: t.strip() == t and "\n" not in t
                                                 and "\r" not in t and t.isprintable())


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(_INPUT, min_size=1, max_size=8))
def test_input_dictionaries_read_back_in_order_without_duplicates(tmp_path: Path,
                                                                  items: list[str]) -> None:
    as_json = tmp_path / "inputs.json"
    as_json.write_text(json.dumps(items), encoding="utf-8")
    assert read_inputs(as_json) == tuple(dict.fromkeys(items))
    lines = [t for t in items if not t.startswith("#")]
    as_text = tmp_path / "inputs.txt"
    as_text.write_text("\n".join(["# comment", *items, ""]), encoding="utf-8")
    if lines:
        assert read_inputs(as_text) == tuple(dict.fromkeys(lines))
    else:
        with pytest.raises(InputFormatError, match="no inputs"):
            read_inputs(as_text)


def test_remap_moves_tasks_onto_a_recording(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "notes"
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("Buy milk\n")
    assert main(["world", "record", "--device", "virtual:demo", "--app", "com.llamatouch.notes",
                 "--out", str(rec), "--inputs", str(inputs), "--avoid", "Uninstall"]) == 0
    capsys.readouterr()
    out = tmp_path / "notes-tasks.json"
    assert main(["world", "remap", "demo", "demo", str(rec), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    suite = load_suite(out)
    # both Notes tasks run on the recording; the other apps' tasks are listed as missing
    assert {t.id for t in suite.tasks} == {"notes-create-buy-milk", "notes-delete-shopping-list"}
    assert "shop-earbuds-to-cart: not recorded" in text
    assert text.startswith("2 of 15 task(s) of demo run on recorded-com.llamatouch.notes")
    world = load_world(rec)
    for task in suite.tasks:
        assert task.world == str(rec.resolve())
        # ("" start state: the app's own start, as in the source suite)
        assert task.gt_states and all(s in world.states for s in task.gt_states)
        assert task.start_state == "" or task.start_state in world.states
    with pytest.raises(SystemExit) as exc:
        main(["world", "remap", "demo", "demo", str(tmp_path / "nope"), "--out", str(out)])
    assert exc.value.code == 2
