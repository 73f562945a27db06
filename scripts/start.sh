#!/usr/bin/env bash
# The main job: install Gusu, create a local chain on embedded defaults (first run only), serve its web
# console (http://127.0.0.1:8600, GUSU_CONSOLE=0 to skip) and run its node in the foreground, printing its
# endpoints. Ctrl-C stops both; running this again resumes the same chain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

chain_dir="${GUSU_CHAIN_DIR:-.gusu/local}"
if [ ! -f "$chain_dir/genesis.json" ]; then
    .venv/bin/gusu chain init --dir "$chain_dir" --suite "${GUSU_SUITE:-sm}"
fi
console_pid=""
if [ "${GUSU_CONSOLE:-1}" != "0" ]; then
    # The console polls the node and shows it as unreachable until the node below is up.
    .venv/bin/gusu console --port "${GUSU_CONSOLE_PORT:-8600}" &
    console_pid=$!
    trap 'kill "$console_pid" 2>/dev/null || true' EXIT
fi
.venv/bin/gusu node start --dir "$chain_dir/node0"
