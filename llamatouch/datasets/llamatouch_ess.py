"""Import LlamaTouch essential-state annotations (``<i>.ess`` + ``<i>.json``) into our schema.

A LlamaTouch ground-truth trace folder holds, per step *i*: ``i.png`` (screenshot), ``i.xml``
(``uiautomator dump``), ``i.json`` (the simplified, indexed component list), ``i.activity``
and, on the steps that matter, ``i.ess``: ``|``-separated ``keyword<arg>`` items whose numbers
index components of ``i.json``. Each ``.ess`` file becomes one checkpoint (in step order).

Keyword mapping (LlamaTouch semantics read from its evaluator, SnowKnth/LlamaTouch):

==================  ==========================================================================
``activity<0>``     ``activity`` with the step's ``i.activity`` (argument unused)
``exact<n>``        ``exact`` on component *n* (resource-id, class, text / content-desc, checked);
                    a component with neither text nor content-desc becomes an ``image``
                    primitive (its crop's hash) when the screenshot exists, as LlamaTouch
                    falls back to an image comparison for such components
``fuzzy<n>``        ``fuzzy`` (component scope) on component *n*'s text
``fuzzy<-1>``       ``fuzzy`` (screen scope) with the step's whole screen text
``fuzzy<-2>``       nothing: LlamaTouch's placeholder next to install checks (reported as info)
``click<n>``        ``click`` on component *n*
``type<text>``      ``type`` with ``text``
``check_install``   ``installed`` with the app's package (:data:`APP_PACKAGES`)
``check_uninstall`` ``uninstalled`` with the app's package
==================  ==========================================================================

Anything else (an unknown keyword, an index outside ``i.json``, a missing file, an app name
with no known package) is reported as an :class:`EssProblem`; nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamatouch.errors import InputFormatError, LlamaTouchError
from llamatouch.essential.schema import (
    ActivityPrimitive,
    Annotation,
    Checkpoint,
    ClickPrimitive,
    Component,
    ExactPrimitive,
    FuzzyPrimitive,
    ImagePrimitive,
    InstalledPrimitive,
    Locator,
    Primitive,
    TypePrimitive,
    UninstalledPrimitive,
)
from llamatouch.evaluator.imagehash import crop, dhash
from llamatouch.evaluator.stepview import StepView
from llamatouch.trace.format import StepRecord
from llamatouch.ui.node import Bounds
from llamatouch.ui.xmlio import read_uiautomator_file

KNOWN_KEYWORDS = (
    "activity",
    "exact",
    "fuzzy",
    "click",
    "type",
    "check_install",
    "check_uninstall",
)

#: App display names of ``check_install<...>`` -> Android packages. The names and most
#: packages are LlamaTouch's own table; "Microsoft Authenticator" is mapped to Microsoft's
#: real package ``com.azure.authenticator`` where LlamaTouch's table points at Google
#: Authenticator's (a deliberate difference, see docs/annotations.md).
APP_PACKAGES: dict[str, str] = {
    "ebay": "com.ebay.mobile",
    "booking": "com.booking",
    "booking.com": "com.booking",
    "youtube kids": "com.google.android.apps.youtube.kids",
    "youtube_kid": "com.google.android.apps.youtube.kids",
    "calendar": "com.google.android.calendar",
    "facebook": "com.facebook.katana",
    "calculator": "com.google.android.calculator",
    "chrome": "com.android.chrome",
    "firefox": "org.mozilla.firefox",
    "instagram": "com.instagram.android",
    "excel": "com.microsoft.office.excel",
    "microsoft excel": "com.microsoft.office.excel",
    "mcdonalds": "com.mcdonalds.app",
    "authenticator": "com.google.android.apps.authenticator2",
    "microsoft authenticator": "com.azure.authenticator",
    "duolingo": "com.duolingo",
    "spotify": "com.spotify.music",
}
#: LlamaTouch's own published table differs from :data:`APP_PACKAGES` for these names.
LLAMATOUCH_PACKAGES: dict[str, str] = {
    "microsoft authenticator": "com.google.android.apps.authenticator2",
    "booking.com": "com.expedia.bookings",
    "booking": "com.expedia.bookings",
}

_ITEM_RE = re.compile(r"^\s*([A-Za-z_]+)\s*<(.*)>\s*$", re.S)


@dataclass(slots=True)
class EssProblem:
    """Something in the LlamaTouch data that could not be mapped.

    Attributes:
        file: the file at fault.
        item: the ``keyword<arg>`` item (or ``""`` for whole-file problems).
        level: ``error`` (the item was not imported) or ``info`` (imported with a note).
        message: what is wrong.
    """

    file: str
    item: str
    level: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.item or '<file>'}: {self.message}"


@dataclass(slots=True)
class EssImport:
    annotation: Annotation
    problems: list[EssProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[EssProblem]:
        return [p for p in self.problems if p.level == "error"]


def parse_ess(text: str) -> list[tuple[str, str]]:
    """Split an ``.ess`` string into ``(keyword, argument)`` pairs (raises on bad syntax)."""
    out: list[tuple[str, str]] = []
    for raw in text.strip().split("|"):
        if not raw.strip():
            continue
        m = _ITEM_RE.match(raw)
        if m is None:
            raise ValueError(f"not a keyword<argument> item: {raw!r}")
        out.append((m.group(1), m.group(2)))
    return out


def _rel(bounds: str, width: int, height: int) -> tuple[float, float, float, float] | None:
    try:
        b = Bounds.parse(bounds)
    except ValueError:
        return None
    if width <= 0 or height <= 0:
        return None

    def c(v: float) -> float:
        return round(min(1.0, max(0.0, v)), 4)

    r = (c(b.left / width), c(b.top / height), c(b.right / width), c(b.bottom / height))
    return r if r[2] > r[0] and r[3] > r[1] else None


def component_from_json(
    item: dict[str, Any], width: int, height: int, *, with_state: bool = True
) -> Component:
    """A :class:`Component` from one entry of a LlamaTouch ``<i>.json`` list."""
    text = str(item.get("text") or "")
    desc = str(item.get("content-desc") or "")
    rid = str(item.get("resource-id") or "")
    cls = str(item.get("class") or "")
    comp = Component(
        resource_id=rid or None,
        class_name=cls or None,
        text=text or None,
        content_desc=desc or None,
        bounds=_rel(str(item.get("bounds", "")), width, height),
    )
    if with_state and item.get("checkable") is True:
        comp.checked = bool(item.get("checked"))
    if rid and (text or desc):
        comp.alternatives = [
            Locator(class_name=cls or None, text=text or None, content_desc=desc or None)
        ]
    return comp


class _Step:
    """Lazy access to one step's files of a LlamaTouch trace folder."""

    def __init__(self, folder: Path, index: int) -> None:
        self.folder = folder
        self.index = index
        self._components: list[dict[str, Any]] | None = None
        self._size: tuple[int, int] | None = None

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.index}{suffix}"

    def components(self) -> list[dict[str, Any]]:
        if self._components is None:
            p = self.path(".json")
            try:
                data = json.loads(p.read_bytes())
            except OSError as exc:
                raise InputFormatError(p, f"cannot read: {exc.strerror or exc}") from exc
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputFormatError(p, f"malformed JSON: {exc}") from exc
            if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
                raise InputFormatError(p, "expected a list of component objects")
            self._components = data
        return self._components

    def component(self, idx: int) -> dict[str, Any]:
        comps = self.components()
        by_id = {c.get("id"): c for c in comps}
        if idx in by_id:
            return by_id[idx]
        raise IndexError(
            f"component {idx} is not in {self.path('.json').name} ({len(comps)} components)"
        )

    def size(self) -> tuple[int, int]:
        if self._size is None:
            png = self.path(".png")
            if png.is_file():
                from PIL import Image

                with Image.open(png) as im:
                    self._size = im.size
            else:
                xml = self.path(".xml")
                if not xml.is_file():
                    raise InputFormatError(png, "no screenshot and no hierarchy to size the screen")

                scr = read_uiautomator_file(xml)
                self._size = (scr.width, scr.height)
        return self._size

    def activity(self) -> str:
        p = self.path(".activity")
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputFormatError(p, f"cannot read: {exc.strerror or exc}") from exc

    def screen_text(self) -> str:

        scr = read_uiautomator_file(self.path(".xml"))
        return StepView(None, screen=scr, record=StepRecord(index=self.index)).screen_text()

    def image_primitive(self, item: dict[str, Any]) -> ImagePrimitive:
        from PIL import Image

        w, h = self.size()
        comp = component_from_json(item, w, h)
        if comp.bounds is None:
            raise ValueError(f"component {item.get('id')} has no usable bounds")
        with Image.open(self.path(".png")) as im:
            rgb = im.convert("RGB")
        b = comp.bounds
        digest = dhash(
            crop(rgb, (b[0] * rgb.width, b[1] * rgb.height, b[2] * rgb.width, b[3] * rgb.height))
        )
        return ImagePrimitive(component=comp, hash=digest, algo="dhash")


