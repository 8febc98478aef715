"""A screenshot drawn from the hierarchy, for states recorded without one.

The virtual device serves this PNG as ``screencap -p``, so by default it has the screen's full
size (``scale`` shrinks it; the PNG is then ``round(width * scale)`` x ``round(height * scale)``).
It draws what a person would need to recognise the screen: texts at a readable size, buttons,
text fields, checkboxes / switches / radio buttons, image placeholders, list separators,
selected-tab marks, the status bar and the navigation bar.

Speed: the image is drawn in palette mode. Indices 0-127 are a grey ramp and text is drawn
with anti-aliasing by blending indices, which is exact on grey backgrounds (the only ones text
is drawn on); indices 128+ hold the accent colours used for outlines and marks. A palette PNG
encodes about four times faster than an RGB one; fonts are loaded once per size.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from llamatouch.ui.node import Bounds, UINode, UIScreen

#: Font files tried in order (the first that exists is used); Pillow's built-in scalable font
#: is the fallback, so rendering never depends on fonts installed by hand.
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)

_FontT = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _grey(level: int) -> int:
    """Palette index of the grey closest to ``level`` (0 = black, 255 = white)."""
    return round(level * 127 / 255)


WHITE = _grey(255)
BLACK = _grey(0)
TEXT = _grey(33)
TEXT_DIM = _grey(110)
HINT = _grey(140)
BUTTON_FILL = _grey(232)
IMAGE_FILL = _grey(236)
IMAGE_MARK = _grey(200)
SEPARATOR = _grey(222)
STATUS_FILL = _grey(45)
STATUS_TEXT = _grey(235)
NAV_FILL = _grey(0)
NAV_MARK = _grey(225)
FIELD_FILL = _grey(250)

_ACCENTS: tuple[tuple[int, int, int], ...] = (
    (33, 110, 220),  # 128: accent blue (outlines, focus, text-field underline)
    (40, 160, 90),  # 129: checked green
    (235, 140, 20),  # 130: selected orange
    (160, 170, 185),  # 131: unchecked control grey-blue
    (150, 160, 175),  # 132: scroll hint grey-blue
)
ACCENT = 128
CHECKED = 129
SELECTED = 130
UNCHECKED = 131
SCROLL = 132


def _palette() -> list[int]:
    pal: list[int] = []
    for i in range(128):
        g = round(i * 255 / 127)
        pal += [g, g, g]
    for rgb in _ACCENTS:
        pal += list(rgb)
    pal += [0, 0, 0] * (256 - 128 - len(_ACCENTS))
    return pal


_PALETTE = _palette()


@functools.lru_cache(maxsize=1)
def font_path() -> str | None:
    """The font file used, or ``None`` when Pillow's built-in font is used."""
    for cand in FONT_CANDIDATES:
        if Path(cand).is_file():
            return cand
    return None


@functools.lru_cache(maxsize=64)
def get_font(size: int) -> _FontT:
    """A font of ``size`` pixels (cached)."""
    path = font_path()
    if path is not None:
        try:
            return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            pass
    return ImageFont.load_default(size)


