"""STRIPE_STANDIN_STATE_FILE: what the stand-in knows survives a restart (as `make run` restarts it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe

from devtools.stripe_standin import StandinControl, StandinSettings, run_standin

API_KEY = "sk_test_state_file"
PAYMENT: stripe.params.checkout.SessionCreateParams = {
    "mode": "payment",
    "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
    "success_url": "https://app.example/ok",
}


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def _client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "data" / "stripe_standin.json"
    settings = StandinSettings(state_file=str(state_file))
    async with run_standin(settings) as url:
        client = _client(url)
        customer = await client.v1.customers.create_async({"email": "a@example.com"}, {"idempotency_key": "cust-1"})
        session = await client.v1.checkout.sessions.create_async({**PAYMENT, "customer": customer.id})
        async with StandinControl(url) as ctl:
            paid = await ctl.complete_session(session.id, wait=False)
            dispute = (await ctl.dispute_charge(paid["charge"], wait=False))["dispute"]
            await ctl.advance_clock(120)
            counts = (await ctl.state())["counts"]
    assert state_file.exists()

    async with run_standin(settings) as url:
        client = _client(url)
        assert (await client.v1.customers.retrieve_async(customer.id)).email == "a@example.com"
        again = await client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["line_items"]})
        assert (again.payment_status, again.line_items.data[0].quantity) == ("paid", 1)
        assert (await client.v1.disputes.retrieve_async(dispute["id"])).charge == paid["charge"]
        # An idempotent retry after the restart replays the first answer instead of creating a second customer.
        replay = await client.v1.customers.create_async({"email": "a@example.com"}, {"idempotency_key": "cust-1"})
        assert replay.id == customer.id
        async with StandinControl(url) as ctl:
            state = await ctl.state()
            assert state["counts"] == counts
            # The clock offset too, so expiries do not jump back.
            assert state["now"] >= paid["session"]["created"] + 120
            await ctl.complete_session((await client.v1.checkout.sessions.create_async(PAYMENT)).id, wait=False)
            await ctl.reset()
    async with run_standin(settings) as url, StandinControl(url) as ctl:
        assert (await ctl.state())["counts"]["customers"] == 0  # a reset is saved too


async def test_without_a_state_file_nothing_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with run_standin(StandinSettings()) as url:
        await _client(url).v1.customers.create_async({})
    async with run_standin(StandinSettings()) as url, StandinControl(url) as ctl:
        assert (await ctl.state())["counts"]["customers"] == 0
    assert _files(tmp_path) == []
