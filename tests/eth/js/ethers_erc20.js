// ethers v6, unchanged, against a Gusu node's Ethereum JSON-RPC (issue 10, item 5; driven by
// tests/eth/test_eth_ethers.py). Usage: node ethers_erc20.js RPC_URL WS_URL PRIVATE_KEY_HEX TOKEN_ARTIFACT_JSON
// Deploys the ERC-20 fixture, calls, estimates, transfers with ethers' default and an EIP-1559
// transaction, reads receipts and events (by receipt, by range, through a polling filter and a
// WebSocket subscription), and checks a revert reason and a custom error as ethers decodes them. Any
// failed check throws (exit status 1); on success it prints one JSON line of what it saw.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  AbiCoder,
  Contract,
  ContractFactory,
  JsonRpcProvider,
  Wallet,
  WebSocketProvider,
  getCreateAddress,
  isError,
  keccak256,
  toBeHex,
} from "ethers";

const [url, wsUrl, privateKey, artifactPath] = process.argv.slice(2);
assert.ok(
  url && wsUrl && privateKey && artifactPath,
  "usage: node ethers_erc20.js RPC_URL WS_URL PRIVATE_KEY_HEX TOKEN_ARTIFACT_JSON",
);
const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
const SUPPLY = 10n ** 24n;
const OTHER = "0x" + "42".repeat(20);

// Two client options, both for a chain that commits within milliseconds: poll often (ethers' default
// is every 4 s), and do not share identical requests for 250 ms (ethers' cacheTimeout), which would
// hand a second transaction sent within 250 ms of the first the same "pending" nonce (the same
// happens against any instantly-mining node, Hardhat's included; NonceManager is the other cure).
const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 50, cacheTimeout: -1 });
const wallet = new Wallet(privateKey, provider);

