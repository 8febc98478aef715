"""uiautomator XML: safe parsing, reading into :class:`UIScreen`, writing back.

Parsing never resolves entities, never loads a DTD, never touches the network, refuses any
document that declares a DOCTYPE (the billion-laughs family) and refuses documents above a
size limit. Every failure is an :class:`XmlFormatError` naming the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from llamatouch.errors import XmlFormatError
from llamatouch.ui.node import Bounds, UINode, UIScreen

#: Largest XML document accepted (bytes). Real dumps are well under 1 MiB.
MAX_XML_BYTES = 16 * 1024 * 1024

#: The parser's safety settings: no entity resolution, no DTD, no network, no huge trees.
_SAFE_PARSER_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_PARSER = etree.XMLParser(**_SAFE_PARSER_OPTIONS)

# uiautomator attribute name -> UINode boolean field
_BOOL_ATTRS: dict[str, str] = {
    "checkable": "checkable",
    "checked": "checked",
    "clickable": "clickable",
    "enabled": "enabled",
    "focusable": "focusable",
    "focused": "focused",
    "scrollable": "scrollable",
    "long-clickable": "long_clickable",
    "password": "password",
    "selected": "selected",
}
_STR_ATTRS: dict[str, str] = {
    "text": "text",
    "resource-id": "resource_id",
    "class": "class_name",
    "package": "package",
    "content-desc": "content_desc",
}
#: The uiautomator attributes UINode has a field for (the others go to ``UINode.extra``).
KNOWN_ATTRIBUTES = frozenset(
    {"index", "bounds", "visible-to-user", "editable", "hint", *_BOOL_ATTRS, *_STR_ATTRS}
)
_KNOWN = KNOWN_ATTRIBUTES
# DOCTYPE / ENTITY declarations anywhere in the document (case-insensitive).
_DECL_RE = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)

# Bounds strings repeat a lot (nested containers, the same app's screens): parse each once.
# Bounds is frozen, so sharing one instance between nodes is safe.
_BOUNDS_CACHE: dict[str, Bounds] = {}
_BOUNDS_CACHE_MAX = 65536


def parse_bounds(text: str) -> Bounds:
    """``Bounds.parse`` with a cache (each distinct bounds string is parsed once)."""
    b = _BOUNDS_CACHE.get(text)
    if b is None:
        b = Bounds.parse(text)
        if len(_BOUNDS_CACHE) >= _BOUNDS_CACHE_MAX:
            _BOUNDS_CACHE.clear()
        _BOUNDS_CACHE[text] = b
    return b


def _check_bytes(data: bytes, source: str | Path) -> None:
    """Refuse oversized, empty or DOCTYPE/ENTITY-declaring documents before parsing."""
    if len(data) > MAX_XML_BYTES:
        raise XmlFormatError(source, f"document is {len(data)} bytes (limit {MAX_XML_BYTES})")
    if _DECL_RE.search(data) is not None:
        raise XmlFormatError(source, "DOCTYPE/ENTITY declarations are not accepted")
    if not data.strip():
        raise XmlFormatError(source, "empty document")


def parse_xml_bytes(data: bytes, source: str | Path) -> etree._Element:
    """Parse ``data`` safely and return the root element."""
    _check_bytes(data, source)
    try:
        return etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlFormatError(source, f"malformed XML: {exc}") from exc


def infer_editable(class_name: str) -> bool:
    """Whether a node without an ``editable`` attribute is a text field, by its class."""
    return "EditText" in class_name or "AutoCompleteTextView" in class_name


class _DumpTarget:
    """lxml parser target that builds the nodes while parsing (no element tree is built).

    Elements other than ``<node>`` below the root are ignored together with their subtree.
    """

    def __init__(self, source: str | Path, *, unescape_amp: bool) -> None:
        self.source = source
        self.unescape_amp = unescape_amp
        self.nodes: list[UINode] = []
        self.parents: list[int] = []  # open <node> elements, as node indexes
        self.depth = 0
        self.skip = 0
        self.root_tag = ""
        self.rotation = "0"

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1:
            self.root_tag = tag
            self.rotation = attrib.get("rotation", "0")
            return
        if self.skip or tag != "node":
            self.skip += 1
            return
        if self.unescape_amp:
            # libxml2's SAX path with entity resolution off reports "&" as "&#38;" in
            # attribute values (only "&"; every other reference is resolved). Undo it.
            attrib = {k: v.replace("&#38;", "&") for k, v in attrib.items()}
        nodes = self.nodes
        idx = len(nodes)
        parents = self.parents
        parent = parents[-1] if parents else None
        nodes.append(node_from_attributes(attrib, idx, parent, self.source))
        if parent is not None:
            nodes[parent].children.append(idx)
        parents.append(idx)

    def end(self, tag: str) -> None:
        self.depth -= 1
        if self.depth == 0:
            return
        if self.skip:
            self.skip -= 1
        else:
            self.parents.pop()

    def close(self) -> None:
        return None


def read_uiautomator_xml(
    data: bytes | str,
    source: str | Path = "<xml>",
    *,
    width: int = 0,
    height: int = 0,
    activity: str = "",
) -> UIScreen:
    """Read a ``uiautomator dump`` document into a :class:`UIScreen`.

    Parsed with the same safety settings as :func:`parse_xml_bytes`, through a parser target
    that builds the nodes directly (about twice as fast as walking an element tree).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    _check_bytes(raw, source)
    target = _DumpTarget(source, unescape_amp=b"&" in raw)
    parser = etree.XMLParser(target=target, **_SAFE_PARSER_OPTIONS)
    try:
        etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise XmlFormatError(source, f"malformed XML: {exc}") from exc
    if target.root_tag != "hierarchy":
        raise XmlFormatError(source, f"root element is <{target.root_tag}>, expected <hierarchy>")
    try:
        rotation = int(target.rotation)
    except ValueError as exc:
        raise XmlFormatError(source, f"bad rotation {target.rotation!r}") from exc
    if not target.nodes:
        raise XmlFormatError(source, "no <node> in the hierarchy (null root node?)")
    return UIScreen(
        nodes=target.nodes,
        width=width,
        height=height,
        activity=activity,
        rotation=rotation,
        source=str(source),
    )


