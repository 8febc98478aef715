"""The DroidTask importer on the real data (../shared/data/droidtask)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from llamatouch.actions import action_from_json
from llamatouch.datasets.droidtask import ImportResult, import_droidtask
from llamatouch.tasks import load_suite
from llamatouch.world import World, load_world

# The 11 apps of the shared DroidTask copy and their task<N>.yaml counts (ls of the folders).
EXPECTED_TASKS = {
    "applauncher": 5,
    "calendar": 17,
    "camera": 15,
    "clock": 12,
    "contacts": 14,
    "dialer": 15,
    "filemanager": 16,
    "gallery": 9,
    "messenger": 15,
    "musicplayer": 9,
    "notes": 14,
}


def count_resolvable_by_hand(dataset: Path) -> tuple[int, int, int]:
    """Count fully resolvable tasks straight from the files, without the importer's code.

    A record resolves when (1) one of its ``state_str`` hashes is the ``state_str`` of a state
    file and (2) its ``Choice`` is -1 (finished), or names the ``go back`` element, or names
    an element of its ``State`` whose texts (``text='..'`` attribute and ``<br>``-separated
    body) all occur as a view text or content description on such a state, the first of them
    on a visible view whose centre lies on the screen (a tap can reach it). A task is fully
    resolvable when all its records are. Returns (tasks, resolvable tasks, records).
    """
    element_re = re.compile(r"<(\w+)\s+id=(\d+)([^>]*)>(.*?)</\1>", re.S)
    tasks = resolvable = records = 0
    for app in sorted(p for p in dataset.iterdir() if (p / "states").is_dir()):
        views_text: dict[str, set[str]] = {}
        on_screen: dict[str, set[str]] = {}
        for f in sorted((app / "states").glob("*.json")):
            d = json.loads(f.read_text())
            if d["state_str"] in views_text:
                continue  # the first file of a hash stands for it (as in a world)
            texts = views_text.setdefault(d["state_str"], set())
            shown = on_screen.setdefault(d["state_str"], set())
            for v in d["views"]:
                (left, top), (right, bottom) = v["bounds"]
                cx, cy = (left + right) // 2, (top + bottom) // 2
                visible = v.get("visible") and left < right and top < bottom
                visible = visible and 0 <= cx < d["width"] and 0 <= cy < d["height"]
                for k in ("text", "content_description"):
                    if v.get(k):
                        texts.add(" ".join(v[k].split()))
                        if visible:
                            shown.add(" ".join(v[k].split()))
        for y in app.glob("task*.yaml"):
            data: dict[str, Any] = yaml.safe_load(y.read_text())
            tasks += 1
            ok = True
            for r in data["records"]:
                records += 1
                hashes = r["state_str"] if isinstance(r["state_str"], list) else [r["state_str"]]
                known = [h for h in hashes if h in views_text]
                if not known:
                    ok = False
                    continue
                if r["Choice"] == -1:
                    continue
                found = None
                for m in element_re.finditer(r["State"]):
                    if int(m.group(2)) == r["Choice"]:
                        found = m
                if found is None:
                    ok = False
                    continue
                attr = re.search(r"text='([^']*)'", found.group(3))
                raw = ((attr.group(1) if attr else "") + "<br>" + found.group(4)).split("<br>")
                parts = [" ".join(p.split()) for p in raw if p.split()]
                if parts == ["go back"]:
                    continue
                if not parts or not any(
                    all(p in views_text[h] for p in parts) and parts[0] in on_screen[h]
                    for h in known
                ):
                    ok = False
            resolvable += ok
    return tasks, resolvable, records


def test_every_app_imports(droidtask_import: ImportResult) -> None:
    rep = droidtask_import.report
    summaries = {a.app: a for a in rep.apps}
    assert set(summaries) == set(EXPECTED_TASKS)
    for app, n_tasks in EXPECTED_TASKS.items():
        s = summaries[app]
        print(f"{app}: {s.states} states, {s.transitions} transitions, {s.tasks} tasks")
        assert s.package.startswith("com.simplemobiletools.")
        assert s.tasks == n_tasks
        assert 0 < s.states <= s.state_files
        assert s.transitions > 0
        world = load_world(droidtask_import.worlds[app])
        assert len(world.states) == s.states
        assert len(world.transitions) == s.transitions
        app_meta = world.apps[0]
        assert app_meta.package == s.package
        assert world.states[app_meta.start_state].package == s.package
        assert app_meta.launcher_activity.startswith(s.package + "/")
        assert world.home_state and world.states[world.home_state].package != s.package
    # Totals of this copy of the data (measured by this importer; 2240 files on disk).
    assert rep.total("state_files") == 2240
    assert rep.total("tasks") == sum(EXPECTED_TASKS.values()) == 141
    print("totals:", rep.to_json()["totals"])


def test_fully_resolved_equals_count_by_hand(
    droidtask_import: ImportResult, droidtask_dir: Path
) -> None:
    tasks, by_hand, records = count_resolvable_by_hand(droidtask_dir)
    resolved = droidtask_import.report.total("fully_resolved")
    print(f"fully resolved: importer {resolved}, by hand {by_hand} of {tasks} ({records} records)")
    assert tasks == 141
    assert resolved == by_hand
    assert len(droidtask_import.fully_resolved) == resolved


def test_malformed_event_files_are_skipped_and_reported(droidtask_import: ImportResult) -> None:
    bad = [p for p in droidtask_import.report.problems if p.kind == "malformed_json"]
    assert sorted(p.source for p in bad) == [
        "contacts/events/event_2023-07-02_145315.json",
        "contacts/events/event_2023-07-07_203807.json",
    ]
    assert all(p.app == "contacts" and "malformed JSON" in p.detail for p in bad)
    saved = json.loads((droidtask_import.out_dir / "import-report.json").read_text())
    assert saved["problem_counts"]["malformed_json"] == 2
    assert saved["totals"]["fully_resolved"] == droidtask_import.report.total("fully_resolved")


def test_ground_truth_is_typed_and_consistent(
    droidtask_import: ImportResult, droidtask_dir: Path
) -> None:
    suite = load_suite(droidtask_import.suite_path, include_flagged=True)
    assert len(suite.tasks) == 141
    worlds: dict[str, World] = {}
    for task in suite.tasks:
        if not task.meta["fully_resolved"]:
            continue
        world = worlds.setdefault(
            task.world, load_world(droidtask_import.out_dir / "worlds" / task.world)
        )
        n_steps = task.meta["records"] + task.meta["scroll_steps"]
        assert len(task.gt_states) == len(task.gt_actions) == n_steps
        assert task.gt_actions[-1] == {"action": "finish", "status": "success"}
        assert task.start_state == task.gt_states[0]
        records = yaml.safe_load((droidtask_dir / task.meta["source"]).read_text())["records"]
        steps = [(s, a) for s, a in zip(task.gt_states, task.gt_actions, strict=True)]
        scrolls = [(s, a) for s, a in steps if a["action"] == "scroll"]
        assert len(scrolls) == task.meta["scroll_steps"]  # no record is a scroll
        # every step follows a real edge of the world (a recorded event or the task's record)
        for i, (sid, act) in enumerate(steps[:-1]):
            nxt = task.gt_states[i + 1]
            if sid == nxt or act["action"] == "type":
                continue
            assert any(
                t.source == sid and t.target == nxt and t.action.get("action") == act["action"]
                for t in world.transitions
            ), (task.id, i, act)
        recorded = [(s, a) for s, a in steps if a["action"] != "scroll"]
        for sid, act, rec in zip(*zip(*recorded, strict=True), records, strict=True):
            assert sid in world.states
            parsed = action_from_json(act)
            if rec["Input"] != "null":
                assert act["action"] == "type" and act["text"] == rec["Input"]
            if act["action"] in ("tap", "type"):
                node = world.screen(sid).node_by_key(act["element"])
                assert node is not None, (task.id, act)
                assert node.bounds.contains(act["x"], act["y"])
            assert parsed.kind == act["action"]


def test_taps_land_on_the_chosen_element(droidtask_import: ImportResult) -> None:
    """Hit-testing the recorded tap point finds the chosen element (or a node inside it)."""
    hits = total = 0
    for task in droidtask_import.fully_resolved:
        world = load_world(droidtask_import.out_dir / "worlds" / task.world)
        for sid, act in zip(task.gt_states, task.gt_actions, strict=True):
            if act["action"] != "tap":
                continue
            screen = world.screen(sid)
            target = screen.node_by_key(act["element"])
            hit = screen.hit_test(act["x"], act["y"])
            total += 1
            if (
                target is not None
                and hit is not None
                and (
                    hit is target
                    or target in screen.ancestors(hit)
                    or hit in screen.ancestors(target)
                )
            ):
                hits += 1
    print(f"tap hit-test agreement: {hits}/{total}")
    assert total > 300
    assert hits / total >= 0.9


def _copy_app(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    dst.chmod(0o755)
    return dst


def test_broken_inputs_are_reported_not_raised(droidtask_dir: Path, tmp_path: Path) -> None:
    """A copy of the notes app, damaged on purpose (in a temporary folder)."""
    data = tmp_path / "data"
    app = _copy_app(droidtask_dir / "notes", data / "notes")
    (app / "task90.yaml").write_text("records: [\n  - Choice: 1\n  State: '<p")  # bad YAML
    task1 = yaml.safe_load((app / "task1.yaml").read_text())
    task1["records"][1]["state_str"] = "0" * 64  # hash of no state file
    (app / "task91.yaml").write_text(yaml.safe_dump(task1))
    task2 = yaml.safe_load((app / "task1.yaml").read_text())
    task2["records"][0]["Choice"] = 99  # not an element id
    (app / "task92.yaml").write_text(yaml.safe_dump(task2))
    (app / "task93.yaml").write_text("just a string\n")
    first_state = sorted((app / "states").glob("*.json"))[0]
    state = app / "states" / "state_2099-01-01_000000.json"
    state.write_bytes(first_state.read_bytes()[:100])  # a truncated state file
    event = app / "events" / "event_2099-01-01_000000.json"
    event.write_text('{"event": ')  # a truncated event file

    result = import_droidtask(data, tmp_path / "out")
    kinds: dict[str, list[Any]] = {}
    for p in result.report.problems:
        kinds.setdefault(p.kind, []).append(p)
    assert [p.source for p in kinds["malformed_yaml"]] == ["notes/task90.yaml"]
    assert [p.task for p in kinds["malformed_task"]] == ["notes-task93"]
    assert any(p.source == f"notes/states/{state.name}" for p in kinds["malformed_state"])
    assert any(p.source == f"notes/events/{event.name}" for p in kinds["malformed_json"])
    unresolved = [p for p in kinds["state_unresolved"] if p.task == "notes-task91"]
    assert unresolved and unresolved[0].record == 1 and "0000" in unresolved[0].detail
    bad_choice = [p for p in kinds["element_unresolved"] if p.task == "notes-task92"]
    assert bad_choice and bad_choice[0].record == 0 and "99" in bad_choice[0].detail
    by_id = {t.id: t for t in result.suite.tasks}
    assert not by_id["notes-task91"].meta["fully_resolved"]
    assert by_id["notes-task91"].meta["unresolved_records"] == [1]
    assert by_id["notes-task91"].gt_actions == []
    assert not by_id["notes-task92"].meta["fully_resolved"]
    assert by_id["notes-task1"].meta["fully_resolved"]
    assert "notes-task90" not in by_id and "notes-task93" not in by_id
    assert load_suite(result.suite_path).get("notes-task91").instruction == task1["task_name"]


def test_quirks_are_recorded(droidtask_import: ImportResult) -> None:
    """``step_num`` != number of records is kept as a quirk, and list-valued ``state_str``
    records still resolve (both occur in the real data)."""
    quirky = [t for t in droidtask_import.suite.tasks if t.meta["quirks"]]
    assert quirky, "the real data has step_num mismatches"
    assert all("step_num" in q for t in quirky for q in t.meta["quirks"])
    print(f"tasks with a step_num mismatch: {len(quirky)}")
