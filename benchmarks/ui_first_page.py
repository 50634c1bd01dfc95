"""How fast the web demo's first page shows, measured in a real headless browser.

Starts ``routellm-core ui`` (the shipped default router, ``mf``) on a free 127.0.0.1 port several
times; each time a Chromium (Debian's ``chromium``, driven by Playwright) that is already running
loads the page, and the time from the server process start to the visible prompt box is recorded,
with the CPU time the server and the browser used until then (figures that other work on a busy
machine inflates less than the wall-clock time).
Optionally routes one prompt with the default router and saves a screenshot (the one in
``docs/ui.png`` comes from here).

    .venv/bin/python benchmarks/ui_first_page.py                       # 5 cold starts
    .venv/bin/python benchmarks/ui_first_page.py --runs 3 --screenshot docs/ui.png
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from routellm_app.testing import AppServer, find_browser

PROMPT = "Write a Python function that checks whether a string is a palindrome, and explain its complexity."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts to time (default: 5)")
    parser.add_argument("--router", default=None, help="initial router (default: the app's default, mf)")
    parser.add_argument("--screenshot", help="also route a prompt and save a PNG screenshot here")
    args = parser.parse_args(argv)
    executable = find_browser()
    if executable is None:
        print("error: no chromium found (make install adds Debian's chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    times, ready, cpu, browser_cpu = [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        for run in range(args.runs):
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            with AppServer(router=args.router) as app:
                ready.append(time.perf_counter() - app.started_at)
                browser_before = browser_cpu_seconds()
                page.goto(app.url)
                page.locator("textarea[aria-label='Prompt']").wait_for(timeout=60_000)
                times.append(time.perf_counter() - app.started_at)
                cpu.append(app.cpu_seconds())
                browser_cpu.append(browser_cpu_seconds() - browser_before)
                print(f"run {run + 1}: server up {ready[-1]:.2f}s, first page {times[-1]:.2f}s "
                      f"(CPU: server {cpu[-1]}s, browser {browser_cpu[-1]:.2f}s)", file=sys.stderr)
                if args.screenshot and run == args.runs - 1:
                    screenshot(page, args.screenshot)
            page.close()
        browser.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"runs": len(times), "first_page_s": {"median": round(statistics.median(times), 2),
                                                            "min": round(min(times), 2), "max": round(max(times), 2)},
                      "server_up_s_median": round(statistics.median(ready), 2),
                      "server_cpu_s_median": None if None in cpu else round(statistics.median(cpu), 2),
                      "browser_cpu_s_median": round(statistics.median(browser_cpu), 2), "cpus": os.cpu_count(),
                      "load_average_1m": load}))
    return 0


def browser_cpu_seconds() -> float:
    """CPU time (user + system) used so far by every Chromium process (Linux /proc; /usr/bin/chromium is a script)."""
    total = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if not (proc / "exe").resolve().name.startswith(("chromium", "chrome")):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def screenshot(page, path: str) -> None:
    """Route one prompt with the default router (loads it: seconds) and save the page."""
    page.locator("textarea[aria-label='Prompt']").fill(PROMPT)
    page.get_by_role("button", name="Route", exact=True).click()
    page.get_by_text("Decision:").wait_for(timeout=900_000)
    page.wait_for_timeout(500)
    page.screenshot(path=path, full_page=False)
    print(f"screenshot: {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
