"""The try-it page (GET / on the gateway, local profile) and the Stripe stand-in's checkout page, driven in real
headless Chromium over the whole real stack (tests/browser/stack.py). The page is built on the compiled
TypeScript client, so this exercises the client too.

- sign in, buy the one-time pack, pay, land on the success page with 5 tokens; a reload does not repeat
  "Payment received"; a bad user id gets words, not a regex;
- buy from a page on ANOTHER origin that gets the buyer back to itself (success_url);
- the balance updates live (no reload) when the webhook lands after the success page;
- a subscriber is offered "Manage subscription" (the stand-in's billing portal), not Subscribe;
- at 390 px nothing is wider than the screen (document scrollWidth <= 390), here and on the checkout page.

Screenshots of each state at 1280 px and 390 px go to test-artifacts/ (<state>-1280.png, <state>-390.png).
The browser is Debian's chromium (never a download) driven by Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devtools.stripe_standin.control_client import StandinControl

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
SUBSCRIPTION_PRICE = "price_subscription_monthly"
TIMEOUT_MS = 20_000
WIDE, NARROW = 1280, 390

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium) "
        "to run the browser tests; no browser is ever downloaded",
    ),
]


@contextlib.asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[tuple[Any, Any, Any, list[str]]]:
    """(stack, page, expect, problems): the stack, one page at 1280 px, and page errors / console errors."""
    playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
    from tests.browser.stack import browser_stack

    expect = playwright_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    async with browser_stack(tmp_path / "profile.sqlite3") as stack, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            context = await browser.new_context(viewport={"width": WIDE, "height": 800})
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

            def on_console(msg) -> None:
                url = (msg.location or {}).get("url", "")
                if msg.type == "error" and not url.endswith("/favicon.ico"):
                    problems.append(f"console {msg.type}: {msg.text} ({url})")

            page.on("console", on_console)
            yield stack, page, expect, problems
        finally:
            await browser.close()


async def snap(page, name: str) -> None:
    """Screenshots at 1280 px and 390 px; at 390 px nothing may be wider than the screen."""
    for width in (WIDE, NARROW):
        await page.set_viewport_size({"width": width, "height": 800})
        path = ARTIFACTS / f"{name}-{width}.png"
        await page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        if width == NARROW:
            scroll_width = await page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= NARROW, f"{name}: the page is {scroll_width} px wide at {NARROW} px"
    await page.set_viewport_size({"width": WIDE, "height": 800})


async def sign_in(page, expect, uid: str, email: str) -> None:
    await page.fill("#uid", uid)
    await page.fill("#email", email)
    await page.click("#sign-in")
    await expect(page.locator("body")).to_have_attribute("data-state", "ready")
    await expect(page.locator("#user-uid")).to_have_text(uid)


async def test_sign_in_buy_pay_and_see_the_tokens(tmp_path) -> None:
    async with browser_page(tmp_path) as (stack, page, expect, problems):
        await page.goto(f"{stack.gateway_url}/")
        await expect(page.locator("#uid")).to_have_value("alice")
        await expect(page.locator("body")).to_have_attribute("data-state", "signed-out")
        await snap(page, "signed-out")

        # A bad user id: the field and the rule in words, not the pattern.
        await page.fill("#uid", "has space")
        await page.click("#sign-in")
        await expect(page.locator("#notice")).to_contain_text("User id: use 1 to 128 letters, digits")
        assert "^[" not in (await page.locator("#notice").text_content() or "")
        # The browser logs the refused request itself; that one is expected.
        refused = [p for p in problems if "422" in p and "/local/sign-in" in p]
        assert len(refused) == 1, problems
        problems.remove(refused[0])

        # Sign in as the default local test user: sign-up happens, the balance is 0.
        await page.fill("#uid", "alice")
        await page.click("#sign-in")
        await expect(page.locator("#tokens")).to_have_text("0")
        await expect(page.locator("#has-access")).to_have_text("no")
        await expect(page.locator("#user-uid")).to_have_text("alice")
        await expect(page.locator("#history-empty")).to_be_visible()
        await expect(page.locator("tr.history-row")).to_have_count(0)
        await expect(page.locator("#live")).to_have_attribute("data-live", "on")

        # Buy the one-time pack: the browser goes to the stand-in's hosted checkout page, Email prefilled.
        await page.click(f"#buy-{ONE_TIME_PRICE}")
        await page.wait_for_url(re.compile(re.escape(f"{stack.standin_url}/checkout/") + r"cs_\w+"))
        await expect(page.locator("#pay")).to_be_visible()
        await expect(page.locator("#email")).to_have_value("alice@example.com")
        await snap(page, "standin-checkout")

        # Pay: the session completes, the signed webhook is delivered, and the browser is sent back; the
        # page takes session_id out of the address once it has handled it.
        await page.click("#pay")
        await page.wait_for_url(re.compile(re.escape(f"{stack.gateway_url}/success?session_id=") + r"cs_\w+"))
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")
        await expect(page.locator("#notice")).to_contain_text("Payment received: +5 tokens")
        await expect(page.locator("#tokens")).to_have_text("5")
        assert page.url == f"{stack.gateway_url}/"
        rows = page.locator("tr.history-row")
        await expect(rows).to_have_count(1)
        await expect(rows.first.locator("td.amount")).to_have_text("+5")
        await expect(rows.first.locator("td.type")).to_have_text("purchase")
        await expect(rows.first.locator("td.balance-after")).to_have_text("5")
        await expect(rows.first.locator("td.reason")).to_have_text(re.compile(r"^Purchase: \S"))
        await snap(page, "success")

        # A reload shows the balance and history, and does not announce the payment again.
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")
        await expect(page.locator("#tokens")).to_have_text("5")
        await expect(page.locator("#notice")).to_be_hidden()
        await expect(page.locator("tr.history-row")).to_have_count(1)
        await snap(page, "signed-in-history")

    assert not problems, problems


async def test_buy_from_another_origin_gets_the_buyer_back(tmp_path) -> None:
    async with browser_page(tmp_path) as (stack, page, expect, problems):
        await page.goto(f"{stack.other_url}/")
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")
        await expect(page.locator("#balance")).to_have_text("0")
        # getUserProfile for a new user: GET answers 404 PROFILE_NOT_FOUND (logged by the browser), the client
        # creates the profile.
        not_found = [p for p in problems if "404" in p and p.endswith("/v1/profile)")]
        assert len(not_found) == 1, problems
        problems.remove(not_found[0])

        await page.click("#buy")
        await page.wait_for_url(re.compile(re.escape(f"{stack.standin_url}/checkout/") + r"cs_\w+"))
        await expect(page.locator("#email")).to_have_value("bob@example.com")
        await expect(page.locator("#cancel")).to_have_attribute("href", f"{stack.other_url}/")
        await page.click("#pay")

        # Back on the other origin's own page, which asks the gateway (CORS) about the session.
        await page.wait_for_url(re.compile(re.escape(f"{stack.other_url}/done?session_id=") + r"cs_\w+"))
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")
        await expect(page.locator("#result")).to_have_text("fulfilled: +5 tokens")
        await expect(page.locator("#balance")).to_have_text("5")

    assert not problems, problems


async def test_balance_updates_live_when_the_webhook_lands_after_the_success_page(tmp_path) -> None:
    async with browser_page(tmp_path) as (stack, page, expect, problems), StandinControl(stack.standin_url) as ctl:
        await page.goto(f"{stack.gateway_url}/")
        await sign_in(page, expect, "dana", "dana@example.com")
        await expect(page.locator("#tokens")).to_have_text("0")

        # The buyer pays with an asynchronous method: Checkout completes unpaid, the browser comes back to
        # the success page, which finds the payment still processing (nothing granted yet).
        await page.click(f"#buy-{ONE_TIME_PRICE}")
        await page.wait_for_url(re.compile(re.escape(f"{stack.standin_url}/checkout/") + r"cs_\w+"))
        session_id = page.url.rsplit("/", 1)[1]
        await ctl.complete_session(session_id, "async_pending")
        await page.goto(f"{stack.gateway_url}/success?session_id={session_id}")
        await expect(page.locator("#notice")).to_contain_text("still being processed", timeout=15_000)
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")
        await expect(page.locator("#tokens")).to_have_text("0")
        await expect(page.locator("#live")).to_have_attribute("data-live", "on")
        await page.evaluate("window.__sameDocument = true")
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))

        # The payment succeeds later: only the webhook (checkout.session.async_payment_succeeded) grants,
        # and the page hears of it through GET /v1/profile/events.
        await ctl.complete_session(session_id, "async_succeeded", wait=True)
        await expect(page.locator("#tokens")).to_have_text("5")
        await expect(page.locator("tr.history-row")).to_have_count(1)
        await expect(page.locator("#notice")).to_contain_text("Payment received: +5 tokens")
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        assert navigations == []

    assert not problems, problems


async def test_subscriber_gets_manage_subscription_not_subscribe(tmp_path) -> None:
    async with browser_page(tmp_path) as (stack, page, expect, problems):
        await page.goto(f"{stack.gateway_url}/")
        await sign_in(page, expect, "carol", "carol@example.com")
        await expect(page.locator("#manage-subscription")).to_be_hidden()

        await page.click(f"#buy-{SUBSCRIPTION_PRICE}")
        await page.wait_for_url(re.compile(re.escape(f"{stack.standin_url}/checkout/") + r"cs_\w+"))
        await expect(page.locator("#email")).to_have_value("carol@example.com")
        await page.click("#pay")
        await page.wait_for_url(re.compile(re.escape(f"{stack.gateway_url}/success?session_id=") + r"cs_\w+"))
        await expect(page.locator("body")).to_have_attribute("data-state", "ready")
        await expect(page.locator("#notice")).to_contain_text("Subscription started")
        await expect(page.locator("#has-access")).to_have_text("yes")

        # Subscribe is no longer offered; the one-time pack still is.
        await expect(page.locator(f"#buy-{SUBSCRIPTION_PRICE}")).to_have_count(0)
        await expect(page.locator(f"#buy-{ONE_TIME_PRICE}")).to_be_visible()
        await expect(page.locator("#manage-subscription")).to_be_visible()
        await snap(page, "subscriber")

        # Manage subscription opens the (stand-in's) billing portal with a way back to the page.
        await page.click("#manage-subscription")
        await page.wait_for_url(re.compile(re.escape(f"{stack.standin_url}/portal/") + r"bps_\w+"))
        await expect(page.locator("tr.subscription .status")).to_have_text("active")
        await expect(page.locator("#return")).to_have_attribute("href", f"{stack.gateway_url}/")
        await snap(page, "billing-portal")
        await page.click("#return")
        await page.wait_for_url(f"{stack.gateway_url}/")
        await expect(page.locator("#manage-subscription")).to_be_visible()

    assert not problems, problems


async def test_available_held_and_expiring_tokens_show_when_the_profile_has_them(tmp_path) -> None:
    # The profile's available_tokens / held_tokens / next_expiry_* are newer than the page: it shows them only
    # when present. Here the browser adds them to the gateway's real answers (GET /v1/profile and the live
    # stream), so the cards are checked whatever this gateway's profile carries.
    extra = {
        "tokens": 5,
        "available_tokens": 3,
        "held_tokens": 2,
        "next_expiry_amount": 4,
        "next_expiry_time": "2027-01-01T12:00:00Z",
    }
    latest: dict[str, Any] = {}

    async def profile_route(route) -> None:
        if route.request.method != "GET":
            await route.continue_()
            return
        response = await route.fetch()
        latest.update(await response.json(), **extra)
        await route.fulfill(response=response, json=latest)

    async def events_route(route) -> None:
        stream = f"event: profile\ndata: {json.dumps(latest)}\n\n"
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=stream)

    async with browser_page(tmp_path) as (stack, page, expect, problems):
        await page.route(re.compile(r".*/v1/profile$"), profile_route)
        await page.route(re.compile(r".*/v1/profile/events$"), events_route)
        await page.goto(f"{stack.gateway_url}/")
        await sign_in(page, expect, "erin", "erin@example.com")
        await expect(page.locator("#tokens")).to_have_text("5")
        await expect(page.locator("#available")).to_have_text("3")
        await expect(page.locator("#held")).to_have_text("2")
        await expect(page.locator("#expiring")).to_have_text("4")
        await expect(page.locator("#expiring-when")).to_contain_text("2027")
        await snap(page, "balances")

    assert not problems, problems
