"""Scenario 4: history growth. GetProfile and the first ListTokenHistory page for a user with 10 ledger entries
versus one with 100,000, alternating, next to a model of the original layout (history as an array inside
the user document).

The 10 entries are written through GrantTokens. The 100,000 are bulk-inserted into the SQLite file while the
service is stopped, built with the domain's own entry ids and fingerprints and the store's own row format,
with consecutive seq and running balance_after; `python -m profile_service audit` must then pass."""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import grpc

from bench import history_model
from bench.common import PROFILE_SERVICE, BenchConfig, Stopwatch, alternate, profile_proc, ratio, run_audit, stub_call
from bench.grpc_load import UnaryTarget, run_load
from bench.procs import ProcGroup
from profile_service.domain.ledger import LedgerChange
from profile_service.domain.model import EntryType, LedgerEntry
from profile_service.store.sqlite_store import ENTRY_COLUMNS, _entry_row
from tokens.profile.v1 import profile_service_pb2 as pb

NAME = "history"
SMALL, LARGE = "history-10", "history-100k"
GRANT = 5
# Both users' first page holds the same number of entries (the 10-entry user has exactly 10), so the comparison
# is about the history behind the page, not about the size of the page.
PAGE = 10
# Writes (GrantTokens) are compared too: each write run on the small side gets a fresh user with 10 entries
# (so it really has ~10, not the thousands earlier runs added), and every write run stops after WRITE_CAP calls.
WRITE_CAP = 200


def _source(i: int) -> dict[str, str]:
    return {
        "checkout_session_id": f"cs_hist_{i}",
        "price_id": "price_onetime_5_tokens",
        "product_id": "prod_token_pack",
    }


