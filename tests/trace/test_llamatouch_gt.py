"""LlamaTouch dataset readers: metadata TSV (real), ground-truth episodes and AgentEnv traces.

The LlamaTouch traces themselves are not in ../shared (users download them), so the episode
folders here are synthetic: built in temporary folders from the real LlamaTouch screens of
``../shared/data/llamatouch/cases`` (screenshots, uiautomator dump, component list) and from
a real DroidTask state (as the ``.vh`` view list), with hand-written eventStructs/instruction.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llamatouch.datasets.llamatouch import import_agentenv, import_llamatouch_gt
from llamatouch.datasets.llamatouch_gt import (
    convert_agentenv_trace,
    convert_gt_episode,
    metadata_tasks,
    parse_agentenv_action,
    parse_event_structs,
    read_gt_episode,
    read_task_metadata,
)
from llamatouch.errors import ImageFormatError, InputFormatError, SchemaError
from llamatouch.trace.format import read_trace
from llamatouch.trace.records import action_to_json


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


@pytest.fixture
def episode(tmp_path: Path, llamatouch_data_dir: Path, droidtask_dir: Path) -> Path:
    """A 3-screen ground-truth episode folder in the LlamaTouch layout (synthetic, see top)."""
    cases = llamatouch_data_dir / "cases"
    ep = tmp_path / "general" / "trace_7"
    _copy(cases / "click_case1" / "10.png", ep / "0.png")
    _copy(cases / "click_case1" / "10.xml", ep / "0.xml")
    (ep / "0.activity").write_text("com.google.android.apps.maps/.MapsActivity\n\n")
    _copy(cases / "img_case1" / "2.png", ep / "1.png")
    _copy(cases / "click_case1" / "10.xml", ep / "1.xml")
    _copy(cases / "img_case1" / "2.json", ep / "1.json")
    (ep / "1.ess").write_text("activity<0>|click<3>")
    _copy(cases / "img_case1" / "3.png", ep / "2.png")
    state = sorted((droidtask_dir / "notes" / "states").glob("*.json"))[0]
    (ep / "2.vh").write_text(json.dumps(json.loads(state.read_text())["views"]))
    (ep / "instruction.txt").write_text("09598740612387056736\nOpen the maps and search\n")
    (ep / "eventStructs.txt").write_text(
        "【点击事件】屏幕大小：（w320，h720），触摸位置：（x160，y360）\n"
        "【键盘输入】coffee near me\n",
        encoding="utf-8",
    )
    return ep


def test_metadata_tsv_keeps_string_episode_ids(llamatouch_data_dir: Path) -> None:
    tsv = llamatouch_data_dir / "llamatouch_task_metadata.tsv"
    metas = read_task_metadata(tsv)
    assert len(metas) == 495  # rows of the published metadata
    ids = {m.episode for m in metas}
    assert "09598740612387056736" in ids  # leading zero kept
    assert "10184947348061504048" in ids  # > 2**64 - 1, kept exactly
    assert int("10184947348061504048") > 2**63
    cats = {m.category for m in metas}
    assert cats == {"general", "googleapps", "install", "webshopping", "generated"}
    tasks = metadata_tasks(tsv)
    assert len({t.id for t in tasks}) == 495
    t = next(t for t in tasks if t.meta["episode"] == "84143002711104077")
    assert t.instruction == "Open the settings" and t.app_label == "Settings"
    assert t.meta["path"] == "general/trace_11" and t.meta["nsteps"] == 4


def test_metadata_tsv_errors_name_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.tsv"
    bad.write_text("episode\tcategory\tpath\tdescription\tnsteps\tapp\n1\tgeneral\tp\td\tx\tA\n")
    with pytest.raises(SchemaError) as e:
        read_task_metadata(bad)
    assert e.value.field == "line 2.nsteps" and e.value.source == str(bad)
    bad.write_text("episode\tcategory\n")
    with pytest.raises(SchemaError, match="header"):
        read_task_metadata(bad)


def test_event_structs_both_forms() -> None:
    zh = parse_event_structs(
        "【Home键】\n【点击事件】屏幕大小：（w320，h720），触摸位置：（x204，y170）\n"
        "【滑动事件】屏幕大小：（w320，h720），起始位置：（x160，y600），结束位置：（x160，y100）\n"
        "【键盘输入】best buy\n【Back键】\n"
    )
    assert [a.kind for a in zh] == ["home", "click", "swipe", "type", "back"]
    assert zh[1].resolution == (320, 720) and zh[1].points == ((204, 170),)
    assert zh[2].points == ((160, 600), (160, 100))
    assert zh[3].text == "best buy"
    assert zh[1].to_action(1080, 2400) == {"action": "tap", "x": 688, "y": 567}
    assert zh[2].to_action(1080, 2400) == {
        "action": "swipe",
        "x1": 540,
        "y1": 2000,
        "x2": 540,
        "y2": 333,
        "duration_ms": 300,
    }
    en = parse_event_structs(
        "[Home]\n[Click] Screen Resolution (320, 720), Click Position (204, 170)\n"
    )
    assert en[1].to_action(320, 720) == {"action": "tap", "x": 204, "y": 170}
    with pytest.raises(SchemaError) as e:
        parse_event_structs("[Home]\n[Dance] now\n", "ev.txt")
    assert e.value.field == "line 2" and e.value.source == "ev.txt"
    with pytest.raises(SchemaError, match="line 1"):
        parse_event_structs("【点击事件】屏幕大小：（w320，h720）\n")


def test_ground_truth_episode_to_trace(episode: Path, tmp_path: Path) -> None:
    ep = read_gt_episode(episode)
    assert ep.episode == "09598740612387056736"
    assert len(ep.screens) == 3
    assert ep.screens[0].screen.width == 1080  # the screenshot's size (10.png is 1080x1918)
    assert ep.actions[0] == {"action": "tap", "x": 540, "y": 959}
    assert ep.actions[1] == {"action": "type", "text": "coffee near me", "clear": True}
    assert ep.actions[2] == {"action": "finish", "status": "success"}
    assert ep.screens[1].ess == "activity<0>|click<3>"
    assert ep.screens[2].screen.nodes  # read from the .vh view list
    out = convert_gt_episode(episode, tmp_path / "out")
    trace = read_trace(out)
    assert trace.manifest.task.extra["episode"] == "09598740612387056736"
    assert [action_to_json(s.record.action) for s in trace] == ep.actions
    assert trace.steps[0].record.activity == "com.google.android.apps.maps/.MapsActivity"
    assert trace.steps[1].record.extra["ess"] == "activity<0>|click<3>"
    assert isinstance(trace.steps[1].record.extra["components"], list)
    for step in trace:
        assert step.screen().nodes
        assert step.screenshot_png() == (episode / f"{step.index}.png").read_bytes()


def test_import_llamatouch_gt_with_metadata(
    episode: Path, tmp_path: Path, llamatouch_data_dir: Path
) -> None:
    root = episode.parent.parent
    broken = root / "general" / "trace_8"
    shutil.copytree(episode, broken)
    (broken / "1.png").write_bytes(b"not a png")
    res = import_llamatouch_gt(
        root, tmp_path / "out", metadata=llamatouch_data_dir / "llamatouch_task_metadata.tsv"
    )
    assert res.tasks == 495 and res.episodes == 1
    assert [p.source for p in res.problems] == ["general/trace_8"]
    assert "1.png" in res.problems[0].detail
    trace = read_trace(res.traces[0])
    assert trace.manifest.task.id == "llamatouch-generated-09598740612387056736"
    assert res.suite_path is not None and res.suite_path.is_file()


def test_bad_episode_folders_raise_typed_errors(episode: Path) -> None:
    (episode / "eventStructs.txt").write_text("【Home键】\n" * 5, encoding="utf-8")
    with pytest.raises(SchemaError, match="5 actions for 3 screens"):
        read_gt_episode(episode)
    (episode / "instruction.txt").unlink()
    with pytest.raises(InputFormatError) as e:
        read_gt_episode(episode)
    assert e.value.source == str(episode / "instruction.txt")


def test_bad_png_in_episode(episode: Path) -> None:
    (episode / "1.png").write_bytes((episode / "1.png").read_bytes()[:10])
    with pytest.raises(ImageFormatError) as e:
        read_gt_episode(episode)
    assert e.value.source == str(episode / "1.png")


@pytest.fixture
def agentenv_trace(tmp_path: Path, llamatouch_data_dir: Path) -> Path:
    """An AgentEnv captured_data folder (synthetic, built from the real click_case1 screen)."""
    cases = llamatouch_data_dir / "cases" / "click_case1"
    root = tmp_path / "AutoUI" / "captured_data"
    actions = [
        "CLICK|[0.5 0.25]|NULL|1080|1918",
        "TYPE|pizza|NULL|1080|1918",
        "STATUS_TASK_COMPLETE|NULL|NULL|1080|1918",
    ]
    for i, act in enumerate(actions):
        _copy(cases / "10.png", root / "screenshot" / f"{i}.png")
        _copy(cases / "10.xml", root / "xml" / f"{i}.xml")
        (root / "activity").mkdir(exist_ok=True)
        (root / "activity" / f"{i}.activity").write_text("com.google.android.apps.maps/.Maps\n")
        (root / "action").mkdir(exist_ok=True)
        (root / "action" / f"{i}.action").write_text(act)
    (root / "installed_apps").mkdir()
    (root / "installed_apps" / "installed_apps.txt").write_text("com.a\ncom.b\n")
    return root


def test_agentenv_trace_to_trace(agentenv_trace: Path, tmp_path: Path) -> None:
    trace = read_trace(convert_agentenv_trace(agentenv_trace, tmp_path / "t"))
    assert trace.manifest.status == "finished"
    assert [action_to_json(s.record.action) for s in trace] == [
        {"action": "tap", "x": 540, "y": 480},
        {"action": "type", "text": "pizza", "clear": True},
        {"action": "finish", "status": "success"},
    ]
    assert trace.steps[-1].record.installed_packages == ["com.a", "com.b"]
    res = import_agentenv(agentenv_trace.parent, tmp_path / "all")
    assert res.episodes == 1 and not res.problems


def test_agentenv_action_errors_name_the_file() -> None:
    assert parse_agentenv_action("SWIPE|[0.8, 0.5]|[0.2 0.5]|1000|2000", "a") == {
        "action": "swipe",
        "x1": 800,
        "y1": 1000,
        "x2": 200,
        "y2": 1000,
        "duration_ms": 300,
    }
    assert parse_agentenv_action("PRESS_BACK|NULL|NULL|1|1", "a") == {
        "action": "key",
        "key": "back",
    }
    assert parse_agentenv_action("STATUS_TASK_IMPOSSIBLE|NULL|NULL|1|1", "a")["status"] == (
        "infeasible"
    )
    with pytest.raises(SchemaError) as e:
        parse_agentenv_action("FLY|NULL|NULL|1|1", "3.action")
    assert e.value.source == "3.action" and e.value.field == "action.type"
    with pytest.raises(SchemaError, match=r"action\.point"):
        parse_agentenv_action("CLICK|here|NULL|1080|1918", "x")
