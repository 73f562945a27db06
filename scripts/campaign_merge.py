"""Merge the issue-7 campaign's chunk summaries (and the spam re-check) into one summary (docs/bft.md).

    python scripts/campaign_merge.py docs/campaigns/issue7

reads every `seeds-*.json` chunk summary there (written by `python -m gusu.eval.simulation ... --summary`) and
`spam-recheck.json`, and writes `summary.json`. Chunks written before the final idle checker (their summary has
no `idle_failures`) take their `spam` verdicts from the re-check.
"""

import glob
import json
import os
import sys

folder = sys.argv[1]


def read_json(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


chunks = sorted(
    (read_json(path) for path in glob.glob(os.path.join(folder, "seeds-*.json"))), key=lambda item: item["start"]
)
old = [item for item in chunks if "idle_failures" not in item]
new = [item for item in chunks if "idle_failures" in item]
shards = chunks
recheck_path = os.path.join(folder, "spam-recheck.json")
spam = read_json(recheck_path) if os.path.exists(recheck_path) else None
out = {
    "commands": [
        f"python -m gusu.eval.simulation --seeds {s['seeds']} --start {s['start']} --nodes 4,7 --jobs 2 --quiet "
        "--summary summary.json"
        for s in shards
    ],
    "checked_with_first_idle_allowance": [[s["start"], s["start"] + s["seeds"]] for s in old],
    "seed_ranges": sorted([s["start"], s["start"] + s["seeds"]] for s in shards),
    "seeds": sum(s["seeds"] for s in shards),
}
sum_keys = [
    "runs",
    "wait_runs",
    "blocks_committed",
    "empty_blocks",
    "blocks_committed_waiting",
    "empty_blocks_waiting",
    "transactions_acknowledged",
    "transactions_acknowledged_correct",
    "transactions_committed",
    "transactions_dropped",
    "simulated_ms",
    "events",
    "wall_seconds",
]
for k in sum_keys:
    out[k] = sum(s[k] for s in shards)
out["liveness_ms_max"] = max(s["liveness_ms_max"] for s in shards)
best = max(shards, key=lambda s: s["transaction_latency_ms_max"])
out["transaction_latency_ms_max"] = best["transaction_latency_ms_max"]
out["transaction_latency_run"] = best["transaction_latency_run"]
peaks = {}
for s in shards:
    for k, v in s["bookkeeping_peaks"].items():
        peaks[k] = max(peaks.get(k, 0), v)
out["bookkeeping_peaks"] = peaks
per = {}
for s in shards:
    for key, item in s["per_scenario"].items():
        agg = per.setdefault(key, {})
        for k, v in item.items():
            if k.endswith("_max") or k == "heights_min":
                agg[k] = (max if k.endswith("_max") else min)(agg.get(k, v), v)
            else:
                agg[k] = agg.get(k, 0) + v
out["per_scenario"] = per
failures = [f for s in shards for f in s["failures"]]
old_ranges = [(s["start"], s["start"] + s["seeds"]) for s in old]


def in_old(seed):
    return any(a <= seed < b for a, b in old_ranges)


def kinds(vs):
    return {
        "safety": any(not v.startswith(("liveness:", "memory:", "idle:")) for v in vs),
        "liveness": any(v.startswith("liveness:") for v in vs),
        "memory": any(v.startswith("memory:") for v in vs),
        "idle": any(v.startswith("idle:") for v in vs),
    }


out["failures_first_check"] = failures
if spam is not None:
    out["spam_recheck"] = {"runs": spam["runs"], "seconds": spam["seconds"], "failed": spam["failed"]}
    failures = [f for f in failures if not (f["scenario"] == "spam" and in_old(f["seed"]))] + [
        {"seed": r["seed"], "scenario": "spam", "nodes": r["nodes"], "violations": r["violations"]}
        for r in spam["failed"]
        if in_old(r["seed"])
    ]
    for n in (4, 7):
        per[f"spam/n={n}"]["failures"] = sum(1 for f in failures if f["scenario"] == "spam" and f["nodes"] == n)
out["failures"] = failures
for cat in ("safety", "liveness", "memory", "idle"):
    out[f"{cat}_failures"] = sum(1 for f in failures if kinds(f["violations"])[cat])
with open(os.path.join(folder, "summary.json"), "w") as handle:
    json.dump(out, handle, indent=2)
print(
    {
        k: out[k]
        for k in (
            "runs",
            "safety_failures",
            "liveness_failures",
            "memory_failures",
            "idle_failures",
            "liveness_ms_max",
            "transaction_latency_ms_max",
            "transactions_acknowledged_correct",
            "transactions_dropped",
            "wall_seconds",
        )
    }
)
