"""uiautomator XML: safe parsing, reading into :class:`UIScreen`, writing back.

Parsing never resolves entities, never loads a DTD, never touches the network, refuses any
document that declares a DOCTYPE (the billion-laughs family) and refuses documents above a
size limit. Every failure is an :class:`XmlFormatError` naming the source.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from llamatouch.errors import XmlFormatError
from llamatouch.ui.node import Bounds, UINode, UIScreen

#: Largest XML document accepted (bytes). Real dumps are well under 1 MiB.
MAX_XML_BYTES = 16 * 1024 * 1024

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)

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
_KNOWN = {"index", "bounds", "visible-to-user", "editable", "hint", *_BOOL_ATTRS, *_STR_ATTRS}


def parse_xml_bytes(data: bytes, source: str | Path) -> etree._Element:
    """Parse ``data`` safely and return the root element."""
    if len(data) > MAX_XML_BYTES:
        raise XmlFormatError(source, f"document is {len(data)} bytes (limit {MAX_XML_BYTES})")
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise XmlFormatError(source, "DOCTYPE/ENTITY declarations are not accepted")
    if not data.strip():
        raise XmlFormatError(source, "empty document")
    try:
        return etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlFormatError(source, f"malformed XML: {exc}") from exc


def _infer_editable(class_name: str) -> bool:
    return "EditText" in class_name or "AutoCompleteTextView" in class_name


def read_uiautomator_xml(
    data: bytes | str,
    source: str | Path = "<xml>",
    *,
    width: int = 0,
    height: int = 0,
    activity: str = "",
) -> UIScreen:
    """Read a ``uiautomator dump`` document into a :class:`UIScreen`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = parse_xml_bytes(raw, source)
    if root.tag != "hierarchy":
        raise XmlFormatError(source, f"root element is <{root.tag}>, expected <hierarchy>")
    try:
        rotation = int(root.get("rotation", "0"))
    except ValueError as exc:
        raise XmlFormatError(source, f"bad rotation {root.get('rotation')!r}") from exc
    nodes: list[UINode] = []
    stack: list[tuple[etree._Element, int | None]] = [
        (el, None) for el in reversed(list(root)) if el.tag == "node"
    ]
    while stack:
        el, parent = stack.pop()
        idx = len(nodes)
        node = _node_from_attrs(el.attrib, idx, parent, source)
        nodes.append(node)
        if parent is not None:
            nodes[parent].children.append(idx)
        kids = [c for c in el if c.tag == "node"]
        stack.extend((c, idx) for c in reversed(kids))
    if not nodes:
        raise XmlFormatError(source, "no <node> in the hierarchy (null root node?)")
    return UIScreen(
        nodes=nodes,
        width=width,
        height=height,
        activity=activity,
        rotation=rotation,
        source=str(source),
    )


def _node_from_attrs(
    attrs: etree._Attrib, idx: int, parent: int | None, source: str | Path
) -> UINode:
    get = attrs.get
    try:
        bounds = Bounds.parse(get("bounds", "[0,0][0,0]"))
    except ValueError as exc:
        raise XmlFormatError(source, f"node {idx}: {exc}") from exc
    try:
        sibling_index = int(get("index", "0"))
    except ValueError as exc:
        raise XmlFormatError(source, f"node {idx}: bad index {get('index')!r}") from exc
    class_name = get("class", "")
    editable_attr = get("editable")
    node = UINode(
        index=idx,
        parent=parent,
        sibling_index=sibling_index,
        class_name=class_name,
        resource_id=get("resource-id", ""),
        text=get("text", ""),
        content_desc=get("content-desc", ""),
        package=get("package", ""),
        hint=get("hint", ""),
        bounds=bounds,
        visible=get("visible-to-user", "true") == "true",
        editable=(editable_attr == "true")
        if editable_attr is not None
        else _infer_editable(class_name),
    )
    for attr, fname in _BOOL_ATTRS.items():
        value = get(attr)
        if value is not None:
            setattr(node, fname, value == "true")
    extra = {k: v for k, v in attrs.items() if k not in _KNOWN}
    if extra:
        node.extra = dict(extra)
    return node


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
        if node.editable != _infer_editable(node.class_name):
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
