"""Scenario 5: 100 webhook deliveries of 20 paid sessions, shuffled and duplicated, posted concurrently
to the gateway. The result is exactly 20 x 5 tokens, one ledger entry per session."""

from __future__ import annotations

import asyncio
import random

import httpx

from profile_service.audit import run_audit
from tests.reliability.report import ScenarioResult, record
from tests.reliability.stack import webhook_stack


async def test_shuffled_duplicated_concurrent_deliveries_grant_exactly_once(tmp_path):
    result = record(ScenarioResult("webhook duplicates and reordering"))
    async with webhook_stack(tmp_path, deliver_automatically=False) as stack:
        users = [f"dup-user-{i}" for i in range(4)]
        sessions = await stack.paid_sessions(users, per_user=5)
        for _uid, session_id in sessions:
            await stack.control.complete_session(session_id, "paid", wait=False)
        events = await stack.completed_event_ids()
        assert len(events) == 20
        deliveries = [events[sid] for _uid, sid in sessions] * 5
        random.shuffle(deliveries)

        async with httpx.AsyncClient(timeout=30) as client:

            async def deliver(event_id: str) -> int:
                signed = await stack.control.signed_event(event_id)
                response = await client.post(
                    f"{stack.gateway_url}/v1/stripe/webhook",
                    content=signed["payload"].encode(),
                    headers={"Stripe-Signature": signed["signature_header"], "Content-Type": "application/json"},
                )
                return response.status_code

            statuses = await asyncio.gather(*(deliver(e) for e in deliveries))
        result.operations = len(deliveries)
        result.faults = len(deliveries) - len(events)  # the duplicated (and shuffled) deliveries
        assert statuses.count(200) == len(deliveries), statuses

        for uid in users:
            keys = await stack.ledger_keys(uid)
            result.duplicated += len(keys) - len(set(keys))
            balance = await stack.balance(uid)
            result.lost += max(0, 25 - balance) // 5
            result.duplicated += max(0, balance - 25) // 5
        assert sum([await stack.balance(u) for u in users]) == 20 * 5
        assert await run_audit(stack.profile.store) == 0
    assert (result.lost, result.duplicated) == (0, 0)
