"""Writing a recording as a world folder (``docs/world-format.md``).

Each state's hierarchy (``states/<id>.xml``) and screenshot (``states/<id>.png``) are written
as soon as the state is found; the manifest (``world.json``) is rewritten at every checkpoint
and at the end. Every file is written atomically, so a world folder read at any moment (or
left by an interrupted run) is a loadable world.
"""

from __future__ import annotations

from pathlib import Path

from llamatouch.fsutil import atomic_write_bytes, atomic_write_json, safe_join
from llamatouch.record.store import ExplorationState
from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import read_uiautomator_file, write_uiautomator_xml
from llamatouch.world import World, WorldApp, WorldState


class WorldWriter:
    """Writes the states and the manifest of one recording into ``folder``.

    Args:
        folder: the world folder (created when missing).
        name: the world name written to the manifest.
        label: the app's launcher label.
    """

    def __init__(self, folder: Path, name: str, label: str) -> None:
        self.folder = folder
        self.name = name
        self.label = label
        self.screenshots: set[str] = set()
        (folder / "states").mkdir(parents=True, exist_ok=True)
        for png in (folder / "states").glob("*.png"):
            self.screenshots.add(png.stem)

    def write_state(self, sid: str, screen: UIScreen, png: bytes | None) -> None:
        """Write one state's hierarchy (and its screenshot when there is one)."""
        atomic_write_bytes(safe_join(self.folder, "states", f"{sid}.xml"),
                           write_uiautomator_xml(screen))
        if png:
            atomic_write_bytes(safe_join(self.folder, "states", f"{sid}.png"), png)
            self.screenshots.add(sid)

    def read_screen(self, sid: str, width: int, height: int, activity: str) -> UIScreen:
        """A state's hierarchy as written (used when a run is resumed)."""
        return read_uiautomator_file(safe_join(self.folder, "states", f"{sid}.xml"),
                                     width=width, height=height, activity=activity)

    def world(self, state: ExplorationState) -> World:
        """The world the exploration has recorded so far (no screens loaded)."""
        states = {
            s.id: WorldState(id=s.id, activity=s.activity, package=s.package, width=s.width,
                             height=s.height, screenshot=s.id in self.screenshots)
            for s in state.states.values()
        }
        launch = state.states.get(state.launch_state)
        apps = []
        if launch is not None:
            apps.append(WorldApp(package=state.app, label=self.label,
                                 start_state=launch.id, launcher_activity=launch.activity))
        return World(name=self.name, home_state=state.home_state, apps=apps, states=states,
                     transitions=state.world_transitions(), root=self.folder)

    def write_manifest(self, state: ExplorationState) -> Path:
        """(Re)write ``world.json`` (nothing is written before the app's launch screen is
        known: a world needs its app's start state)."""
        path = self.folder / "world.json"
        if state.launch_state:
            atomic_write_json(path, self.world(state).manifest())
        return path
