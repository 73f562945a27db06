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
# The native state-tree module (src/gusu/ledger/_smt_native.c, docs/state.md) is compiled on install: a C
# compiler, OpenSSL 3's libcrypto headers, and the headers of the Python that builds it.
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
[ -e /usr/include/openssl/evp.h ] || need_apt+=(libssl-dev)
"$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    >/dev/null 2>&1 || need_apt+=(python3-dev)
if [ "$extra" = "test" ]; then
    # Tools some tests drive; under CI=true a test that lacks one fails instead of skipping (tests/conftest.py).
    command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
    # The console's browser tests (tests/console/test_console_browser.py) drive Debian's Chromium.
    command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
    # A CJK font, so that the zh-CN screenshots show characters (users' browsers bring their own).
    [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt+=(fonts-wqy-zenhei)
    # The evidence certificate tests render its PDF to an image and read the QR code (tests/apps/evidence).
    command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
    command -v zbarimg >/dev/null 2>&1 || need_apt+=(zbar-tools)
    # The console's metadata store tests start a throw-away PostgreSQL cluster (tests/console/conftest.py).
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
    # The Ethereum tool tests (tests/eth) run ethers from the npm registry under Debian's Node.js.
    command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
    command -v npm >/dev/null 2>&1 || need_apt+=(npm)
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
# Dependencies come from a lock that pins every package by version and hash (docs/dependencies.md): validators
# that encode, hash or execute with different library versions could disagree on a block.
case "$extra" in
    "") lock="requirements/lock.txt" ;;
    test) lock="requirements/test-lock.txt" ;;
    *) echo "bootstrap.sh: unknown extra '$extra' (expected nothing or 'test')" >&2; exit 2 ;;
esac
stamp=".venv/.gusu-installed${extra:+-$extra}"
# The stamp holds the hash of what was installed, so any change to the lock, pyproject.toml or the native module's
# build or source reinstalls (which compiles the module into src/gusu/ledger/).
wanted="$(cat "$lock" pyproject.toml setup.py src/gusu/ledger/_smt_native.c | "$python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    .venv/bin/python -m pip install -q --require-hashes -r "$lock"
    # The build backend (setuptools) is in the lock too: build with it rather than fetch an unpinned one.
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
    echo "$wanted" > "$stamp"
fi
