// An OpenZeppelin ERC-721 with AccessControl roles: `npx hardhat test --network gusu`.
const { expect } = require("chai");
const { ethers } = require("hardhat");

describe("GusuCollectible", function () {
  let collectible;
  let admin;
  const holder = "0x" + "44".repeat(20);

  before(async function () {
    [admin] = await ethers.getSigners();
    collectible = await ethers.deployContract("GusuCollectible", [admin.address]);
    await collectible.waitForDeployment();
  });

  it("mints only for the minter role (AccessControl)", async function () {
    const minterRole = await collectible.MINTER_ROLE();
    await expect(collectible.mint(holder, 1n))
      .to.be.revertedWithCustomError(collectible, "AccessControlUnauthorizedAccount")
      .withArgs(admin.address, minterRole);
    await expect(collectible.grantRole(minterRole, admin.address))
      .to.emit(collectible, "RoleGranted")
      .withArgs(minterRole, admin.address, admin.address);
    expect(await collectible.hasRole(minterRole, admin.address)).to.equal(true);
    await expect(collectible.mint(holder, 1n))
      .to.emit(collectible, "Transfer")
      .withArgs(ethers.ZeroAddress, holder, 1n);
    expect(await collectible.ownerOf(1n)).to.equal(ethers.getAddress(holder));
    expect(await collectible.balanceOf(holder)).to.equal(1n);
  });

  it("refuses what ERC-721 refuses", async function () {
    await expect(collectible.mint(holder, 1n)).to.be.revertedWithCustomError(collectible, "ERC721InvalidSender");
    await expect(collectible.ownerOf(2n))
      .to.be.revertedWithCustomError(collectible, "ERC721NonexistentToken")
      .withArgs(2n);
    // A contract that is no ERC-721 receiver cannot be minted to (_safeMint checks the receiver).
    await expect(collectible.mint(await collectible.getAddress(), 3n)).to.be.revertedWithCustomError(
      collectible,
      "ERC721InvalidReceiver",
    );
  });

  it("reports its interfaces (ERC-165)", async function () {
    expect(await collectible.supportsInterface("0x80ac58cd")).to.equal(true); // ERC-721
    expect(await collectible.supportsInterface("0x7965db0b")).to.equal(true); // AccessControl
  });
});
