"""Which caller may call which ProfileService method (least privilege). GrantTokens can print money,
so only billing may call it."""

from __future__ import annotations

_SERVICE = "/tokens.profile.v1.ProfileService/"

PERMISSIONS: dict[str, frozenset[str]] = {
    # Billing creates a missing profile before a first checkout (a profile starts with 0 tokens).
    _SERVICE + "CreateProfile": frozenset({"gateway", "billing"}),
    _SERVICE + "GetProfile": frozenset({"gateway", "billing", "backend"}),
    _SERVICE + "UpdateProfile": frozenset({"gateway"}),
    _SERVICE + "ListTokenHistory": frozenset({"gateway", "backend"}),
    _SERVICE + "GrantTokens": frozenset({"billing"}),
    _SERVICE + "RevokeTokens": frozenset({"billing"}),
    _SERVICE + "LinkStripeCustomer": frozenset({"billing"}),
    _SERVICE + "SetEntitlements": frozenset({"billing"}),
    _SERVICE + "SpendTokens": frozenset({"backend"}),
    # Billing reads what a purchase granted and what a refund or dispute took, to undo exactly that.
    _SERVICE + "GetLedgerEntry": frozenset({"billing"}),
    # The browser's live balance (GET /v1/profile/events) goes through the gateway.
    _SERVICE + "WatchProfile": frozenset({"gateway"}),
    # Holds for long or streaming jobs: reserve up front, then capture what was used or release.
    _SERVICE + "ReserveTokens": frozenset({"backend"}),
    _SERVICE + "CaptureHold": frozenset({"backend"}),
    _SERVICE + "ReleaseHold": frozenset({"backend"}),
    # Operators (python -m profile_service.admin): promotional grants and adjustments only.
    _SERVICE + "AdminGrantTokens": frozenset({"admin"}),
}
