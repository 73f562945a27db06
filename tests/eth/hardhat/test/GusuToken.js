// The project's Mocha tests, as written for any Ethereum network: `npx hardhat test --network gusu`.
const { expect } = require("chai");
const { ethers } = require("hardhat");

describe("GusuToken", function () {
  let token;
  let owner;
  const other = "0x" + "42".repeat(20);

  before(async function () {
    [owner] = await ethers.getSigners();
    token = await ethers.deployContract("GusuToken", [1000n]);
    await token.waitForDeployment();
  });

  it("mints the supply to the deployer", async function () {
    expect(await token.totalSupply()).to.equal(1000n);
    expect(await token.balanceOf(owner.address)).to.equal(1000n);
    expect(await token.name()).to.equal("Gusu Token");
  });

  it("transfers and emits Transfer", async function () {
    const receipt = await (await token.transfer(other, 25n)).wait();
    expect(receipt.status).to.equal(1);
    const [event] = receipt.logs.map((log) => token.interface.parseLog(log));
    expect(event.name).to.equal("Transfer");
    expect(event.args.to).to.equal(other);
    expect(event.args.value).to.equal(25n);
    expect(await token.balanceOf(other)).to.equal(25n);
  });

  // Through Hardhat's provider a revert arrives as a ProviderError carrying geth's code 3 and the revert
  // data, as from any external network; the contract's interface decodes OpenZeppelin's custom errors.
  async function revertOf(promise) {
    try {
      await promise;
    } catch (error) {
      expect(error.code).to.equal(3);
      return token.interface.parseError(error.data);
    }
    expect.fail("the call did not revert");
  }

  it("reverts with OpenZeppelin's custom errors", async function () {
    const stranger = ethers.Wallet.createRandom().connect(ethers.provider);
    const poor = await revertOf(token.connect(stranger).transfer.staticCall(other, 1n));
    expect(poor.name).to.equal("ERC20InsufficientBalance");
    expect(poor.args[0]).to.equal(stranger.address);
    const unauthorized = await revertOf(token.connect(stranger).mint.staticCall(other, 1n));
    expect(unauthorized.name).to.equal("OwnableUnauthorizedAccount");
  });

  it("passes hardhat-chai-matchers' transaction matchers", async function () {
    const stranger = ethers.Wallet.createRandom().connect(ethers.provider);
    // `emit` reads the receipt as soon as the transaction is sent (Hardhat's instant mining); on an
    // external network the test waits for it to be mined first.
    const sent = await token.transfer(other, 1n);
    await sent.wait();
    await expect(sent).to.emit(token, "Transfer").withArgs(owner.address, other, 1n);
    await expect(token.connect(stranger).transfer(other, 1n))
      .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
      .withArgs(stranger.address, 0n, 1n);
    await expect(token.connect(stranger).mint(other, 1n)).to.be.revertedWithCustomError(
      token,
      "OwnableUnauthorizedAccount",
    );
    // changeTokenBalances / changeEtherBalances read balances at the block before the transaction,
    // which a Gusu node cannot answer (it keeps the latest state only; docs/evm.md): not used here.
    await (await token.transfer(other, 2n)).wait();
  });

  it("finds its events by range", async function () {
    const events = await token.queryFilter(token.filters.Transfer(null, other), 0, "latest");
    expect(events.map((event) => event.args.value)).to.deep.equal([25n, 1n, 2n]);
  });
});
