// A Hardhat 2 project with hardhat-toolbox, run against a Gusu node as an external network
// (tests/eth/test_eth_hardhat.py). Only two things are Gusu-specific: the "gusu" network (its URL and
// keys from the environment), and solc coming from the npm registry (the `solc` package, solc-js)
// instead of Hardhat's download from binaries.soliditylang.org, so that nothing is fetched outside the
// package registries.
require("@nomicfoundation/hardhat-toolbox");
const path = require("node:path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = "0.8.28";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) {
    return runSuper();
  }
  const solc = require("solc");
  return {
    compilerPath: path.join(path.dirname(require.resolve("solc/package.json")), "soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: solc.version(),
  };
});

module.exports = {
  solidity: {
    version: SOLC_VERSION,
    settings: { evmVersion: "cancun", optimizer: { enabled: true, runs: 200 } },
  },
  networks: {
    gusu: {
      url: process.env.GUSU_RPC_URL || "http://127.0.0.1:8545/rpc",
      accounts: (process.env.GUSU_PRIVATE_KEYS || "").split(",").filter((key) => key !== ""),
    },
  },
  mocha: { timeout: 60_000 },
};
