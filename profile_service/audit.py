"""`python -m profile_service audit`: every balance must equal the sum of its ledger entries."""

from __future__ import annotations

import json
import sys

from profile_service.store.base import ProfileStore


async def run_audit(store: ProfileStore, out=sys.stdout) -> int:
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
                    }
                ),
                file=out,
            )
    print(f"audit: {users} users checked, {bad} mismatched", file=out)
    return 1 if bad else 0
