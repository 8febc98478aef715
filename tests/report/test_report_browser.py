"""The report in a real browser: Debian's Chromium driven by Playwright opens the file:// page
of a scored DroidTask run, screenshots are decoded, evidence is visible, filters work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from llamatouch.report.build import ReportConfig, build_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian chromium is installed by scripts/setup.sh")


@pytest.fixture(scope="module")
def report_file(replay_run: Path, random_run: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    # one report over both agents' episodes: copy the two runs' traces into one folder
    run = tmp_path_factory.mktemp("both") / "run"
    shutil.copytree(replay_run, run)
    for trace in (random_run / "traces").iterdir():  # no results rows: rebuilt from manifests
        shutil.copytree(trace, run / "traces" / trace.name)
    out = run.parent / "report.html"
    build_report(run, ReportConfig(out=out))
    return out


def test_report_in_chromium(report_file: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_file.as_uri())
            page.wait_for_load_state("load")
            # nothing but the file itself and its data: URIs was fetched
            assert all(u.startswith(("file:", "data:")) for u in requests), requests
            n_eps = page.locator("section.episode").count()
            assert n_eps >= 10
            assert page.locator("#f-agent option").all_inner_texts() == ["all", "random", "replay"]
            # every screenshot decoded by the browser
            sizes = page.eval_on_selector_all(
                "img.shot-img", "els => els.map(e => [e.complete, e.naturalWidth])")
            assert sizes and all(c and w > 0 for c, w in sizes), sizes
            # evidence is rendered and visible
            ev = page.locator("table.evidence tr.evidence-row").first
            ev.scroll_into_view_if_needed()
            assert ev.is_visible()
            assert page.locator("span.cpb").count() > 0
            # filter by verdict: only failed episodes remain, and the counter says so
            page.select_option("#f-verdict", "fail")
            visible = page.eval_on_selector_all(
                "section.episode", "els => els.filter(e => e.offsetParent !== null)"
                ".map(e => e.dataset.verdict)")
            assert visible and set(visible) == {"fail"} and len(visible) < n_eps
            assert page.inner_text("#f-count") == f"{len(visible)} episodes"
            page.locator("section.episode:not(.hidden)").first.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "report-fail.png"))
            # app filter on top: still consistent
            app = page.eval_on_selector("section.episode:not(.hidden)", "e => e.dataset.app")
            page.select_option("#f-app", app)
            apps = page.eval_on_selector_all(
                "section.episode:not(.hidden)", "els => els.map(e => e.dataset.app)")
            assert apps and set(apps) == {app}
            # links between episodes: "next" jumps to the next section
            page.select_option("#f-verdict", "")
            page.select_option("#f-app", "")
            first = page.locator("section.episode").first
            first.locator(".ep-nav a", has_text="next").click()
            second_id = page.locator("section.episode").nth(1).get_attribute("id")
            assert page.evaluate("location.hash") == f"#{second_id}"
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(tmp_path / "report-top.png"))
            keep = os.environ.get("LLAMATOUCH_REPORT_SHOT")
            if keep:  # for a person to look at: the failed episodes of the random agent
                page.select_option("#f-agent", "random")
                page.locator("section.episode:not(.hidden)").first.scroll_into_view_if_needed()
                page.screenshot(path=keep)
            assert (tmp_path / "report-top.png").stat().st_size > 10_000
        finally:
            browser.close()