// An awaited event that never comes fails the check in bounded time instead of hanging the test.
function within(promise, what, timeoutMs = 10_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function expectRevert(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(isError(error, "CALL_EXCEPTION"), `expected CALL_EXCEPTION, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.fail("the call did not revert");
}

const network = await provider.getNetwork();
const seen = { chainId: network.chainId.toString() };
const feeData = await provider.getFeeData();
assert.equal(feeData.gasPrice, 0n);
// A base fee of 0 reads as "no EIP-1559" to ethers (it tests the base fee for truth), so its defaults
// are legacy transactions at eth_gasPrice; typed transactions work when asked for (below).
seen.defaultMaxFeePerGas = feeData.maxFeePerGas === null ? null : feeData.maxFeePerGas.toString();
assert.equal(await provider.getTransactionCount(wallet.address, "pending"), 0);
// eth_feeHistory through the provider (ethers v6 has no helper for it; wallets and fee estimators call it so).
const history = await provider.send("eth_feeHistory", ["0x2", "latest", [10, 90]]);
assert.equal(history.baseFeePerGas.length, history.gasUsedRatio.length + 1);
assert.ok(history.baseFeePerGas.every((fee) => BigInt(fee) === 0n));
assert.ok(history.reward.every((rewards) => rewards.length === 2 && rewards.every((tip) => BigInt(tip) === 0n)));
assert.equal(BigInt(await provider.send("eth_maxPriorityFeePerGas", [])), 0n);
seen.feeHistoryBlocks = history.gasUsedRatio.length;

// Deploy, ethers estimating the creation's gas (eth_estimateGas runs it through evm.deploy_static).
const factory = new ContractFactory(artifact.abi, artifact.bytecode, wallet);
const token = await factory.deploy("Gusu", "GSU", SUPPLY);
const deployment = await token.deploymentTransaction().wait();
assert.equal(deployment.status, 1);
const tokenAddress = await token.getAddress();
assert.equal(tokenAddress, getCreateAddress({ from: wallet.address, nonce: 0 }));
assert.equal(deployment.contractAddress, tokenAddress);
assert.equal(await token.totalSupply(), SUPPLY);
assert.equal(await token.symbol(), "GSU");
seen.deployGasUsed = deployment.gasUsed.toString();
seen.deployType = deployment.type;

// eth_call with a state override (geth's third parameter) through the provider: a fresh holder's balance slot
// (balanceOf is the token's storage slot 3) seen as 777 for this call only.
const fresh = "0x" + "45".repeat(20);
const slot = keccak256(AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [fresh, 3]));
const overridden = await provider.send("eth_call", [
  { to: tokenAddress, data: token.interface.encodeFunctionData("balanceOf", [fresh]) },
  "latest",
  { [tokenAddress]: { stateDiff: { [slot]: toBeHex(777n, 32) } } },
]);
assert.equal(BigInt(overridden), 777n);
assert.equal(await token.balanceOf(fresh), 0n);
seen.overriddenBalance = BigInt(overridden).toString();

// Subscriptions over the WebSocket (eth_subscribe newHeads and logs) and a polling filter over HTTP
// (eth_newFilter, eth_getFilterChanges), both listening before the transfers.
const wsProvider = new WebSocketProvider(wsUrl);
const wsToken = new Contract(tokenAddress, artifact.abi, wsProvider);
const subscribedLog = new Promise((resolve) => wsToken.once("Transfer", (...args) => resolve(args.at(-1).args.value)));
const subscribedBlock = new Promise((resolve) => wsProvider.once("block", (number) => resolve(number)));
const filteredLog = new Promise((resolve) =>
  // The listener's last argument is always the event payload (with a topic filter it is the only one).
  token.once(token.filters.Transfer(null, OTHER), (...args) => resolve(args.at(-1).args.value)),
);
await new Promise((resolve) => setTimeout(resolve, 300)); // let both subscriptions be installed

// A transfer with ethers' own choices (gas from eth_estimateGas), then an explicit EIP-1559 one.
const estimate = await token.transfer.estimateGas(OTHER, 5n);
assert.ok(estimate > 21_000n && estimate < 200_000n, `estimate ${estimate}`);
const first = await (await token.transfer(OTHER, 5n)).wait();
assert.equal(first.status, 1);
const parsed = first.logs.map((log) => token.interface.parseLog(log));
assert.deepEqual(
  parsed.map((event) => [event.name, event.args.to, event.args.value]),
  [["Transfer", OTHER, 5n]],
);
const sent = await token.transfer(OTHER, 7n, { type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
assert.equal(sent.type, 2);
const second = await sent.wait();
assert.equal(second.status, 1);
assert.equal(second.type, 2);
const fetched = await provider.getTransaction(sent.hash);
assert.equal(fetched.signature.r, sent.signature.r);
assert.equal(fetched.signature.s, sent.signature.s);
assert.equal(fetched.nonce, 2);
assert.equal(fetched.type, 2);
assert.equal(fetched.maxFeePerGas, 0n);
assert.equal(fetched.maxPriorityFeePerGas, 0n);
assert.equal(fetched.chainId, network.chainId);
const block = await provider.getBlock(second.blockNumber, true);
assert.equal(block.prefetchedTransactions[0].hash, sent.hash);
assert.equal(block.baseFeePerGas, 0n);
assert.equal(block.gasUsed, second.cumulativeGasUsed);
assert.equal(await within(subscribedLog, "the logs subscription's Transfer"), 5n);
assert.ok((await within(subscribedBlock, "a newHeads notification")) >= first.blockNumber);
assert.equal(await within(filteredLog, "the polling filter's Transfer"), 5n);
await wsProvider.destroy();
assert.equal(await token.balanceOf(OTHER), 12n);
assert.equal(await provider.getTransactionCount(wallet.address, "latest"), 3);
seen.transferGasUsed = second.gasUsed.toString();

// Events by range and topic (eth_getLogs).
const transfers = await token.queryFilter(token.filters.Transfer(null, OTHER), 0, "latest");
assert.deepEqual(
  transfers.map((event) => [event.args.value, event.transactionHash]),
  [
    [5n, first.hash],
    [7n, second.hash],
  ],
);

// Reverts: a reason string, and a custom error decoded with the ABI.
const reasoned = await expectRevert(token.transferFrom.staticCall(wallet.address, OTHER, 1n));
assert.equal(reasoned.reason, "Token: allowance exceeded");
const stranger = Wallet.createRandom().connect(provider);
const custom = await expectRevert(token.connect(stranger).transfer.staticCall(OTHER, 1n));
assert.equal(custom.revert?.name, "InsufficientBalance");
assert.equal(custom.revert.args[0], stranger.address);
// Sending a reverting transaction: ethers' estimate refuses it with the reason first...
const estimated = await expectRevert(token.transferFrom(wallet.address, OTHER, 1n));
assert.equal(estimated.reason, "Token: allowance exceeded");
// ...and with a gas limit given, it is mined with status 0 and wait() throws with the receipt.
const mined = await token.transferFrom(wallet.address, OTHER, 1n, { gasLimit: 100_000 });
const failed = await expectRevert(mined.wait());
assert.equal(failed.receipt.status, 0);
assert.equal(await provider.getTransactionCount(wallet.address, "latest"), 4);
seen.reason = reasoned.reason;
seen.customError = custom.revert.name;

// A refusal: a used nonce comes back as ethers' NONCE_EXPIRED from the -32000 message.
try {
  await wallet.sendTransaction({ to: OTHER, value: 1n, nonce: 0, gasLimit: 21_000, gasPrice: 0n });
  assert.fail("a used nonce was accepted");
} catch (error) {
  assert.ok(isError(error, "NONCE_EXPIRED"), `expected NONCE_EXPIRED, got ${error.code}: ${error.message}`);
}

provider.destroy();
console.log(JSON.stringify(seen));
