// ethers v6, unchanged, against a Gusu node's Ethereum JSON-RPC (issue 10, item 5; driven by
// tests/eth/test_eth_ethers.py). Usage: node ethers_erc20.js RPC_URL PRIVATE_KEY_HEX TOKEN_ARTIFACT_JSON
// Deploys the ERC-20 fixture, transfers with a legacy and an EIP-1559 transaction, reads events by
// receipt and by range, and checks a revert reason and a custom error as ethers decodes them. Any
// failed check throws (exit status 1); on success it prints one JSON line of what it saw.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ContractFactory, JsonRpcProvider, Wallet, getCreateAddress, isError } from "ethers";

const [url, privateKey, artifactPath] = process.argv.slice(2);
assert.ok(url && privateKey && artifactPath, "usage: node ethers_erc20.js RPC_URL PRIVATE_KEY_HEX TOKEN_ARTIFACT_JSON");
const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
const SUPPLY = 10n ** 24n;
const OTHER = "0x" + "42".repeat(20);

// Two client options, both for a chain that commits within milliseconds: poll often (ethers' default
// is every 4 s), and do not share identical requests for 250 ms (ethers' cacheTimeout), which would
// hand a second transaction sent within 250 ms of the first the same "pending" nonce (the same
// happens against any instantly-mining node, Hardhat's included; NonceManager is the other cure).
const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 50, cacheTimeout: -1 });
const wallet = new Wallet(privateKey, provider);

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
assert.equal(await provider.getTransactionCount(wallet.address, "pending"), 0);

// Deploy. Gusu's eth_estimateGas does not run creations, so the deployment names its gas limit.
const factory = new ContractFactory(artifact.abi, artifact.bytecode, wallet);
const token = await factory.deploy("Gusu", "GSU", SUPPLY, { gasLimit: 3_000_000 });
const deployment = await token.deploymentTransaction().wait();
assert.equal(deployment.status, 1);
const tokenAddress = await token.getAddress();
assert.equal(tokenAddress, getCreateAddress({ from: wallet.address, nonce: 0 }));
assert.equal(deployment.contractAddress, tokenAddress);
assert.equal(await token.totalSupply(), SUPPLY);
assert.equal(await token.symbol(), "GSU");
seen.deployGasUsed = deployment.gasUsed.toString();
seen.deployType = deployment.type;

// A transfer with ethers' own fee choice (gas estimated by eth_estimateGas), then an explicit EIP-1559 one.
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
