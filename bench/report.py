"""The printed table, the targets next to the measured ratios, and the PNG plot."""

from __future__ import annotations

from pathlib import Path

from bench.common import fmt_ms

# (key in ratios / top level, description, comparison operator, target)
TARGETS = (
    ("get_profile_vs_echo_c16", "GetProfile rps / echo rps, c16", ">=", 0.6),
    ("grant_tokens_vs_echo_c16", "GrantTokens rps / echo rps, c16", ">=", 0.5),
    ("gateway_vs_fastapi_c16", "gateway GET /v1/profile rps / bare FastAPI rps, c16", ">=", 0.5),  # issue 15
    ("history_100k_vs_10", "latency 100k entries / 10 entries (reads)", "<=", 1.2),
    ("history_100k_vs_10_writes", "(extra) GrantTokens latency 100k / 10 entries", "<=", 1.2),
    ("purchase_to_balance_p50_ms", "purchase -> balance p50 (ms)", "<=", 50.0),
    ("firestore_hot_user_spends_per_s", "Firestore emulator: one user, 64 spenders, spends/s", ">=", 500.0),
)


def target_rows(result: dict) -> list[dict]:
    rows = []
    for key, label, op, target in TARGETS:
        if key == "purchase_to_balance_p50_ms":
            value = (result.get("purchase_to_balance_ms") or {}).get("p50")
        else:
            value = result["ratios"].get(key)
        met = None if value is None else (value >= target if op == ">=" else value <= target)
        rows.append({"key": key, "label": label, "target": f"{op} {target}", "measured": value, "met": met})
    return rows


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(result: dict) -> str:
    lines: list[str] = []
    m = result["machine"]
    lines.append(
        f"machine: {m['nproc']} cpus ({m.get('cpu_model', '?')}), load average before "
        f"{m['loadavg_before']} after {m['loadavg_after']}; generator: gRPC {m['grpc_generator']}, "
        f"HTTP {m['http_generator']}; {m['seconds_per_measurement']}s x {m['repeats']} alternating rounds "
        f"per level, medians"
    )
    for scenario in result["scenarios"]:
        lines.append("")
        lines.append(f"== {scenario.get('title', scenario['name'])}")
        if scenario.get("from_run"):
            lines.append(f"   (not run this time: figures of the run started {scenario['from_run']})")
        if scenario.get("skipped"):
            lines.append(f"   SKIPPED: {scenario['skipped']}")
            continue
        if scenario.get("error"):
            lines.append(f"   FAILED: {scenario['error']}")
            continue
        for cname, comp in scenario.get("comparisons", {}).items():
            a, s = comp["anchor"], comp["service"]
            lines.append(f"   [{cname}]  anchor = {a}")
            lines.append(
                f"   {'c':>3} | {a[:22]:>22} rps   p50      p99     | {s[:22]:>22} rps   p50      p99     | ratio rps"
            )
            for c, fa in comp["figures"][a].items():
                fs = comp["figures"][s][c]
                r = None if not fa["rps"] else fs["rps"] / fa["rps"]
                errs = {
                    **{f"anchor:{k}": v for k, v in fa["errors"].items()},
                    **dict(fs["errors"]),
                }
                lines.append(
                    f"   {c:>3} | {_num(fa['rps']):>26} {fmt_ms(fa['p50_ms']):>8} {fmt_ms(fa['p99_ms']):>8}"
                    f" | {_num(fs['rps']):>26} {fmt_ms(fs['p50_ms']):>8} {fmt_ms(fs['p99_ms']):>8}"
                    f" | {_num(r, 2):>5}" + (f"  {errs}" if errs else "")
                )
        if "purchase" in scenario:
            p = scenario["purchase"]
            lines.append(
                f"   {p['count']} purchases: p50 {fmt_ms(p['p50_ms'])}  p99 {fmt_ms(p['p99_ms'])}  "
                f"min {fmt_ms(p['min_ms'])}  max {fmt_ms(p['max_ms'])}  (webhook reply alone: p50 "
                f"{fmt_ms(p.get('webhook_p50_ms'))})"
            )
        if "original_layout_model" in scenario:
            mod = scenario["original_layout_model"]
            lines.append(
                f"   original layout model: entry {mod['entry_bytes']} B, base doc {mod['document_base_bytes']} B "
                f"-> 1 MiB reached after {mod['max_entries_in_1mib']:,} entries "
                f"({mod['with_ledger_fields']['max_entries_in_1mib']:,} with the ledger's per-entry fields)"
            )
            for row in mod["decode"]:
                lines.append(
                    f"     N={row['entries']:>7,}: firestore size {row['firestore_size_bytes']:>9,} B"
                    f"{'' if row['fits_1mib'] else ' (over 1 MiB)':13} pb parse {row['pb_parse_ms']:>8.2f}ms"
                    f"  client decode {row['client_decode_ms']:>9.2f}ms  json {row['json_round_trip_ms']:>8.2f}ms"
                )
        if "drain" in scenario:
            d = scenario["drain"]
            lines.append(f"   outcomes: {scenario['outcomes']}; retries: none (single writer thread)")
            lines.append(
                f"   drain {d['balance_before']} tokens with {d['spenders']} spenders: {d['outcomes']} in "
                f"{d['seconds']}s, exactly drained: {d['exactly_drained']}; audit: {scenario['audit']['output']}"
            )
        if "firestore_hot_user_spends_per_s" in scenario:
            for label, counts in scenario["outcomes"].items():
                bal = scenario["balances"][label]
                lines.append(
                    f"   {label}: outcomes {counts} (call deadline {scenario['call_timeout_s']}s); balance spent "
                    f"{bal['spent']} for {bal['ok_answers']} OK answers; audit: {scenario['audit'][label]['output']}"
                )
        rss = scenario.get("peak_rss_mb")
        if rss:
            lines.append("   peak RSS (MB): " + ", ".join(f"{k} {v}" for k, v in rss.items()))
    lines.append("")
    lines.append("== Targets (measured, not asserted)")
    for row in target_rows(result):
        mark = "n/a " if row["met"] is None else ("MET " if row["met"] else "MISS")
        lines.append(f"   {mark} {row['label']:<55} target {row['target']:>8}  measured {_num(row['measured'], 3)}")
    lines.append(f"total run time: {result['total_seconds']:.0f}s")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = [
        (s["title"].split(".")[0], name, c)
        for s in result["scenarios"]
        if not s.get("skipped") and not s.get("error")
        for name, c in s.get("comparisons", {}).items()
    ]
    extras = [s for s in result["scenarios"] if ("purchase" in s or "original_layout_model" in s)]
    rows = len(comps) + (1 if extras else 0)
    if rows == 0:
        return
    fig, axes = plt.subplots(rows, 3, figsize=(15, 3.2 * rows), squeeze=False)
    for i, (title, name, comp) in enumerate(comps):
        for j, (metric, label) in enumerate(
            (("rps", "requests/s"), ("p50_ms", "p50 latency (ms)"), ("p99_ms", "p99 latency (ms)"))
        ):
            ax = axes[i][j]
            for who, style in ((comp["anchor"], "--o"), (comp["service"], "-s")):
                # Levels are ints in this run's figures and strings in those kept from latest.json (--only).
                figures = {int(c): v for c, v in comp["figures"][who].items()}
                levels = sorted(figures)
                ax.plot(levels, [figures[c][metric] for c in levels], style, label=who)
            ax.set_xscale("log", base=2)
            ax.set_ylim(bottom=0)
            ax.set_xticks(levels, [str(c) for c in levels])
            ax.set_xlabel("concurrency")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            if j == 0:
                ax.set_title(f"{title}. {name}: {comp['service']} vs {comp['anchor']} (dashed)", fontsize=9, loc="left")
                ax.legend(fontsize=8)
    if extras:
        ax_row = axes[rows - 1]
        used = 0
        for s in extras:
            if "original_layout_model" in s:
                mod = s["original_layout_model"]
                ns = [r["entries"] for r in mod["decode"]]
                ax = ax_row[used]
                ax.plot(
                    ns, [r["client_decode_ms"] for r in mod["decode"]], "-o", label="client decode (original array)"
                )
                ax.plot(ns, [r["json_round_trip_ms"] for r in mod["decode"]], "-s", label="JSON round trip")
                ax.plot(ns, [r["pb_parse_ms"] for r in mod["decode"]], "-^", label="protobuf parse")
                gp = s["comparisons"]["get_profile"]
                big_n = s["setup"]["entries"]
                comp = {who: {int(c): v for c, v in f.items()} for who, f in gp["figures"].items()}
                if 1 in comp[gp["anchor"]]:
                    ax.plot(
                        [10, big_n],
                        [comp[gp["anchor"]][1]["p50_ms"], comp[gp["service"]][1]["p50_ms"]],
                        "-D",
                        label="GetProfile p50 c1 (ledger, measured)",
                    )
                ax.axvline(mod["max_entries_in_1mib"], color="red", linestyle=":", label="1 MiB limit")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("history entries")
                ax.set_ylabel("ms per profile read")
                ax.set_title("original layout: whole history in the user document", fontsize=9, loc="left")
                ax.legend(fontsize=7)
                ax.grid(True, alpha=0.3)
                used += 1
            if "purchase" in s and s["purchase"].get("samples_ms"):
                ax = ax_row[used]
                ax.hist(s["purchase"]["samples_ms"], bins=30)
                ax.axvline(50, color="red", linestyle=":", label="target p50 50 ms")
                ax.set_xlabel("purchase -> balance (ms)")
                ax.set_ylabel("purchases")
                ax.set_title("purchase to balance", fontsize=9, loc="left")
                ax.legend(fontsize=7)
                used += 1
        for k in range(used, 3):
            ax_row[k].axis("off")
    m = result["machine"]
    fig.suptitle(
        f"token backend bench - {m['nproc']} cpus, load {m['loadavg_before']} -> {m['loadavg_after']}, "
        f"{result['started_at']}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
