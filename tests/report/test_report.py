"""``llamatouch report`` on real runs (in-process virtual devices on the demo world and on the
real DroidTask data): content, embedded and linked screenshots, evidence, links, bad input."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llamatouch.errors import InputFormatError
from llamatouch.report.build import ReportConfig, app_label, build_report


class _Page(HTMLParser):
    """Collects what the assertions need: ids, href targets, img sources, section attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.imgs: list[str] = []
        self.episodes: list[dict[str, str]] = []
        self.evidence_rows = 0
        self.scripts_src: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "section" and "episode" in a.get("class", "").split():
            self.episodes.append(a)
        if tag == "tr" and "evidence-row" in a.get("class", ""):
            self.evidence_rows += 1
        if tag == "script" and a.get("src"):
            self.scripts_src.append(a["src"])
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _results(run: Path) -> list[dict[str, object]]:
    rows = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert isinstance(rows, list) and rows
    return rows


def _assert_self_contained(page: _Page) -> None:
    # nothing fetched from a server or the network
    assert not page.scripts_src and not page.links
    assert all(not h.startswith(("http:", "https:", "//")) for h in page.hrefs)


def test_scored_droidtask_run_embedded(replay_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    info = build_report(replay_run, ReportConfig(out=out))
    page = _parse(out)
    rows = _results(replay_run)
    # every episode has a section, with its verdict and app
    by_id = {f"ep-{r['episode_id']}".replace(".", "_"): r for r in rows}
    assert {e["id"] for e in page.episodes} == set(by_id)
    for e in page.episodes:
        assert e["data-verdict"] == by_id[e["id"]]["verdict"]
        assert e["data-app"] == by_id[e["id"]]["app"]
    verdicts = {str(r["verdict"]) for r in rows}
    # the replay agent follows the ground truth: its episodes are scored (fail when a task's
    # recorded path does not replay on the world)
    assert "success" in verdicts and verdicts <= {"success", "fail"}, verdicts
    # one embedded, decodable JPEG per step of every trace
    n_steps = sum(int(str(r["steps"])) for r in rows)
    assert info["images"] == len(page.imgs) == n_steps > 0
    for src in page.imgs:
        assert src.startswith("data:image/jpeg;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:3] == b"\xff\xd8\xff"
    # evidence of every primitive of every scored episode
    n_evidence = 0
    for r in rows:
        manifest = json.loads((replay_run / str(r["trace_dir"]) / "manifest.json").read_text())
        n_evidence += len(manifest["verdict"]["evidence"])
    assert page.evidence_rows == n_evidence > 0
    html = out.read_text(encoding="utf-8")
    assert "checkpoint 1" in html and "Success by app" in html
    assert "<svg" in html and "Steps per episode" in html and "Time per episode" in html
    # every in-page link resolves; filters are there
    for h in page.hrefs:
        assert h.startswith("#") and h[1:] in page.ids, h
    assert {"f-verdict", "f-app", "summary"} <= page.ids
    _assert_self_contained(page)
    assert not info["problems"]


def test_failing_agent_run_with_image_files(random_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "random.html"
    info = build_report(random_run, ReportConfig(out=out, embed_images=False, thumb_width=200))
    page = _parse(out)
    rows = _results(random_run)
    assert len(page.episodes) == len(rows) == info["episodes"]
    assert all(r["verdict"] == "fail" for r in rows)  # three random taps do not do these tasks
    assert all(e["data-verdict"] == "fail" for e in page.episodes)
    # screenshots written beside the report, linked relatively, existing and readable
    assert page.imgs and len(page.imgs) == info["images"]
    from PIL import Image

    for src in page.imgs:
        assert not src.startswith(("/", "data:")) and ".." not in src
        f = out.parent / src
        assert f.is_file(), src
        with Image.open(f) as img:
            assert img.width == 200
    # failed primitives are shown with their evidence
    assert page.evidence_rows > 0 and "✗" in out.read_text(encoding="utf-8")
    _assert_self_contained(page)


def test_unscored_demo_run_via_cli(demo_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo.html"
    proc = subprocess.run(
        [sys.executable, "-m", "llamatouch", "report", str(demo_run), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    page = _parse(out)
    rows = _results(demo_run)
    assert len(page.episodes) == len(rows)
    assert {e["data-app"] for e in page.episodes} == {str(r["app"]) for r in rows}
    assert len(page.imgs) == sum(int(str(r["steps"])) for r in rows)
    assert out.stat().st_mode & 0o444 == 0o444  # readable by the browser


def test_default_out_is_inside_the_run(replay_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(replay_run, run)
    proc = subprocess.run([sys.executable, "-m", "llamatouch", "report", str(run)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (run / "report.html").is_file()


def test_missing_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="not a folder"):
        build_report(tmp_path / "nope", ReportConfig(out=tmp_path / "r.html"))
    proc = subprocess.run(
        [sys.executable, "-m", "llamatouch", "report", str(tmp_path / "nope")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode != 0 and "nope" in proc.stderr and "Traceback" not in proc.stderr


def test_empty_folder_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="not a run folder"):
        build_report(tmp_path / "empty", ReportConfig(out=tmp_path / "r.html"))


def test_missing_results_files_degrade_to_trace_manifests(replay_run: Path,
                                                          tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(replay_run, run)
    (run / "results.json").unlink()
    (run / "results.csv").unlink()
    out = tmp_path / "r.html"
    info = build_report(run, ReportConfig(out=out))
    page = _parse(out)
    assert len(page.episodes) == len(_results(replay_run))
    html = out.read_text(encoding="utf-8")
    assert "no readable results.json or results.csv" in html and info["problems"] == 1


def test_corrupt_results_json_falls_back_to_csv(replay_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(replay_run, run)
    (run / "results.json").write_text("{not json", encoding="utf-8")
    out = tmp_path / "r.html"
    build_report(run, ReportConfig(out=out))
    html = out.read_text(encoding="utf-8")
    assert "Files that could not be read" in html and "results.json" in html
    assert len(_parse(out).episodes) == len(_results(replay_run))


def test_corrupt_trace_and_screenshot_are_reported_not_fatal(replay_run: Path,
                                                             tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(replay_run, run)
    rows = _results(replay_run)
    broken, shot_ep = rows[0], rows[1]
    # a trace whose manifest is garbage: the episode stays listed and says why
    (run / str(broken["trace_dir"]) / "manifest.json").write_text("]]", encoding="utf-8")
    # a screenshot that is not a PNG: the step shows the problem, the rest is intact
    pngs = sorted((run / str(shot_ep["trace_dir"])).rglob("*.png"))
    assert pngs, "the replay trace has screenshots"
    pngs[0].write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "r.html"
    info = build_report(run, ReportConfig(out=out))
    html = out.read_text(encoding="utf-8")
    page = _parse(out)
    assert len(page.episodes) == len(rows)
    assert f"no readable trace for {broken['episode_id']!r}" in html.replace("&#39;", "'")
    assert "manifest.json" in html  # the unreadable file is named
    assert "unreadable screenshot" in html
    assert info["problems"] >= 2


def test_max_steps_keeps_checkpoint_steps(replay_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    build_report(replay_run, ReportConfig(out=out, max_steps=2))
    html = out.read_text(encoding="utf-8")
    # every checkpoint badge survives the truncation
    rows = _results(replay_run)
    n_cp = 0
    for r in rows:
        m = json.loads((replay_run / str(r["trace_dir"]) / "manifest.json").read_text())
        n_cp += sum(1 for s in m["verdict"].get("checkpoint_steps") or [] if isinstance(s, int))
    assert len(re.findall(r"✓ checkpoint \d+", html)) == n_cp > 0


def test_app_label() -> None:
    assert app_label("com.simplemobiletools.gallery.pro") == "gallery.pro"
    assert app_label("com.android.settings") == "settings"
    assert app_label("") == "?"


def test_score_run_report(replay_run: Path, tmp_path: Path) -> None:
    """A ``llamatouch score --format json --out`` run: rows are score rows, evidence comes from
    the verdicts in results.json."""
    from llamatouch.cli import main
    from llamatouch.paths import annotations_dir

    run = tmp_path / "score-run"
    shutil.copytree(replay_run / "traces", run / "traces")
    assert main(["score", str(run / "traces"), "--annotations",
                 str(annotations_dir() / "droidtask"), "--format", "json",
                 "--out", str(run / "results.json")]) == 0
    scored = json.loads((run / "results.json").read_text())["results"]
    out = tmp_path / "score.html"
    info = build_report(run, ReportConfig(out=out))
    page = _parse(out)
    assert info["episodes"] == len(scored) == len(page.episodes) and not info["problems"]
    assert {e["data-verdict"] for e in page.episodes} == {r["status"] for r in scored}
    assert page.evidence_rows == sum(len(r["verdict"]["evidence"]) for r in scored)
    assert len(page.imgs) == sum(r["steps"] for r in scored)
