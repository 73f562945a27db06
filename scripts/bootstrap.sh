#!/usr/bin/env bash
# Creates .venv with Gusu installed. Usage: scripts/bootstrap.sh [extra]   (extra: "test" adds the test tools)
# Works on a fresh Debian machine that has only Python 3.11+ and apt: missing system packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"
python="${PYTHON:-python3}"

need_apt=()
command -v "$python" >/dev/null 2>&1 || need_apt+=(python3)
"$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ "$extra" = "test" ]; then
    # Tools some tests drive; under CI=true a test that lacks one fails instead of skipping (tests/conftest.py).
    command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    fi
fi

"$python" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Gusu needs Python 3.11 or newer; this is {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.gusu-installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    if [ -n "$extra" ]; then
        .venv/bin/python -m pip install -q -e ".[$extra]"
    else
        .venv/bin/python -m pip install -q -e .
    fi
    touch "$stamp"
fi
