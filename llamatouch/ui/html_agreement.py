"""Agreement between our HTML rendering and the ``State`` HTML recorded in DroidTask.

DroidTask task files (``<app>/task<N>.yaml``) record, per step, the AutoDroid-style HTML the
agent saw (``State``), the element it chose (``Choice``) and the hash of the screen
(``state_str``, sometimes a list of hashes). This module parses the recorded HTML, resolves
records to state files and measures how closely :func:`llamatouch.ui.html.render_html` agrees:
element counts, and whether the recorded choice names the same element in our rendering.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llamatouch.errors import JsonFormatError
from llamatouch.fsutil import load_json_file
from llamatouch.ui.droidbot import screen_from_droidbot
from llamatouch.ui.html import COMPACT_STYLE, SPACED_STYLE, HtmlElement, HtmlStyle, render_html
from llamatouch.ui.node import UIScreen

_ELEMENT_RE = re.compile(
    r"<(?P<tag>\w+) id=(?P<id>\d+)(?: text='(?P<desc>.*?)')?(?: checked=(?P<checked>\w+))?\s*>"
    r"(?P<body>.*?)</(?P=tag)>",
    re.S,
)


@dataclass(frozen=True, slots=True)
class RecordedElement:
    """One element parsed from a recorded ``State`` string.

    Attributes:
        id: the element's id.
        tag: ``p``, ``button``, ``input`` or ``checkbox``.
        desc: the ``text='...'`` attribute (content-desc), ``""`` when absent.
        body: the text between the tags.
        checked: the checkbox state, ``None`` when the element has no ``checked`` attribute.
    """

    id: int
    tag: str
    desc: str
    body: str
    checked: bool | None


def parse_state_html(text: str, *, document_order: bool = False) -> list[RecordedElement]:
    """Parse a recorded AutoDroid-style ``State`` string into its elements, in id order
    (or in document order with ``document_order=True``).

    (A few recorded strings list the elements after ``go back`` out of id order.)
    """
    out = []
    for m in _ELEMENT_RE.finditer(text):
        checked = m.group("checked")
        out.append(
            RecordedElement(
                id=int(m.group("id")),
                tag=m.group("tag"),
                desc=(m.group("desc") or "").strip(),
                body=m.group("body").strip(),
                checked=None if checked is None else checked == "True",
            )
        )
    if not document_order:
        out.sort(key=lambda e: e.id)
    return out


def recorded_style(text: str) -> HtmlStyle:
    """The dialect of a recorded ``State`` string (see :class:`HtmlStyle`)."""
    return SPACED_STYLE if "\n <" in text else COMPACT_STYLE


def same_element(ours: HtmlElement, recorded: RecordedElement) -> bool:
    """Whether two elements name the same thing: same tag, label text and content-desc."""
    return (
        ours.tag == recorded.tag
        and _norm(ours.text) == _norm(recorded.body)
        and _norm(ours.desc) == _norm(recorded.desc)
    )


def _norm(text: str) -> str:
    return " ".join(text.split())


@dataclass(slots=True)
class AgreementReport:
    """Figures of :func:`measure_agreement`.

    Attributes:
        records: task-file records read.
        resolved: records whose ``state_str`` resolves to a state file.
        count_equal: resolved records where our element count equals the recorded one.
        choices: resolved records with a choice ``>= 0`` that indexes the recorded HTML.
        choice_same: of those, choices where our element at that index is the same element.
        element_same: resolved records where every element is the same (whole view equal).
        text_same: resolved records where our HTML text equals the recorded one byte for byte.
        mismatches: ``(task file, step)`` of records whose choice did not agree.
    """

    records: int = 0
    resolved: int = 0
    count_equal: int = 0
    choices: int = 0
    choice_same: int = 0
    element_same: int = 0
    text_same: int = 0
    mismatches: list[tuple[str, int]] = field(default_factory=list)

    @property
    def count_rate(self) -> float:
        return self.count_equal / self.resolved if self.resolved else 0.0

    @property
    def choice_rate(self) -> float:
        return self.choice_same / self.choices if self.choices else 0.0

    @property
    def text_rate(self) -> float:
        return self.text_same / self.resolved if self.resolved else 0.0

    @property
    def view_rate(self) -> float:
        return self.element_same / self.resolved if self.resolved else 0.0


def state_index(droidtask_dir: Path) -> dict[str, Path]:
    """Map every ``state_str`` in ``<app>/states/*.json`` to its file."""
    index: dict[str, Path] = {}
    for path in sorted(droidtask_dir.glob("*/states/state_*.json")):
        data = load_json_file(path)
        if isinstance(data, Mapping) and isinstance(data.get("state_str"), str):
            index[data["state_str"]] = path
    return index


def iter_resolved_records(
    droidtask_dir: Path, index: Mapping[str, Path] | None = None
) -> Iterator[tuple[Path, int, Mapping[str, Any], Path | None]]:
    """Every task-file record with the state file it resolves to (``None`` when it does not).

    A list-valued ``state_str`` resolves to the first of its hashes that names a state file.
    """
    idx = state_index(droidtask_dir) if index is None else index
    for task_file in sorted(droidtask_dir.glob("*/task*.yaml")):
        try:
            data = yaml.safe_load(task_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise JsonFormatError(task_file, f"cannot read task file: {exc}") from exc
        records = data.get("records") if isinstance(data, Mapping) else None
        if not isinstance(records, list):
            continue
        for step, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                continue
            hashes = rec.get("state_str")
            candidates = hashes if isinstance(hashes, list) else [hashes]
            found = next((idx[h] for h in candidates if isinstance(h, str) and h in idx), None)
            yield task_file, step, rec, found


def measure_agreement(
    droidtask_dir: Path,
    *,
    cache: dict[Path, UIScreen] | None = None,
    style: HtmlStyle | None = None,
) -> AgreementReport:
    """Render every resolvable DroidTask record's state and compare with its ``State``.

    With ``style=None`` each record is rendered in its own dialect (:func:`recorded_style`);
    otherwise every record is rendered with ``style``.
    """
    report = AgreementReport()
    screens: dict[Path, UIScreen] = {} if cache is None else cache
    for task_file, step, rec, state_file in iter_resolved_records(droidtask_dir):
        report.records += 1
        if state_file is None:
            continue
        report.resolved += 1
        screen = screens.get(state_file)
        if screen is None:
            data = load_json_file(state_file)
            if not isinstance(data, Mapping):
                raise JsonFormatError(state_file, "top level is not an object")
            screen = screen_from_droidbot(data, state_file)
            screens[state_file] = screen
        state_html = str(rec.get("State") or "")
        use = recorded_style(state_html) if style is None else style
        view = render_html(screen, style=use)
        ours = view.elements
        if view.text() == state_html:
            report.text_same += 1
        recorded = parse_state_html(state_html)
        if len(ours) == len(recorded):
            report.count_equal += 1
            if all(same_element(a, b) for a, b in zip(ours, recorded, strict=True)):
                report.element_same += 1
        choice = rec.get("Choice")
        if isinstance(choice, int) and 0 <= choice < len(recorded):
            report.choices += 1
            if choice < len(ours) and same_element(ours[choice], recorded[choice]):
                report.choice_same += 1
            else:
                report.mismatches.append((str(task_file.relative_to(droidtask_dir)), step))
    return report
