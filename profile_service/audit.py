"""`python -m profile_service audit`: every balance must equal the sum of its ledger entries, the newest
entry's balance_after, and the profile's ledger_seq must equal its number of entries; the debt must equal
sum(debt_added) - sum(debt_settled) of the entries and be 0 while tokens are above 0; the active grants hold
no more than the balance and the holds no more than it either; a ledger whose user document is gone is a
mismatch. Expiries that are due but not yet written are in neither the stored balance nor the entries (reads
show them at once; `sweep` writes them), so the audit compares like with like. Exit 1 on any mismatch."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from profile_service.store.base import ProfileStore


async def run_audit(store: ProfileStore, out: TextIO = sys.stdout) -> int:
    users = bad = 0
    async for row in store.audit_rows():
        users += 1
        if not row.ok:
            bad += 1
            print(
                json.dumps(
                    {
                        "uid": row.uid,
                        "tokens": row.tokens,
                        "entries_sum": row.entries_sum,
                        "entries": row.entries_count,
                        "newest_balance_after": row.newest_balance_after,
                        "ledger_seq": row.ledger_seq,
                        "profile_exists": row.profile_exists,
                        "debt": row.debt,
                        "entries_debt": row.entries_debt,
                        "grants_remaining": row.grants_remaining,
                        "held": row.held,
                    }
                ),
                file=out,
            )
    print(f"audit: {users} users checked, {bad} mismatched", file=out)
    return 1 if bad else 0
