// The project's deploy script: `npx hardhat run scripts/deploy.js --network gusu`.
const hre = require("hardhat");

async function main() {
  const [deployer] = await hre.ethers.getSigners();
  const token = await hre.ethers.deployContract("GusuToken", [10n ** 24n]);
  await token.waitForDeployment();
  console.log(JSON.stringify({ token: await token.getAddress(), deployer: deployer.address }));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
