"""Explore an app on a live device within a budget, producing a transition graph (a
:class:`~llamatouch.world.World` held in memory) that :func:`memory.build_from_world` turns into
AutoDroid's exploration memory.

Depth-first over tappable elements: on each new screen (identified by its content-light
signature) every tappable element is tried once; when a screen has nothing left to try the
explorer presses back (and relaunches the app when back leaves it). It stops after ``budget``
actions. Works on any :class:`~llamatouch.device.base.Device` (a phone over ADB, or the
virtual device). Tapping everything can change an app's data: explore a test device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from llamatouch.device.base import Device, Observation
from llamatouch.errors import ActionError
from llamatouch.world import World, WorldApp, WorldState, WorldTransition
from llamatouch_agents.autodroid.screen import Choice, build_view, choice_action

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ExploreStats:
    """What an exploration did: ``actions`` spent, ``states`` seen, ``transitions`` recorded,
    ``relaunches`` of the app after leaving it."""

    actions: int = 0
    states: int = 0
    transitions: int = 0
    relaunches: int = 0
    skipped: list[str] = field(default_factory=list)


def explore_device(
    device: Device, package: str, *, budget: int = 60, label: str = ""
) -> tuple[World, ExploreStats]:
    """Explore ``package`` on ``device`` with at most ``budget`` actions."""
    stats = ExploreStats()
    states: dict[str, WorldState] = {}
    screens = {}
    pending: dict[str, list[Choice]] = {}
    transitions: list[WorldTransition] = []
    seen_edges: set[tuple[str, str]] = set()

    def add(obs: Observation) -> str:
        view = build_view(obs.screen)
        sid = f"s{view.signature}"
        if sid not in states:
            states[sid] = WorldState(
                sid, obs.activity, obs.package, obs.screen.width, obs.screen.height
            )
            screens[sid] = obs.screen
            if obs.package == package:
                pending[sid] = [c for c in view.choices if c.kind in ("click", "check")]
        return sid

    device.reset(package)
    obs = device.observe()
    start = add(obs)
    cur = start
    while stats.actions < budget:
        if obs.package != package:
            device.reset(package)
            stats.relaunches += 1
            stats.actions += 1
            obs = device.observe()
            cur = add(obs)
            continue
        todo = pending.get(cur, [])
        if not todo:
            if not any(pending.values()):
                break  # every element of every screen seen has been tried
            before = cur
            device.press("back")
            stats.actions += 1
            obs = device.observe()
            cur = add(obs)
            if cur == before:  # back did nothing: relaunch (costs an action, so this ends)
                device.reset(package)
                stats.relaunches += 1
                stats.actions += 1
                obs = device.observe()
                cur = add(obs)
            continue
        choice = todo.pop(0)
        action = choice_action(choice)
        try:
            device.act(action)
        except ActionError as exc:
            stats.skipped.append(f"{choice.label}: {exc}")
            continue
        stats.actions += 1
        obs = device.observe()
        nxt = add(obs)
        if nxt != cur and (cur, choice.key) not in seen_edges:
            seen_edges.add((cur, choice.key))
            transitions.append(
                WorldTransition(cur, nxt, action.to_json(), choice.key, None, "click")
            )
        cur = nxt
    stats.states, stats.transitions = len(states), len(transitions)
    world = World(
        name=f"explored-{package}",
        home_state="",
        apps=[WorldApp(package, label or package, start)],
        states=states,
        transitions=transitions,
        root=None,
        screens=screens,
    )
    return world, stats
