"""The lxml tree screen answers every lookup exactly as the Python screen model does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llamatouch.evaluator.stepview import _read_tree
from llamatouch.evaluator.treeview import TreeScreen
from llamatouch.trace.format import read_trace
from llamatouch.ui.node import FLAG_NAMES, Bounds, UINode, UIScreen, build_screen
from llamatouch.ui.xmlio import read_uiautomator_xml, write_uiautomator_xml

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    max_size=12,
).filter(lambda s: all(ord(c) >= 0x20 or c in "\n\t" for c in s))
#: "w/x[1]" cannot be walked segment by segment: the keys' full computation answers
_CLASSES = ["android.widget.TextView", "android.widget.Button", "android.widget.EditText", "w/x[1]"]
_IDS = ["", "com.app:id/a", "com.app:id/b", "x/y"]


@st.composite
def screens(draw: st.DrawFn) -> UIScreen:
    """Random trees: shared classes and ids (repeated key segments), overlapping bounds,
    random flags, texts with entities, quotes, newlines and unicode."""
    n = draw(st.integers(1, 14))
    nodes: list[UINode] = []
    for i in range(n):
        parent = None if i == 0 or draw(st.integers(0, 9)) == 0 else draw(st.integers(0, i - 1))
        left, top = draw(st.integers(-5, 90)), draw(st.integers(-5, 190))
        w, h = draw(st.integers(-3, 60)), draw(st.integers(-3, 80))
        node = UINode(
            index=i,
            parent=parent,
            class_name=draw(st.sampled_from(_CLASSES)),
            resource_id=draw(st.sampled_from(_IDS)),
            text=draw(_text),
            content_desc=draw(_text),
            bounds=Bounds(left, top, left + w, top + h),
            sibling_index=draw(st.integers(0, 3)),
        )
        for name in FLAG_NAMES:
            setattr(node, name, draw(st.booleans()))
        nodes.append(node)
    # pre-order: re-number so that children follow their parents depth-first
    order: list[int] = []

    def visit(i: int) -> None:
        order.append(i)
        for j in range(n):
            if nodes[j].parent == i:
                visit(j)

    for i in range(n):
        if nodes[i].parent is None:
            visit(i)
    new = {old: k for k, old in enumerate(order)}
    out = []
    for k, old in enumerate(order):
        node = nodes[old]
        node.index = k
        node.parent = None if node.parent is None else new[node.parent]
        node.children = []
        out.append(node)
    for node in out:
        if node.parent is not None:
            out[node.parent].children.append(node.index)
    return build_screen(out, width=100, height=200)


def _same_answers(doc: bytes, points: list[tuple[float, float]], size: tuple[int, int]) -> int:
    """Compare the tree screen with the model on ``doc``; returns the nodes compared."""
    problem, tree = _read_tree(doc)
    assert problem is None and isinstance(tree, TreeScreen)
    model = read_uiautomator_xml(doc, "m", width=size[0], height=size[1])
    assert len(tree.elements) == len(model.nodes)
    for a, b in zip(model.nodes, (tree.node(i) for i in range(len(model.nodes))), strict=True):
        assert a.same_content(b), (a, b)
    assert tree.size(*size) == (model.width, model.height)
    for n in model.nodes:
        t = tree.node(n.index)
        assert [d.index for d in tree.descendants(t)] == [d.index for d in model.descendants(n)]
        assert [d.index for d in tree.ancestors(t)] == [d.index for d in model.ancestors(n)]
        found, want = tree.node_by_key(model.key(n)), model.node_by_key(model.key(n))
        assert found is not None and want is not None and found.index == want.index
    assert tree.node_by_key("/Nothing[0]") is None and tree.node_by_key("junk") is None
    for x, y in points:
        hit, want = tree.hit_test(x, y), model.hit_test(x, y)
        assert (hit and hit.index) == (want and want.index), (x, y)
    visible = [(n.index, n.text, n.content_desc) for n in model.nodes if n.visible]
    assert [i for i, _, _ in tree.visible()] == [i for i, _, _ in visible]
    return len(model.nodes)


@settings(max_examples=200, deadline=None)
@given(screen=screens(), points=st.lists(st.tuples(st.integers(-5, 150), st.integers(-5, 280))))
def test_tree_screen_answers_as_the_model_on_random_screens(screen, points):
    doc = write_uiautomator_xml(screen)
    centres = [n.bounds.center for n in screen.nodes]
    _same_answers(doc, [*points, *centres], (screen.width, screen.height))
    _same_answers(doc, centres, (0, 0))  # size from the roots


def test_documents_with_other_elements_use_the_model():
    doc = (
        b'<hierarchy rotation="0"><node class="a.B" bounds="[0,0][10,10]">'
        b'<other><node class="hidden" bounds="[1,1][2,2]"/></other></node></hierarchy>'
    )
    assert _read_tree(doc) == (None, None)
    problem, _ = _read_tree(b'<hierarchy><node bounds="[0,0][1]"/></hierarchy>')
    assert problem is not None and problem.startswith("node 0: bad bounds")


def test_tree_screen_answers_as_the_model_on_droidtask_screens(variant_traces):
    """Every distinct hierarchy of the DroidTask variant traces, at the nodes' centres and
    at every recorded tap."""
    root, index = variant_traces
    docs: dict[bytes, list[tuple[float, float]]] = {}
    for eid in sorted(index):
        for step in read_trace(root / eid).steps:
            taps = docs.setdefault(step.hierarchy_xml(), [])
            action = step.record.parsed_action()
            if action is not None and hasattr(action, "x"):
                taps.append((float(action.x), float(action.y)))
    compared = 0
    for doc, taps in docs.items():
        model = read_uiautomator_xml(doc, "m", width=1080, height=2400)
        centres = [n.bounds.center for n in model.nodes]
        compared += _same_answers(doc, [*taps, *centres], (1080, 2400))
    assert len(docs) > 300 and compared > 10_000
