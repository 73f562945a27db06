// The project's Mocha tests, written as for Hardhat's own network (no waiting for mining, balance-change
// matchers): `npx hardhat test --network gusu`. The node runs with `[eth] send_waits_for_commit`.
const { expect } = require("chai");
const { ethers } = require("hardhat");

describe("GusuToken", function () {
  let token;
  let owner;
  let alice;
  let bob;

  before(async function () {
    [owner, alice, bob] = await ethers.getSigners();
    token = await ethers.deployContract("GusuToken", [1000n]);
    await token.waitForDeployment();
  });

  it("mints the supply to the deployer", async function () {
    expect(await token.totalSupply()).to.equal(1000n);
    expect(await token.balanceOf(owner.address)).to.equal(1000n);
    expect(await token.name()).to.equal("Gusu Token");
  });

  it("transfers tokens between accounts", async function () {
    await expect(token.transfer(alice.address, 50n)).to.changeTokenBalances(token, [owner, alice], [-50n, 50n]);
    await expect(token.connect(alice).transfer(bob.address, 20n)).to.changeTokenBalances(
      token,
      [alice, bob],
      [-20n, 20n],
    );
    expect(await token.balanceOf(bob.address)).to.equal(20n);
  });

  it("emits Transfer events", async function () {
    await expect(token.transfer(alice.address, 5n))
      .to.emit(token, "Transfer")
      .withArgs(owner.address, alice.address, 5n);
    await expect(token.connect(alice).transfer(bob.address, 1n)).to.changeTokenBalance(token, bob, 1n);
  });

  it("reverts with OpenZeppelin's custom errors", async function () {
    const initial = await token.balanceOf(owner.address);
    await expect(token.connect(bob).transfer(owner.address, 1000n))
      .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
      .withArgs(bob.address, 21n, 1000n);
    await expect(token.connect(alice).mint(alice.address, 1n))
      .to.be.revertedWithCustomError(token, "OwnableUnauthorizedAccount")
      .withArgs(alice.address);
    expect(await token.balanceOf(owner.address)).to.equal(initial);
  });

  it("moves ether and reports the balance changes", async function () {
    await expect(owner.sendTransaction({ to: alice.address, value: 200n })).to.changeEtherBalances(
      [owner, alice],
      [-200n, 200n],
    );
  });

  it("finds its events by range", async function () {
    const events = await token.queryFilter(token.filters.Transfer(null, bob.address), 0, "latest");
    expect(events.map((event) => event.args.value)).to.deep.equal([20n, 1n]);
  });
});
