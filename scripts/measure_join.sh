#!/usr/bin/env bash
# Time a fresh node joining a generated chain (issue 13, item 5).
#
#   scripts/measure_join.sh DIR [replay|state-sync] [TIMEOUT_S] [JOINER_TOML] [SOURCE_TOML]
#
# DIR comes from `gusu bench generate --out DIR`. node0 (the generated chain) is started and waited for;
# then node1 starts from an empty store and is polled until it reaches node0's tip (or TIMEOUT_S, default
# 1800, passes: then the rate over the last half of the samples and an extrapolation to the tip are given).
# Both nodes are stopped at the end. One JSON document on stdout (also saved as DIR/join-<mode>.json).
#
# state-sync: node1's config.toml gets `[state_sync] enabled = true` for the run (or the TOML file given as
# JOINER_TOML, when the state-sync settings are named otherwise); a node without state sync refuses the
# section before anything starts. SOURCE_TOML, if given, is appended to node0's config.toml for the run
# (e.g. the settings under which it takes and offers snapshots).
set -euo pipefail
dir=${1:?usage: scripts/measure_join.sh DIR [replay|state-sync] [TIMEOUT_S] [JOINER_TOML] [SOURCE_TOML]}
mode=${2:-replay}
timeout=${3:-1800}
joiner_toml=${4:-}
source_toml=${5:-}
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=/work/main/.venv/bin/python
args=(bench join "$dir" --timeout "$timeout" --json)
case "$mode" in
  replay) ;;
  state-sync)
    if [ -n "$joiner_toml" ]; then args+=(--joiner-config "$joiner_toml"); else args+=(--state-sync); fi ;;
  *) echo "mode must be replay or state-sync, not $mode" >&2; exit 2 ;;
esac
if [ -n "$source_toml" ]; then args+=(--source-config "$source_toml"); fi
PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}" "$python" -m gusu.cli.main "${args[@]}" | tee "$dir/join-$mode.json"
