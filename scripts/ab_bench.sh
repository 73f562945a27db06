#!/usr/bin/env bash
# A/B throughput of two checkouts on the same machine, alternating so both see the same background load.
# Usage: scripts/ab_bench.sh OUT_DIR ROUNDS CHECKOUT_A CHECKOUT_B [gusu bench options...]
# Each checkout is a git worktree of this repository; both run with this repository's .venv, and each
# imports its own code (PYTHONPATH). Prints, per run: checkout, round, tps, tps_to_verify_ratio, verify rate.
set -euo pipefail
out="$1"; rounds="$2"; first="$3"; second="$4"; shift 4
python="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
    for checkout in "$first" "$second"; do
        name="$(basename "$checkout")"
        (cd "$checkout" && PYTHONPATH="$checkout/src" timeout 600 "$python" -m gusu.cli.main bench "$@" --json \
            > "$out/$name-$round.json" 2> "$out/$name-$round.err")
        "$python" - "$out/$name-$round.json" "$name" "$round" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
print(sys.argv[2], sys.argv[3], result.get("tps"), result.get("tps_to_verify_ratio"), result.get("verify_rate_per_core"))
PY
    done
done
