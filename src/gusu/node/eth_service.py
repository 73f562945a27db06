"""What a node offers the Ethereum JSON-RPC beyond `NodeService`: raw Ethereum transactions.

The `eth_*` methods that read state, blocks and transactions (gusu.api.eth) need only `NodeService`:
its transaction records carry Ethereum transactions too (`TransactionRecord.transaction` is
`Transaction | EthTransaction`), so ``eth_getTransactionByHash`` and full blocks need nothing more.
A node that executes Ethereum transactions (issue 10, item 2) also offers ``eth_sendRawTransaction``,
Ethereum's receipt fields for ``eth_getTransactionReceipt``, ``eth_getTransactionCount`` with
``pending`` (counting the pool), the fee policy's price for ``eth_gasPrice`` and the base fee, and
views on the state after a past block (state methods with a block number, within ``[eth]
state_history_blocks``).
`gusu.node.node.Node` implements `EthTransactionService`; the API checks for it at run time
(``isinstance``), so a node without it (a test fake) still serves everything else and answers
these with "not supported on this node".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gusu.errors import GusuError
from gusu.execution import CallResult
from gusu.ledger.types import Address, Hash, Height
from gusu.node.service import EthReceiptRecord

if TYPE_CHECKING:  # py-evm loads only on chains with the evm contract
    from gusu.execution.evm.overrides import EthStateOverride


@runtime_checkable
class EthTransactionService(Protocol):
    """The node side of the raw-transaction ``eth_*`` methods."""

    async def submit_eth_raw_transaction(self, raw: bytes) -> Hash:
        """Decode, check and admit one raw Ethereum transaction; its keccak-256 hash.

        Raises a `GusuError` saying why when it is refused (wrong chain, nonce too low, pool full, ...);
        the API passes the message to the client under JSON-RPC code -32000.
        """
        ...

    async def submit_eth_raw_transactions(self, raws: Sequence[bytes]) -> list[Hash | GusuError]:
        """`submit_eth_raw_transaction` of several at once, admitted together: each one's hash, or the
        `GusuError` that refused it, in order."""
        ...

    def get_eth_receipt(self, transaction_hash: bytes) -> EthReceiptRecord | None:
        """The receipt of a committed Ethereum transaction; None while pending or if unknown."""
        ...

    def get_eth_transaction_count(self, address: bytes, *, is_pending: bool = False) -> int:
        """The committed EVM nonce of `address`; with `is_pending`, past its pooled Ethereum transactions
        that follow it without a gap (the next nonce a wallet should use)."""
        ...

    def call_at_height(
        self,
        height: Height,
        contract: str,
        method: str,
        args: bytes,
        sender: Address | None,
        state_overrides: Sequence[EthStateOverride] = (),
    ) -> CallResult:
        """Run a view on the committed state after block `height` (at most the tip), seen through
        `state_overrides` (`gusu.execution.evm.overrides`) for this call.

        Raises NotFoundError when the node no longer keeps that state (``[storage] state_versions_kept``),
        else what `NodeService.call` raises.
        """
        ...

    def get_eth_gas_price(self) -> int:
        """The chain's fee policy: the fixed price per gas (genesis ``evm_gas_price``; 0 for no fee, and
        on a chain without the evm contract)."""
        ...


__all__ = ["EthTransactionService"]