def _fit_text(text: str, font: _FontT, width: int) -> str:
    """``text`` cut with an ellipsis so that it fits in ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid] + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…" if lo else ""


def _wrap(text: str, font: _FontT, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines (the last one cut if needed)."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        words = para.split(" ")
        cur = ""
        for word in words:
            trial = f"{cur} {word}" if cur else word
            if font.getlength(trial) <= width or not cur:
                cur = trial
            else:
                lines.append(cur)
                cur = word
                if len(lines) >= max_lines:
                    break
        lines.append(cur)
        if len(lines) >= max_lines:
            break
    if len(lines) > max_lines:
        lines = lines[:max_lines]
    rest_cut = len(lines) == max_lines
    out = [_fit_text(line, font, width) for line in lines]
    if rest_cut and out and font.getlength(lines[-1]) > width:
        out[-1] = _fit_text(lines[-1], font, width)
    return out


class _Painter:
    """Draws one screen; coordinates are screen pixels, scaled on the way in."""

    def __init__(self, screen: UIScreen, scale: float) -> None:
        self.screen = screen
        self.scale = scale
        self.width = max(1, round(screen.width * scale))
        self.height = max(1, round(screen.height * scale))
        self.image = Image.new("P", (self.width, self.height), WHITE)
        self.image.putpalette(_PALETTE)
        self.draw = ImageDraw.Draw(self.image)
        self.draw.fontmode = "L"  # anti-aliased by index blending (see module docstring)
        self.dp = max(0.5, screen.width / 411.0) * scale  # one Android dp in output pixels
        self.body_size = max(8, round(15 * self.dp))

    def box(self, b: Bounds) -> tuple[int, int, int, int] | None:
        s = self.scale
        left = max(0, round(b.left * s))
        top = max(0, round(b.top * s))
        right = min(self.width, round(b.right * s))
        bottom = min(self.height, round(b.bottom * s))
        if right - left < 2 or bottom - top < 2:
            return None
        return left, top, right - 1, bottom - 1

    def text_in(
        self,
        box: tuple[int, int, int, int],
        text: str,
        *,
        fill: int = TEXT,
        center: bool = False,
        pad: int | None = None,
        size: int | None = None,
    ) -> None:
        text = " ".join(text.split()) if "\n" not in text else text.strip()
        if not text:
            return
        left, top, right, bottom = box
        pad = round(4 * self.dp) if pad is None else pad
        w = right - left - 2 * pad
        h = bottom - top
        if w < 4 or h < 6:
            return
        sz = size or self.body_size
        sz = max(7, min(sz, round(h / 1.2)))
        font = get_font(sz)
        line_h = round(sz * 1.2)
        max_lines = max(1, h // line_h)
        if max_lines == 1 or len(text) <= 24:
            # a short label that does not fit on one line: shrink it (down to 70%) first
            full = font.getlength(text)
            if full > w:
                sz = max(7, min(sz, max(round(sz * 0.7), int(sz * w / full))))
                font = get_font(sz)
                line_h = round(sz * 1.2)
                max_lines = max(1, h // line_h)
        lines = _wrap(text, font, w, max_lines) if max_lines > 1 else [_fit_text(text, font, w)]
        total = line_h * len(lines)
        y = top + (h - total) // 2
        for line in lines:
            if center:
                x = left + pad + max(0, (w - round(font.getlength(line))) // 2)
            else:
                x = left + pad
            self.draw.text((x, y + (line_h - sz) // 2), line, fill=fill, font=font)
            y += line_h

    # -- widgets ---------------------------------------------------------------------------
    def node(self, node: UINode) -> None:
        box = self.box(node.bounds)
        if box is None:
            return
        cls = node.short_class
        label = node.text or node.content_desc
        if node.editable:
            self.field(node, box)
        elif node.checkable:
            self.checkable(node, box, cls)
        elif "Image" in cls and not node.text:
            self.image_view(node, box)
        elif node.clickable and ("Button" in cls or (label and not node.children)):
            self.button(node, box, label)
        elif node.text:
            self.text_in(box, node.text, pad=0)
        elif node.clickable and node.children and self.is_row(box):
            left, _, right, bottom = box
            self.draw.line([(left, bottom), (right, bottom)], fill=SEPARATOR)
        if node.selected and not node.checkable:
            left, _, right, bottom = box
            bar = max(2, round(2 * self.dp))
            self.draw.rectangle([left, bottom - bar + 1, right, bottom], fill=SELECTED)
        if node.scrollable and node.children:
            left, top, right, bottom = box
            bar = max(2, round(2 * self.dp))
            length = max(bar * 4, (bottom - top) // 5)
            self.draw.rectangle([right - bar, top + bar, right, top + bar + length], fill=SCROLL)

    def is_row(self, box: tuple[int, int, int, int]) -> bool:
        left, top, right, bottom = box
        return right - left > self.width * 0.6 and bottom - top < self.height * 0.25

    def field(self, node: UINode, box: tuple[int, int, int, int]) -> None:
        left, _top, right, bottom = box
        self.draw.rectangle(box, fill=FIELD_FILL)
        line = max(2, round(2 * self.dp))
        color = ACCENT if node.focused else UNCHECKED
        self.draw.rectangle([left, bottom - line + 1, right, bottom], fill=color)
        if node.text:
            value = "•" * len(node.text) if node.password else node.text
            self.text_in(box, value, fill=TEXT)
        elif node.hint or node.content_desc:
            self.text_in(box, node.hint or node.content_desc, fill=HINT)

    def checkable(self, node: UINode, box: tuple[int, int, int, int], cls: str) -> None:
        left, top, right, bottom = box
        h = bottom - top
        mark = max(8, min(round(20 * self.dp), h - 4))
        cy = (top + bottom) // 2
        label = node.text or node.content_desc
        if "Switch" in cls or "Toggle" in cls:
            tw = round(mark * 1.8)
            x1 = right - round(4 * self.dp)
            x0 = x1 - tw
            if x0 <= left:
                return
            track = [x0, cy - mark // 3, x1, cy + mark // 3]
            self.draw.rounded_rectangle(track, radius=mark // 3, fill=UNCHECKED)
            tx = x1 - mark // 2 if node.checked else x0 + mark // 2
            thumb = [tx - mark // 2, cy - mark // 2, tx + mark // 2, cy + mark // 2]
            self.draw.ellipse(thumb, fill=CHECKED if node.checked else WHITE, outline=UNCHECKED)
            if label:
                self.text_in((left, top, x0 - 2, bottom), label)
            return
        x0 = left + round(4 * self.dp)
        mbox = [x0, cy - mark // 2, x0 + mark, cy + mark // 2]
        width = max(2, round(2 * self.dp))
        if "Radio" in cls:
            self.draw.ellipse(mbox, outline=CHECKED if node.checked else UNCHECKED, width=width)
            if node.checked:
                inset = mark // 4
                inner = [mbox[0] + inset, mbox[1] + inset, mbox[2] - inset, mbox[3] - inset]
                self.draw.ellipse(inner, fill=CHECKED)
        else:
            if node.checked:
                self.draw.rectangle(mbox, fill=CHECKED)
                a = (mbox[0] + mark // 5, cy)
                b = (mbox[0] + mark * 2 // 5, mbox[3] - mark // 5)
                c = (mbox[2] - mark // 6, mbox[1] + mark // 5)
                self.draw.line([a, b, c], fill=WHITE, width=width)
            else:
                self.draw.rectangle(mbox, outline=UNCHECKED, width=width)
        if label:
            self.text_in((mbox[2] + round(6 * self.dp), top, right, bottom), label, pad=0)

    def image_view(self, node: UINode, box: tuple[int, int, int, int]) -> None:
        left, top, right, bottom = box
        if (right - left) * (bottom - top) > self.width * self.height * 0.4:
            return  # a full-screen background image: leave the content on top readable
        if node.clickable:
            self.draw.rounded_rectangle(box, radius=round(6 * self.dp), fill=BUTTON_FILL)
        else:
            self.draw.rectangle(box, fill=IMAGE_FILL)
            self.draw.line([(left, top), (right, bottom)], fill=IMAGE_MARK)
            self.draw.line([(left, bottom), (right, top)], fill=IMAGE_MARK)
        if node.content_desc:
            size = max(7, round(11 * self.dp))
            self.text_in(box, node.content_desc, fill=TEXT_DIM, center=True, size=size)

    def button(self, node: UINode, box: tuple[int, int, int, int], label: str) -> None:
        radius = round(6 * self.dp)
        self.draw.rounded_rectangle(box, radius=radius, fill=BUTTON_FILL, outline=ACCENT)
        self.text_in(box, label, center=True)

    # -- system bars ----------------------------------------------------------------------
    def system_bars(self) -> None:
        status = self.screen.find(resource_id="android:id/statusBarBackground")
        nav = self.screen.find(resource_id="android:id/navigationBarBackground")
        sbox = self.box(status[0].bounds) if status else None
        if sbox is None:
            sbox = self.box(Bounds(0, 0, self.screen.width, round(24 * self.dp / self.scale)))
        if sbox is not None:
            self.draw.rectangle(sbox, fill=STATUS_FILL)
            left, top, right, bottom = sbox
            size = max(7, min(round((bottom - top) * 0.45), round(14 * self.dp)))
            self.text_in(sbox, "12:00", fill=STATUS_TEXT, size=size, pad=round(16 * self.dp))
            bw, bh = round(size * 0.6), round(size * 1.0)
            bx = right - round(16 * self.dp) - bw
            by = (top + bottom - bh) // 2
            self.draw.rectangle([bx, by, bx + bw, by + bh], fill=STATUS_TEXT)
        nbox = self.box(nav[0].bounds) if nav else None
        if nbox is not None and nbox[1] > self.height // 2:
            self.draw.rectangle(nbox, fill=NAV_FILL)
            left, top, right, bottom = nbox
            cy = (top + bottom) // 2
            r = max(4, round((bottom - top) * 0.18))
            w = right - left
            width = max(2, round(2 * self.dp))
            bx, hx, rx = left + w // 4, left + w // 2, left + 3 * w // 4
            self.draw.polygon([(bx + r, cy - r), (bx + r, cy + r), (bx - r, cy)], outline=NAV_MARK)
            self.draw.ellipse([hx - r, cy - r, hx + r, cy + r], outline=NAV_MARK, width=width)
            self.draw.rectangle([rx - r, cy - r, rx + r, cy + r], outline=NAV_MARK, width=width)

    def paint(self) -> Image.Image:
        bars = {"android:id/statusBarBackground", "android:id/navigationBarBackground"}
        for node in self.screen.nodes:
            if node.visible and node.resource_id not in bars:
                self.node(node)
        self.system_bars()
        return self.image


def render_image(screen: UIScreen, *, scale: float = 1.0) -> Image.Image:
    """Draw ``screen`` and return the (palette-mode) Pillow image."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if screen.width <= 0 or screen.height <= 0:
        raise ValueError(f"{screen.source or 'screen'}: unknown screen size")
    return _Painter(screen, scale).paint()


def render_screenshot(screen: UIScreen, *, scale: float = 1.0) -> bytes:
    """Draw ``screen`` as a PNG of ``round(width*scale)`` x ``round(height*scale)`` pixels."""
    buf = io.BytesIO()
    render_image(screen, scale=scale).save(buf, "PNG", compress_level=1)
    return buf.getvalue()
