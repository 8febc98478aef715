"""Each primitive on small synthetic screens and traces (policies and directions)."""

from __future__ import annotations

import io

import pytest
from evaluator_synth import screen
from PIL import Image, ImageDraw

from llamatouch.essential.schema import (
    AbsentPrimitive,
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    FuzzyPrimitive,
    ImagePrimitive,
    InstalledPrimitive,
    Locator,
    Primitive,
    TypePrimitive,
    UninstalledPrimitive,
)
from llamatouch.evaluator import EvalOptions, evaluate
from llamatouch.evaluator.imagehash import crop, dhash


def ann(*checkpoints: Checkpoint) -> Annotation:
    return Annotation("t", "do it", "com.app", list(checkpoints))


def cp(*prims: Primitive, final: bool = False) -> Checkpoint:
    return Checkpoint(list(prims), final=final)


SCR = screen(
    {
        "text": "Hello\u00a0World ",
        "resource_id": "com.app:id/title",
        "bounds": (100, 200, 900, 300),
    },
    {
        "cls": "android.widget.Switch",
        "text": "Autosave",
        "checkable": True,
        "checked": True,
        "clickable": True,
        "resource_id": "com.app:id/autosave",
        "bounds": (0, 400, 1080, 520),
    },
    {"cls": "android.widget.LinearLayout", "clickable": True, "bounds": (0, 600, 1080, 760)},
    {"text": "Diary", "parent": 3, "bounds": (40, 620, 400, 700)},
    {
        "cls": "android.widget.Button",
        "content_desc": "More options",
        "clickable": True,
        "bounds": (960, 60, 1080, 180),
    },
)


def one(make_trace, prim, action=None, **record):
    return evaluate(make_trace([(SCR, action, dict(record))]), ann(cp(prim)))


def test_exact_normalises_text_and_checks_state(make_trace):
    # NFKC (no-break space), case folding, whitespace collapsing
    assert one(make_trace, ExactPrimitive(component=Component(text="hello   world"))).success
    comp = Component(resource_id="com.app:id/autosave", text="autosave", checked=True)
    assert one(make_trace, ExactPrimitive(component=comp)).success
    comp.checked = False
    v = one(make_trace, ExactPrimitive(component=comp))
    assert v.status == "fail"
    assert v.evidence[0].passed is False and v.evidence[0].detail == "no node with these attributes"


def test_exact_locator_alternatives_and_position_tolerance(make_trace):
    comp = Component(
        resource_id="com.app:id/other_version_id",
        text="Diary",
        alternatives=[Locator(text="diary")],
    )
    assert one(make_trace, ExactPrimitive(component=comp)).success
    near = Component(text="Diary", bounds=(0.04, 0.26, 0.37, 0.29))
    assert one(make_trace, ExactPrimitive(component=near, position_tolerance=0.05)).success
    far = Component(text="Diary", bounds=(0.5, 0.8, 0.9, 0.85))
    v = one(make_trace, ExactPrimitive(component=far, position_tolerance=0.05))
    assert v.status == "fail" and "centre" in v.evidence[0].detail


def test_absent(make_trace):
    assert one(make_trace, AbsentPrimitive(component=Component(text="Travel"))).success
    assert one(make_trace, AbsentPrimitive(component=Component(text="DIARY"))).status == "fail"


def test_activity_direction_and_shorthand(make_trace):
    p = ActivityPrimitive(activity="com.app/com.app.Main")
    assert one(make_trace, p).success  # recorded as com.app/.Main
    # the agent's activity must equal the annotated one: a prefix or substring is not enough
    # (LlamaTouch tests ``agent in annotated``, so an empty or partial name would pass there)
    assert one(make_trace, ActivityPrimitive(activity="com.app/.MainActivity")).status == "fail"
    assert one(make_trace, ActivityPrimitive(activity="com.app/.Other", match="package")).success
    v = one(make_trace, ActivityPrimitive(activity="com.app/.Main"), activity="")
    assert v.status == "error" and "no foreground activity" in v.reason


def test_type_policy(make_trace):
    act = {"action": "type", "text": "  New   Text\u00a0Note "}
    assert one(make_trace, TypePrimitive(text="new text note"), act).success
    assert one(make_trace, TypePrimitive(text="New Text Note", case_sensitive=True), act).success
    assert (
        one(make_trace, TypePrimitive(text="new text note", case_sensitive=True), act).status
        == "fail"
    )
    assert one(make_trace, TypePrimitive(text="text", match="contains"), act).success
    assert one(make_trace, TypePrimitive(text="text"), act).status == "fail"
    tap = {"action": "tap", "x": 5, "y": 5}
    assert one(make_trace, TypePrimitive(text="new text note"), tap).status == "fail"


