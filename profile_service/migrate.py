"""`python -m profile_service migrate`: brings profiles written by the original app onto the ledger.

Run once against an existing Firestore database before serving traffic (running it again changes nothing).
A profile with tokens but no ledger entries gets one opening-balance entry; a profile whose ledger is
already in use but does not add up is reported for a person to reconcile, never patched silently."""

from __future__ import annotations

import sys

from profile_service.domain.ledger import OPENING_BALANCE_KEY, entry_id_for, open_legacy_balance
from profile_service.store.base import ProfileStore


async def run_migration(store: ProfileStore, out=sys.stdout) -> int:
    adopted = skipped = conflicts = 0
    async for row in store.audit_rows():
        if row.ok:
            continue
        if row.entries_count == 0 and row.tokens > 0:
            uid = row.uid
            result = await store.transact(
                uid,
                entry_id_for(uid, OPENING_BALANCE_KEY),
                lambda profile, prior, now: open_legacy_balance(profile, prior, uid, now),
            )
            if result is not None:
                adopted += 1
                print(f"adopted opening balance {row.tokens} for {uid}", file=out)
            else:
                skipped += 1
        else:
            conflicts += 1
            print(f"needs reconciling by hand: {row.uid} tokens={row.tokens} entries_sum={row.entries_sum}", file=out)
    print(f"migrate: {adopted} opening balances adopted, {skipped} skipped, {conflicts} need reconciling", file=out)
    return 1 if conflicts else 0
