"""Small clients for the /_standin control routes, for tests: `StandinControl` (async) and
`StandinControlSync`. Helpers wait for webhook delivery by default so assertions can follow."""

from __future__ import annotations

from typing import Any

import httpx


class StandinControlError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"stand-in control call failed ({status}): {body}")
        self.status = status
        self.body = body


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class _Requests:
    """(method, path, json body) for each control call; shared by the async and sync clients."""

    @staticmethod
    def complete_session(session_id: str, outcome: str = "paid", *, wait: bool = True, email: str | None = None):
        return (
            "POST",
            f"/_standin/checkout/sessions/{session_id}/complete",
            _drop_none({"outcome": outcome, "wait": wait, "email": email}),
        )

    @staticmethod
    def refund_charge(charge_id: str, amount: int | None = None, *, wait: bool = True):
        return "POST", f"/_standin/charges/{charge_id}/refund", _drop_none({"amount": amount, "wait": wait})

    @staticmethod
    def fail_refund(refund_id: str, failure_reason: str | None = None, *, wait: bool = True):
        return (
            "POST",
            f"/_standin/refunds/{refund_id}/fail",
            _drop_none({"failure_reason": failure_reason, "wait": wait}),
        )

    @staticmethod
    def dispute_charge(charge_id: str, amount: int | None = None, *, reason: str | None = None, wait: bool = True):
        return (
            "POST",
            f"/_standin/charges/{charge_id}/dispute",
            _drop_none({"amount": amount, "reason": reason, "wait": wait}),
        )

    @staticmethod
    def close_dispute(dispute_id: str, status: str, *, wait: bool = True):
        return "POST", f"/_standin/disputes/{dispute_id}/close", {"status": status, "wait": wait}

    @staticmethod
    def cancel_subscription(sub_id: str, *, wait: bool = True):
        return "POST", f"/_standin/subscriptions/{sub_id}/cancel", {"wait": wait}

    @staticmethod
    def update_subscription(
        sub_id: str, *, status: str | None = None, cancel_at_period_end: bool | None = None, wait: bool = True
    ):
        return (
            "POST",
            f"/_standin/subscriptions/{sub_id}/update",
            _drop_none({"status": status, "cancel_at_period_end": cancel_at_period_end, "wait": wait}),
        )

    @staticmethod
    def renew_subscription(sub_id: str, *, wait: bool = True):
        return "POST", f"/_standin/subscriptions/{sub_id}/renew", {"wait": wait}

    @staticmethod
    def events():
        return "GET", "/_standin/events", None

    @staticmethod
    def redeliver(event_id: str, *, wait: bool = True):
        return "POST", f"/_standin/events/{event_id}/redeliver", {"wait": wait}

    @staticmethod
    def signed_event(event_id: str):
        return "GET", f"/_standin/events/{event_id}/signed", None

    @staticmethod
    def add_fault(
        match: str, mode: str = "500", *, times: int = 1, after_effect: bool = False, seconds: float | None = None
    ):
        return (
            "POST",
            "/_standin/faults",
            _drop_none(
                {"match": match, "mode": mode, "times": times, "after_effect": after_effect, "seconds": seconds}
            ),
        )

    @staticmethod
    def clear_faults():
        return "DELETE", "/_standin/faults", None

    @staticmethod
    def state():
        return "GET", "/_standin/state", None

    @staticmethod
    def reset():
        return "POST", "/_standin/reset", None

    @staticmethod
    def configure(
        *, webhook_url: str | None = None, webhook_secret: str | None = None, webhook_delay_ms: int | None = None
    ):
        return (
            "POST",
            "/_standin/config",
            _drop_none(
                {"webhook_url": webhook_url, "webhook_secret": webhook_secret, "webhook_delay_ms": webhook_delay_ms}
            ),
        )

    @staticmethod
    def advance_clock(seconds: int):
        return "POST", "/_standin/clock/advance", {"seconds": seconds}

    @staticmethod
    def backdate(object_id: str, seconds: int):
        """A refund or dispute (and its events so far) made `seconds` earlier."""
        return "POST", f"/_standin/objects/{object_id}/backdate", {"seconds": seconds}


def _result(resp: httpx.Response) -> Any:
    body = resp.json()
    if resp.status_code >= 400:
        raise StandinControlError(resp.status_code, body)
    return body["data"] if isinstance(body, dict) and body.get("object") == "list" else body


class StandinControl:
    """Async: `ctl = StandinControl(base_url); await ctl.complete_session(cs_id)`."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False)

    def __getattr__(self, name: str) -> Any:
        build = getattr(_Requests, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            method, path, body = build(*args, **kwargs)
            return _result(await self._http.request(method, path, json=body))

        return call

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> StandinControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class StandinControlSync:
    """Blocking twin of StandinControl (use with start_standin_in_thread)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)

    def __getattr__(self, name: str) -> Any:
        build = getattr(_Requests, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            method, path, body = build(*args, **kwargs)
            return _result(self._http.request(method, path, json=body))

        return call

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StandinControlSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
