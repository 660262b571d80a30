from pathlib import Path

import pytest

from .chromium import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, playwright_api


@pytest.fixture
def chromium(monkeypatch):
    """Debian's headless Chromium, started for one test."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes between browser steps are ordinary synchronous ones. Set for this test only:
    # the variable must not leak into other tests' subprocesses.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make test`, which installs it.")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
