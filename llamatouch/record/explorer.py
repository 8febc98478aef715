"""Breadth-first exploration of one app on any :class:`~llamatouch.device.base.Device`.

The frontier is a FIFO queue of states in the order they were found. For the state at its
head the explorer gets the device there (it is there already, or it follows the shortest
known path from where it is, or it restarts the app and follows the shortest known path from
the launch screen), tries the state's next candidate action
(:func:`~llamatouch.record.candidates.candidates`), observes, and records the new state (if its
content key is new) and the transition (actions without effect are not edges). When an
action leads to a screen with no known way back, ``back`` is pressed once at once, which
usually returns to the state being explored without a restart.
Screens outside the app (the launcher, other apps) are recorded but not explored; the app is
restarted to get back. Budgets (device actions, minutes) and Ctrl-C stop the run cleanly:
the world and the exploration state are saved, and ``resume=True`` continues.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llamatouch.actions import Action, Key, action_from_json
from llamatouch.device.base import Device, Observation
from llamatouch.errors import ActionError, DeviceError, DeviceGoneError, LlamaTouchError
from llamatouch.record.candidates import Candidate, CandidateOptions, candidates
from llamatouch.record.keys import content_key, state_id
from llamatouch.record.store import STATE_FILE, ExplorationState, StateRecord
from llamatouch.record.writer import WorldWriter
from llamatouch.ui.node import UIScreen
from llamatouch.world import WorldTransition

log = logging.getLogger(__name__)

#: Packages of system dialogs an app opens (permissions, pickers); explored like the app.
SYSTEM_DIALOG_PACKAGES: tuple[str, ...] = (
    "android",
    "com.android.permissioncontroller",
    "com.google.android.permissioncontroller",
    "com.android.packageinstaller",
    "com.google.android.packageinstaller",
)


class RecordSetupError(LlamaTouchError):
    """The recording cannot start (output folder in use, resume of another app ...)."""


@dataclass(frozen=True, slots=True)
class RecordConfig:
    """One ``llamatouch world record`` run.

    Attributes:
        app: the package to explore.
        out: the world folder written (``world.json``, ``states/``, ``record-state.json``).
        budget_steps: stop after this many device actions in this run (exploration,
            navigation and restarts all count); ``None``: no limit.
        budget_minutes: stop after this many minutes in this run; ``None``: no limit.
        options: what is tried on each screen (inputs, avoid list, scroll directions ...).
        resume: continue the exploration saved in ``out`` instead of starting afresh.
        also_explore: packages explored besides ``app`` (system dialogs).
        repeats: how many times each action that changed the screen is tried in all, on
            separate visits (more than 1 finds the other outcomes of an app that answers the
            same input differently, e.g. depending on time or hidden state).
        launch_wait_s: seconds to wait after launching the app before observing (real
            phones show a splash screen or an animation; 0 for the virtual device).
        launch_checks: when the screen after a launch is not the app's yet, how many more
            times to look (0.5 s or ``launch_wait_s`` apart) before taking it as it is.
        nav_attempts: how many times getting back to a state is tried (each time after a
            restart) before the state is marked unreachable.
        checkpoint_every: save the world and the exploration state every this many actions
            tried.
        world_name: the world's name (``""``: ``recorded-<app>``).
        label: the app's launcher label (``""``: the last part of the package, title-cased).
    """

    app: str
    out: Path
    budget_steps: int | None = None
    budget_minutes: float | None = None
    options: CandidateOptions = field(default_factory=CandidateOptions)
    resume: bool = False
    also_explore: tuple[str, ...] = SYSTEM_DIALOG_PACKAGES
    repeats: int = 1
    launch_wait_s: float = 0.0
    launch_checks: int = 5
    nav_attempts: int = 3
    checkpoint_every: int = 25
    world_name: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    """Figures reported after every action tried.

    Attributes:
        states: states found.
        edges: candidate actions tried (all runs).
        transitions: distinct transitions recorded.
        frontier: states with actions left to try.
        steps: device actions sent in this run.
        restarts: app restarts in this run.
        elapsed_s: seconds since this run started.
    """

    states: int
    edges: int
    transitions: int
    frontier: int
    steps: int
    restarts: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """How a recording ended.

    Attributes:
        out: the world folder.
        stopped_by: ``done`` (frontier empty), ``budget-steps``, ``budget-minutes``,
            ``interrupted`` (Ctrl-C) or ``device-gone``.
        progress: the final figures.
        unreachable: states the explorer could not get back to.
    """

    out: Path
    stopped_by: str
    progress: Progress
    unreachable: int


class _Stop(Exception):
    """Internal: a budget ran out."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def options_json(config: RecordConfig) -> dict[str, object]:
    """What is tried, as saved in the exploration state (a resume must try the same)."""
    out: dict[str, object] = {k: list(v) if isinstance(v, tuple) else v
                              for k, v in asdict(config.options).items()}
    out["repeats"] = config.repeats
    return out


