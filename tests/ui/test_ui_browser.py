"""The demo in a real headless browser: Debian's chromium driven by Playwright, the app on loopback."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from routellm_app.testing import AppServer, find_browser

PROMPT = "Prove that there are infinitely many primes."
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "ui.png"


@pytest.fixture(scope="module")
def browser():
    executable = find_browser()
    if executable is None:
        pytest.skip("no chromium executable found (make install adds Debian's chromium when apt-get is available)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True)
        yield instance
        instance.close()


def _start(router: str) -> float:
    """The calibrated start the page should show: 50% of the Arena-Hard prompts, 4 decimals (computed here)."""
    from routellm_core import load_router, threshold_for_fraction
    from routellm_core.evaluation import load_benchmark
    from routellm_core.evaluation.shipped import calibration_scores

    shipped = calibration_scores(router)
    scores = shipped[0] if shipped is not None else load_router(router).predict_proba(load_benchmark("arena").prompts)
    return round(threshold_for_fraction(scores, 0.5), 4)


def _route(page, prompt: str):
    box = page.locator("textarea[aria-label='Prompt']")
    box.wait_for(timeout=60_000)
    box.fill(prompt)
    page.get_by_role("button", name="Route", exact=True).click()
    decision = page.get_by_text("Decision:")
    decision.wait_for(timeout=120_000)
    return decision


def test_route_a_prompt_in_the_browser(browser, tmp_path):
    from routellm_core import load_router
    from routellm_core.calibration import comparison_text

    start = _start("random")
    with AppServer(router="random") as app:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app.url)
        page.get_by_text(f"Starts at {start:.4f}").wait_for(timeout=60_000)  # the calibrated start, said as such
        decision = _route(page, PROMPT)
        expected = load_router("random").route(PROMPT, start)
        assert decision.inner_text().startswith(f"Decision: {expected.role}")
        p_text, t_text, relation = comparison_text(expected.probability, start)
        # the metrics render in the same script run as the decision line, possibly a frame later
        page.get_by_text(p_text, exact=True).first.wait_for(state="visible", timeout=30_000)
        sentence = page.get_by_text(re.compile(r"^P\(strong wins\) = ")).inner_text()
        assert f"= {p_text} is {relation} the threshold {t_text}" in sentence
        shot = page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
        page.close()


def test_the_default_page_routes_at_the_calibrated_start_and_plots_at_once(browser, tmp_path):
    """The shipped mf: the sidebar's calibrated start, a routed prompt, then the Tune curve from shipped scores.

    With ROUTELLM_UPDATE_SCREENSHOT=1 it saves the Route tab as docs/ui.png (the README's and
    docs/ui.md's picture); otherwise a test run leaves the checkout as it was.
    """
    from routellm_core import load_router
    from routellm_core.calibration import comparison_text

    start = _start("mf")
    with AppServer() as app:  # the app's default router: mf
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.goto(app.url)
        page.get_by_text(f"Starts at {start:.4f}").wait_for(timeout=60_000)
        assert page.get_by_text("learned from").first.is_visible()
        prompt = "Write a Python function that checks whether a string is a palindrome, and explain its complexity."
        decision = _route(page, prompt)
        expected = load_router("mf").route(prompt, start)
        assert decision.inner_text().startswith(f"Decision: {expected.role}")
        p_text, t_text, relation = comparison_text(expected.probability, start)
        page.get_by_text(f"= {p_text} is {relation} the threshold {t_text}").wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "ui.png"), full_page=False)
        if os.environ.get("ROUTELLM_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(tmp_path / "ui.png", SCREENSHOT)
        page.get_by_role("tab", name="Tune").click()
        page.get_by_role("button", name="Calibrate and plot").click()
        began = time.perf_counter()
        page.get_by_text("Quality here").wait_for(timeout=120_000)
        page.locator("canvas, svg.marks").first.wait_for(timeout=60_000)  # the Vega-Lite chart
        waited = time.perf_counter() - began
        assert page.get_by_text("shipped with the package").first.is_visible()
        assert page.get_by_role("button", name="Cross-fit and plot the curve").count() == 0
        assert waited < 60, waited  # no cross-fitting (which takes many minutes): seconds on a busy machine
        page.close()


def test_the_server_binds_127_0_0_1_only():
    """127.0.0.2 is loopback too: a server bound to all addresses (or to 127.0.0.0/8) would answer there."""
    import socket

    with AppServer(router="random") as app:
        with socket.create_connection(("127.0.0.1", app.port), timeout=5):
            pass
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", app.port), timeout=5).close()