def _map_item(step: _Step, keyword: str, arg: str) -> tuple[Primitive | None, str | None]:
    """One ``.ess`` item -> (primitive or None, info note or None). Raises on errors."""
    if keyword == "activity":
        act = step.activity()
        if not act or act == "null":
            raise ValueError(f"{step.path('.activity').name} is empty")
        return ActivityPrimitive(activity=act), None
    if keyword == "type":
        if not arg:
            raise ValueError("empty text")
        return TypePrimitive(text=arg), None
    if keyword in ("check_install", "check_uninstall"):
        pkg = APP_PACKAGES.get(arg.strip().lower())
        if pkg is None:
            raise ValueError(f"no known package for app {arg!r}")
        if keyword == "check_install":
            return InstalledPrimitive(package=pkg), None
        return UninstalledPrimitive(package=pkg), None
    try:
        idx = int(arg)
    except ValueError:
        raise ValueError(f"expected a component index, got {arg!r}") from None
    if keyword == "fuzzy" and idx == -2:
        return (
            None,
            "fuzzy<-2> is LlamaTouch's placeholder next to install checks: nothing to check",
        )
    if keyword == "fuzzy" and idx == -1:
        return FuzzyPrimitive(scope="screen", text=step.screen_text()), None
    if idx < 0:
        raise ValueError(f"negative component index {idx}")
    item = step.component(idx)
    w, h = step.size()
    if keyword == "exact":
        if not (item.get("text") or item.get("content-desc")):
            if step.path(".png").is_file():
                return step.image_primitive(item), (
                    f"component {idx} has no text: imported as an image primitive"
                )
            raise ValueError(f"component {idx} has no text and the step has no screenshot")
        return ExactPrimitive(component=component_from_json(item, w, h)), None
    if keyword == "fuzzy":
        if not item.get("text") and not item.get("content-desc"):
            raise ValueError(f"component {idx} has no text to compare")
        comp = component_from_json(item, w, h, with_state=False)
        return FuzzyPrimitive(component=comp), None
    if keyword == "click":
        return ClickPrimitive(component=component_from_json(item, w, h, with_state=False)), None
    raise KeyError(keyword)


