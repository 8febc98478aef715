"""The recorded-HTML scanner and element resolver.

Unit tests pin the variants one by one; the property-based tests generate recorded-HTML
records from real DroidBot states (../shared/data/droidtask) in every way a recorder renders
a view (content-desc in a ``text='…'`` attribute, texts merged with ``<br>`` in the attribute
or the body, ``<br/>``, quotes of both kinds, HTML entities, a ``resource_id`` attribute,
upper-case tags, newlines kept or turned into ``<br>``, decoy elements around it) and check
that the resolver finds the element the record was rendered from (or one that cannot be told
apart from it: same kind, same texts).
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamatouch.datasets.recorded_html import (
    match_element,
    node_labels,
    norm_text,
    parse_recorded_html,
)
from llamatouch.ui.droidbot import read_droidbot_state
from llamatouch.ui.node import UINode, UIScreen
from llamatouch.ui.xmlio import read_uiautomator_xml

_XML = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation="0">
<node index="0" class="android.widget.FrameLayout" package="app" bounds="[0,0][1080,2280]">
 <node index="0" class="android.widget.LinearLayout" package="app" clickable="true"
       resource-id="app:id/menu_row" bounds="[0,200][1080,400]">
  <node index="0" class="android.widget.ImageView" package="app" content-desc="Menu"
        bounds="[40,220][200,380]" />
  <node index="1" class="android.widget.ImageView" package="app" content-desc="Highlighted"
        bounds="[240,220][400,380]" />
 </node>
 <node index="1" class="android.widget.Button" package="app" text="Don't &amp; stop"
       clickable="true" resource-id="app:id/stop" bounds="[0,500][1080,600]" />
 <node index="2" class="android.widget.ImageButton" package="app" clickable="true"
       resource-id="app:id/btn_menu" bounds="[0,700][200,800]" />
 <node index="3" class="android.widget.TextView" package="app" text="Line one&#10;Line two"
       clickable="true" bounds="[0,900][1080,1000]" />
</node></hierarchy>"""


def _screen() -> UIScreen:
    return read_uiautomator_xml(_XML.encode(), "unit.xml", width=1080, height=2280)


def test_br_inside_the_text_attribute_is_split() -> None:
    els = parse_recorded_html(
        "<button id=5 text='Menu<br>Highlighted'></button>\n<button id=6>go back</button>"
    )
    assert els[0].id == 5 and els[0].texts == ("Menu", "Highlighted")
    node = match_element(_screen(), els[0], els)
    assert node is not None and node.resource_id == "app:id/menu_row"


@pytest.mark.parametrize(
    "record",
    [
        "<button id=1 text=\"Don't &amp; stop\"></button>",
        "<button id=1 text='Don't & stop'></button>",
        "<button id=1 text='Don&#39;t &amp; stop'></button>",
        "<button id=1 text='Don\\'t & stop'></button>",
        "<BUTTON ID=1 TEXT='Don&apos;t &amp; stop'></BUTTON>",
        "<button text='Don't & stop' id='1'/>",
        "<button id=1 resource_id='app:id/stop'>Don't &amp; stop</button>",
        "<button id=1 resource-id=\"stop\">Don't &amp; stop<p id=2>x</p>",
    ],
)
def test_quotes_entities_order_and_closing_variants(record: str) -> None:
    els = parse_recorded_html(record)
    assert els[0].id == 1 and els[0].texts == ("Don't & stop",)
    node = match_element(_screen(), els[0], els)
    assert node is not None and node.resource_id == "app:id/stop"


def test_text_less_view_shown_by_its_resource_id_and_newlines_as_br() -> None:
    screen = _screen()
    by_id = parse_recorded_html("<button id=0>btn_menu</button>")
    node = match_element(screen, by_id[0], by_id)
    assert node is not None and node.resource_id == "app:id/btn_menu"
    lines = parse_recorded_html("<button id=0>Line one<br/>Line two</button>")
    node = match_element(screen, lines[0], lines)
    assert node is not None and node.text == "Line one\nLine two"
    # a recorded resource_id that disagrees rules a node out
    wrong = parse_recorded_html("<button id=0 resource_id='app:id/other'>Line one</button>")
    assert match_element(screen, wrong[0], wrong) is None


def test_checked_bare_flag_and_missing_ids_are_skipped() -> None:
    els = parse_recorded_html(
        "<checkbox id=3 checked>Dark</checkbox><br><p>no id</p><checkbox id=4 checked=False>"
        "Light</checkbox>"
    )
    got = [(e.id, e.checked, e.texts) for e in els]
    assert got == [(3, True, ("Dark",)), (4, False, ("Light",))]


# -- property-based: records rendered from real DroidBot states -----------------------------


def _interactive(n: UINode) -> bool:
    return n.clickable or n.long_clickable or n.checkable or n.editable


@dataclass(frozen=True)
class Target:
    """A control of a real screen and the texts a recorder shows for it."""

    screen: UIScreen
    node: UINode
    tag: str
    own: tuple[str, ...]  # raw texts of the node itself (text, content-desc)
    inner: tuple[str, ...]  # raw texts of the labels inside it, in screen order


def _group_texts(screen: UIScreen, node: UINode) -> list[str]:
    """Raw texts of the non-interactive views inside ``node`` (not inside a nested control)."""
    out: list[str] = []
    nested: set[int] = set()
    for d in screen.descendants(node):
        if any(a.index in nested for a in screen.ancestors(d)):
            continue
        if _interactive(d):
            nested.add(d.index)
            continue
        if d.visible:
            out += [t for t in (d.text, d.content_desc) if norm_text(t)]
    return out


