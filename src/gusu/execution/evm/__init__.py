"""The EVM execution engine: Solidity contracts inside Gusu's state (docs/evm.md).

The native contract `evm` (`gusu.execution.evm.contract`) deploys and calls EVM contracts; their
accounts, code and storage live in its state namespace (`gusu.execution.evm.world` has the key
layout) and commit with the rest of the block. A chain runs it when its genesis lists "evm".

Importing py-evm raises the process's recursion limit (to 100,000, through py_ecc). The limit
changes what the rest of the process accepts (the sandbox's parser refuses deep expressions by
it), so it is restored here, right after the import; the engine sets its own bound, relative to
the stack it starts from, only while an EVM call runs (`gusu.execution.evm.engine.run_message`).
"""

import sys

_recursion_limit = sys.getrecursionlimit()
import eth.vm.forks.cancun.state  # noqa: E402, F401 -- loads py-evm and py_ecc once, here
import py_ecc  # noqa: E402, F401

sys.setrecursionlimit(_recursion_limit)