def import_ess_trace(
    folder: str | Path,
    *,
    task_id: str | None = None,
    instruction: str | None = None,
    app: str = "",
) -> EssImport:
    """Import every ``<i>.ess`` of a LlamaTouch trace folder (see the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputFormatError(root, "not a folder")
    ess_files = sorted((int(p.stem), p) for p in root.glob("*.ess") if p.stem.isdigit())
    problems: list[EssProblem] = []
    if instruction is None:
        ins = root / "instruction.txt"
        instruction = ins.read_text(encoding="utf-8").strip() if ins.is_file() else ""
    checkpoints: list[Checkpoint] = []
    for index, path in ess_files:
        try:
            items = parse_ess(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(EssProblem(str(path), "", "error", str(exc)))
            continue
        cp = _checkpoint_from_items(_Step(root, index), path, items, problems)
        if cp is not None:
            checkpoints.append(cp)
    if not ess_files:
        problems.append(EssProblem(str(root), "", "error", "no <i>.ess file"))
    ann = Annotation(
        task_id=task_id or root.name,
        instruction=instruction,
        app=app,
        checkpoints=checkpoints,
        provenance={"method": "imported:llamatouch", "source": str(root)},
    )
    return EssImport(ann, problems)


def import_ess_items(
    folder: str | Path, index: int, text: str
) -> tuple[Checkpoint | None, list[EssProblem]]:
    """Import one ``.ess`` string as a checkpoint (step ``index``'s files from ``folder``)."""
    problems: list[EssProblem] = []
    path = Path(folder) / f"{index}.ess"
    try:
        items = parse_ess(text)
    except ValueError as exc:
        return None, [EssProblem(str(path), "", "error", str(exc))]
    return _checkpoint_from_items(_Step(Path(folder), index), path, items, problems), problems


def _checkpoint_from_items(
    step: _Step, path: Path, items: list[tuple[str, str]], problems: list[EssProblem]
) -> Checkpoint | None:
    prims: list[Primitive] = []
    for keyword, arg in items:
        label = f"{keyword}<{arg}>"
        if keyword not in KNOWN_KEYWORDS:
            problems.append(EssProblem(str(path), label, "error", f"unknown keyword {keyword!r}"))
            continue
        try:
            prim, info = _map_item(step, keyword, arg)
        except (LlamaTouchError, ValueError, IndexError, OSError) as exc:
            problems.append(EssProblem(str(path), label, "error", str(exc)))
            continue
        if info:
            problems.append(EssProblem(str(path), label, "info", info))
        if prim is not None:
            prims.append(prim)
    if not prims:
        return None
    return Checkpoint(prims, note=f"LlamaTouch {path.name}", gt_step=step.index)
