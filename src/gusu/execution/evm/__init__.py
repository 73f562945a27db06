"""The EVM execution engine: Solidity contracts inside Gusu's state (docs/evm.md).

The native contract `evm` (`gusu.execution.evm.contract`) deploys and calls EVM contracts; their
accounts, code and storage live in its state namespace (`gusu.execution.evm.world` has the key
layout) and commit with the rest of the block. A chain runs it when its genesis lists "evm".
"""
