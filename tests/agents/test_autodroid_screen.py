"""AutoDroid's choices on real DroidTask screens never include elements scrolled out of view."""

from __future__ import annotations

from pathlib import Path

from llamatouch.ui.droidbot import read_droidbot_state
from llamatouch.ui.html import render_html
from llamatouch_agents.autodroid.screen import build_view, choice_action


def test_offscreen_elements_are_not_offered(droidtask_dir: Path) -> None:
    screens_with_offscreen = 0
    for path in sorted(droidtask_dir.glob("*/states/*.json"))[::7]:
        screen = read_droidbot_state(path)
        offscreen = {
            id(el.node) for el in render_html(screen).elements if el.offscreen and el.node
        }
        if not offscreen:
            continue
        screens_with_offscreen += 1
        view = build_view(screen)
        for choice in view.choices:
            assert id(choice.node) not in offscreen or choice.kind.startswith("scroll"), (
                path.name,
                choice.html,
            )
            action = choice_action(choice, "x")
            x, y = getattr(action, "x", None), getattr(action, "y", None)
            if x is not None and y is not None:
                assert 0 <= x < screen.width and 0 <= y < screen.height
    assert screens_with_offscreen > 0
