"""Goal kinds and app text statistics the proposer uses (fast, in-memory worlds)."""

from __future__ import annotations

import pytest

from llamatouch.annotating.goal import AppTexts, goal_is_page, in_popup
from llamatouch.ui.node import Bounds, UINode, UIScreen
from llamatouch.world import World, WorldApp, WorldState

PKG = "com.x"


@pytest.mark.parametrize(
    "instruction, page",
    [
        ("open the clock page", True),
        ("view favorite contacts", True),
        ("check the frequently asked questions", True),
        ("search 'Clock' app and open it", True),
        ("Open DCIM folder in gallery app", True),
        ("open 'android' folder, sort the files by extension", False),
        ("Open dialpad and call 911", False),
        ("turn off increase volume gradually", False),
        ("Create a text note named 'NewTextNote'", False),
        ("go to recents and play video2.mp4", False),
        ("show phone numbers in the list view", False),
    ],
)
def test_goal_is_page(instruction: str, page: bool) -> None:
    assert goal_is_page(instruction) is page


def _screen(*labels: str, toast: str = "") -> UIScreen:
    kids = list(range(1, len(labels) + 1))
    nodes = [UINode(0, class_name="android.widget.FrameLayout", package=PKG,
                    bounds=Bounds(0, 0, 1000, 2000), children=kids + ([99] if toast else []))]
    for i, label in enumerate(labels, start=1):
        nodes.append(UINode(i, class_name="android.widget.TextView", text=label, package=PKG,
                            parent=0, bounds=Bounds(0, 100 * i, 1000, 100 * i + 90)))
    if toast:
        nodes.append(UINode(len(nodes), class_name="android.widget.TextView", text=toast,
                            package=PKG, parent=0, resource_id="android:id/message",
                            bounds=Bounds(100, 1800, 900, 1900)))
    return UIScreen(nodes, activity=f"{PKG}/.Main")


def test_app_texts_count_screens_and_transient_messages() -> None:
    screens = {
        "s1": _screen("Alarm", "Timer", "7:00"),
        "s2": _screen("Alarm", "Timer", "Settings"),
        "s3": _screen("Alarm", "Timer", toast="Failed to query alarms"),
        "s4": _screen("Alarm", "About"),
    }
    world = World("w", "", [WorldApp(PKG, "X", "s1")],
                  {k: WorldState(k, f"{PKG}/.Main", PKG, 1000, 2000) for k in screens}, [],
                  screens=screens)
    texts = AppTexts.of(world, PKG)
    assert texts.screens == 4
    assert texts.frequency["alarm"] == 1.0 and texts.frequency["timer"] == 0.75
    assert texts.common("Alarm", 0.5) and texts.common("Timer", 0.5)
    assert not texts.common("About", 0.5)
    assert texts.transient("Failed to query alarms") and not texts.transient("About")
    toast_screen = screens["s3"]
    assert in_popup(toast_screen, toast_screen.nodes[-1])
    assert not in_popup(toast_screen, toast_screen.nodes[1])
