"""Authoring a task on a recorded world: the session (follow recorded transitions, save a task
with proposed, validated essential states), the app's token checks, and the whole flow in a
real browser (Playwright + Debian's Chromium), then the task run by the replay agent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llamatouch.errors import SchemaError
from llamatouch.essential.schema import load_annotation
from llamatouch.record.explorer import Explorer, RecordConfig
from llamatouch.runner import EvalConfig, run_eval
from llamatouch.tasks import load_suite
from llamatouch.web.app import make_server
from llamatouch.web.author import AuthorConfig, AuthorSession, create_author_app
from llamatouch.web.guard import new_token
from llamatouch_emulator.virtual import VirtualDevice
from llamatouch_emulator.worlds import load_named_world

SHOP = "com.llamatouch.shop"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def recorded_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo Shop app recorded by the explorer (in process)."""
    out = tmp_path_factory.mktemp("rec") / "shop"
    Explorer(VirtualDevice(load_named_world("demo")), RecordConfig(app=SHOP, out=out)).run()
    return out


def _session(world: Path, tmp: Path) -> AuthorSession:
    return AuthorSession(AuthorConfig(world_dir=world, suite_path=tmp / "suite" / "mine.json",
                                      annotations_dir=tmp / "ann", traces_dir=tmp / "traces"))


def _pick(view: dict[str, Any], label: str) -> int:
    labels = [o["label"] for o in view["offered"]]
    return int(next(o["index"] for o in view["offered"] if o["label"] == label)) \
        if label in labels else pytest.fail(f"{label!r} not offered: {labels}")


def test_session_follows_recorded_transitions_and_saves_a_valid_task(
        recorded_shop: Path, tmp_path: Path) -> None:
    s = _session(recorded_shop, tmp_path)
    v = s.view()
    assert v["apps"] == [{"package": SHOP, "label": "Shop"}]
    assert "tap 'Wireless Earbuds / $49.99'" in [o["label"] for o in v["offered"]]
    # only recorded transitions are offered: every offered label leaves this state
    assert len(v["offered"]) == len({(t.target, json.dumps(t.action, sort_keys=True))
                                     for t in s.world.outgoing(v["state"])
                                     if t.target != t.source})
    v = s.follow(_pick(v, "tap 'Wireless Earbuds / $49.99'"))
    v = s.follow(_pick(v, "tap 'Add to cart'"))
    v = s.undo()
    v = s.follow(_pick(v, "tap 'Add to cart'"))
    v = s.follow(_pick(v, "tap 'Cart, 1 item'"))
    assert v["path"] == ["tap 'Wireless Earbuds / $49.99'", "tap 'Add to cart'",
                         "tap 'Cart, 1 item'"]
    with pytest.raises(SchemaError, match="task_id"):
        s.save("../escape", "x")
    with pytest.raises(SchemaError, match="instruction"):
        s.save("ok-id", "  ")
    with pytest.raises(SchemaError, match="index"):
        s.follow(99)
    r = s.save("shop-earbuds", "Add the wireless earbuds to the cart and open the cart.")
    assert r["validation"] == {"gt": "success", "first": "fail", "ok": True}
    suite = load_suite(tmp_path / "suite" / "mine.json")
    (task,) = suite.tasks
    assert suite.suite == "mine" and task.world == str(recorded_shop.resolve())
    assert task.start_state == s.world.apps[0].start_state and len(task.gt_actions) == 4
    ann = load_annotation(tmp_path / "ann" / "mine" / "shop-earbuds.json")
    assert ann.task_id == "shop-earbuds" and ann.checkpoints
    # saving again under the same id replaces the task
    s.save("shop-earbuds", "Open the cart with the earbuds in it.")
    assert [t.instruction for t in load_suite(tmp_path / "suite" / "mine.json").tasks] == \
        ["Open the cart with the earbuds in it."]


@dataclass
class Served:
    base: str
    token: str
    session: AuthorSession
    tmp: Path


@pytest.fixture
def served(recorded_shop: Path, tmp_path: Path) -> Iterator[Served]:
    session = _session(recorded_shop, tmp_path)
    token = new_token()
    server = make_server(create_author_app(session, token), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", token, session, tmp_path)
    finally:
        server.shutdown()
        server.server_close()


def test_every_request_needs_the_token_and_posts_need_the_header(recorded_shop: Path,
                                                                 tmp_path: Path) -> None:
    token = new_token()
    app = create_author_app(_session(recorded_shop, tmp_path), token)
    web = app.test_client()
    assert web.get("/author").status_code == 403
    assert web.get("/author/api/state").status_code == 403
    first = web.get(f"/author?token={token}")
    assert first.status_code == 302 and first.headers["Location"].endswith("/author")
    assert web.get("/author").status_code == 200
    assert web.get("/author/api/state").status_code == 200  # the cookie
    # the cookie alone cannot change anything
    assert web.post("/author/api/follow", json={"index": 0}).status_code == 403
    hdr = {"X-LlamaTouch-Token": token}
    ok = web.post("/author/api/follow", json={"index": 0}, headers=hdr)
    assert ok.status_code == 200 and len(ok.get_json()["path"]) == 1
    bad = web.post("/author/api/save", json={"task_id": "a/b", "instruction": "x"}, headers=hdr)
    assert bad.status_code == 422 and "task_id" in bad.get_json()["error"]
    assert web.post("/author/api/follow", json={"index": "0"}, headers=hdr).status_code == 400
    assert web.get("/author/state/nope.png").status_code == 404
    assert web.get("/author/state/..%2Fworld.png").status_code == 404
    assert not (tmp_path / "suite").exists()  # nothing was saved by refused requests


@pytest.mark.slow
def test_author_a_task_in_the_browser_then_replay_it(served: Served) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{served.base}/author?token={served.token}")
            page.wait_for_selector("#offered button")
            # click the product card on the screenshot itself, then buttons from the list
            page.click("#boxes .box[title='tap \\'Wireless Earbuds / $49.99\\'']")
            page.wait_for_selector("#offered button:text-is(\"tap 'Add to cart'\")")
            page.click("#offered button:text-is(\"tap 'Add to cart'\")")
            page.wait_for_selector("#offered button:text-is(\"tap 'Cart, 1 item'\")")
            page.click("#offered button:text-is(\"tap 'Cart, 1 item'\")")
            page.wait_for_selector("#path li:nth-child(3)")  # (CSP forbids eval'd predicates)
            assert page.locator("#path li").count() == 3
            page.fill("#task-id", "shop-earbuds-browser")
            page.fill("#instruction", "Add the wireless earbuds to the cart and open the cart.")
            page.click("#save")
            page.wait_for_selector("#result.ok:has-text('valid')", timeout=60_000)
            text = page.inner_text("#result")
            assert "ground truth: success" in text and "first screen alone: fail" in text
            page.screenshot(path=str(served.tmp / "author.png"))
        finally:
            browser.close()
    suite_path = served.tmp / "suite" / "mine.json"
    (task,) = load_suite(suite_path).tasks
    assert task.id == "shop-earbuds-browser" and len(task.gt_actions) == 4
    # the new task runs with the replay agent on the recorded world and scores success
    out = run_eval(EvalConfig(agent="replay", out=served.tmp / "run", tasks=str(suite_path),
                              devices=("virtual",),
                              annotations=str(served.tmp / "ann" / "mine")))
    (row,) = out.rows
    assert row.success, (row.verdict, row.reason)
