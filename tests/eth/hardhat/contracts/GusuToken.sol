// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// An OpenZeppelin ERC-20 as a Hardhat project would write it: the owner mints.
contract GusuToken is ERC20, Ownable {
    constructor(uint256 supply) ERC20("Gusu Token", "GUSU") Ownable(msg.sender) {
        _mint(msg.sender, supply);
    }

    function mint(address to, uint256 value) external onlyOwner {
        _mint(to, value);
    }
}
