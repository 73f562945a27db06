// Compiles Solidity sources into JSON artifacts (abi, bytecode, deployedBytecode) with solc-js.
// Usage: node scripts/evm_compile.js <solc module dir> <output dir> <file.sol>...
// scripts/evm-compile.sh installs the pinned solc from the npm registry and calls this; docs/evm.md.
"use strict";
const fs = require("fs");
const path = require("path");

const [solcDir, outputDir, ...files] = process.argv.slice(2);
const solc = require(path.resolve(solcDir));
const sources = {};
for (const file of files) {
  sources[path.basename(file)] = { content: fs.readFileSync(file, "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
if (errors.length > 0) process.exit(1);
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, artifact] of Object.entries(contracts)) {
    const result = {
      contractName: name,
      sourceName: file,
      compiler: "solc " + solc.version(),
      abi: artifact.abi,
      bytecode: "0x" + artifact.evm.bytecode.object,
      deployedBytecode: "0x" + artifact.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outputDir, name + ".json"), JSON.stringify(result, null, 1) + "\n");
    process.stdout.write("wrote " + path.join(outputDir, name + ".json") + "\n");
  }
}