def is_editable(a: Mapping[str, str]) -> bool:
    """Whether an element is a text field: its ``editable`` attribute, else its class."""
    value = a.get("editable")
    if value is not None:
        return value == "true"
    return infer_editable(a.get("class", ""))


def node_from_attributes(
    a: Mapping[str, str],
    idx: int,
    parent: int | None,
    source: str | Path,
    children: list[int] | None = None,
) -> UINode:
    """The :class:`UINode` of one ``<node>`` element's attributes: ``idx`` is its pre-order
    index, ``parent`` and ``children`` its relatives' (``children`` may be filled in later).
    The one place an element becomes a node: the model's reader and the evaluator's tree
    view (:mod:`llamatouch.evaluator.treeview`) both call it. Positional arguments below:
    this is hot."""
    get = a.get
    try:
        bounds = parse_bounds(get("bounds", "[0,0][0,0]"))
    except ValueError as exc:
        raise XmlFormatError(source, f"node {idx}: {exc}") from exc
    raw_index = get("index", "0")
    try:
        sibling_index = int(raw_index)
    except ValueError as exc:
        raise XmlFormatError(source, f"node {idx}: bad index {raw_index!r}") from exc
    class_name = get("class", "")
    editable_attr = get("editable")
    extra: dict[str, str] = {}
    if not _KNOWN.issuperset(a):
        extra = {k: v for k, v in a.items() if k not in _KNOWN}
    # Field order of UINode: index, class_name, resource_id, text, content_desc, package,
    # hint, bounds, parent, children, sibling_index, checkable, checked, clickable, enabled,
    # focusable, focused, scrollable, long_clickable, password, selected, visible, editable,
    # extra.
    return UINode(
        idx,
        class_name,
        get("resource-id", ""),
        get("text", ""),
        get("content-desc", ""),
        get("package", ""),
        get("hint", ""),
        bounds,
        parent,
        [] if children is None else children,
        sibling_index,
        get("checkable") == "true",
        get("checked") == "true",
        get("clickable") == "true",
        get("enabled", "true") == "true",
        get("focusable") == "true",
        get("focused") == "true",
        get("scrollable") == "true",
        get("long-clickable") == "true",
        get("password") == "true",
        get("selected") == "true",
        get("visible-to-user", "true") == "true",
        (editable_attr == "true") if editable_attr is not None else infer_editable(class_name),
        extra,
    )


def _b(value: bool) -> str:
    return "true" if value else "false"


def write_uiautomator_xml(screen: UIScreen) -> bytes:
    """Serialise ``screen`` as a ``uiautomator dump`` document (UTF-8 bytes).

    Standard attributes come in uiautomator's order; ``visible-to-user`` and ``hint`` as
    uiautomator2 writes them; ``editable`` only where it differs from what the class implies;
    unknown attributes read earlier are written back verbatim.
    """
    parts: list[str] = [
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>",
        f'<hierarchy rotation="{screen.rotation}">',
    ]
    nodes = screen.nodes

    def emit(node: UINode) -> None:
        attrs = [
            f'index="{node.sibling_index}"',
            f"text={quoteattr(node.text, _ENT)}",
            f"resource-id={quoteattr(node.resource_id, _ENT)}",
            f"class={quoteattr(node.class_name, _ENT)}",
            f"package={quoteattr(node.package, _ENT)}",
            f"content-desc={quoteattr(node.content_desc, _ENT)}",
            f'checkable="{_b(node.checkable)}"',
            f'checked="{_b(node.checked)}"',
            f'clickable="{_b(node.clickable)}"',
            f'enabled="{_b(node.enabled)}"',
            f'focusable="{_b(node.focusable)}"',
            f'focused="{_b(node.focused)}"',
            f'scrollable="{_b(node.scrollable)}"',
            f'long-clickable="{_b(node.long_clickable)}"',
            f'password="{_b(node.password)}"',
            f'selected="{_b(node.selected)}"',
            f'visible-to-user="{_b(node.visible)}"',
            f'bounds="{node.bounds.to_uiautomator()}"',
        ]
        if node.hint:
            attrs.append(f"hint={quoteattr(node.hint, _ENT)}")
        if node.editable != infer_editable(node.class_name):
            attrs.append(f'editable="{_b(node.editable)}"')
        for k, v in node.extra.items():
            attrs.append(f"{k}={quoteattr(v, _ENT)}")
        if node.children:
            parts.append("<node " + " ".join(attrs) + ">")
            for ci in node.children:
                emit(nodes[ci])
            parts.append("</node>")
        else:
            parts.append("<node " + " ".join(attrs) + " />")

    for root in screen.roots():
        emit(root)
    parts.append("</hierarchy>")
    return "".join(parts).encode("utf-8")


# Characters that must be escaped inside attribute values so they survive a round trip.
_ENT = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def read_uiautomator_file(
    path: str | Path, *, width: int = 0, height: int = 0, activity: str = ""
) -> UIScreen:
    """Read a dump file; a missing or unreadable file is an :class:`XmlFormatError`."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise XmlFormatError(p, f"cannot read: {exc.strerror or exc}") from exc
    return read_uiautomator_xml(data, p, width=width, height=height, activity=activity)
