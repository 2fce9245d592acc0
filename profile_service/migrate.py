"""`python -m profile_service migrate`: brings profiles written by the original app onto the ledger.

Run once against an existing Firestore database before serving traffic (running it again changes nothing;
a grant or spend on a profile not yet migrated adopts its balance the same way, in its own transaction).
A profile with tokens but no ledger entries gets one opening-balance entry; a profile whose ledger is
already in use but does not add up, or a ledger whose user document is gone, is reported for a person to
reconcile, never patched silently. A document that cannot be migrated is reported and the run goes on."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from profile_service.domain.ledger import (
    OPENING_BALANCE_KEY,
    Decide,
    LedgerResult,
    Writes,
    entry_id_for,
    open_legacy_balance,
)
from profile_service.domain.model import LedgerEntry, Profile
from profile_service.store.base import ProfileStore


def _adopt(uid: str) -> Decide[LedgerResult | None]:
    def decide(profile: Profile | None, prior: LedgerEntry | None, now: datetime) -> Writes[LedgerResult | None]:
        return open_legacy_balance(profile, prior, uid, now)

    return decide


async def run_migration(store: ProfileStore, out: TextIO = sys.stdout) -> int:
    adopted = skipped = conflicts = failed = 0
    async for row in store.audit_rows():
        if row.ok:
            continue
        if row.profile_exists and row.entries_count == 0 and row.tokens > 0:
            uid = row.uid
            try:
                result = await store.transact(uid, entry_id_for(uid, OPENING_BALANCE_KEY), _adopt(uid))
            except Exception as exc:  # one bad document must not stop the run
                failed += 1
                print(f"could not migrate {uid}: {exc.__class__.__name__}: {exc}", file=out)
                continue
            if result is not None:
                adopted += 1
                print(f"adopted opening balance {row.tokens} for {uid}", file=out)
            else:
                skipped += 1
        else:
            conflicts += 1
            print(
                f"needs reconciling by hand: {row.uid} tokens={row.tokens} entries_sum={row.entries_sum} "
                f"entries={row.entries_count} ledger_seq={row.ledger_seq} profile_exists={row.profile_exists}",
                file=out,
            )
    print(
        f"migrate: {adopted} opening balances adopted, {skipped} skipped, {conflicts} need reconciling, "
        f"{failed} failed",
        file=out,
    )
    return 1 if conflicts or failed else 0
