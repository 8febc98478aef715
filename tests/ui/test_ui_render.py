"""Screenshots rendered from the hierarchy: valid PNGs of the screen's size with text drawn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from llamatouch.ui import render
from llamatouch.ui.image import decode_image
from llamatouch.ui.node import Bounds, UINode, UIScreen, build_screen
from llamatouch.ui.render import render_screenshot

DARK = 100  # grey level below which a pixel counts as ink


def _grey(png: bytes, source: str) -> Image.Image:
    img = decode_image(png, source)
    assert img.format == "PNG"
    return img.convert("L")


def _dark_pixels(img: Image.Image, box: tuple[int, int, int, int]) -> int:
    hist = img.crop(box).histogram()
    return sum(hist[:DARK])


def _screen(text: str) -> UIScreen:
    nodes = [
        UINode(index=0, class_name="android.widget.FrameLayout", bounds=Bounds(0, 0, 1080, 2280),
               children=[1]),
        UINode(index=1, parent=0, class_name="android.widget.TextView", text=text,
               bounds=Bounds(100, 600, 900, 680)),
    ]
    return build_screen(nodes, width=1080, height=2280)


def test_text_is_drawn_inside_its_box_and_nowhere_else() -> None:
    img = _grey(render_screenshot(_screen("Alarm at 7:00")), "one")
    assert img.size == (1080, 2280)
    assert _dark_pixels(img, (100, 600, 900, 680)) > 300  # the glyphs
    status_bottom = round(24 * 1080 / 411)
    assert _dark_pixels(img, (0, 0, 1080, status_bottom)) > 1000  # status bar
    # outside the text box and the status bar the screen is blank
    assert _dark_pixels(img, (0, status_bottom + 2, 1080, 590)) == 0
    assert _dark_pixels(img, (0, 690, 1080, 2280)) == 0


def test_different_texts_give_different_pixels_only_in_their_box() -> None:
    a = _grey(render_screenshot(_screen("Alarm at 7:00")), "a")
    b = _grey(render_screenshot(_screen("Timer 05:00")), "b")
    delta = ImageChops.difference(a, b).getbbox()
    assert delta is not None
    left, top, right, bottom = delta
    # (2 px of slack: a glyph's side bearing may reach just past the box)
    assert left >= 98 and right <= 902 and top >= 598 and bottom <= 682


def test_real_states_render_with_their_texts(
    droidtask_states: list[tuple[Path, dict, UIScreen]],
) -> None:
    with_ink = labelled = 0
    for path, _, screen in droidtask_states[::60]:
        png = render_screenshot(screen)
        img = _grey(png, str(path))
        assert img.size == (screen.width, screen.height), path
        for n in screen.nodes:
            b = n.bounds
            if (
                n.visible and n.text.strip() and not n.children and b.width > 60
                and b.height > 30 and b.bottom <= screen.height
            ):
                labelled += 1
                with_ink += _dark_pixels(img, (b.left, b.top, b.right, b.bottom)) > 20
    assert labelled > 200
    assert with_ink / labelled >= 0.95, (with_ink, labelled)


def test_widgets_are_distinguishable() -> None:
    """Checked and unchecked boxes, and buttons, leave different marks."""

    def one(node: UINode) -> Image.Image:
        root = UINode(index=0, class_name="android.widget.FrameLayout",
                      bounds=Bounds(0, 0, 1080, 2280), children=[1])
        node.index, node.parent = 1, 0
        return decode_image(render_screenshot(build_screen([root, node], width=1080,
                                                           height=2280)), "w").convert("RGB")

    box = Bounds(50, 800, 1000, 930)
    on = one(UINode(index=1, class_name="android.widget.CheckBox", text="Wi-Fi", checkable=True,
                    checked=True, clickable=True, bounds=box))
    off = one(UINode(index=1, class_name="android.widget.CheckBox", text="Wi-Fi",
                     checkable=True, checked=False, clickable=True, bounds=box))
    button = one(UINode(index=1, class_name="android.widget.Button", text="OK", clickable=True,
                        bounds=box))
    field = one(UINode(index=1, class_name="android.widget.EditText", hint="Name",
                       editable=True, bounds=box))

    def colours(img: Image.Image) -> set[tuple[int, int, int]]:
        return {c for _, c in img.crop((50, 800, 1000, 930)).getcolors(1 << 16) or []}

    green = (40, 160, 90)
    assert green in colours(on) and green not in colours(off)
    assert (33, 110, 220) in colours(button)  # accent outline
    assert colours(field) != colours(button)


def test_scale_shrinks_the_png() -> None:
    img = _grey(render_screenshot(_screen("Half size"), scale=0.5), "half")
    assert img.size == (540, 1140)
    assert _dark_pixels(img, (50, 300, 450, 340)) > 50
    with pytest.raises(ValueError):
        render_screenshot(_screen("x"), scale=0)


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(render, "FONT_CANDIDATES", ("/nonexistent/font.ttf",))
    render.font_path.cache_clear()
    render.get_font.cache_clear()
    yield
    render.font_path.cache_clear()
    render.get_font.cache_clear()


def test_pillow_builtin_font_is_the_fallback(no_system_fonts: None) -> None:
    assert render.font_path() is None
    img = _grey(render_screenshot(_screen("Fallback font")), "fallback")
    assert _dark_pixels(img, (100, 600, 900, 680)) > 200
