"""The try-it page (GET / on the gateway, local profile) driven in real headless Chromium: sign in, buy the
one-time pack on the Stripe stand-in's checkout page, pay, and land back on the gateway's success page with
5 tokens and one history row. The whole stack is real; the browser is Debian's chromium (never a download)
driven by Playwright. A screenshot of the success page is saved to test-artifacts/purchase-flow.png."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# Debian's chromium package; CHROMIUM_PATH points elsewhere (a missing path shows the skip).
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# What this machine's Chromium needs: no sandbox as root, no GPU, and none of its background calls home
# (the closed network refuses them).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
ONE_TIME_PRICE = "price_onetime_5_tokens"
TIMEOUT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium) "
        "to run the browser test; no browser is ever downloaded",
    ),
]


async def test_sign_in_buy_pay_and_see_the_tokens(tmp_path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
    from tests.browser.stack import browser_stack

    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "purchase-flow.png"
    problems: list[str] = []

    async with browser_stack(tmp_path / "profile.sqlite3") as stack, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            context = await browser.new_context(viewport={"width": 900, "height": 800})
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

            def on_console(msg) -> None:
                # The stand-in's checkout page has no favicon; anything else logged as an error counts.
                url = (msg.location or {}).get("url", "")
                if msg.type == "error" and not url.endswith("/favicon.ico"):
                    problems.append(f"console {msg.type}: {msg.text} ({url})")

            page.on("console", on_console)

            # Sign in as the default local test user: sign-up happens, the balance is 0.
            await page.goto(f"{stack.gateway_url}/")
            await expect(page.locator("#uid")).to_have_value("alice")
            await page.click("#sign-in")
            await expect(page.locator("#tokens")).to_have_text("0")
            await expect(page.locator("#has-access")).to_have_text("false")
            await expect(page.locator("#user-uid")).to_have_text("alice")
            await expect(page.locator("#history-empty")).to_be_visible()
            await expect(page.locator("tr.history-row")).to_have_count(0)

            # Buy the one-time pack: the browser goes to the stand-in's hosted checkout page.
            await page.click(f"#buy-{ONE_TIME_PRICE}")
            await page.wait_for_url(re.compile(re.escape(f"{stack.standin_url}/checkout/") + r"cs_\w+"))
            await expect(page.locator("#pay")).to_be_visible()

            # Pay: the session completes, the signed webhook is delivered, and the browser is sent back.
            await page.click("#pay")
            await page.wait_for_url(re.compile(re.escape(f"{stack.gateway_url}/success?session_id=") + r"cs_\w+"))
            await expect(page.locator("body")).to_have_attribute("data-state", "ready")
            await expect(page.locator("#notice")).to_contain_text("Payment received: +5 tokens")
            await expect(page.locator("#tokens")).to_have_text("5")
            rows = page.locator("tr.history-row")
            await expect(rows).to_have_count(1)
            await expect(rows.first.locator("td.amount")).to_have_text("+5")
            await expect(rows.first.locator("td.type")).to_have_text("purchase")
            await expect(rows.first.locator("td.balance-after")).to_have_text("5")

            await page.screenshot(path=str(screenshot), full_page=True)
        finally:
            await browser.close()

    assert screenshot.stat().st_size > 0
    assert not problems, problems
