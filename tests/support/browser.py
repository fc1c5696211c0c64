"""Open a page in a real headless browser (Debian's ``chromium``, driven by Playwright) and say what happened.

Used to check that ``progressive report`` pages open offline: the console messages and every request the page
made are collected, and a full-page screenshot is saved next to the test's files. Playwright's own browser
downloads are never used: ``executable_path`` is the system's chromium, which ``.ci/run`` installs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OpenedPage", "chromium_path", "open_page"]


def chromium_path() -> str:
    """Debian's chromium; a clear failure (not a skip) when it is missing: ``scripts/setup`` installs it."""
    found = shutil.which("chromium")
    assert found, "chromium is not installed: run scripts/setup (as root) or apt-get install chromium"
    return found


@dataclass(frozen=True)
class OpenedPage:
    """What a page did when it was opened."""

    console: list[tuple[str, str]]
    """``(type, text)`` of every console message (``error``, ``warning``, ``log``...)."""
    page_errors: list[str]
    """Uncaught exceptions in the page's scripts."""
    requests: list[str]
    """Every URL the page asked for, the page's own first."""
    svg_ids: list[str]
    """``id`` of every ``figure`` holding an ``svg``."""
    svg_sizes: list[tuple[float, float]]
    """Rendered width and height of each of those SVGs, in CSS pixels."""
    outcome: str
    """Text of the element ``#outcome``."""
    screenshot: Path


def open_page(page_file: Path, screenshot: Path) -> OpenedPage:
    """Open ``page_file`` in headless chromium with the network cut off, take a full-page screenshot."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    console: list[tuple[str, str]] = []
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            figures = page.locator("figure:has(svg)")
            ids = [str(figures.nth(i).get_attribute("id")) for i in range(figures.count())]
            sizes = []
            for i in range(figures.count()):
                box = figures.nth(i).locator("svg").first.bounding_box()
                sizes.append((0.0, 0.0) if box is None else (box["width"], box["height"]))
            outcome = page.locator("#outcome").inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return OpenedPage(console, errors, requests, ids, sizes, outcome, screenshot)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.browser PAGE.html SHOT.png``: open a page offline, save its screenshot, report."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m tests.support.browser", description=main.__doc__)
    parser.add_argument("page", type=Path)
    parser.add_argument("screenshot", type=Path)
    args = parser.parse_args(argv)
    opened = open_page(args.page, args.screenshot)
    print(f"plots: {', '.join(opened.svg_ids) or 'none'}")
    print(f"console messages: {len(opened.console)}, page errors: {len(opened.page_errors)}")
    print(f"requests: {', '.join(opened.requests)}")
    print(f"outcome: {opened.outcome}")
    print(f"screenshot: {opened.screenshot}")
    return 0 if not opened.console and not opened.page_errors and len(opened.requests) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
