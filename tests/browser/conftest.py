"""Fixtures for browser tests: Debian's headless Chromium driven by Playwright, with screenshots.

Playwright's own browsers are not downloaded: the tests launch ``/usr/bin/chromium``
(installed by ``make setup``; override with ``LOANSTREAM_CHROMIUM``). Screenshots of every
step go to ``tests/artifacts/browser/`` (git-ignored); a failing step also saves
``failure-<step>.png`` there and a Playwright trace (``trace-<test>.zip``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}
DEFAULT_TIMEOUT_MS = 30_000


class Shots:
    """Numbered screenshots of a test's steps; a failing ``step`` screenshots and names the file."""

    def __init__(self, page: Page, directory: Path) -> None:
        self.page = page
        self.directory = directory
        self.saved: list[Path] = []

    def take(self, name: str, full_page: bool = False) -> Path:
        """Save ``NN-<name>.png`` of the current page and return its path."""
        path = self.directory / f"{len(self.saved) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.saved.append(path)
        return path

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run a step; on any error fail with the step's name, the error and a screenshot path."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - re-raised as a test failure below
            path = self.directory / f"failure-{_slug(name)}.png"
            try:
                self.page.screenshot(path=str(path), full_page=True)
                where = f"screenshot: {path}"
            except Exception as shot_exc:  # noqa: BLE001
                where = f"no screenshot ({shot_exc})"
            message = f"browser step '{name}' failed at {self.page.url}: {exc}\n{where}"
            raise pytest.fail.Exception(message, pytrace=False) from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium (never a Playwright-downloaded browser)."""
    executable = os.environ.get("LOANSTREAM_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"{executable} not found: run `make setup` (installs Debian chromium)")
    browser = playwright_instance.chromium.launch(
        executable_path=executable, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (no cookies) and page; a Playwright trace is kept if the test fails."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.tracing.start(screenshots=True, snapshots=True)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        context.tracing.stop(path=str(ARTIFACTS / f"trace-{_slug(request.node.name)}.zip"))
    else:
        context.tracing.stop()
    context.close()


@pytest.fixture
def shots(page: Page) -> Shots:
    """Screenshots into ``tests/artifacts/browser/`` (the previous run's files removed first)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for pattern in ("*.png", "trace-*.zip"):
        for old in ARTIFACTS.glob(pattern):
            old.unlink()
    return Shots(page, ARTIFACTS)
