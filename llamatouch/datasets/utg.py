"""Building a :class:`~llamatouch.world.World` (UI transition graph) from DroidBot output."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llamatouch.datasets.droidbot_common import (
    EventFile,
    StateIndex,
    convert_event,
    parse_am_start,
    rel,
)
from llamatouch.datasets.problems import ImportProblem
from llamatouch.ui.node import UIScreen
from llamatouch.world import World, WorldApp, WorldState, WorldTransition


@dataclass(slots=True)
class AppContext:
    """One DroidBot folder being imported.

    Attributes:
        app: the app folder name.
        root: the dataset root (problem sources are relative to it).
        index: the de-duplicated states.
        events: the readable events, in time order.
        problems: where problems are collected.
        package: the app's package (filled by :func:`build_world`).
        by_start: canonical state id → events recorded from it (filled by
            :func:`build_world`).
        label: the app's label (default: the folder name, title-cased).
    """

    app: str
    root: Path
    index: StateIndex
    events: list[EventFile]
    problems: list[ImportProblem]
    package: str = ""
    by_start: dict[str, list[EventFile]] = field(default_factory=dict)
    label: str = ""


def build_world(ctx: AppContext, name: str) -> World:
    """The UTG of one DroidBot folder: de-duplicated states, typed transitions, the app.

    Events whose end states match no state file are dropped and reported; ``kill_app`` and
    force-stop intents are app stops, not edges. The app's package and launcher activity
    come from the recorded ``am start`` intents (else the states' majority package), its start
    state is where those intents led most often, and the home state is where they started
    from. Fills ``ctx.package`` and ``ctx.by_start``.
    """
    for ev in ctx.events:
        sid0 = ctx.index.resolve(ev.data.get("start_state"))
        if sid0 is not None:
            ctx.by_start.setdefault(sid0, []).append(ev)
    index = ctx.index
    states = {
        sid: WorldState(
            id=sid,
            activity=sf.screen.activity,
            package=sf.screen.package,
            width=sf.screen.width,
            height=sf.screen.height,
            aliases=list(index.aliases[sid]),
        )
        for sid, sf in index.states.items()
    }
    screens = {sid: sf.screen for sid, sf in index.states.items()}
    launches: Counter[tuple[str, str]] = Counter()
    start_targets: Counter[str] = Counter()
    home_sources: Counter[str] = Counter()
    transitions: list[WorldTransition] = []
    seen: dict[tuple[str, str, str], WorldTransition] = {}
    came_from: str | None = None  # the previous event's start, when it ended where this starts
    prev_stop: str | None = None
    for ev in ctx.events:
        source_file = rel(ev.path, ctx.root)
        src = index.resolve(ev.data.get("start_state"))
        dst = index.resolve(ev.data.get("stop_state"))
        history = (
            [came_from, src]
            if came_from and src and prev_stop == src and came_from != src
            else []
        )
        came_from, prev_stop = src, dst
        conv = convert_event(ev.event, screens.get(src) if src else None)
        if conv.stop:
            continue
        if conv.action is None:
            ctx.problems.append(
                ImportProblem("event_unsupported", source_file, conv.problem or "?", ctx.app)
            )
            continue
        if conv.action["action"] == "open_app":
            started = parse_am_start(str(ev.event.get("intent") or ""))
            if started is not None:
                launches[started] += 1
            if dst is not None:
                start_targets[dst] += 1
            if src is not None:
                home_sources[src] += 1
        if src is None or dst is None:
            which = "start_state" if src is None else "stop_state"
            ctx.problems.append(
                ImportProblem(
                    "event_state_unresolved",
                    source_file,
                    f"{which} {ev.data.get(which)!r} matches no state file; edge dropped",
                    ctx.app,
                )
            )
            continue
        if conv.problem is not None:
            ctx.problems.append(
                ImportProblem("event_target_unresolved", source_file, conv.problem, ctx.app)
            )
        ident = (src, dst, repr(sorted(conv.action.items())))
        edge = seen.get(ident)
        if edge is None:
            edge = WorldTransition(
                source=src,
                target=dst,
                action=conv.action,
                element_key=conv.element_key,
                element=conv.element,
                event_type=ev.event_type,
            )
            seen[ident] = edge
            transitions.append(edge)
        if history:
            edge.add_context(history)
    apps: list[WorldApp] = []
    if launches:
        (package, activity), _ = launches.most_common(1)[0]
    else:
        package = _majority_package(ctx, screens)
        activity = ""
    ctx.package = package
    start_state = ""
    for sid, _ in start_targets.most_common():
        if states[sid].package == package:
            start_state = sid
            break
    if not start_state:
        start_state = next(
            (sid for sid, st in states.items() if st.package == package), next(iter(states))
        )
    home = next(
        (sid for sid, _ in home_sources.most_common() if states[sid].package != package), ""
    )
    apps.append(
        WorldApp(
            package=package,
            label=ctx.label or ctx.app.replace("_", " ").title(),
            start_state=start_state,
            launcher_activity=activity,
        )
    )
    return World(
        name=name,
        home_state=home,
        apps=apps,
        states=states,
        transitions=transitions,
        screens=screens,
    )


def _majority_package(ctx: AppContext, screens: Mapping[str, UIScreen]) -> str:
    counts = Counter(s.package for s in screens.values() if s.package)
    return counts.most_common(1)[0][0] if counts else ctx.app
