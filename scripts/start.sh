#!/usr/bin/env bash
# The main job: install Gusu, create a local chain on embedded defaults (first run only) and run its node
# in the foreground, printing its endpoints. Ctrl-C stops it; running this again resumes the same chain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

chain_dir="${GUSU_CHAIN_DIR:-.gusu/local}"
if [ ! -f "$chain_dir/genesis.json" ]; then
    .venv/bin/gusu chain init --dir "$chain_dir" --suite "${GUSU_SUITE:-sm}"
fi
exec .venv/bin/gusu node start --dir "$chain_dir/node0"
