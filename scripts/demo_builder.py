"""Deterministic builder of the shipped demo world and its task suite.

The demo world is authored here, screen by screen (five small Android-style apps of our own:
Notes, Contacts, Clock, Settings and Shop, plus a launcher). Running the module rewrites the
committed files; a test checks that they equal what this module produces::

    .venv/bin/python scripts/demo_builder.py    # writes llamatouch_emulator's worlds/demo
                                                # and llamatouch's data/tasks/demo.json

An authoring script, not runtime code: it lives in ``scripts/`` and is not in the wheel (the
tests find it through pytest's ``pythonpath``).

Design (see ``docs/virtual-device.md``): every screen is a hierarchy built from a few layout
helpers (status-bar offset, toolbar, lists of rows, form fields); navigation, toggles,
scrolls, ``back`` and typing are recorded transitions. Typing tasks are modelled with
recorded ``type`` transitions keyed on the typed text: typing "Buy milk" into the empty note
title leads to a state whose title field shows it, and tapping Save there leads to the note
list that shows it. Typing any other text only edits the served field (no recorded state).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.paths import tasks_dir
from llamatouch.tasks import Task, TaskSuite
from llamatouch.ui.node import Bounds, UINode, UIScreen
from llamatouch.world import World, WorldApp, WorldState, WorldTransition
from llamatouch_emulator.worlds import demo_world_dir

W, H = 1080, 2400
STATUS_H = 84  # status bar height (the app window starts below it)
TOOLBAR_H = 168
NAV_BAR_TOP = 2274  # gesture navigation bar at the bottom

NOTES = "com.llamatouch.notes"
CONTACTS = "com.llamatouch.contacts"
CLOCK = "com.llamatouch.clock"
SETTINGS = "com.llamatouch.settings"
SHOP = "com.llamatouch.shop"
LAUNCHER = "com.android.launcher3"


# -- screen construction -----------------------------------------------------------------------
class ScreenBuilder:
    """Builds one hierarchy in pre-order (children are added right after their parent's
    earlier children, which is how the helpers below are called)."""

    def __init__(self, sid: str, package: str, activity: str) -> None:
        self.sid = sid
        self.package = package
        self.activity = activity
        self.nodes: list[UINode] = []
        self.root = self.add(None, "android.widget.FrameLayout", (0, 0, W, H))
        decor = self.add(self.root, "android.widget.LinearLayout", (0, 0, W, H))
        self.content = self.add(
            decor, "android.widget.FrameLayout", (0, STATUS_H, W, H), rid="android:id/content"
        )

    def add(
        self,
        parent: UINode | None,
        cls: str,
        box: tuple[int, int, int, int],
        *,
        rid: str = "",
        text: str = "",
        desc: str = "",
        hint: str = "",
        clickable: bool = False,
        long_clickable: bool = False,
        checkable: bool = False,
        checked: bool = False,
        scrollable: bool = False,
        focused: bool = False,
        selected: bool = False,
        enabled: bool = True,
        password: bool = False,
    ) -> UINode:
        if rid and ":" not in rid:
            rid = f"{self.package}:id/{rid}"
        editable = "EditText" in cls
        node = UINode(
            index=len(self.nodes),
            parent=None if parent is None else parent.index,
            sibling_index=0 if parent is None else len(parent.children),
            class_name=cls,
            resource_id=rid,
            text=text,
            content_desc=desc,
            package=self.package,
            hint=hint,
            bounds=Bounds(*box),
            checkable=checkable,
            checked=checked,
            clickable=clickable or editable,
            enabled=enabled,
            focusable=clickable or editable or checkable,
            focused=focused,
            scrollable=scrollable,
            long_clickable=long_clickable or editable,
            password=password,
            selected=selected,
            editable=editable,
        )
        if parent is not None:
            self.nodes[parent.index].children.append(node.index)
        self.nodes.append(node)
        return node

    # -- widgets -------------------------------------------------------------------------------
    def layout(self, rid: str = "main") -> UINode:
        return self.add(
            self.content,
            "android.widget.LinearLayout",
            (0, STATUS_H, W, NAV_BAR_TOP),
            rid=rid,
        )

    def toolbar(
        self,
        parent: UINode,
        title: str,
        *,
        up: bool = False,
        actions: Sequence[tuple[str, str]] = (),
    ) -> dict[str, UINode]:
        """Toolbar with an optional "Navigate up" button and action icons (desc, id)."""
        top, bottom = STATUS_H, STATUS_H + TOOLBAR_H
        bar = self.add(parent, "android.view.ViewGroup", (0, top, W, bottom), rid="toolbar")
        out: dict[str, UINode] = {}
        left = 0
        if up:
            out["up"] = self.add(
                bar,
                "android.widget.ImageButton",
                (0, top, 168, bottom),
                desc="Navigate up",
                clickable=True,
            )
            left = 168
        right = W
        boxes = []
        for _desc, _rid in actions:
            boxes.append((right - 144, right))
            right -= 144
        out["title"] = self.add(
            bar,
            "android.widget.TextView",
            (left + 48, top + 42, right - 24, bottom - 42),
            text=title,
            rid="toolbar_title",
        )
        for (desc, rid), (a, b) in zip(actions, boxes, strict=True):
            out[rid] = self.add(
                bar,
                "android.widget.ImageButton",
                (a, top, b, bottom),
                desc=desc,
                rid=rid,
                clickable=True,
            )
        return out

    def text(self, parent: UINode, y: int, h: int, text: str, rid: str = "", x: int = 48) -> UINode:
        return self.add(parent, "android.widget.TextView", (x, y, W - x, y + h), text=text, rid=rid)

    def button(
        self,
        parent: UINode,
        box: tuple[int, int, int, int],
        text: str,
        rid: str = "",
        enabled: bool = True,
    ) -> UINode:
        return self.add(
            parent,
            "android.widget.Button",
            box,
            text=text,
            rid=rid,
            clickable=True,
            enabled=enabled,
        )

    def fab(self, parent: UINode, desc: str, rid: str = "fab") -> UINode:
        return self.add(
            parent,
            "android.widget.ImageButton",
            (864, 2034, 1032, 2202),
            desc=desc,
            rid=rid,
            clickable=True,
        )

    def edit(
        self,
        parent: UINode,
        y: int,
        hint: str,
        rid: str,
        *,
        text: str = "",
        focused: bool = False,
        h: int = 150,
    ) -> UINode:
        return self.add(
            parent,
            "android.widget.EditText",
            (48, y, W - 48, y + h),
            rid=rid,
            text=text or hint,
            hint=hint,
            focused=focused,
        )

    def rows(
        self,
        parent: UINode,
        top: int,
        items: Sequence[Sequence[str]],
        *,
        rid: str,
        row_h: int = 198,
        bottom: int = NAV_BAR_TOP,
        list_id: str = "list",
        switches: Sequence[bool | None] = (),
        scrollable: bool = True,
        line_ids: Sequence[str] = ("title", "summary"),
    ) -> tuple[UINode, list[UINode], list[UINode | None]]:
        """A RecyclerView of clickable rows; each item is (title, [subtitle]); a row may end
        with a switch (``switches[i]`` = checked state, ``None`` = no switch)."""
        lst = self.add(
            parent,
            "androidx.recyclerview.widget.RecyclerView",
            (0, top, W, bottom),
            rid=list_id,
            scrollable=scrollable,
        )
        rows: list[UINode] = []
        sws: list[UINode | None] = []
        for i, item in enumerate(items):
            y = top + i * row_h
            if y + row_h > bottom:
                break
            row = self.add(
                lst,
                "android.widget.LinearLayout",
                (0, y, W, y + row_h),
                rid=rid,
                clickable=True,
                long_clickable=True,
            )
            lines = [s for s in item if s]
            line_h = (row_h - 48) // max(1, len(lines))
            right = W - 216 if i < len(switches) and switches[i] is not None else W - 48
            for j, s in enumerate(lines):
                self.add(
                    row,
                    "android.widget.TextView",
                    (48, y + 24 + j * line_h, right, y + 24 + (j + 1) * line_h),
                    text=s,
                    rid=line_ids[min(j, len(line_ids) - 1)],
                )
            sw: UINode | None = None
            if i < len(switches) and switches[i] is not None:
                sw = self.add(
                    row,
                    "android.widget.Switch",
                    (W - 192, y + 54, W - 48, y + 144),
                    rid="switch_widget",
                    checkable=True,
                    checked=bool(switches[i]),
                    text="ON" if switches[i] else "OFF",
                )
            rows.append(row)
            sws.append(sw)
        return lst, rows, sws

    def screen(self) -> UIScreen:
        return UIScreen(
            nodes=self.nodes, width=W, height=H, activity=self.activity, source=f"demo:{self.sid}"
        )


# -- world construction ------------------------------------------------------------------------
@dataclass
class DemoWorld:
    """The world being built plus named handles used to write the tasks."""

    screens: dict[str, UIScreen] = field(default_factory=dict)
    states: dict[str, WorldState] = field(default_factory=dict)
    transitions: list[WorldTransition] = field(default_factory=list)
    handles: dict[tuple[str, str], UINode] = field(default_factory=dict)

    def put(self, b: ScreenBuilder, **handles: UINode) -> UIScreen:
        scr = b.screen()
        self.screens[b.sid] = scr
        self.states[b.sid] = WorldState(
            id=b.sid, activity=b.activity, package=b.package, width=W, height=H
        )
        for name, node in handles.items():
            self.handles[(b.sid, name)] = node
        return scr

    def node(self, sid: str, name: str) -> UINode:
        return self.handles[(sid, name)]

    def _element(self, sid: str, node: UINode) -> tuple[str, dict[str, Any]]:
        scr = self.screens[sid]
        b = node.bounds
        return scr.key(node), {
            "resource_id": node.resource_id,
            "text": node.text,
            "content_desc": node.content_desc,
            "class_name": node.class_name,
            "bounds": [b.left, b.top, b.right, b.bottom],
        }

    def tap(
        self,
        sid: str,
        name: str,
        target: str,
        *,
        effects: dict[str, Any] | None = None,
        kind: str = "tap",
    ) -> WorldTransition:
        node = self.node(sid, name)
        key, element = self._element(sid, node)
        x, y = node.bounds.center
        t = WorldTransition(
            source=sid,
            target=target,
            action={"action": kind, "x": x, "y": y, "element": key},
            element_key=key,
            element=element,
            event_type="click" if kind == "tap" else "long_click",
            effects=dict(effects or {}),
        )
        self.transitions.append(t)
        return t

    def type(self, sid: str, name: str, text: str, target: str) -> WorldTransition:
        node = self.node(sid, name)
        key, element = self._element(sid, node)
        t = WorldTransition(
            source=sid,
            target=target,
            action={"action": "type", "text": text, "element": key},
            element_key=key,
            element=element,
            event_type="set_text",
        )
        self.transitions.append(t)
        return t

    def scroll(self, sid: str, name: str, direction: str, target: str) -> WorldTransition:
        node = self.node(sid, name)
        key, element = self._element(sid, node)
        t = WorldTransition(
            source=sid,
            target=target,
            action={"action": "scroll", "direction": direction, "element": key},
            element_key=key,
            element=element,
            event_type="scroll",
        )
        self.transitions.append(t)
        return t

    def key(self, sid: str, key: str, target: str) -> WorldTransition:
        t = WorldTransition(
            source=sid, target=target, action={"action": "key", "key": key}, event_type="key"
        )
        self.transitions.append(t)
        return t


def _launcher(w: DemoWorld) -> None:
    b = ScreenBuilder("home", LAUNCHER, f"{LAUNCHER}/.uioverrides.QuickstepLauncher")
    ws = b.add(
        b.content,
        "android.view.ViewGroup",
        (0, STATUS_H, W, NAV_BAR_TOP),
        rid="workspace",
        scrollable=True,
    )
    b.add(
        ws,
        "android.widget.TextView",
        (48, 180, W - 48, 420),
        rid="clock_widget",
        text="9:41",
        desc="9:41 Sunday, November 22",
    )
    apps = [
        ("Notes", "notes"),
        ("Contacts", "contacts"),
        ("Clock", "clock"),
        ("Settings", "settings"),
        ("Shop", "shop"),
    ]
    handles: dict[str, UINode] = {}
    for i, (label, name) in enumerate(apps):
        row, col = divmod(i, 4)
        left, top = 24 + col * 258, 1500 + row * 300
        handles[name] = b.add(
            ws,
            "android.widget.TextView",
            (left, top, left + 258, top + 276),
            text=label,
            desc=label,
            rid="icon",
            clickable=True,
            long_clickable=True,
        )
    b.add(
        b.content,
        "android.widget.EditText",
        (48, 2100, W - 48, 2230),
        rid="search_box",
        hint="Search",
        text="Search",
    )
    w.put(b, **handles)


# -- Notes ------------------------------------------------------------------------------------
_NOTES = [
    ("Shopping list", "Eggs, bread, apples"),
    ("Meeting notes", "Budget review on Friday"),
    ("Ideas", "Plant herbs on the balcony"),
]


def _notes_list(w: DemoWorld, sid: str, notes: Sequence[tuple[str, str]]) -> None:
    b = ScreenBuilder(sid, NOTES, f"{NOTES}/.NotesActivity")
    main = b.layout()
    tb = b.toolbar(main, "Notes", actions=[("Search notes", "search")])
    _, rows, _ = b.rows(
        main, STATUS_H + TOOLBAR_H, notes, rid="note_row", line_ids=("note_title", "note_snippet")
    )
    fab = b.fab(main, "New note")
    handles = {f"row{i}": r for i, r in enumerate(rows)}
    w.put(b, fab=fab, search=tb["search"], **handles)


def _notes_editor(w: DemoWorld, sid: str, title: str) -> None:
    b = ScreenBuilder(sid, NOTES, f"{NOTES}/.EditorActivity")
    main = b.layout()
    tb = b.toolbar(main, "", up=True, actions=[("Save", "save")])
    t = b.edit(main, 300, "Title", "note_title_input", text=title, focused=not title)
    body = b.edit(main, 480, "Note", "note_body_input", h=1200)
    w.put(b, up=tb["up"], save=tb["save"], title=t, body=body)


def _notes_view(w: DemoWorld, sid: str, title: str, body: str) -> None:
    b = ScreenBuilder(sid, NOTES, f"{NOTES}/.EditorActivity")
    main = b.layout()
    tb = b.toolbar(main, title, up=True, actions=[("Delete", "delete"), ("Share", "share")])
    b.text(main, 300, 120, title, rid="note_title")
    b.text(main, 450, 600, body, rid="note_body")
    w.put(b, up=tb["up"], delete=tb["delete"])


def _dialog(
    w: DemoWorld,
    sid: str,
    package: str,
    activity: str,
    message: str,
    cancel: str,
    ok: str,
    title: str = "",
) -> None:
    b = ScreenBuilder(sid, package, activity)
    panel = b.add(
        b.content,
        "android.widget.FrameLayout",
        (84, 960, W - 84, 1440),
        rid="android:id/parentPanel",
    )
    if title:
        b.add(
            panel,
            "android.widget.TextView",
            (144, 1000, W - 144, 1090),
            rid="android:id/alertTitle",
            text=title,
        )
    b.add(
        panel,
        "android.widget.TextView",
        (144, 1100, W - 144, 1250),
        rid="android:id/message",
        text=message,
    )
    c = b.button(panel, (480, 1300, 720, 1420), cancel, rid="android:id/button2")
    o = b.button(panel, (744, 1300, W - 120, 1420), ok, rid="android:id/button1")
    w.put(b, cancel=c, ok=o)


def _notes(w: DemoWorld) -> None:
    _notes_list(w, "notes_list", _NOTES)
    _notes_editor(w, "notes_editor_new", "")
    _notes_editor(w, "notes_editor_buy_milk", "Buy milk")
    _notes_list(w, "notes_list_buy_milk", [("Buy milk", ""), *_NOTES])
    _notes_view(w, "notes_view_shopping", *_NOTES[0])
    _dialog(
        w,
        "notes_delete_confirm",
        NOTES,
        f"{NOTES}/.EditorActivity",
        "Delete this note?",
        "Cancel",
        "Delete",
    )
    _notes_list(w, "notes_list_no_shopping", _NOTES[1:])

    w.tap("notes_list", "fab", "notes_editor_new")
    w.tap("notes_list", "row0", "notes_view_shopping")
    w.type("notes_editor_new", "title", "Buy milk", "notes_editor_buy_milk")
    w.tap("notes_editor_new", "up", "notes_list")
    w.key("notes_editor_new", "back", "notes_list")
    w.tap("notes_editor_buy_milk", "save", "notes_list_buy_milk")
    w.tap("notes_editor_buy_milk", "up", "notes_list_buy_milk")
    w.key("notes_editor_buy_milk", "back", "notes_list_buy_milk")
    w.tap("notes_view_shopping", "delete", "notes_delete_confirm")
    w.tap("notes_view_shopping", "up", "notes_list")
    w.key("notes_view_shopping", "back", "notes_list")
    w.tap("notes_delete_confirm", "cancel", "notes_view_shopping")
    w.key("notes_delete_confirm", "back", "notes_view_shopping")
    w.tap("notes_delete_confirm", "ok", "notes_list_no_shopping")
    w.tap("notes_list_buy_milk", "fab", "notes_editor_new")
    w.tap("notes_list_no_shopping", "fab", "notes_editor_new")


# -- Contacts ---------------------------------------------------------------------------------
_PEOPLE = [
    "Alice Brown",
    "Ben Carter",
    "Chloe Davis",
    "Daniel Evans",
    "Emma Foster",
    "Frank Green",
    "Grace Hill",
    "Henry Irwin",
    "Isabel Jones",
    "Jack King",
    "Laura Lee",
    "Mia Moore",
    "Noah Nash",
    "Olivia Owens",
    "Peter Price",
    "Zoe Young",
]
_PHONES = {"Alice Brown": "+1 555-0101", "Olivia Owens": "+1 555-0114"}


def _contacts_list(w: DemoWorld, sid: str, people: Sequence[str]) -> None:
    b = ScreenBuilder(sid, CONTACTS, f"{CONTACTS}/.MainActivity")
    main = b.layout()
    tb = b.toolbar(main, "Contacts", actions=[("Search contacts", "search")])
    lst, rows, _ = b.rows(
        main,
        STATUS_H + TOOLBAR_H,
        [(p,) for p in people],
        rid="contact_row",
        row_h=240,
        line_ids=("contact_name",),
    )
    fab = b.fab(main, "Create contact")
    handles = {p.split()[0].lower(): r for p, r in zip(people, rows, strict=False)}
    w.put(b, list=lst, search=tb["search"], fab=fab, **handles)


def _contact_detail(w: DemoWorld, sid: str, name: str, favorite: bool) -> None:
    b = ScreenBuilder(sid, CONTACTS, f"{CONTACTS}/.ContactActivity")
    main = b.layout()
    tb = b.toolbar(main, "", up=True, actions=[("Edit", "edit"), ("More options", "more")])
    star = b.add(
        main,
        "android.widget.ImageButton",
        (888, 300, 1032, 444),
        rid="favorite",
        desc="Remove from favorites" if favorite else "Add to favorites",
        checkable=True,
        checked=favorite,
        clickable=True,
    )
    b.add(main, "android.widget.TextView", (48, 480, W - 48, 600), rid="contact_name", text=name)
    b.text(main, 640, 90, _PHONES[name], rid="phone_number")
    b.text(main, 730, 70, "Mobile", rid="phone_type")
    first = name.split()[0].lower()
    b.text(main, 820, 90, f"{first}@example.com", rid="email")
    call = b.add(
        main,
        "android.widget.Button",
        (48, 960, 372, 1110),
        rid="call",
        text="Call",
        desc=f"Call {name}",
        clickable=True,
    )
    msg = b.add(
        main,
        "android.widget.Button",
        (378, 960, 702, 1110),
        rid="message",
        text="Message",
        desc=f"Message {name}",
        clickable=True,
    )
    b.add(
        main,
        "android.widget.Button",
        (708, 960, 1032, 1110),
        rid="video",
        text="Video",
        clickable=True,
    )
    w.put(b, up=tb["up"], star=star, call=call, message=msg)


def _contacts(w: DemoWorld) -> None:
    _contacts_list(w, "contacts_list", _PEOPLE[:8])
    _contacts_list(w, "contacts_list_scrolled", _PEOPLE[8:])
    _contact_detail(w, "contact_alice", "Alice Brown", False)
    _contact_detail(w, "contact_olivia", "Olivia Owens", False)
    _contact_detail(w, "contact_olivia_favorite", "Olivia Owens", True)
    # in-call screen
    b = ScreenBuilder("contacts_calling_alice", CONTACTS, f"{CONTACTS}/.InCallActivity")
    main = b.layout()
    b.text(main, 400, 120, "Alice Brown", rid="caller_name")
    b.text(main, 540, 90, "Calling…", rid="call_state")
    b.text(main, 640, 90, "+1 555-0101", rid="caller_number")
    mute = b.add(
        main,
        "android.widget.ToggleButton",
        (120, 1500, 360, 1700),
        desc="Mute",
        checkable=True,
        clickable=True,
    )
    end = b.add(
        main,
        "android.widget.ImageButton",
        (420, 1900, 660, 2140),
        rid="end_call",
        desc="End call",
        clickable=True,
    )
    w.put(b, mute=mute, end=end)
    # search
    for sid, query, results in (
        ("contacts_search", "", []),
        ("contacts_search_olivia", "Olivia", ["Olivia Owens"]),
    ):
        b = ScreenBuilder(sid, CONTACTS, f"{CONTACTS}/.SearchActivity")
        main = b.layout()
        bar = b.add(
            main, "android.view.ViewGroup", (0, STATUS_H, W, STATUS_H + TOOLBAR_H), rid="search_bar"
        )
        up = b.add(
            bar,
            "android.widget.ImageButton",
            (0, STATUS_H, 168, STATUS_H + TOOLBAR_H),
            desc="Navigate up",
            clickable=True,
        )
        field_ = b.add(
            bar,
            "android.widget.EditText",
            (168, STATUS_H + 24, W - 48, 228),
            rid="search_src_text",
            hint="Search contacts",
            text=query or "Search contacts",
            focused=True,
        )
        _, rows, _ = b.rows(
            main,
            STATUS_H + TOOLBAR_H,
            [(r,) for r in results],
            rid="contact_row",
            row_h=240,
            line_ids=("contact_name",),
        )
        if not results:
            b.text(main, 600, 90, "Type a name to search", rid="empty_hint")
        handles = {f"row{i}": r for i, r in enumerate(rows)}
        w.put(b, up=up, field=field_, **handles)

    w.tap("contacts_list", "alice", "contact_alice")
    w.scroll("contacts_list", "list", "down", "contacts_list_scrolled")
    w.scroll("contacts_list_scrolled", "list", "up", "contacts_list")
    w.tap("contacts_list_scrolled", "olivia", "contact_olivia")
    w.tap("contacts_list", "search", "contacts_search")
    w.tap("contact_alice", "call", "contacts_calling_alice")
    w.tap("contact_alice", "up", "contacts_list")
    w.tap("contact_olivia", "star", "contact_olivia_favorite")
    w.tap("contact_olivia", "up", "contacts_list_scrolled")
    w.tap("contact_olivia_favorite", "star", "contact_olivia")
    w.tap("contact_olivia_favorite", "up", "contacts_list_scrolled")
    w.key("contact_olivia_favorite", "back", "contacts_list_scrolled")
    w.tap("contacts_calling_alice", "end", "contact_alice")
    w.type("contacts_search", "field", "Olivia", "contacts_search_olivia")
    w.tap("contacts_search", "up", "contacts_list")
    w.tap("contacts_search_olivia", "row0", "contact_olivia")
    w.tap("contacts_search_olivia", "up", "contacts_list")


# -- Clock ------------------------------------------------------------------------------------
_TABS = ("Alarm", "Clock", "Timer", "Stopwatch")


def _clock_base(sid: str, tab: str) -> tuple[ScreenBuilder, UINode, dict[str, UINode]]:
    b = ScreenBuilder(sid, CLOCK, f"{CLOCK}/.DeskClock")
    main = b.layout()
    b.toolbar(main, tab, actions=[("More options", "more")])
    tabs = b.add(main, "android.widget.LinearLayout", (0, 2106, W, NAV_BAR_TOP), rid="tabs")
    handles: dict[str, UINode] = {}
    for i, name in enumerate(_TABS):
        cell = b.add(
            tabs,
            "android.widget.LinearLayout",
            (i * 270, 2106, (i + 1) * 270, 2274),
            desc=name,
            clickable=True,
            selected=name == tab,
            rid="tab",
        )
        b.add(
            cell,
            "android.widget.TextView",
            (i * 270 + 24, 2190, (i + 1) * 270 - 24, 2250),
            text=name,
            rid="tab_label",
        )
        handles[f"tab_{name.lower()}"] = cell
    return b, main, handles


def _alarms(w: DemoWorld, sid: str, alarms: Sequence[tuple[str, bool]]) -> None:
    b, main, handles = _clock_base(sid, "Alarm")
    _, _rows, sws = b.rows(
        main,
        STATUS_H + TOOLBAR_H,
        [(t, "Mon, Tue, Wed, Thu, Fri") for t, _ in alarms],
        rid="alarm_row",
        row_h=264,
        bottom=2106,
        switches=[on for _, on in alarms],
        line_ids=("alarm_time", "days"),
    )
    fab = b.fab(main, "Add alarm")
    fab.bounds = Bounds(864, 1900, 1032, 2068)
    for (t, _), sw in zip(alarms, sws, strict=True):
        assert sw is not None
        handles["switch_" + t.split()[0].replace(":", "")] = sw
    w.put(b, fab=fab, **handles)


def _clock(w: DemoWorld) -> None:
    _alarms(w, "clock_alarms", [("7:00 AM", True), ("8:30 AM", False)])
    _alarms(w, "clock_alarms_830_on", [("7:00 AM", True), ("8:30 AM", True)])
    _alarms(w, "clock_alarms_0630", [("6:30 AM", True), ("7:00 AM", True), ("8:30 AM", False)])
    for sid, value in (("clock_new_alarm", ""), ("clock_new_alarm_0630", "06:30")):
        b = ScreenBuilder(sid, CLOCK, f"{CLOCK}/.AlarmEditActivity")
        main = b.layout()
        tb = b.toolbar(main, "New alarm", up=True)
        b.text(main, 300, 80, "Time (24-hour, HH:MM)", rid="time_label")
        f = b.edit(main, 390, "HH:MM", "alarm_time_input", text=value, focused=not value)
        label = b.edit(main, 600, "Label", "alarm_label_input")
        rep = b.add(
            main,
            "android.widget.CheckBox",
            (48, 800, W - 48, 920),
            rid="repeat",
            text="Repeat",
            checkable=True,
            clickable=True,
        )
        save = b.button(main, (600, 1000, W - 48, 1140), "Save", rid="save")
        cancel = b.button(main, (48, 1000, 480, 1140), "Cancel", rid="cancel")
        w.put(b, up=tb["up"], field=f, label=label, repeat=rep, save=save, cancel=cancel)
    # world clock
    b, main, handles = _clock_base("clock_world", "Clock")
    b.add(
        main,
        "android.widget.TextClock",
        (48, 300, W - 48, 560),
        rid="digital_clock",
        text="9:41 AM",
    )
    b.text(main, 580, 80, "Sun, Nov 22", rid="date")
    b.rows(
        main,
        720,
        [("London", "5:41 PM"), ("Tokyo", "2:41 AM"), ("New York", "12:41 PM")],
        rid="city_row",
        row_h=198,
        bottom=2106,
        line_ids=("city_name", "city_time"),
    )
    w.put(b, **handles)
    # timer
    for sid, display, state in (
        ("clock_timer", "00:00", "idle"),
        ("clock_timer_5min", "05:00", "set"),
        ("clock_timer_running", "04:59", "running"),
    ):
        b, main, handles = _clock_base(sid, "Timer")
        b.add(
            main,
            "android.widget.TextView",
            (48, 360, W - 48, 620),
            rid="timer_display",
            text=display,
            desc=f"Timer {display}",
        )
        presets: dict[str, UINode] = {}
        if state != "running":
            for i, p in enumerate(("1 min", "5 min", "10 min")):
                presets[f"preset_{p.split()[0]}"] = b.button(
                    main, (48 + i * 336, 800, 48 + i * 336 + 312, 960), p, rid="preset"
                )
        if state == "running":
            action = b.button(main, (300, 1500, 780, 1680), "Pause", rid="pause")
            b.button(main, (300, 1720, 780, 1880), "Reset", rid="reset")
        else:
            action = b.button(
                main, (300, 1500, 780, 1680), "Start", rid="start", enabled=state == "set"
            )
        w.put(b, action=action, **handles, **presets)
    b, main, handles = _clock_base("clock_stopwatch", "Stopwatch")
    b.add(
        main,
        "android.widget.TextView",
        (48, 360, W - 48, 620),
        rid="stopwatch_time",
        text="00:00.00",
    )
    b.button(main, (300, 1500, 780, 1680), "Start", rid="start")
    w.put(b, **handles)

    tab_states = {
        "alarm": "clock_alarms",
        "clock": "clock_world",
        "timer": "clock_timer",
        "stopwatch": "clock_stopwatch",
    }
    for src in ("clock_alarms", "clock_world", "clock_timer", "clock_stopwatch"):
        for tab, target in tab_states.items():
            if target != src:
                w.tap(src, f"tab_{tab}", target)
    w.tap("clock_alarms", "switch_830", "clock_alarms_830_on")
    w.tap("clock_alarms_830_on", "switch_830", "clock_alarms")
    w.tap("clock_alarms", "fab", "clock_new_alarm")
    w.type("clock_new_alarm", "field", "06:30", "clock_new_alarm_0630")
    w.tap("clock_new_alarm", "cancel", "clock_alarms")
    w.tap("clock_new_alarm", "up", "clock_alarms")
    w.tap("clock_new_alarm_0630", "save", "clock_alarms_0630")
    w.tap("clock_new_alarm_0630", "cancel", "clock_alarms")
    w.tap("clock_timer", "preset_5", "clock_timer_5min")
    w.tap("clock_timer_5min", "action", "clock_timer_running")
    w.tap("clock_timer_running", "tab_alarm", "clock_alarms")


# -- Settings ---------------------------------------------------------------------------------
_SETTINGS_TOP = [
    ("Network & internet", "Wi-Fi, mobile, data usage"),
    ("Connected devices", "Bluetooth, pairing"),
    ("Apps", "Recent apps, default apps"),
    ("Notifications", "Notification history, conversations"),
    ("Battery", "85% - Should last until about 10:30 PM"),
    ("Display", "Dark theme, font size, brightness"),
    ("Sound & vibration", "Volume, haptics, Do Not Disturb"),
    ("Storage", "34% used - 84 GB free"),
    ("Privacy", "Permissions, account activity"),
]
_SETTINGS_BOTTOM = [
    ("Location", "On - 3 apps have access to location"),
    ("Security", "Screen lock, Find My Device"),
    ("Accounts", "No accounts added"),
    ("Accessibility", "Display, interaction, audio"),
    ("System", "Languages, gestures, time, backup"),
    ("About phone", "Llama Phone"),
]


def _settings_page(
    w: DemoWorld,
    sid: str,
    title: str,
    items: Sequence[tuple[str, str]],
    *,
    up: bool = True,
    switches: Sequence[bool | None] = (),
    activity: str = ".SubSettings",
    names: Sequence[str] = (),
) -> None:
    b = ScreenBuilder(sid, SETTINGS, f"{SETTINGS}/{activity}")
    main = b.layout()
    tb = b.toolbar(main, title, up=up, actions=[] if up else [("Search settings", "search")])
    lst, rows, sws = b.rows(
        main,
        STATUS_H + TOOLBAR_H,
        items,
        rid="pref_row",
        row_h=216,
        switches=switches,
        line_ids=("android:id/title", "android:id/summary"),
    )
    handles: dict[str, UINode] = {"list": lst}
    if up:
        handles["up"] = tb["up"]
    for i, row in enumerate(rows):
        name = names[i] if i < len(names) else f"row{i}"
        handles[name] = row
        sw = sws[i]
        if sw is not None:
            handles[name + "_switch"] = sw
    w.put(b, **handles)


def _settings(w: DemoWorld) -> None:
    top_names = [
        "network",
        "devices",
        "apps",
        "notifications",
        "battery",
        "display",
        "sound",
        "storage",
        "privacy",
    ]
    _settings_page(
        w,
        "settings_main",
        "Settings",
        _SETTINGS_TOP,
        up=False,
        activity=".Settings",
        names=top_names,
    )
    _settings_page(
        w,
        "settings_main_scrolled",
        "Settings",
        _SETTINGS_BOTTOM,
        up=False,
        activity=".Settings",
        names=["location", "security", "accounts", "accessibility", "system", "about"],
    )
    for sid, airplane in (("settings_network", False), ("settings_network_airplane", True)):
        _settings_page(
            w,
            sid,
            "Network & internet",
            [
                ("Internet", "Off" if airplane else "LlamaNet"),
                ("Calls & SMS", "Llama Mobile"),
                ("SIMs", "Llama Mobile"),
                ("Airplane mode", "On" if airplane else "Off"),
                ("Hotspot & tethering", "Off"),
                ("Data Saver", "Off"),
            ],
            switches=[None, None, None, airplane],
            names=["internet", "calls", "sims", "airplane"],
        )
    for sid, dark in (("settings_display", False), ("settings_display_dark", True)):
        _settings_page(
            w,
            sid,
            "Display",
            [
                ("Brightness level", "60%"),
                ("Adaptive brightness", "On"),
                ("Dark theme", "On" if dark else "Off"),
                ("Font size", "Default"),
                ("Screen timeout", "After 30 seconds of inactivity"),
            ],
            switches=[None, True, dark],
            names=["brightness", "adaptive", "dark"],
        )
    apps = [("Clock", "12.4 MB"), ("Contacts", "8.1 MB"), ("Notes", "5.6 MB"), ("Shop", "31 MB")]
    _settings_page(w, "settings_apps", "Apps", apps, names=["clock", "contacts", "notes", "shop"])
    _settings_page(
        w, "settings_apps_no_shop", "Apps", apps[:3], names=["clock", "contacts", "notes"]
    )
    b = ScreenBuilder("settings_app_shop", SETTINGS, f"{SETTINGS}/.SubSettings")
    main = b.layout()
    tb = b.toolbar(main, "App info", up=True)
    b.text(main, 300, 110, "Shop", rid="entity_header_title")
    b.text(main, 420, 80, "Version 2.3.1", rid="entity_header_summary")
    open_ = b.button(main, (48, 560, 360, 720), "Open", rid="button1")
    uninstall = b.button(main, (384, 560, 696, 720), "Uninstall", rid="button2")
    stop = b.button(main, (720, 560, 1032, 720), "Force stop", rid="button3")
    b.rows(
        main,
        780,
        [
            ("Notifications", "On"),
            ("Permissions", "No permissions requested"),
            ("Storage & cache", "31 MB used in internal storage"),
        ],
        rid="pref_row",
        row_h=216,
        line_ids=("android:id/title", "android:id/summary"),
    )
    w.put(b, up=tb["up"], open=open_, uninstall=uninstall, stop=stop)
    _dialog(
        w,
        "settings_uninstall_confirm",
        SETTINGS,
        f"{SETTINGS}/.SubSettings",
        "Do you want to uninstall this app?",
        "Cancel",
        "OK",
        title="Shop",
    )
    b = ScreenBuilder("settings_about", SETTINGS, f"{SETTINGS}/.SubSettings")
    main = b.layout()
    tb = b.toolbar(main, "About phone", up=True)
    b.rows(
        main,
        STATUS_H + TOOLBAR_H,
        [
            ("Device name", "Llama Phone"),
            ("Phone number", "+1 555-0100"),
            ("Android version", "14"),
            ("Model", "LT-1"),
            ("Build number", "UQ1A.240105.004"),
        ],
        rid="pref_row",
        row_h=216,
        line_ids=("android:id/title", "android:id/summary"),
    )
    w.put(b, up=tb["up"])

    w.tap("settings_main", "network", "settings_network")
    w.tap("settings_main", "display", "settings_display")
    w.tap("settings_main", "apps", "settings_apps")
    w.scroll("settings_main", "list", "down", "settings_main_scrolled")
    w.scroll("settings_main_scrolled", "list", "up", "settings_main")
    w.tap("settings_main_scrolled", "about", "settings_about")
    for page in (
        "settings_network",
        "settings_network_airplane",
        "settings_display",
        "settings_display_dark",
        "settings_apps",
        "settings_apps_no_shop",
    ):
        w.tap(page, "up", "settings_main")
    w.tap("settings_about", "up", "settings_main_scrolled")
    for src, dst in (
        ("settings_network", "settings_network_airplane"),
        ("settings_network_airplane", "settings_network"),
    ):
        w.tap(src, "airplane", dst)
        w.tap(src, "airplane_switch", dst)
    for src, dst in (
        ("settings_display", "settings_display_dark"),
        ("settings_display_dark", "settings_display"),
    ):
        w.tap(src, "dark", dst)
        w.tap(src, "dark_switch", dst)
    w.tap("settings_apps", "shop", "settings_app_shop")
    w.tap("settings_app_shop", "up", "settings_apps")
    w.tap("settings_app_shop", "open", "shop_home")
    w.tap("settings_app_shop", "uninstall", "settings_uninstall_confirm")
    w.tap("settings_uninstall_confirm", "cancel", "settings_app_shop")
    w.key("settings_uninstall_confirm", "back", "settings_app_shop")
    w.tap(
        "settings_uninstall_confirm", "ok", "settings_apps_no_shop", effects={"uninstall": [SHOP]}
    )


# -- Shop -------------------------------------------------------------------------------------
_PRODUCTS = [
    ("Wireless Earbuds", "$49.99", "earbuds"),
    ("Coffee Mug", "$12.50", "mug"),
    ("Yoga Mat", "$25.00", "yoga"),
    ("Desk Lamp", "$34.00", "lamp"),
    ("Water Bottle", "$18.00", "bottle"),
]


def _shop_home(w: DemoWorld, sid: str, cart_items: int) -> None:
    b = ScreenBuilder(sid, SHOP, f"{SHOP}/.HomeActivity")
    main = b.layout()
    cart_desc = (
        f"Cart, {cart_items} item" + ("s" if cart_items != 1 else "") if cart_items else "Cart"
    )
    tb = b.toolbar(main, "Llama Shop", actions=[(cart_desc, "cart"), ("Search", "search")])
    b.text(main, 280, 90, "Popular today", rid="section_title")
    _, rows, _ = b.rows(
        main,
        400,
        [(n, p) for n, p, _ in _PRODUCTS],
        rid="product_card",
        row_h=300,
        line_ids=("product_name", "product_price"),
    )
    handles = {key: r for (_, _, key), r in zip(_PRODUCTS, rows, strict=True)}
    w.put(b, cart=tb["cart"], **handles)


def _shop_product(w: DemoWorld, sid: str, name: str, price: str, added: bool) -> None:
    b = ScreenBuilder(sid, SHOP, f"{SHOP}/.ProductActivity")
    main = b.layout()
    tb = b.toolbar(
        main,
        "",
        up=True,
        actions=[("Cart, 1 item" if added else "Cart", "cart"), ("Share", "share")],
    )
    b.add(
        main,
        "android.widget.ImageView",
        (0, 252, W, 1000),
        rid="product_image",
        desc=f"{name} photo",
    )
    b.text(main, 1040, 110, name, rid="product_title")
    b.text(main, 1160, 90, price, rid="product_price")
    b.text(main, 1260, 80, "4.5 stars (212 reviews)", rid="rating")
    b.text(main, 1350, 200, "Free delivery in 2 days. 30-day returns.", rid="description")
    add = b.button(main, (48, 1700, 516, 1860), "Add to cart", rid="add_to_cart")
    buy = b.button(main, (564, 1700, W - 48, 1860), "Buy now", rid="buy_now")
    handles = {"up": tb["up"], "cart": tb["cart"], "add": add, "buy": buy}
    if added:
        b.add(
            main,
            "android.widget.TextView",
            (48, 2040, W - 48, 2160),
            rid="snackbar_text",
            text="Added to cart",
        )
    w.put(b, **handles)


def _shop(w: DemoWorld) -> None:
    _shop_home(w, "shop_home", 0)
    _shop_home(w, "shop_home_cart1", 1)
    _shop_product(w, "shop_product_earbuds", "Wireless Earbuds", "$49.99", False)
    _shop_product(w, "shop_product_earbuds_added", "Wireless Earbuds", "$49.99", True)
    _shop_product(w, "shop_product_mug", "Coffee Mug", "$12.50", False)
    _shop_product(w, "shop_product_mug_added", "Coffee Mug", "$12.50", True)
    for sid, items in (
        ("shop_cart_empty", []),
        ("shop_cart_earbuds", [("Wireless Earbuds", "$49.99")]),
    ):
        b = ScreenBuilder(sid, SHOP, f"{SHOP}/.CartActivity")
        main = b.layout()
        tb = b.toolbar(main, "Cart", up=True)
        if items:
            b.rows(
                main,
                STATUS_H + TOOLBAR_H,
                [(n, f"Qty 1 · {p}") for n, p in items],
                rid="cart_item",
                row_h=260,
                bottom=1200,
                line_ids=("cart_item_name", "cart_item_detail"),
            )
            b.text(main, 1300, 100, f"Subtotal {items[0][1]}", rid="subtotal")
            checkout = b.button(main, (48, 1900, W - 48, 2060), "Checkout", rid="checkout")
            w.put(b, up=tb["up"], checkout=checkout)
        else:
            b.text(main, 900, 120, "Your cart is empty", rid="empty_text")
            w.put(b, up=tb["up"])

    w.tap("shop_home", "earbuds", "shop_product_earbuds")
    w.tap("shop_home", "mug", "shop_product_mug")
    w.tap("shop_home", "cart", "shop_cart_empty")
    w.tap("shop_home_cart1", "earbuds", "shop_product_earbuds")
    w.tap("shop_home_cart1", "mug", "shop_product_mug_added")
    w.tap("shop_product_earbuds", "add", "shop_product_earbuds_added")
    w.tap("shop_product_earbuds", "up", "shop_home")
    w.tap("shop_product_earbuds", "cart", "shop_cart_empty")
    w.tap("shop_product_earbuds_added", "cart", "shop_cart_earbuds")
    w.tap("shop_product_earbuds_added", "up", "shop_home_cart1")
    w.key("shop_product_earbuds_added", "back", "shop_home_cart1")
    w.tap("shop_product_mug", "add", "shop_product_mug_added")
    w.tap("shop_product_mug", "up", "shop_home")
    w.tap("shop_product_mug_added", "up", "shop_home_cart1")
    w.key("shop_product_mug_added", "back", "shop_home_cart1")
    w.tap("shop_cart_empty", "up", "shop_home")
    w.tap("shop_cart_earbuds", "up", "shop_product_earbuds_added")


APPS = [
    WorldApp(NOTES, "Notes", "notes_list", f"{NOTES}/.NotesActivity"),
    WorldApp(CONTACTS, "Contacts", "contacts_list", f"{CONTACTS}/.MainActivity"),
    WorldApp(CLOCK, "Clock", "clock_alarms", f"{CLOCK}/.DeskClock"),
    WorldApp(SETTINGS, "Settings", "settings_main", f"{SETTINGS}/.Settings"),
    WorldApp(SHOP, "Shop", "shop_home", f"{SHOP}/.HomeActivity"),
]


def build_world() -> tuple[World, DemoWorld]:
    """The demo world (in memory) and the builder's handles."""
    w = DemoWorld()
    _launcher(w)
    _notes(w)
    _contacts(w)
    _clock(w)
    _settings(w)
    _shop(w)
    for app in APPS:
        w.tap("home", app.label.lower(), app.start_state)
    world = World(
        name="demo",
        home_state="home",
        apps=[WorldApp(a.package, a.label, a.start_state, a.launcher_activity) for a in APPS],
        states=w.states,
        transitions=w.transitions,
        screens=w.screens,
    )
    return world, w


