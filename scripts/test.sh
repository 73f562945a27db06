#!/usr/bin/env bash
# Installs Gusu with its test tools and runs the whole suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test

echo "== ruff"
.venv/bin/ruff check src tests
echo "== mypy --strict"
.venv/bin/mypy
if [ "$#" -gt 0 ]; then  # the tests named on the command line, in one process
    echo "== pytest"
    exec .venv/bin/python -m pytest -q "$@"
fi

# The whole suite in two processes side by side: in one it passes 30 minutes on these 2-core machines, and
# much of its time is spent waiting (node processes, block intervals, the browser). Each shard has its own
# temporary directory, so neither cleans the other's away; their reports are printed when both are done.
# Balanced by measurement (each report ends with its slowest tests): browser, apps and end-to-end tests in
# one (about 14 minutes), the rest in the other.
browser_and_apps=(tests/apps tests/console tests/eth tests/devkit tests/e2e)
others=()
for path in tests/*; do
    case "$path" in
        tests/apps | tests/console | tests/eth | tests/devkit | tests/e2e | tests/conftest.py | tests/__pycache__) continue ;;
    esac
    if [ -d "$path" ] || [[ "$path" == tests/test_*.py ]]; then others+=("$path"); fi
done
shards=$(mktemp -d)
echo "== pytest (two shards: ${browser_and_apps[*]} | the rest)"
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 --basetemp "$shards/tmp-a" "${browser_and_apps[@]}" \
    > "$shards/a.log" 2>&1 &
first=$!
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 --basetemp "$shards/tmp-b" "${others[@]}" > "$shards/b.log" 2>&1 &
second=$!
status=0
wait "$first" || status=1
wait "$second" || status=1
echo "== shard 1: ${browser_and_apps[*]}"
cat "$shards/a.log"
echo "== shard 2: the rest"
cat "$shards/b.log"
rm -rf "$shards"
exit "$status"
