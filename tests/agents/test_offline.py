"""AutoDroid's offline step-wise evaluation on the real DroidTask records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamatouch.cli import main
from llamatouch_agents.autodroid.offline import parse_recorded_state


def test_parse_recorded_state() -> None:
    html = ("<button id=0 text='Search'></button>\n<p id=1>Diary</p>\n"
            "<input id=2 >Label</input>\n<checkbox id=3 checked=True>Text note</checkbox>\n"
            "<button id=4>Theme<br>Dark</button>\n<button id=5>go back</button>")
    els = parse_recorded_state(html)
    assert [e.id for e in els] == [0, 1, 2, 3, 4, 5]
    assert [e.label for e in els] == ["search", "diary", "label", "text note", "theme dark",
                                      "go back"]


@pytest.mark.slow
def test_offline_stepwise_cli_real_model(
    droidtask_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real inference on the recorded screens of two applauncher tasks, with memory."""
    rc = main(["eval", "--agent", "autodroid", "--offline-stepwise", str(droidtask_dir),
               "--apps", "applauncher", "--offline-max-tasks", "2", "--no-progress",
               "--memory-dir", str(tmp_path / "mem"), "--agent-param", "describer=template",
               "--agent-param", "threads=1", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "applauncher" in out and "action acc" in out
    report = json.loads((tmp_path / "offline.json").read_text())
    total = report["total"]
    assert total["tasks"] == 2
    n_records = sum(
        len(__import__("yaml").safe_load((droidtask_dir / "applauncher" / f"task{i}.yaml")
                                         .read_text())["records"]) for i in (1, 2)
    )
    assert total["steps"] == n_records == len(report["steps"])
    # every step was either answered by the model or taken from memory, none silently skipped
    for s in report["steps"]:
        assert s["llm_calls"] >= 1 or s["from_memory"], s
        assert s["chosen"] is not None or s["error"], s
    assert 0.0 <= total["action_accuracy"] <= total["element_accuracy"] <= 1.0
    assert list((tmp_path / "mem").glob("*.json"))
    with capsys.disabled():
        print(f"\noffline step-wise, applauncher tasks 1-2: action accuracy "
              f"{total['action_accuracy']:.2f}, completion {total['completion_rate']:.2f}")
