"""Reconciliation with webhooks lost: `python -m billing_service reconcile` (and the background reconciler)
finds paid sessions, refunds (also ones that failed later), disputes (opened, then won) and subscription
changes at Stripe that the ledger lacks and applies them through the webhooks' own idempotent paths; a
second run changes nothing. Real profile service, stand-in, real stripe SDK; the command runs against them
in-process and as a real subprocess."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

from billing_service.reconcile import background_reconciler, run_reconcile
from billing_service.settings import BillingSettings
from tests.billing.conftest import (
    API_KEY,
    MONTHLY,
    ONE_TIME,
    WEBHOOK_SECRET,
    Standin,
    checkout,
    eventually,
    get_profile,
    history,
    new_user,
)
from tests.support.billing_server import RunningBilling, WebhookRelay, billing_test_settings
from tests.support.profile_server import RunningProfile
from tokens.profile.v1 import profile_service_pb2 as ppb

REPO = Path(__file__).resolve().parents[2]


def _settings(standin: Standin, profile: RunningProfile, **overrides: object) -> BillingSettings:
    return billing_test_settings(
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=standin.url,
        profile_target=profile.target,
        **overrides,
    )


async def _reconcile(standin: Standin, profile: RunningProfile, since_hours: int = 72) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = await run_reconcile(_settings(standin, profile), since_hours, out)
    return code, out.getvalue().splitlines()


def _line(lines: list[str], prefix: str) -> str:
    (line,) = [line for line in lines if line.startswith(prefix)]
    return line


async def _webhooks_off(standin: Standin) -> None:
    await standin.ctl.configure(webhook_url="")
    assert (await standin.state())["webhooks"]["url"] == ""


async def _pay(billing: RunningBilling, standin: Standin, uid: str, quantity: int = 1) -> dict:
    # A request id of its own: without one, the same purchase within a minute is the same session.
    session = await checkout(billing, uid, quantity=quantity, request_id=uuid.uuid4().hex)
    return await standin.ctl.complete_session(session.session_id, "paid", wait=False)


async def test_five_paid_sessions_with_webhooks_off_are_granted_exactly_once(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await _webhooks_off(standin)
    other = uid + "-b"
    await new_user(sqlite_profile, uid)
    await new_user(sqlite_profile, other)
    paid = [await _pay(billing, standin, u, q) for u, q in ((uid, 1), (uid, 2), (other, 1), (other, 3), (uid, 1))]
    sessions = {p["session"]["id"] for p in paid}
    unpaid = await checkout(billing, uid)  # open, never paid: nothing to grant
    assert (await get_profile(sqlite_profile, uid)).tokens == 0  # no webhook, no success page: nothing yet

    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0, lines
    assert _line(lines, "checkout sessions").endswith(
        "found 5, applied 5, already applied 0, nothing to apply 0, failed 0"
    )
    assert lines[-1] == "result: ok: applied 5, failed 0"
    assert (await get_profile(sqlite_profile, uid)).tokens == 20
    assert (await get_profile(sqlite_profile, other)).tokens == 20
    entries = await history(sqlite_profile, uid) + await history(sqlite_profile, other)
    assert sorted(e.idempotency_key for e in entries) == sorted(f"checkout:{s}" for s in sessions)
    assert all(e.type == ppb.TOKEN_ENTRY_TYPE_PURCHASE for e in entries)
    assert f"checkout:{unpaid.session_id}" not in {e.idempotency_key for e in entries}

    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0
    assert _line(lines, "checkout sessions").endswith(
        "found 5, applied 0, already applied 5, nothing to apply 0, failed 0"
    )
    assert lines[-1] == "result: ok: applied 0, failed 0"
    assert (await get_profile(sqlite_profile, uid)).tokens == 20
    assert len(await history(sqlite_profile, uid) + await history(sqlite_profile, other)) == 5


async def test_reconcile_racing_webhooks_and_itself_still_grants_once(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    sessions = [(await checkout(billing, uid, request_id=f"race-{i}")).session_id for i in range(5)]
    # Webhook deliveries in flight while two reconciliations run at the same time.
    completing = asyncio.gather(*(standin.ctl.complete_session(s, "paid", wait=True) for s in sessions))
    runs = await asyncio.gather(_reconcile(standin, sqlite_profile), _reconcile(standin, sqlite_profile), completing)
    assert [code for code, _ in runs[:2]] == [0, 0]

    async def delivered() -> bool:
        done = [
            1 for event_type, status in relay.deliveries if (event_type, status) == ("checkout.session.completed", 200)
        ]
        return len(done) == 5

    await eventually(delivered)
    code, lines = await _reconcile(standin, sqlite_profile)
    assert _line(lines, "checkout sessions").endswith(
        "found 5, applied 0, already applied 5, nothing to apply 0, failed 0"
    )
    assert (await get_profile(sqlite_profile, uid)).tokens == 25
    assert sorted(e.idempotency_key for e in await history(sqlite_profile, uid)) == sorted(
        f"checkout:{s}" for s in sessions
    )


async def test_a_refund_made_while_webhooks_were_off_is_clawed_back_once(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await standin.ctl.complete_session((await checkout(billing, uid, quantity=2)).session_id, "paid")
    assert (await get_profile(sqlite_profile, uid)).tokens == 10  # granted by the webhook

    await _webhooks_off(standin)
    refund = (await standin.ctl.refund_charge(bought["charge"], 500, wait=False))["refund"]
    assert (await get_profile(sqlite_profile, uid)).tokens == 10  # the refund event went nowhere

    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0, lines
    assert _line(lines, "refunds").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert _line(lines, "checkout sessions").endswith(
        "found 1, applied 0, already applied 1, nothing to apply 0, failed 0"
    )
    assert (await get_profile(sqlite_profile, uid)).tokens == 5
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.type, newest.idempotency_key) == (
        -5,
        ppb.TOKEN_ENTRY_TYPE_REFUND,
        f"refund:{refund['id']}",
    )

    code, lines = await _reconcile(standin, sqlite_profile)
    assert _line(lines, "refunds").endswith("found 1, applied 0, already applied 1, nothing to apply 0, failed 0")
    assert (code, (await get_profile(sqlite_profile, uid)).tokens) == (0, 5)
    assert len(await history(sqlite_profile, uid)) == 2


async def test_lost_subscription_cancellation_is_applied_from_stripes_state(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    done = await standin.ctl.complete_session((await checkout(billing, uid, price_id=MONTHLY)).session_id, "paid")
    assert (await get_profile(sqlite_profile, uid)).has_access

    await _webhooks_off(standin)
    await standin.ctl.cancel_subscription(done["subscription"], wait=False)
    assert (await get_profile(sqlite_profile, uid)).has_access  # the deletion event was lost

    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0, lines
    assert _line(lines, "subscription changes").endswith(
        "found 1, applied 1, already applied 0, nothing to apply 0, failed 0"
    )
    profile = await get_profile(sqlite_profile, uid)
    assert (profile.has_access, profile.subscription_status) == (False, "canceled")

    code, lines = await _reconcile(standin, sqlite_profile)
    assert _line(lines, "subscription changes").endswith(
        "found 1, applied 0, already applied 1, nothing to apply 0, failed 0"
    )
    assert lines[-1] == "result: ok: applied 0, failed 0"


async def test_a_dispute_made_while_webhooks_were_off_is_taken_once_and_given_back_once_when_won(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await _webhooks_off(standin)
    await new_user(sqlite_profile, uid)
    bought = await _pay(billing, standin, uid, quantity=2)  # 10 tokens
    await _pay(billing, standin, uid)  # 5 more, not disputed
    await _reconcile(standin, sqlite_profile)
    assert (await get_profile(sqlite_profile, uid)).tokens == 15
    dispute = (await standin.ctl.dispute_charge(bought["charge"], reason="fraudulent", wait=False))["dispute"]
    key = f"dispute:{dispute['id']}"

    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0, lines
    assert _line(lines, "disputes").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert _line(lines, f"  dispute {dispute['id']}") == (
        f"  dispute {dispute['id']}: charge {bought['charge']}, 1000 usd, {dispute['status']} (fraudulent): "
        "took 10 tokens"
    )
    assert lines[-1] == "result: ok: applied 1, failed 0"
    assert (await get_profile(sqlite_profile, uid)).tokens == 5
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.idempotency_key) == (-10, key)

    code, lines = await _reconcile(standin, sqlite_profile)
    assert _line(lines, "disputes").endswith("found 1, applied 0, already applied 1, nothing to apply 0, failed 0")
    assert (code, lines[-1]) == (0, "result: ok: applied 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 5
    assert len(await history(sqlite_profile, uid)) == 3

    await standin.ctl.close_dispute(dispute["id"], "won", wait=False)
    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0, lines
    assert _line(lines, "disputes").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert _line(lines, f"  dispute {dispute['id']}").endswith("won (fraudulent): gave back 10 tokens")
    assert (await get_profile(sqlite_profile, uid)).tokens == 15
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.idempotency_key) == (10, f"dispute-reinstated:{dispute['id']}")

    code, lines = await _reconcile(standin, sqlite_profile)
    assert _line(lines, "disputes").endswith("found 1, applied 0, already applied 1, nothing to apply 0, failed 0")
    assert (code, lines[-1]) == (0, "result: ok: applied 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 15
    assert len(await history(sqlite_profile, uid)) == 4


async def test_a_refund_that_failed_while_webhooks_were_off_is_given_back_once(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await standin.ctl.complete_session((await checkout(billing, uid, quantity=2)).session_id, "paid")
    refund = (await standin.ctl.refund_charge(bought["charge"], 500))["refund"]
    assert (await get_profile(sqlite_profile, uid)).tokens == 5  # taken by the webhook

    await _webhooks_off(standin)
    await standin.ctl.fail_refund(refund["id"], wait=False)
    assert (await get_profile(sqlite_profile, uid)).tokens == 5  # the failure events went nowhere

    code, lines = await _reconcile(standin, sqlite_profile)
    assert code == 0, lines
    assert _line(lines, "refunds").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 10
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.idempotency_key) == (5, f"refund-reversal:{refund['id']}")

    code, lines = await _reconcile(standin, sqlite_profile)
    assert _line(lines, "refunds").endswith("found 1, applied 0, already applied 1, nothing to apply 0, failed 0")
    assert (code, lines[-1]) == (0, "result: ok: applied 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 10
    assert len(await history(sqlite_profile, uid)) == 3


async def test_a_dispute_won_after_its_creation_left_the_window_is_found_through_its_events(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await _webhooks_off(standin)
    await new_user(sqlite_profile, uid)
    bought = await _pay(billing, standin, uid, quantity=2)  # 10 tokens
    await _pay(billing, standin, uid)  # 5 more, not disputed
    dispute = (await standin.ctl.dispute_charge(bought["charge"], reason="fraudulent", wait=False))["dispute"]
    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert _line(lines, "disputes").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert (code, (await get_profile(sqlite_profile, uid)).tokens) == (0, 5)

    # Opened two hours ago: neither the dispute nor its first events are in a one-hour window any more.
    await standin.ctl.backdate(dispute["id"], 2 * 3600)
    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert _line(lines, "disputes").endswith("found 0, applied 0, already applied 0, nothing to apply 0, failed 0")
    await standin.ctl.close_dispute(dispute["id"], "won", wait=False)  # its closing events are
    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert code == 0, lines
    assert _line(lines, "disputes").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert _line(lines, f"  dispute {dispute['id']}") == (
        f"  dispute {dispute['id']}: charge {bought['charge']}: gave back 10 tokens"
    )
    assert (await get_profile(sqlite_profile, uid)).tokens == 15
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.idempotency_key) == (10, f"dispute-reinstated:{dispute['id']}")

    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert _line(lines, "disputes").endswith("found 1, applied 0, already applied 1, nothing to apply 0, failed 0")
    assert (code, lines[-1]) == (0, "result: ok: applied 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 15
    assert len(await history(sqlite_profile, uid)) == 4


async def test_a_refund_failed_after_its_creation_left_the_window_is_found_through_its_events(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    bought = await standin.ctl.complete_session((await checkout(billing, uid, quantity=2)).session_id, "paid")
    refund = (await standin.ctl.refund_charge(bought["charge"], 500))["refund"]
    assert (await get_profile(sqlite_profile, uid)).tokens == 5  # taken by the webhook

    await _webhooks_off(standin)
    await standin.ctl.backdate(refund["id"], 2 * 3600)  # made two hours ago, out of a one-hour window
    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert _line(lines, "refunds").endswith("found 0, applied 0, already applied 0, nothing to apply 0, failed 0")
    await standin.ctl.fail_refund(refund["id"], wait=False)  # fails now: the failure events went nowhere
    assert (await get_profile(sqlite_profile, uid)).tokens == 5

    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert code == 0, lines
    assert _line(lines, "refunds").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 10
    newest = (await history(sqlite_profile, uid))[0]
    assert (newest.amount, newest.idempotency_key) == (5, f"refund-reversal:{refund['id']}")

    code, lines = await _reconcile(standin, sqlite_profile, since_hours=1)
    assert _line(lines, "refunds").endswith("found 1, applied 0, already applied 1, nothing to apply 0, failed 0")
    assert (code, lines[-1]) == (0, "result: ok: applied 0, failed 0")
    assert (await get_profile(sqlite_profile, uid)).tokens == 10
    assert len(await history(sqlite_profile, uid)) == 3


async def test_background_reconciler_grants_a_session_whose_webhook_was_lost(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await _webhooks_off(standin)
    await new_user(sqlite_profile, uid)
    settings = _settings(standin, sqlite_profile, reconcile_interval_s=0.2, reconcile_since_hours=1)
    async with background_reconciler(settings) as task:
        assert task is not None
        await _pay(billing, standin, uid, quantity=2)

        async def granted() -> bool:
            return (await get_profile(sqlite_profile, uid)).tokens == 10

        await eventually(granted)
        await asyncio.sleep(0.5)  # more runs: still one grant
    assert task.done()
    assert [e.amount for e in await history(sqlite_profile, uid)] == [10]
    async with background_reconciler(_settings(standin, sqlite_profile)) as off:
        assert off is None  # RECONCILE_INTERVAL_S=0: no reconciler


# --- the command ---------------------------------------------------------------------------------------


def _env(standin: Standin, profile: RunningProfile, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "APP_ENV": "local",
        "METRICS_LISTEN": "127.0.0.1:0",
        "PROFILE_TARGET": profile.target,
        "STRIPE_API_BASE": standin.url,
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_ONETIME_PRICE_ID": ONE_TIME,
        "BILLING_CATALOGUE": "",
        **extra,
    }


async def _cli(standin: Standin, profile: RunningProfile, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billing_service",
        "reconcile",
        *args,
        cwd=REPO,
        env=_env(standin, profile),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_prints_what_it_did_and_exits_non_zero_on_failure(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await _webhooks_off(standin)
    await new_user(sqlite_profile, uid)
    bought = await _pay(billing, standin, uid)

    code, out, err = await _cli(standin, sqlite_profile, "--since-hours", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("reconcile: Stripe objects created since ") and lines[0].endswith("(last 1 h)")
    assert _line(lines, "checkout sessions").endswith(
        "found 1, applied 1, already applied 0, nothing to apply 0, failed 0"
    )
    assert lines[-1] == "result: ok: applied 1, failed 0"
    assert (await get_profile(sqlite_profile, uid)).tokens == 5

    # A paid session that names no user cannot be granted: reported, exit code 1, the rest still done.
    orphan = await standin.sdk.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": ONE_TIME, "quantity": 1}],
            "success_url": "http://127.0.0.1:8080/ok",
        }
    )
    await standin.ctl.complete_session(orphan.id, "paid", wait=False)
    await standin.ctl.refund_charge(bought["charge"], wait=False)
    code, out, err = await _cli(standin, sqlite_profile)
    assert code == 1, out + err
    lines = out.splitlines()
    assert _line(lines, "checkout sessions").endswith(
        "found 2, applied 0, already applied 1, nothing to apply 0, failed 1"
    )
    assert _line(lines, f"  FAILED checkout sessions (paid, payment mode) {orphan.id}").endswith(
        "carries no uid (metadata.uid / client_reference_id / customer metadata.uid)"
    )
    assert _line(lines, "refunds").endswith("found 1, applied 1, already applied 0, nothing to apply 0, failed 0")
    assert lines[-1] == "result: FAILED: applied 1, failed 1"
    assert (await get_profile(sqlite_profile, uid)).tokens == 0

    code, _, err = await _cli(standin, sqlite_profile, "--since-hours", "0")
    assert code == 2 and "--since-hours: must be 1..720" in err


async def test_the_served_service_reconciles_in_the_background_when_configured(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """`python -m billing_service` with RECONCILE_INTERVAL_S: the lost webhook's grant arrives anyway."""
    await _webhooks_off(standin)
    await new_user(sqlite_profile, uid)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{probe.getsockname()[1]}"
    env = _env(standin, sqlite_profile, BILLING_LISTEN=listen, RECONCILE_INTERVAL_S="0.3", RECONCILE_SINCE_HOURS="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "billing_service", cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await _pay(billing, standin, uid, quantity=3)

        async def granted() -> bool:
            assert proc.returncode is None, "billing exited"
            return (await get_profile(sqlite_profile, uid)).tokens == 15

        await eventually(granted, timeout_s=30)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert [e.amount for e in await history(sqlite_profile, uid)] == [15]
