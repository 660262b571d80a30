"""Headless Debian Chromium for the browser tests: where it is, how it starts, pages."""

from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "survey"
PHONE = {"width": 390, "height": 844}


def new_page(browser, **options):
    """A page in a new browser context (phone-sized unless `viewport` is given)."""
    options.setdefault("viewport", PHONE)
    context = browser.new_context(locale="en-GB", **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page