def prepare_state(config: RecordConfig) -> ExplorationState:
    """The exploration to run: a fresh one, or (``config.resume``) the one saved in
    ``config.out``. Raises :class:`RecordSetupError` when the folder already holds a recording
    (without ``resume``), holds none (with it), or holds one of another app or other options."""
    out = Path(config.out)
    saved = (out / STATE_FILE).is_file()
    if config.resume:
        if not saved:
            raise RecordSetupError(f"{out}: nothing to resume (no {STATE_FILE})")
        state = ExplorationState.load(out)
        if state.app != config.app:
            raise RecordSetupError(f"{out / STATE_FILE}: records {state.app!r}, "
                                   f"not {config.app!r}")
        if state.options and state.options != options_json(config):
            raise RecordSetupError(f"{out / STATE_FILE}: was recorded with other options "
                                   f"({state.options}); resume with the same ones")
        return state
    if saved or (out / "world.json").exists():
        raise RecordSetupError(f"{out}: already holds a recording (pass --resume to "
                               "continue it, or choose another folder)")
    return ExplorationState(app=config.app, options=options_json(config))


class Explorer:
    """Explores ``config.app`` on ``device`` and writes the world to ``config.out``."""

    def __init__(self, device: Device, config: RecordConfig,
                 state: ExplorationState | None = None) -> None:
        self.device = device
        self.cfg = config
        out = Path(config.out)
        label = config.label or config.app.rsplit(".", 1)[-1].replace("_", " ").title()
        self.state = state if state is not None else prepare_state(config)
        self.writer = WorldWriter(out, config.world_name or f"recorded-{config.app}", label)
        self.screens: dict[str, UIScreen] = {}
        self.cands: dict[str, list[Candidate]] = {}
        self.cur: str | None = None  # state the device is in, as last observed
        # the screens back would return to, as the app's back stack (cleared on restart)
        self.trail: list[str] = []
        self._steps = 0
        self._restarts = 0
        self._started = 0.0
        self._since_checkpoint = 0

    # -- the run ---------------------------------------------------------------------------
    def run(self, progress: Callable[[Progress], None] | None = None) -> RecordOutcome:
        """Explore until the frontier is empty, a budget runs out, Ctrl-C or the device goes.

        The world and the exploration state are saved in every case.
        """
        self._started = time.monotonic()
        stopped_by = "done"
        try:
            self._explore(progress)
        except _Stop as stop:
            stopped_by = stop.why
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        except DeviceGoneError as exc:
            log.error("device gone: %s", exc)
            stopped_by = "device-gone"
        finally:
            self.state.elapsed_s += time.monotonic() - self._started
            self._checkpoint()
        return RecordOutcome(
            out=Path(self.cfg.out),
            stopped_by=stopped_by,
            progress=self._progress(),
            unreachable=sum(1 for s in self.state.states.values() if s.unreachable),
        )

    def _explore(self, progress: Callable[[Progress], None] | None) -> None:
        st = self.state
        if not st.launch_state:
            self._record_home()
            self._restart()
            assert self.cur is not None
            st.launch_state = self.cur
            self._checkpoint()
        while st.queue:
            sid = st.queue[0]
            rec = st.states[sid]
            cands = self._candidates(sid)
            index = self._next_index(rec.next_action, cands, set(rec.no_effect))
            rec.next_action = index
            if index >= len(cands) * self.cfg.repeats or rec.unreachable:
                st.queue.popleft()
                continue
            if not self._reach(sid):
                log.info("state %s is unreachable; its remaining actions are skipped", sid)
                rec.unreachable = True
                continue
            i = index % len(cands)
            target = self._try(sid, cands[i])
            # counted once tried: a run stopped inside _try tries the action again on resume
            rec.next_action += 1
            st.edges += 1
            if index < len(cands) and target == sid:
                rec.no_effect.append(i)
            self._since_checkpoint += 1
            if self._since_checkpoint >= self.cfg.checkpoint_every:
                self._checkpoint()
            if progress is not None:
                progress(self._progress())

    def _next_index(self, index: int, cands: list[Candidate], no_effect: set[int]) -> int:
        """The next candidate to try from ``index`` on: every candidate in the first round;
        in later rounds (``repeats``) only those that changed the screen, and no keys (where
        back leads depends on history, not on the app)."""
        n = len(cands)
        while n <= index < n * self.cfg.repeats:
            i = index % n
            if i not in no_effect and not isinstance(cands[i].action, Key):
                break
            index += 1
        return index

    def _progress(self) -> Progress:
        st = self.state
        return Progress(
            states=len(st.states),
            edges=st.edges,
            transitions=len(st.transitions),
            frontier=len(st.queue),
            steps=self._steps,
            restarts=self._restarts,
            elapsed_s=time.monotonic() - self._started if self._started else 0.0,
        )

    def _checkpoint(self) -> None:
        self._since_checkpoint = 0
        self.writer.write_manifest(self.state)
        self.state.save(Path(self.cfg.out))

    # -- device actions --------------------------------------------------------------------
    def _budget(self) -> None:
        cfg = self.cfg
        if cfg.budget_steps is not None and self._steps >= cfg.budget_steps:
            raise _Stop("budget-steps")
        if (cfg.budget_minutes is not None
                and time.monotonic() - self._started >= cfg.budget_minutes * 60):
            raise _Stop("budget-minutes")

    def _count(self, n: int = 1) -> None:
        self._steps += n
        self.state.steps += n

    def _act(self, action: Action) -> None:
        self._budget()
        self._count()
        try:
            self.device.act(action)
        except ActionError as exc:  # e.g. a view moved off screen: the screen is unchanged
            log.info("action %s refused: %s", action.to_json(), exc)

    def _observe(self, depth: int) -> str:
        """Observe and register the screen; returns its state id (sets :attr:`cur`)."""
        obs = self.device.observe()
        sid = self._register(obs, depth)
        self.cur = sid
        return sid

    def _register(self, obs: Observation, depth: int) -> str:
        st = self.state
        screen = obs.screen
        activity = obs.activity or screen.activity
        key = content_key(screen, activity)
        known = st.find(key)
        if known is not None:
            self.screens.setdefault(known, screen)
            return known
        sid = state_id(key)
        package = obs.package or screen.package
        expand = package == self.cfg.app or package in self.cfg.also_explore
        self.writer.write_state(sid, screen, obs.screenshot_png)
        st.add_state(StateRecord(id=sid, key=key, activity=activity, package=package,
                                 width=screen.width, height=screen.height, depth=depth,
                                 expand=expand))
        self.screens[sid] = screen
        return sid

    def _record_home(self) -> None:
        self._budget()
        self._count()
        self.device.press("home")
        home = self._observe(0)
        if self.state.states[home].package != self.cfg.app:
            self.state.home_state = home

    def _restart(self) -> None:
        """Force-stop and launch the app; observe where it starts."""
        self._budget()
        self._count(2)
        self._restarts += 1
        self.state.restarts += 1
        self.device.stop_app(self.cfg.app)
        self.device.open_app(self.cfg.app)
        self.trail = []
        if self.cfg.launch_wait_s:
            time.sleep(self.cfg.launch_wait_s)
        obs = self.device.observe()
        for _ in range(self.cfg.launch_checks):
            # a phone may still show the launcher (or nothing of the app) right after the
            # launch: wait for the app's window before taking the launch screen
            if (obs.package or obs.screen.package) == self.cfg.app:
                break
            time.sleep(self.cfg.launch_wait_s or 0.5)
            obs = self.device.observe()
        self.cur = self._register(obs, 0)

    def _candidates(self, sid: str) -> list[Candidate]:
        cached = self.cands.get(sid)
        if cached is not None:
            return cached
        rec = self.state.states[sid]
        screen = self.screens.get(sid)
        if screen is None:
            screen = self.writer.read_screen(sid, rec.width, rec.height, rec.activity)
            self.screens[sid] = screen
        cands = candidates(screen, self.cfg.options)
        rec.n_actions = len(cands)
        self.cands[sid] = cands
        return cands

    # -- trying one action -----------------------------------------------------------------
    def _try(self, sid: str, cand: Candidate) -> str | None:
        """Try one action on ``sid`` (the device is there); returns where it led."""
        depth = self.state.states[sid].depth + 1
        self._act(cand.action)
        target = self._observe_safely(depth)
        if target is None:
            return None
        self._add(sid, target, cand.action.to_json(), cand.event_type, cand.element_key,
                  cand.element)
        if (target != sid and not isinstance(cand.action, Key)
                and self._path(target, sid) is None):
            self._back(depth + 1)
        return target

    def _observe_safely(self, depth: int) -> str | None:
        try:
            return self._observe(depth)
        except DeviceGoneError:
            raise
        except DeviceError as exc:  # a failing dump: restart to get a usable screen
            log.warning("observation failed (%s); restarting the app", exc)
            self.cur = None
            self.trail = []
            return None

    def _back(self, depth: int) -> None:
        """Press back once (the cheap way back to the state being explored)."""
        src = self.cur
        self._act(Key(key="back"))
        target = self._observe_safely(depth)
        if src is None or target is None:
            return
        self._add(src, target, Key(key="back").to_json(), "key", None, None)

    def _add(self, src: str, dst: str, action: dict[str, object], event_type: str,
             element_key: str | None, element: dict[str, object] | None) -> None:
        stack_back = self._moved(src, dst, back=action.get("key") == "back")
        if src == dst:  # no effect: nothing to replay (a world edge would drop typed text)
            return
        self.state.add_transition(
            WorldTransition(source=src, target=dst, action=dict(action),
                            element_key=element_key, element=dict(element) if element else None,
                            event_type=event_type),
            stack_back=stack_back,
        )

    # -- navigation ------------------------------------------------------------------------
    def _path(self, start: str, goal: str) -> list[WorldTransition] | None:
        """Shortest known path of forward transitions (no ``back``: where back leads depends
        on history) from ``start`` to ``goal``; ``[]`` when they are the same state."""
        if start == goal:
            return []
        out: dict[str, list[WorldTransition]] = {}
        for r in self.state.transitions:
            t = r.transition
            if t.source != t.target and t.event_type != "key":
                out.setdefault(t.source, []).append(t)
        prev: dict[str, WorldTransition] = {}
        seen = {start}
        todo: deque[str] = deque([start])
        while todo:
            node = todo.popleft()
            for t in out.get(node, ()):
                if t.target in seen:
                    continue
                seen.add(t.target)
                prev[t.target] = t
                if t.target == goal:
                    path = [t]
                    while path[0].source != start:
                        path.insert(0, prev[path[0].source])
                    return path
                todo.append(t.target)
        return None

    def _reach(self, goal: str) -> bool:
        """Get the device to ``goal``; ``False`` when every attempt failed."""
        for attempt in range(self.cfg.nav_attempts):
            if self.cur == goal:
                return True
            path = self._path(self.cur, goal) if self.cur is not None else None
            if path is None or attempt > 0:
                self._restart()
                if self.cur == goal:
                    return True
                assert self.cur is not None
                path = self._path(self.cur, goal)
                if path is None:
                    return False
            if self._walk(path, goal):
                return True
        return False

    def _walk(self, path: list[WorldTransition], goal: str) -> bool:
        for t in path:
            depth = self.state.states[t.source].depth + 1
            self._act(action_from_json(t.action))
            got = self._observe_safely(depth)
            if got is None:
                return False
            if got != t.target:  # the app answered differently this time: keep what happened
                self._add(t.source, got, t.action, t.event_type, t.element_key, t.element)
                return False
            self._moved(t.source, got, back=t.action.get("key") == "back")
        return self.cur == goal

    def _moved(self, src: str, dst: str, *, back: bool) -> bool:
        """Follow the screens back would return to (the app's back stack, as far as the
        explorer can tell); ``True`` when a back returned to the screen ``src`` was entered
        from (a device's own back stack replays that, so it is no world edge)."""
        if src == dst:
            return False
        if back:
            if self.trail and self.trail[-1] == dst:
                self.trail.pop()
                return True
            self.trail = []  # back went elsewhere: what is under it now is unknown
            return False
        self.trail.append(src)
        del self.trail[:-64]
        return False
