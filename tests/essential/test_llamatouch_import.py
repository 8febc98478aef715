"""The LlamaTouch .ess importer on the real LlamaTouch data and fixtures.

Where our behaviour deliberately differs from LlamaTouch's published evaluator, a test below
says so (``test_difference_*``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.datasets.llamatouch_ess import (
    APP_PACKAGES,
    KNOWN_KEYWORDS,
    LLAMATOUCH_PACKAGES,
    import_ess_items,
    import_ess_trace,
    parse_ess,
)
from llamatouch.essential.schema import (
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    ClickPrimitive,
    Component,
)
from llamatouch.evaluator import evaluate
from llamatouch.trace.format import StepRecord, TraceManifest, TraceWriter, read_trace
from llamatouch.ui.xmlio import read_uiautomator_file


@pytest.fixture(scope="module")
def ess_strings(llamatouch_data_dir: Path) -> dict[str, str]:
    data = json.loads((llamatouch_data_dir / "ess_annotations_aitw_categories.json").read_text())
    return {k: v for k, v in data.items() if k.endswith(".ess")}


def test_every_keyword_of_the_real_data_is_known(ess_strings):
    assert len(ess_strings) == 109
    seen = {kw for v in ess_strings.values() for kw, _ in parse_ess(v)}
    assert seen == set(KNOWN_KEYWORDS)
    for v in ess_strings.values():
        for kw, arg in parse_ess(v):
            if kw in ("check_install", "check_uninstall"):
                assert arg.lower() in APP_PACKAGES, arg


def _link(src: Path, dst: Path) -> None:
    dst.symlink_to(src)


@pytest.fixture
def img_case(llamatouch_data_dir: Path, tmp_path: Path) -> Path:
    """img_case1 as a LlamaTouch trace folder (links, the data itself is not copied)."""
    case = llamatouch_data_dir / "cases" / "img_case1"
    for name in ("2.json", "2.png", "3.png", "0.png"):
        _link(case / name, tmp_path / name)
    return tmp_path


def test_import_every_real_ess_string_against_a_real_screen(ess_strings, img_case):
    """Every real .ess string imports against img_case1's step 2: what cannot be mapped (an
    index beyond its 35 components, a missing .activity file) is reported, never dropped."""
    (img_case / "2.activity").write_text("com.duolingo/.app.LoginActivity")
    n_prims = n_problems = 0
    for v in ess_strings.values():
        cp, problems = import_ess_items(img_case, 2, v)
        items = parse_ess(v)
        n = 0 if cp is None else len(cp.primitives)
        infos = [p for p in problems if p.level == "info" and "placeholder" in p.message]
        errors = [p for p in problems if p.level == "error"]
        assert n + len(errors) + len(infos) == len(items), v
        n_prims += n
        n_problems += len(errors)
        for e in errors:
            assert re.search(r"not in 2\.json|no text|2\.xml|no known package", e.message), e
    assert n_prims > 150 and n_problems > 0


def test_unknown_keywords_and_missing_files_are_reported(img_case):
    (img_case / "2.ess").write_text("button<3:on>|activity<0>|exact<9>|exact<99>")
    got = import_ess_trace(img_case, task_id="duo", app="com.duolingo")
    msgs = [str(p) for p in got.errors]
    assert any("unknown keyword 'button'" in m for m in msgs)
    assert any("2.activity" in m for m in msgs)
    assert any("component 99 is not in 2.json" in m for m in msgs)
    prims = got.annotation.checkpoints[0].primitives
    assert [p.type for p in prims] == ["exact"]
    assert prims[0].component.text == "Section\u00a01:\u00a0Rookie"
    assert got.annotation.checkpoints[0].gt_step == 2


def _png(path: Path) -> bytes:
    return path.read_bytes()


def _screenshot_trace(tmp_path: Path, pngs: list[Path]) -> Path:
    root = tmp_path / "trace"
    w = TraceWriter(root, TraceManifest(episode_id="duo", task={"id": "duo"}))
    for i, p in enumerate(pngs):
        w.write_step(
            StepRecord(index=i, activity="com.duolingo/.Home", width=1080, height=2400),
            _png(p),
            None,
        )
    w.finish("finished")
    return root


def test_image_primitive_on_real_screens(img_case, tmp_path):
    """exact<8> names a text-less icon: imported as an image primitive (hash of its crop in
    2.png). The same icon on 3.png matches; 0.png (another app) does not."""
    (img_case / "2.ess").write_text("exact<0>|exact<8>")
    got = import_ess_trace(img_case, task_id="duo")
    prims = got.annotation.checkpoints[0].primitives
    assert [p.type for p in prims] == ["exact", "image"]
    image = prims[1]
    ann = Annotation("duo", "", "", [Checkpoint([image])])
    same = read_trace(_screenshot_trace(tmp_path / "a", [img_case / "3.png"]))
    other = read_trace(_screenshot_trace(tmp_path / "b", [img_case / "0.png"]))
    v = evaluate(same, ann)
    assert v.success, v.evidence
    v = evaluate(other, ann)
    assert v.status == "fail" and v.evidence[0].score > v.evidence[0].threshold


def _average_hash(img: Image.Image) -> int:
    import numpy as np

    small = np.asarray(img.convert("L").resize((8, 8), Image.Resampling.LANCZOS), dtype=float)
    px = small.reshape(-1)
    avg = px.mean()
    return sum(1 << i for i, v in enumerate(px) if v > avg)


def test_difference_image_match_tolerates_shifts(img_case, tmp_path):
    """LlamaTouch compares the average hash of the crop at the annotated position with a
    bound of 1 bit. A component that moved by a few pixels (a layout change, another device)
    fails that; our dhash with shifted crops still matches."""
    (img_case / "2.ess").write_text("exact<8>")
    image = import_ess_trace(img_case).annotation.checkpoints[0].primitives[0]
    src = Image.open(img_case / "3.png").convert("RGB")
    shifted = Image.new("RGB", src.size, (88, 204, 2))
    shifted.paste(src, (0, 9))  # everything 9 px lower
    p = tmp_path / "shifted.png"
    shifted.save(p)
    ann = Annotation("duo", "", "", [Checkpoint([image])])
    assert evaluate(read_trace(_screenshot_trace(tmp_path / "s", [p])), ann).success
    b = image.component.bounds
    box = (b[0] * 1080, b[1] * 2400, b[2] * 1080, b[3] * 2400)
    ref = _average_hash(Image.open(img_case / "2.png").convert("RGB").crop(box))
    got = _average_hash(shifted.crop(box))
    assert (ref ^ got).bit_count() > 1  # LlamaTouch's rule says: no match


def _click_trace(tmp_path: Path, case: Path, x: int, y: int) -> Path:
    root = tmp_path / f"click{x}_{y}"
    w = TraceWriter(root, TraceManifest(episode_id="maps", task={"id": "maps"}))
    w.write_step(
        StepRecord(
            index=0,
            activity="com.google.android.apps.maps/.Maps",
            action={"action": "tap", "x": x, "y": y},
            width=1080,
            height=2400,
        ),
        (case / "10.png").read_bytes(),
        (case / "10.xml").read_bytes(),
    )
    w.finish("finished")
    return root


def test_click_on_the_real_click_case(llamatouch_data_dir, tmp_path):
    case = llamatouch_data_dir / "cases" / "click_case1"
    done = ClickPrimitive(
        component=Component(
            resource_id="com.google.android.apps.maps:id/dialog_positive_button",
            class_name="android.widget.Button",
            content_desc="Done",
        ),
    )
    ann = Annotation("maps", "", "", [Checkpoint([done])])
    assert evaluate(read_trace(_click_trace(tmp_path, case, 540, 1050)), ann).success
    # 10 px above the button, on the dialog's non-clickable padding: tap jitter
    assert evaluate(read_trace(_click_trace(tmp_path, case, 540, 978)), ann).success
    # on the other button
    assert evaluate(read_trace(_click_trace(tmp_path, case, 540, 1180)), ann).status == "fail"


def test_difference_click_hits_the_clickable_not_the_smallest_node(llamatouch_data_dir, tmp_path):
    """LlamaTouch's click check takes the *smallest* node containing the tap and compares its
    class, text and resource-id with the annotated component. On this real screen the "Done"
    button holds a non-clickable android.view.View labelled "Done", so a tap in the middle of
    the button is judged a miss there. We hit-test clickables (what Android delivers the tap
    to), so the same tap counts."""
    case = llamatouch_data_dir / "cases" / "click_case1"
    scr = read_uiautomator_file(case / "10.xml")
    x, y = 540, 1050
    smallest = min((n for n in scr.nodes if n.bounds.contains(x, y)), key=lambda n: n.bounds.area)
    assert smallest.class_name == "android.view.View" and smallest.text == "Done"
    button = scr.hit_test(x, y)
    assert button is not None and button.class_name == "android.widget.Button"
    llamatouch_says = (smallest.class_name, smallest.text, smallest.resource_id) == (
        button.class_name,
        button.text,
        button.resource_id,
    )
    assert llamatouch_says is False
    ann = Annotation(
        "maps",
        "",
        "",
        [
            Checkpoint(
                [
                    ClickPrimitive(
                        component=Component(
                            resource_id=button.resource_id, class_name=button.class_name, text=""
                        ),
                    )
                ]
            )
        ],
    )
    assert evaluate(read_trace(_click_trace(tmp_path, case, x, y)), ann).success


def test_difference_app_packages():
    """LlamaTouch maps "Microsoft Authenticator" to Google Authenticator's package and
    "Booking.com" to Expedia's; we use the apps' real packages."""
    assert (
        LLAMATOUCH_PACKAGES["microsoft authenticator"] == "com.google.android.apps.authenticator2"
    )
    assert APP_PACKAGES["microsoft authenticator"] == "com.azure.authenticator"
    assert APP_PACKAGES["booking.com"] == "com.booking"


def test_difference_activity_direction(tmp_path):
    """LlamaTouch accepts an activity when the agent's name is a *substring* of the annotated
    one (``exec in gr``), so a bare package (or an empty string) passes. We require the same
    activity after expanding the ``pkg/.Name`` shorthand."""
    annotated = "com.duolingo/com.duolingo.app.LoginActivity"
    agent = "com.duolingo"
    assert agent in annotated  # LlamaTouch: match
    root = tmp_path / "t"
    w = TraceWriter(root, TraceManifest(episode_id="a", task={"id": "a"}))
    w.write_step(StepRecord(index=0, activity=agent), None, None)
    w.finish("finished")
    ann = Annotation("a", "", "", [Checkpoint([ActivityPrimitive(activity=annotated)])])
    assert evaluate(read_trace(root), ann).status == "fail"