def test_click_hit_test_owner_and_jitter(make_trace):
    diary = ClickPrimitive(component=Component(text="Diary"))
    # tap inside the clickable row that owns the label, away from the label itself
    assert one(make_trace, diary, {"action": "tap", "x": 900, "y": 740}).success
    # tap just above the row (nothing clickable there): within the 2% jitter
    v = one(make_trace, diary, {"action": "tap", "x": 500, "y": 590})
    assert v.success and "outside the component" in v.evidence[0].detail
    # tap on another clickable
    assert one(make_trace, diary, {"action": "tap", "x": 500, "y": 450}).status == "fail"
    # far away
    assert one(make_trace, diary, {"action": "tap", "x": 500, "y": 1500}).status == "fail"
    # not a tap
    assert one(make_trace, diary, {"action": "key", "key": "back"}).status == "fail"


def test_click_uses_element_key_for_offscreen_targets(make_trace):
    off = screen(
        {
            "cls": "android.widget.RadioButton",
            "text": "United States",
            "clickable": True,
            "bounds": (116, 6876, 964, 2103),
        }
    )  # recorded below the fold: bottom < top
    key = off.key(off.nodes[1])
    tr = make_trace([(off, {"action": "tap", "x": 540, "y": 4489, "element": key}, {})])
    v = evaluate(tr, ann(cp(ClickPrimitive(component=Component(text="United States")))))
    assert v.success


def test_installed_uninstalled(make_trace):
    pk = ["com.app", "com.duolingo"]
    assert one(
        make_trace, InstalledPrimitive(package="com.duolingo"), installed_packages=pk
    ).success
    assert (
        one(make_trace, UninstalledPrimitive(package="com.duolingo"), installed_packages=pk).status
        == "fail"
    )
    v = one(make_trace, InstalledPrimitive(package="com.duolingo"))
    assert v.status == "error" and "installed packages" in v.reason


def test_fuzzy_component_and_screen(make_trace):
    assert one(make_trace, FuzzyPrimitive(component=Component(text="Helo World"))).success
    v = one(make_trace, FuzzyPrimitive(component=Component(text="Goodbye Moon")))
    assert v.status == "fail" and v.evidence[0].score < v.evidence[0].threshold
    ref = "Hello World Autosave checked Diary More options"
    assert one(make_trace, FuzzyPrimitive(scope="screen", text=ref)).success
    v = one(make_trace, FuzzyPrimitive(scope="screen", text="Settings Font size Theme Dark"))
    assert v.status == "fail"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _picture(shift: int = 0, colour: str = "red") -> Image.Image:
    img = Image.new("RGB", (W := 1080, 2400), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((100 + shift, 200, 500 + shift, 600), fill=colour)
    d.ellipse((200 + shift, 300, 400 + shift, 500), fill="blue")
    d.line((100 + shift, 600, 500 + shift, 200), fill="black", width=12)
    assert W == 1080
    return img


def test_image_hash_tolerates_small_shifts(make_trace):
    ref = dhash(crop(_picture(), (80, 180, 520, 620)))
    comp = Component(bounds=(80 / 1080, 180 / 2400, 520 / 1080, 620 / 2400))
    prim = ImagePrimitive(component=comp, hash=ref)
    for shift, ok in ((0, True), (18, True), (0, False)):
        pic = _picture(shift, "red" if ok else "green")
        if not ok:
            d = ImageDraw.Draw(pic)
            d.rectangle((80, 180, 520, 620), fill="white")
            d.polygon([(100, 600), (300, 200), (500, 600)], fill="black")
        tr = make_trace([(None, None, {})], png=lambda i, p=pic: _png(p))
        v = evaluate(tr, ann(cp(prim)))
        assert v.success is ok, (shift, v.evidence[0])


def test_image_without_screenshot_is_an_error(make_trace):
    prim = ImagePrimitive(component=Component(bounds=(0.1, 0.1, 0.2, 0.2)), hash="0" * 16)
    v = evaluate(make_trace([(SCR, None, {})]), ann(cp(prim)))
    assert v.status == "error" and "screenshot" in v.reason


@pytest.mark.parametrize("skip", [frozenset(), frozenset({"fuzzy"})])
def test_skip_types(make_trace, skip):
    prim = FuzzyPrimitive(component=Component(text="Nothing like it"))
    v = evaluate(make_trace([(SCR, None, {})]), ann(cp(prim)), EvalOptions(skip_types=skip))
    assert v.success is bool(skip)


def test_image_with_corrupt_screenshot_is_an_error(make_trace):
    prim = ImagePrimitive(component=Component(bounds=(0.1, 0.1, 0.2, 0.2)), hash="0" * 16)
    tr = make_trace([(SCR, None, {})], png=lambda i: b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    v = evaluate(tr, ann(cp(prim)))
    # the trace reader or the decoder names the file and the problem
    assert v.status == "error" and "screen.png" in v.reason
    assert "cannot be decoded" in v.reason or "corrupt image" in v.reason
    tr = make_trace([(SCR, None, {})], png=lambda i: b"GIF89a not a png")
    v = evaluate(tr, ann(cp(prim)))
    assert v.status == "error" and "not a PNG" in v.reason
