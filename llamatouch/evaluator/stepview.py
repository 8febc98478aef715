"""One step of an agent's trace as the primitives see it: lazy, cached, typed failures.

Nothing is read from disk until a primitive needs it (an ``activity`` primitive never parses
the hierarchy; only ``image`` opens the screenshot). Every read that fails raises
:class:`EvaluationError` naming the step and file, so the verdict can say why it is ``error``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llamatouch.actions import Action
from llamatouch.errors import EvaluationError, LlamaTouchError
from llamatouch.essential.schema import normalise_text
from llamatouch.trace.format import StepRecord, TraceStep
from llamatouch.ui.node import UINode, UIScreen


@dataclass(slots=True)
class IndexedNode:
    node: UINode
    text: str  # normalised
    desc: str  # normalised


class StepView:
    """Lazy view of a :class:`TraceStep` (or of an in-memory screen, for tests and tools)."""

    def __init__(
        self,
        step: TraceStep | None,
        *,
        screen: UIScreen | None = None,
        record: StepRecord | None = None,
        screenshot: Any = None,
    ) -> None:
        self.step = step
        self.record: StepRecord = record if record is not None else _record_of(step)
        self._screen = screen
        self._image = screenshot
        self._action_done = False
        self._action: Action | None = None
        self._index: list[IndexedNode] | None = None
        self._by_text: dict[str, list[IndexedNode]] | None = None
        self._by_desc: dict[str, list[IndexedNode]] | None = None
        self._by_rid: dict[str, list[IndexedNode]] | None = None
        self._screen_text: str | None = None
        self._raw: bytes | None = None
        self._doc: str | None = None
        self._labels: list[tuple[str, IndexedNode]] | None = None
        self.cache: dict[str, Any] = {}

    @property
    def index(self) -> int:
        return self.record.index

    def where(self) -> str:
        return f"step {self.index}" + (f" ({self.step.folder})" if self.step is not None else "")

    # -- raw material --------------------------------------------------------------------
    def _raw_xml(self) -> bytes:
        if self._raw is None:
            if self.step is None:
                raise EvaluationError(f"{self.where()}: no hierarchy")
            if not self.record.has_hierarchy:
                raise EvaluationError(f"{self.where()}: the step recorded no hierarchy")
            try:
                self._raw = self.step.hierarchy_xml()
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: hierarchy unusable: {exc}") from exc
        return self._raw

    def screen(self) -> UIScreen:
        if self._screen is None:
            from llamatouch.ui.xmlio import read_uiautomator_xml

            raw = self._raw_xml()
            assert self.step is not None
            try:
                self._screen = read_uiautomator_xml(
                    raw,
                    self.step.folder / "screen.xml",
                    width=self.record.width,
                    height=self.record.height,
                    activity=self.record.activity,
                )
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: hierarchy unusable: {exc}") from exc
        return self._screen

    def may_contain(self, needles: list[str]) -> bool:
        """A cheap, sound pre-check before parsing: ``False`` only when some needle (already
        NFKC + case-folded) cannot occur in any attribute of the hierarchy.

        The raw document is NFKC-normalised and case-folded; needles are runs of letters and
        digits (or resource-ids), which XML escaping never touches. Documents that use
        character references (``&#...;``) or that do not end with ``</hierarchy>`` (possibly
        truncated: parsing must report them) are not pre-checked (always ``True``).
        """
        if self._screen is not None or self.step is None:
            return True
        if self._doc is None:
            import unicodedata

            text = self._raw_xml().decode("utf-8", errors="replace")
            whole = text.rstrip().endswith("</hierarchy>") and "&#" not in text
            self._doc = unicodedata.normalize("NFKC", text).casefold() if whole else ""
        if not self._doc:
            return True
        return all(n in self._doc for n in needles)

    def action(self) -> Action | None:
        if not self._action_done:
            try:
                self._action = self.record.parsed_action()
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: action unusable: {exc}") from exc
            self._action_done = True
        return self._action

    def image(self) -> Any:
        """The screenshot as a Pillow image (RGB)."""
        if self._image is None:
            from PIL import Image, UnidentifiedImageError

            if self.step is None:
                raise EvaluationError(f"{self.where()}: no screenshot")
            if not self.record.has_screenshot:
                raise EvaluationError(f"{self.where()}: the step recorded no screenshot")
            try:
                data = self.step.screenshot_png()
                img = Image.open(io.BytesIO(data))
                img.load()
            except LlamaTouchError as exc:
                raise EvaluationError(f"{self.where()}: screenshot unusable: {exc}") from exc
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                raise EvaluationError(
                    f"{self.where()}: screenshot cannot be decoded: {exc}"
                ) from exc
            self._image = img.convert("RGB")
        return self._image

    def screen_size(self) -> tuple[int, int]:
        scr = self.screen()
        w = scr.width or self.record.width
        h = scr.height or self.record.height
        if w <= 0 or h <= 0:
            raise EvaluationError(f"{self.where()}: unknown screen size")
        return w, h

    # -- indexes -------------------------------------------------------------------------
    def nodes(self) -> list[IndexedNode]:
        if self._index is None:
            idx: list[IndexedNode] = []
            by_text: dict[str, list[IndexedNode]] = {}
            by_desc: dict[str, list[IndexedNode]] = {}
            by_rid: dict[str, list[IndexedNode]] = {}
            for n in self.screen().nodes:
                if not n.visible:
                    continue
                item = IndexedNode(n, _norm(n.text), _norm(n.content_desc))
                idx.append(item)
                by_text.setdefault(item.text, []).append(item)
                by_desc.setdefault(item.desc, []).append(item)
                by_rid.setdefault(n.resource_id, []).append(item)
            self._index, self._by_text, self._by_desc, self._by_rid = idx, by_text, by_desc, by_rid
        return self._index

    def by_text(self, norm: str) -> list[IndexedNode]:
        self.nodes()
        assert self._by_text is not None
        return self._by_text.get(norm, [])

    def by_desc(self, norm: str) -> list[IndexedNode]:
        self.nodes()
        assert self._by_desc is not None
        return self._by_desc.get(norm, [])

    def by_rid(self, rid: str) -> list[IndexedNode]:
        self.nodes()
        assert self._by_rid is not None
        return self._by_rid.get(rid, [])

    def labels(self) -> list[tuple[str, IndexedNode]]:
        """Every non-empty normalised text and content-desc, with its node."""
        if self._labels is None:
            out: list[tuple[str, IndexedNode]] = []
            for item in self.nodes():
                if item.text:
                    out.append((item.text, item))
                if item.desc and item.desc != item.text:
                    out.append((item.desc, item))
            self._labels = out
        return self._labels

    def screen_text(self) -> str:
        """The screen's text as rendered to HTML (:func:`llamatouch.ui.html.render_html`).

        One entry per HTML element: its body text, its ``text='...'`` (content-desc) attribute
        and, for checkboxes, ``checked``/``unchecked``; normalised, space-joined. Markup
        (tags, ids) is left out so that tokens compare content only.
        """
        if self._screen_text is None:
            from llamatouch.ui.html import MERGE_SEPARATOR, render_html

            parts: list[str] = []
            for el in render_html(self.screen(), include_back=False).elements:
                if el.text:
                    parts.append(el.text.replace(MERGE_SEPARATOR, " "))
                if el.desc:
                    parts.append(el.desc)
                if el.checked is not None:
                    parts.append("checked" if el.checked else "unchecked")
            self._screen_text = normalise_text(" ".join(parts))
        return self._screen_text


_norm = lru_cache(maxsize=65536)(normalise_text)


def _record_of(step: TraceStep | None) -> StepRecord:
    if step is None:
        raise ValueError("a StepView needs a step or a record")
    return step.record
