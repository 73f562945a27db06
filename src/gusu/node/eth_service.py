"""What a node offers the Ethereum JSON-RPC beyond `NodeService`: raw Ethereum transactions.

The `eth_*` methods that read state and blocks (gusu.api.eth) need only `NodeService`. Three more
need a node that executes Ethereum transactions (issue 10, item 2): ``eth_sendRawTransaction``,
``eth_getTransactionByHash`` and ``eth_getTransactionReceipt``; ``eth_getTransactionCount`` with
``pending`` uses `get_eth_pending_nonce`, and the gas price and base fee come from
`get_eth_gas_price`, when the node has them (else the latest nonce, and price 0). A node offers them by implementing
`EthTransactionService` (structurally: the API checks for the methods, so a node without them still
serves everything else and answers these with "not supported on this node").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.types import Address, Hash, Height, Receipt


@dataclass(frozen=True, slots=True)
class EthTransactionRecord:
    """A raw Ethereum transaction the node knows: pending (no block yet) or committed."""

    transaction: EthTransaction
    """Decoded by `decode_eth_transaction`; its `transaction_hash` is the keccak-256 of the raw bytes."""
    height: Height | None = None
    """None while pending."""
    index: int | None = None
    """Its position in the block's transaction list (Gusu and Ethereum transactions counted alike)."""
    block_hash: Hash | None = None


@dataclass(frozen=True, slots=True)
class EthReceiptRecord:
    """The outcome of a committed Ethereum transaction."""

    transaction: EthTransaction
    receipt: Receipt
    """The block's receipt for it: `status`, and its logs as the `evm` contract's ``Log`` events
    (data ``[address, [topic, ...], data]``), only when it succeeded. `receipt.gas_used` is the
    Ethereum gas used, so that a block's receipts add up to its ``gasUsed``."""
    height: Height
    index: int
    block_hash: Hash
    contract_address: Address | None
    """The created contract's address for a creation that succeeded, else None."""
    effective_gas_price: int
    """The price per gas the sender paid (the chain's fee policy)."""


class EthTransactionService(Protocol):
    """The node side of the raw-transaction ``eth_*`` methods (implemented by item 2's `Node`)."""

    async def submit_eth_raw_transaction(self, raw: bytes) -> Hash:
        """Decode, check and admit one raw Ethereum transaction; its keccak-256 hash.

        Raises a `GusuError` saying why when it is refused (wrong chain, nonce too low, pool full, ...);
        the API passes the message to the client under JSON-RPC code -32000.
        """
        ...

    def get_eth_transaction(self, transaction_hash: Hash) -> EthTransactionRecord | None:
        """A pending or committed Ethereum transaction by its keccak-256 hash; None if unknown."""
        ...

    def get_eth_receipt(self, transaction_hash: Hash) -> EthReceiptRecord | None:
        """The receipt of a committed Ethereum transaction; None while pending or if unknown."""
        ...

    def get_eth_pending_nonce(self, address: Address) -> int:
        """The next nonce `address` should use, counting its transactions waiting in the pool."""
        ...

    def get_eth_gas_price(self) -> int:
        """The chain's fee policy: the fixed price per gas (genesis ``evm_gas_price``; 0 for no fee)."""
        ...


__all__ = ["EthReceiptRecord", "EthTransactionRecord", "EthTransactionService"]
