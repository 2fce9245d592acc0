"""Scenario 2: SIGKILL the billing service (a real subprocess) while the stand-in is delivering
checkout.session.completed webhooks through the gateway. Deliveries that failed are retried by the
stand-in, as Stripe does; after billing restarts, every paid session ends with exactly one grant."""

from __future__ import annotations

import asyncio
import random

from profile_service.audit import run_audit
from tests.reliability.report import ScenarioResult, record
from tests.reliability.stack import webhook_stack

ROUNDS = 3
USERS, PER_USER = 4, 5


async def wait_until_delivered(stack, event_ids: set[str]) -> None:
    """Polls the stand-in's delivery log; gives up (TimeoutError) after a minute."""
    async with asyncio.timeout(60):
        while True:
            events = {e["id"]: e for e in await stack.control.events()}
            if all(events[i]["delivery"]["status"] == "delivered" for i in event_ids):
                return
            await asyncio.sleep(0.2)
    # Like Stripe's manual "resend" after the automatic retries: redeliver what is still undelivered.
    for event_id in event_ids:
        await stack.control.redeliver(event_id, wait=True)


async def test_kill_billing_mid_webhook_grants_each_session_once(tmp_path):
    result = record(ScenarioResult("kill billing mid-webhook"))
    rng = random.Random()
    async with webhook_stack(tmp_path, billing_subprocess=True) as stack:
        all_sessions = []
        failed_deliveries = 0
        for round_no in range(ROUNDS):
            users = [f"r{round_no}-user-{i}" for i in range(USERS)]
            sessions = await stack.paid_sessions(users, per_user=PER_USER)
            all_sessions += sessions
            # Pay all sessions; their webhooks go out in the background while billing is killed.
            await asyncio.gather(*(stack.control.complete_session(s, "paid", wait=False) for _u, s in sessions))
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            stack.billing_process.kill()
            result.faults += 1
            await asyncio.sleep(0.3)
            stack.billing_process.start()
            await stack.billing_process.wait_serving()
            events = await stack.completed_event_ids()
            wanted = {events[s] for _u, s in sessions}
            await wait_until_delivered(stack, wanted)
            log = {e["id"]: e for e in await stack.control.events()}
            failed_deliveries += sum(
                sum(1 for a in log[i]["delivery"]["attempts"] if not 200 <= (a["status_code"] or 0) < 300)
                for i in wanted
            )
        result.operations = len(all_sessions)
        print(f"kill billing mid-webhook: {failed_deliveries} deliveries failed and were retried by the stand-in")

        by_user: dict[str, int] = {}
        for uid, _sid in all_sessions:
            by_user[uid] = by_user.get(uid, 0) + 5
        for uid, expected in by_user.items():
            keys = await stack.ledger_keys(uid)
            result.duplicated += len(keys) - len(set(keys))
            balance = await stack.balance(uid)
            result.lost += max(0, expected - balance) // 5
            result.duplicated += max(0, balance - expected) // 5
        assert await run_audit(stack.profile.store) == 0
    assert (result.lost, result.duplicated) == (0, 0), result.line()
