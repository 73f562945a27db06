#!/bin/sh
# Compiles the EVM test contracts (tests/execution/evm/fixtures/*.sol) into the committed JSON artifacts.
# Installs solc-js (pure JavaScript/WebAssembly, no binary download) from the npm registry into the
# gitignored .solc/ and runs it with the system node. See docs/evm.md.
set -eu
SOLC_VERSION=0.8.28
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$root/.solc/node_modules/solc/package.json" ] ||
   ! grep -q "\"version\": \"$SOLC_VERSION\"" "$root/.solc/node_modules/solc/package.json"; then
    mkdir -p "$root/.solc"
    (cd "$root/.solc" && npm install --no-save --no-audit --no-fund "solc@$SOLC_VERSION" >/dev/null)
fi
fixtures="$root/tests/execution/evm/fixtures"
node "$root/scripts/evm_compile.js" "$root/.solc/node_modules/solc" "$fixtures" "$fixtures"/*.sol