# -- tasks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Step:
    """One ground-truth step: a recorded transition to take (by source, kind and target)."""

    source: str
    target: str
    kind: str = "tap"


def _path_actions(world: World, steps: Sequence[_Step]) -> tuple[list[dict[str, Any]], list[str]]:
    actions: list[dict[str, Any]] = []
    states = [steps[0].source]
    for st in steps:
        t = next(
            (
                t
                for t in world.transitions
                if t.source == st.source
                and t.target == st.target
                and t.action.get("action") == st.kind
            ),
            None,
        )
        if t is None:
            raise ValueError(f"no recorded {st.kind} from {st.source} to {st.target}")
        actions.append(dict(t.action))
        states.append(st.target)
    return actions, states


def build_tasks(world: World) -> TaskSuite:
    """The demo task suite: ground-truth actions follow recorded transitions."""
    specs: list[tuple[str, str, str, str, list[_Step], str | None]] = [
        (
            "notes-create-buy-milk",
            NOTES,
            "Create a new note titled 'Buy milk' in Notes.",
            "",
            [
                _Step("notes_list", "notes_editor_new"),
                _Step("notes_editor_new", "notes_editor_buy_milk", "type"),
                _Step("notes_editor_buy_milk", "notes_list_buy_milk"),
            ],
            None,
        ),
        (
            "notes-delete-shopping-list",
            NOTES,
            "Delete the note called 'Shopping list'.",
            "",
            [
                _Step("notes_list", "notes_view_shopping"),
                _Step("notes_view_shopping", "notes_delete_confirm"),
                _Step("notes_delete_confirm", "notes_list_no_shopping"),
            ],
            None,
        ),
        (
            "contacts-favorite-olivia",
            CONTACTS,
            "Add Olivia Owens to your favorite contacts.",
            "",
            [
                _Step("contacts_list", "contacts_list_scrolled", "scroll"),
                _Step("contacts_list_scrolled", "contact_olivia"),
                _Step("contact_olivia", "contact_olivia_favorite"),
            ],
            None,
        ),
        (
            "contacts-call-alice",
            CONTACTS,
            "Call Alice Brown.",
            "",
            [
                _Step("contacts_list", "contact_alice"),
                _Step("contact_alice", "contacts_calling_alice"),
            ],
            None,
        ),
        (
            "contacts-search-olivia",
            CONTACTS,
            "Search your contacts for 'Olivia' and open her contact card.",
            "",
            [
                _Step("contacts_list", "contacts_search"),
                _Step("contacts_search", "contacts_search_olivia", "type"),
                _Step("contacts_search_olivia", "contact_olivia"),
            ],
            None,
        ),
        (
            "clock-enable-830-alarm",
            CLOCK,
            "Turn on the 8:30 AM alarm.",
            "",
            [_Step("clock_alarms", "clock_alarms_830_on")],
            None,
        ),
        (
            "clock-start-5min-timer",
            CLOCK,
            "Start a 5 minute timer.",
            "",
            [
                _Step("clock_alarms", "clock_timer"),
                _Step("clock_timer", "clock_timer_5min"),
                _Step("clock_timer_5min", "clock_timer_running"),
            ],
            None,
        ),
        (
            "clock-new-alarm-0630",
            CLOCK,
            "Set a new alarm for 06:30.",
            "",
            [
                _Step("clock_alarms", "clock_new_alarm"),
                _Step("clock_new_alarm", "clock_new_alarm_0630", "type"),
                _Step("clock_new_alarm_0630", "clock_alarms_0630"),
            ],
            None,
        ),
        (
            "settings-airplane-mode-on",
            SETTINGS,
            "Turn on airplane mode.",
            "",
            [
                _Step("settings_main", "settings_network"),
                _Step("settings_network", "settings_network_airplane"),
            ],
            None,
        ),
        (
            "settings-dark-theme-on",
            SETTINGS,
            "Enable the dark theme.",
            "",
            [
                _Step("settings_main", "settings_display"),
                _Step("settings_display", "settings_display_dark"),
            ],
            None,
        ),
        (
            "settings-uninstall-shop",
            SETTINGS,
            "Uninstall the Shop app using Settings.",
            "",
            [
                _Step("settings_main", "settings_apps"),
                _Step("settings_apps", "settings_app_shop"),
                _Step("settings_app_shop", "settings_uninstall_confirm"),
                _Step("settings_uninstall_confirm", "settings_apps_no_shop"),
            ],
            None,
        ),
        (
            "settings-android-version",
            SETTINGS,
            "Find out which Android version this phone runs.",
            "",
            [
                _Step("settings_main", "settings_main_scrolled", "scroll"),
                _Step("settings_main_scrolled", "settings_about"),
            ],
            "14",
        ),
        (
            "shop-earbuds-to-cart",
            SHOP,
            "Add the wireless earbuds to the cart and open the cart.",
            "",
            [
                _Step("shop_home", "shop_product_earbuds"),
                _Step("shop_product_earbuds", "shop_product_earbuds_added"),
                _Step("shop_product_earbuds_added", "shop_cart_earbuds"),
            ],
            None,
        ),
        (
            "shop-mug-then-back",
            SHOP,
            "Add the coffee mug to the cart, then go back to the product list.",
            "",
            [
                _Step("shop_home", "shop_product_mug"),
                _Step("shop_product_mug", "shop_product_mug_added"),
                _Step("shop_product_mug_added", "shop_home_cart1", "key"),
            ],
            None,
        ),
        (
            "home-open-world-clock",
            CLOCK,
            "From the home screen, open the Clock app and show the world clock.",
            "home",
            [_Step("home", "clock_alarms"), _Step("clock_alarms", "clock_world")],
            None,
        ),
    ]
    labels = {a.package: a.label for a in APPS}
    tasks: list[Task] = []
    for tid, pkg, instruction, start, steps, answer in specs:
        actions, states = _path_actions(world, steps)
        finish: dict[str, Any] = {"action": "finish", "status": "success"}
        if answer is not None:
            finish["answer"] = answer
        tasks.append(
            Task(
                id=tid,
                app=pkg,
                instruction=instruction,
                start_state=start,
                max_steps=max(8, 3 * len(steps)),
                gt_actions=[*actions, finish],
                gt_states=states,
                app_label=labels[pkg],
                world="demo",
                meta={"source": "llamatouch_emulator.demo_builder", "steps": len(steps)},
            )
        )
    return TaskSuite(suite="demo", world="demo", tasks=tasks)


def write_demo(world_dir: Path, tasks_file: Path) -> tuple[World, TaskSuite]:
    """Write the world folder (stale state files removed) and the task suite."""
    world, _ = build_world()
    states_dir = world_dir / "states"
    if states_dir.is_dir():
        keep = {f"{sid}.xml" for sid in world.states}
        for p in states_dir.iterdir():
            if p.name not in keep:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    world.save(world_dir)
    suite = build_tasks(world)
    suite.save(tasks_file)
    return world, suite


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world-dir", type=Path, default=demo_world_dir())
    parser.add_argument("--tasks-file", type=Path, default=tasks_dir() / "demo.json")
    args = parser.parse_args(argv)
    write_demo(args.world_dir, args.tasks_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
