#!/usr/bin/env bash
# Regenerates requirements/lock.txt (runtime) and requirements/test-lock.txt (runtime + the "test" extra)
# from pyproject.toml: every package, transitive ones and the build backend included, pinned by version and
# sha256 hash. Run it from any directory after changing dependencies in pyproject.toml, then commit both files:
#
#     requirements/update-locks.sh                          # add/remove what pyproject.toml changed, keep other pins
#     requirements/update-locks.sh --upgrade                # move every package to its newest release
#     requirements/update-locks.sh --upgrade-package NAME   # move one package
#
# It resolves against PyPI only, ignoring this machine's pip configuration (local indexes, find-links,
# constraints), so the result installs on any clean machine. Use CPython 3.11 (the version the locks are
# made for): set PYTHON=python3.11 if `python3` is another version. See docs/dependencies.md.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
pip_tools_version="7.6.2"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT

export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT PIP_NO_INDEX
"$python" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install -q "pip-tools==$pip_tools_version"

compile() {
    CUSTOM_COMPILE_COMMAND="requirements/update-locks.sh" "$tools/venv/bin/pip-compile" -q \
        --generate-hashes --allow-unsafe --strip-extras --build-deps-for=editable \
        --index-url https://pypi.org/simple --no-emit-index-url \
        "$@" pyproject.toml
}
compile --output-file requirements/lock.txt "$@"
compile --extra test --output-file requirements/test-lock.txt "$@"