def bulk_insert(db, uid: str, count: int) -> float:
    """Appends `count` purchase entries of GRANT tokens after the user's current ones, in one transaction,
    and moves the profile's tokens/ledger_seq along. Returns seconds taken."""
    started = time.perf_counter()
    conn = sqlite3.connect(str(db), isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        tokens, seq = conn.execute("SELECT tokens, ledger_seq FROM users WHERE uid = ?", (uid,)).fetchone()
        base_time = datetime.now(UTC) - timedelta(seconds=count)
        rows = []
        for i in range(count):
            change = LedgerChange(
                kind="grant",
                uid=uid,
                amount=GRANT,
                type=EntryType.PURCHASE,
                idempotency_key=f"cs_hist_{i}",
                source=_source(i),
            )
            seq += 1
            tokens += GRANT
            rows.append(
                _entry_row(
                    LedgerEntry(
                        entry_id=change.entry_id,
                        uid=uid,
                        seq=seq,
                        amount=GRANT,
                        type=EntryType.PURCHASE,
                        timestamp=base_time + timedelta(seconds=i),
                        balance_after=tokens,
                        idempotency_key=change.idempotency_key,
                        fingerprint=change.fingerprint,
                        source=change.source,
                    )
                )
            )
        conn.executemany(
            f"INSERT INTO token_history ({', '.join(ENTRY_COLUMNS)}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})",
            rows,
        )
        conn.execute("UPDATE users SET tokens = ?, ledger_seq = ? WHERE uid = ?", (tokens, seq, uid))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


async def run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    db = folder / "profile.sqlite3"
    setup = Stopwatch()
    fresh = [f"history-10-w{i:02d}" for i in range(len(cfg.levels) * (cfg.repeats + 1))]
    # Phase 1: profiles and the 10 real entries through the service.
    group = ProcGroup()
    try:
        first = group.add(profile_proc(cfg, folder, name="profile-setup", db=db))
        await first.wait_grpc()
        async with grpc.aio.insecure_channel(first.target) as channel:
            create = stub_call(channel, "CreateProfile", pb.CreateProfileRequest, pb.CreateProfileResponse)
            grant = stub_call(channel, "GrantTokens", pb.GrantTokensRequest, pb.GrantTokensResponse)
            for uid in (SMALL, LARGE):
                await create(
                    pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"), metadata=cfg.metadata("gateway")
                )
            for uid in [SMALL, *fresh]:
                if uid != SMALL:
                    await create(
                        pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"), metadata=cfg.metadata("gateway")
                    )
                for i in range(10):
                    await grant(
                        pb.GrantTokensRequest(
                            uid=uid,
                            amount=GRANT,
                            type=pb.TOKEN_ENTRY_TYPE_PURCHASE,
                            idempotency_key=f"cs_hist_{i}",
                            source=_source(i),
                        ),
                        metadata=cfg.metadata("billing"),
                    )
    finally:
        group.stop_all()
    # Phase 2: the 100,000, straight into the file, then the audit.
    insert_s = bulk_insert(db, LARGE, cfg.history_entries)
    audit_rc, audit_out = run_audit(cfg, db)
    cfg.log(f"  bulk insert of {cfg.history_entries} entries: {insert_s:.2f}s; audit: {audit_out.splitlines()[-1]!r}")
    if audit_rc != 0:
        raise RuntimeError(f"audit failed after bulk insert:\n{audit_out}")
    setup_s = setup.seconds

    # Phase 3: measure.
    big = f"{cfg.history_entries // 1000}k entries" if cfg.history_entries >= 1000 else f"{cfg.history_entries} entries"
    group = ProcGroup()
    try:
        profile = group.add(profile_proc(cfg, folder, db=db))
        await profile.wait_grpc()
        meta = cfg.metadata("gateway")

        def target(method: str, req, resp) -> UnaryTarget:
            return UnaryTarget(profile.target, PROFILE_SERVICE + method, req.SerializeToString, resp.FromString, meta)

        get_t = target("GetProfile", pb.GetProfileRequest, pb.GetProfileResponse)
        list_t = target("ListTokenHistory", pb.ListTokenHistoryRequest, pb.ListTokenHistoryResponse)
        await get_t.ready()
        await list_t.ready()
        # Sanity: both users answer, and the big one's first page is full and newest first.
        page = await list_t.call(pb.ListTokenHistoryRequest(uid=LARGE, page_size=PAGE), metadata=meta)
        assert len(page.entries) == PAGE and page.next_page_token, "first page of the 100k user is not full"
        assert page.entries[0].balance_after == GRANT * cfg.history_entries, "first page is not the newest"
        big_reply = await get_t.call(pb.GetProfileRequest(uid=LARGE), metadata=meta)
        assert big_reply.profile.tokens == GRANT * cfg.history_entries

        def runner(t: UnaryTarget, req):
            return lambda c, s: run_load(t, lambda w, n: req, c, s)

        grant_t = UnaryTarget(
            profile.target,
            PROFILE_SERVICE + "GrantTokens",
            pb.GrantTokensRequest.SerializeToString,
            pb.GrantTokensResponse.FromString,
            cfg.metadata("billing"),
        )
        await grant_t.ready()
        fresh_users = iter(fresh)
        write_runs = itertools.count()

        def grant_runner(next_uid):
            async def go(c: int, s: float):
                uid, prefix = next_uid(), f"cs_w{next(write_runs)}_"
                return await run_load(
                    grant_t,
                    lambda w, n: pb.GrantTokensRequest(
                        uid=uid,
                        amount=GRANT,
                        type=pb.TOKEN_ENTRY_TYPE_PURCHASE,
                        idempotency_key=prefix + str(n),
                        source=_source(n),
                    ),
                    c,
                    s,
                    max_requests=WRITE_CAP,
                )

            return go

        try:
            get_fig = await alternate(
                cfg,
                {
                    "10 entries": runner(get_t, pb.GetProfileRequest(uid=SMALL)),
                    big: runner(get_t, pb.GetProfileRequest(uid=LARGE)),
                },
                title="GetProfile",
            )
            list_fig = await alternate(
                cfg,
                {
                    "10 entries": runner(list_t, pb.ListTokenHistoryRequest(uid=SMALL, page_size=PAGE)),
                    big: runner(list_t, pb.ListTokenHistoryRequest(uid=LARGE, page_size=PAGE)),
                },
                title="ListTokenHistory",
            )
            grant_fig = await alternate(
                cfg,
                {
                    "10 entries": grant_runner(lambda: next(fresh_users)),
                    big: grant_runner(lambda: LARGE),
                },
                title=f"GrantTokens (<= {WRITE_CAP} per run)",
            )
        finally:
            await get_t.close()
            await list_t.close()
            await grant_t.close()
        rss = group.rss_mb()
    finally:
        group.stop_all()

    ratios: dict[str, float | None] = {}
    for method, fig in (("get_profile", get_fig), ("list_history", list_fig), ("grant_tokens", grant_fig)):
        for c in cfg.levels:
            ratios[f"{method}_p50_100k_vs_10_c{c}"] = ratio(fig[big][c]["p50_ms"], fig["10 entries"][c]["p50_ms"])
            ratios[f"{method}_rps_10_vs_100k_c{c}"] = ratio(fig["10 entries"][c]["rps"], fig[big][c]["rps"])
    headline_c = 16 if 16 in cfg.levels else cfg.levels[0]
    headline = max(
        v
        for v in (
            ratios[f"get_profile_p50_100k_vs_10_c{headline_c}"],
            ratios[f"list_history_p50_100k_vs_10_c{headline_c}"],
        )
        if v is not None
    )
    return {
        "name": NAME,
        "title": "4. History growth: 10 vs 100,000 ledger entries (GetProfile, first ListTokenHistory page; GrantTokens)",
        "comparisons": {
            "get_profile": {"anchor": "10 entries", "service": big, "figures": get_fig},
            "list_history": {"anchor": "10 entries", "service": big, "figures": list_fig, "page_size": PAGE},
            "grant_tokens": {
                "anchor": "10 entries",
                "service": big,
                "figures": grant_fig,
                "note": f"writes; a fresh 10-entry user per run, at most {WRITE_CAP} calls per run",
            },
        },
        "ratios": ratios,
        "history_100k_vs_10": headline,
        "history_100k_vs_10_definition": (
            f"worst of the p50 latency ratios (100k / 10) of GetProfile and the first "
            f"ListTokenHistory page ({PAGE} entries) at concurrency {headline_c}"
        ),
        "history_100k_vs_10_writes": ratios[f"grant_tokens_p50_100k_vs_10_c{headline_c}"],
        "setup": {
            "entries": cfg.history_entries,
            "bulk_insert_s": round(insert_s, 2),
            "audit": audit_out,
            "setup_s": setup_s,
        },
        "original_layout_model": history_model.run_model(),
        "peak_rss_mb": rss,
    }
