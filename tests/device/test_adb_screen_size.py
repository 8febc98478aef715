"""The ADB path reports each screen's own size, as the in-process virtual device does.

A world recorded on phones of different sizes (DroidTask mixes 1080x2280 and 1440x2960 screens)
serves states whose sizes differ. ``AdbDevice`` used to read ``wm size`` once and keep it, so
every later screen was reported (and bounds-checked) at the first one's size: a tap at
(1216, 283) on a 1440-wide screen was refused as off-screen. The size of a screen now comes
from its screenshot (what the display shows, in its current rotation), so both paths agree.
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from llamatouch.actions import Tap
from llamatouch.device.adb import png_size
from llamatouch.errors import ActionError
from llamatouch.ui.node import Bounds, UINode, UIScreen
from llamatouch.world import World, WorldApp, WorldState, WorldTransition
from llamatouch_emulator.harness import AdbSession
from llamatouch_emulator.virtual import VirtualDevice

PKG = "com.sizes"
SMALL, BIG = (1080, 2280), (1440, 2960)


def _screen(size: tuple[int, int], label: str, button_y: int) -> UIScreen:
    w, h = size
    root = UINode(0, class_name="android.widget.FrameLayout", package=PKG,
                  bounds=Bounds(0, 0, w, h), children=[1])
    button = UINode(1, class_name="android.widget.Button", text=label, package=PKG,
                    clickable=True, parent=0, bounds=Bounds(1000, button_y, w, button_y + 100))
    return UIScreen([root, button], width=w, height=h, activity=f"{PKG}/.Main")


def _world() -> World:
    small = _screen(SMALL, "Bigger", 200)
    big = _screen(BIG, "Far corner", 2800)  # x 1000..1440: right of a 1080-wide screen
    screens = {"small": small, "big": big}
    trans = [
        WorldTransition("small", "big", {"action": "tap", "x": 1040, "y": 250,
                                         "element": small.key(small.nodes[1])}),
        WorldTransition("big", "small", {"action": "tap", "x": 1300, "y": 2850,
                                         "element": big.key(big.nodes[1])}),
    ]
    return World(
        name="sizes", home_state="",
        apps=[WorldApp(PKG, "Sizes", "small", f"{PKG}/.Main")],
        states={"small": WorldState("small", f"{PKG}/.Main", PKG, *SMALL),
                "big": WorldState("big", f"{PKG}/.Main", PKG, *BIG)},
        transitions=trans, screens=screens,
    )


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, "PNG")
    return buf.getvalue()


def test_png_size_reads_the_header() -> None:
    assert png_size(_png(7, 3)) == (7, 3)
    assert png_size(b"not a png") is None
    assert png_size(_png(7, 3)[:20]) is None  # cut inside the header
    bad = bytearray(_png(7, 3))
    bad[12:16] = b"XXXX"  # the first chunk is not IHDR
    assert png_size(bytes(bad)) is None
    zero = bytearray(_png(7, 3))
    zero[16:24] = struct.pack(">II", 0, 3)
    assert png_size(bytes(zero)) is None


@pytest.mark.slow
def test_adb_path_reports_each_screens_own_size_like_in_process() -> None:
    inproc = VirtualDevice(_world())
    inproc.reset(PKG)
    with AdbSession(VirtualDevice(_world())) as session:
        dev = session.device
        dev.reset(PKG)
        for device in (inproc, dev):
            first = device.observe()
            assert (first.screen.width, first.screen.height) == SMALL
            with pytest.raises(ActionError):  # off the small screen: refused before sending
                device.act(Tap(1300, 2850))
            device.act(Tap(1040, 250))
            second = device.observe()
            assert (second.screen.width, second.screen.height) == BIG
            # a point that exists only on the bigger screen is accepted there
            device.act(Tap(1300, 2850))
            third = device.observe()
            assert (third.screen.width, third.screen.height) == SMALL
            assert device.screen_size() == SMALL
        # without an observation since the last action, the device is asked again
        dev.act(Tap(1040, 250))
        assert dev.screen_size() == BIG
