"""The demo in a real headless browser: Debian's chromium driven by Playwright, the app on loopback."""

from __future__ import annotations

import pytest

from routellm_app.testing import AppServer, find_browser

PROMPT = "Prove that there are infinitely many primes."


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


def test_route_a_prompt_in_the_browser(browser, tmp_path):
    from routellm_core import load_router

    with AppServer(router="random") as app:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app.url)
        box = page.locator("textarea[aria-label='Prompt']")
        box.wait_for(timeout=60_000)
        box.fill(PROMPT)
        page.get_by_role("button", name="Route", exact=True).click()
        decision = page.get_by_text("Decision:")
        decision.wait_for(timeout=60_000)
        expected = load_router("random").route(PROMPT, 0.5)
        assert decision.inner_text().startswith(f"Decision: {expected.role}")
        # the metrics render in the same script run as the decision line, possibly a frame later
        page.get_by_text(f"{expected.probability:.3f}", exact=True).first.wait_for(state="visible", timeout=30_000)
        shot = page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
        page.close()


def test_the_server_binds_127_0_0_1_only():
    """127.0.0.2 is loopback too: a server bound to all addresses (or to 127.0.0.0/8) would answer there."""
    import socket

    with AppServer(router="random") as app:
        with socket.create_connection(("127.0.0.1", app.port), timeout=5):
            pass
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", app.port), timeout=5).close()