def _targets(droidtask_dir: Path) -> list[Target]:
    rng = random.Random(7)
    files = sorted(droidtask_dir.glob("*/states/state_*.json"))
    out: list[Target] = []
    for path in rng.sample(files, 60):
        screen = read_droidbot_state(path)
        for n in screen.nodes:
            if not (n.visible and _interactive(n)):
                continue
            own = tuple(t for t in (n.text, n.content_desc) if norm_text(t))
            inner = () if n.editable else tuple(_group_texts(screen, n))
            if not own and not inner:
                continue
            tag = "input" if n.editable else "checkbox" if n.checkable else "button"
            if tag == "input" and not norm_text(n.text):
                continue
            out.append(Target(screen, n, tag, own, inner))
    return out


@pytest.fixture(scope="module")
def targets(droidtask_dir: Path) -> list[Target]:
    found = _targets(droidtask_dir)
    assert len(found) > 200
    return found


@st.composite
def renderings(draw: st.DrawFn, targets: list[Target]) -> tuple[Target, str, int]:
    """A recorded ``State`` string holding one target (and decoys), and the target's id."""
    t = draw(st.sampled_from(targets))
    br = draw(st.sampled_from(["<br>", "<br/>", "<br />"]))
    quote = draw(st.sampled_from(["'", '"']))
    escape = draw(st.sampled_from(["none", "html", "amp-only"]))
    newlines = draw(st.sampled_from([" ", br, "\n"]))
    placement = draw(st.sampled_from(["desc-attr", "all-attr", "all-body"]))
    upper = draw(st.booleans())
    with_rid = draw(st.booleans()) and bool(t.node.resource_id)

    def render(text: str) -> str:
        text = text.replace("\n", newlines)
        if escape == "html":
            return html.escape(text, quote=True).replace(html.escape(br), br)
        if escape == "amp-only":
            return text.replace("&", "&amp;")
        return text.replace(quote, "\\" + quote) if quote in text else text

    node = t.node
    desc = [node.content_desc] if norm_text(node.content_desc) else []
    body = [node.text] if norm_text(node.text) and t.tag != "input" else []
    if t.tag == "input":
        body = [node.text]
    texts_in_order = desc + body + list(t.inner if t.tag != "input" else ())
    if placement == "desc-attr":
        attr, content = desc, [x for x in texts_in_order if x not in desc or not desc]
        content = body + list(t.inner if t.tag != "input" else ())
    elif placement == "all-attr" and t.tag != "input":
        attr, content = texts_in_order, []
    else:
        attr, content = [], texts_in_order
    el_id = draw(st.integers(0, 60))
    tag = t.tag.upper() if upper else t.tag
    attrs = [f"id={el_id}"]
    if attr:
        attrs.append(f"text={quote}{br.join(render(x) for x in attr)}{quote}")
    if t.tag == "checkbox":
        attrs.append(f"checked={node.checked}")
    if with_rid:
        name = draw(st.sampled_from(["resource_id", "resource-id"]))
        attrs.append(f"{name}={quote}{node.resource_id}{quote}")
    attrs = [attrs[0], *draw(st.permutations(attrs[1:]))]
    element = f"<{tag} {' '.join(attrs)}>{br.join(render(x) for x in content)}</{tag}>"
    before = draw(st.integers(0, 3))
    decoys = [f"<p id={el_id + 100 + i}>decoy {i}</p>" for i in range(before)]
    state = "\n ".join([*decoys, element, f"<button id={el_id + 200}>go back</button>"])
    return t, state, el_id


def _same_kind(screen: UIScreen, a: UINode, b: UINode) -> bool:
    """Two nodes a record cannot tell apart: same kind of control, same texts inside."""

    def texts(n: UINode) -> set[str]:
        out = node_labels(n)
        for d in screen.descendants(n):
            out |= node_labels(d)
        return out

    return (a.editable, a.checkable) == (b.editable, b.checkable) and texts(a) == texts(b)


@pytest.mark.slow
def test_generated_records_resolve_to_their_element(targets: list[Target]) -> None:
    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(renderings(targets))
    def check(case: tuple[Target, str, int]) -> None:
        t, state, el_id = case
        elements = parse_recorded_html(state)
        element = next(e for e in elements if e.id == el_id)
        assert element.texts, state
        assert element.tag == t.tag
        found = match_element(t.screen, element, elements)
        assert found is not None, state
        assert found is t.node or _same_kind(t.screen, found, t.node), (
            state,
            t.screen.key(found),
            t.screen.key(t.node),
        )

    check()


@pytest.mark.slow
def test_every_recorded_state_element_parses_like_the_old_parser(droidtask_dir: Path) -> None:
    """On the real records, the scanner reads the same ids, tags and texts as a strict
    regular expression does for the plain AutoDroid dialect (no element is lost)."""
    import re

    import yaml

    strict = re.compile(
        r"<(\w+) id=(\d+)(?: text='(.*?)')?(?: checked=(\w+))?\s*>(.*?)</\1>", re.S
    )
    n = 0
    for path in sorted(droidtask_dir.glob("*/task*.yaml")):
        for rec in yaml.safe_load(path.read_text())["records"]:
            ours = parse_recorded_html(rec["State"])
            theirs = list(strict.finditer(rec["State"]))
            assert [e.id for e in ours] == [int(m.group(2)) for m in theirs]
            for e, m in zip(ours, theirs, strict=True):
                texts = [m.group(3) or "", *m.group(5).split("<br>")]
                assert e.texts == tuple(t for t in (norm_text(x) for x in texts) if t)
                n += 1
    assert n > 4000
