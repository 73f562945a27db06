"""Reading an Ethereum transaction's receipt back as Ethereum's receipt fields (for `eth_*` APIs).

An Ethereum transaction's Gusu `Receipt` (built by the executor from `ethapply.EthExecution`) holds:

* ``status``: SUCCESS or FAILED (Ethereum's ``status`` 1 or 0);
* ``gas_used``: Ethereum's ``gasUsed`` exactly (0 for an invalid transaction, code ``eth_invalid``,
  which changed nothing and used no nonce);
* ``events``: the EVM's logs, each a `Log` event of contract `evm` with data
  ``[address, [topic, ...], data]``, in execution order (none when it failed);
* ``return_value``: canonical ``[contract address (20 bytes) or b"", revert data]``; an invalid
  transaction's is the encoding of None;
* ``error_code``/``error_message``: ``reverted`` with ``execution reverted (data=0x..): reason``,
  ``out_of_gas``, ``eth_invalid`` or a Gusu limit's code.

`compute_eth_receipt_fields` turns that plus the transaction into `EthReceiptFields`. What depends on
the block (blockHash, blockNumber, transactionIndex, cumulativeGasUsed, each log's logIndex) is the
caller's: it knows the block and the position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gusu.codec import decode, expect_bytes, expect_list
from gusu.errors import CodecError
from gusu.execution.evm.contract import EVM_CONTRACT, LOG_EVENT
from gusu.execution.evm.engine import EvmLog
from gusu.ledger.ethtx import EthTransaction, compute_bloom_bits
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Event, Hash, Receipt

LOGS_BLOOM_BYTES = 256
LOG_TOPICS_MAX = 4


@dataclass(frozen=True, slots=True)
class EthReceiptFields:
    """An Ethereum receipt's transaction-level fields."""

    transaction_hash: Hash
    transaction_type: int
    """0 legacy, 1 EIP-2930, 2 EIP-1559 (the receipt's ``type``)."""
    sender: Address
    """``from``."""
    to: Address | None
    """None for a creation."""
    status: int
    """1 success, 0 failure."""
    gas_used: int
    effective_gas_price: int
    """The chain's evm_gas_price: what was paid per gas."""
    contract_address: Address | None
    """The created contract of a successful creation, else None."""
    logs: tuple[EvmLog, ...]
    logs_bloom: bytes
    """256 bytes."""
    revert_data: bytes
    """The revert data of a revert (ethers and web3 decode reasons and custom errors from it), else empty."""


def decode_eth_logs(events: Iterable[Event]) -> tuple[EvmLog, ...]:
    """The EVM logs among a receipt's events (the `Log` events of contract `evm`), in order."""
    logs = []
    for event in events:
        if event.contract != EVM_CONTRACT or event.name != LOG_EVENT:
            continue
        fields = expect_list(decode(event.data), "log", 3)
        if len(fields) != 3:
            raise CodecError("an EVM log is [address, topics, data]")
        topics = expect_list(fields[1], "log topics", LOG_TOPICS_MAX)
        logs.append(
            EvmLog(
                expect_bytes(fields[0], "log address", size=ADDRESS_SIZE),
                tuple(expect_bytes(topic, "log topic", size=HASH_SIZE) for topic in topics),
                expect_bytes(fields[2], "log data"),
            )
        )
    return tuple(logs)


def compute_logs_bloom(logs: Iterable[EvmLog]) -> bytes:
    """Ethereum's 2048-bit logs bloom: for the address and each topic, three bits chosen by the
    first three pairs of bytes of its keccak-256 (11 bits each), big-endian bit order."""
    bloom = 0
    for log in logs:
        bloom |= compute_bloom_bits(log.address)
        for topic in log.topics:
            bloom |= compute_bloom_bits(topic)
    return bloom.to_bytes(LOGS_BLOOM_BYTES, "big")


def compute_eth_receipt_fields(receipt: Receipt, transaction: EthTransaction, gas_price: int) -> EthReceiptFields:
    """Ethereum's receipt fields of `transaction` from its stored Gusu `receipt`; `gas_price` is the
    chain's evm_gas_price (`EvmSettings.evm_gas_price`). CodecError if the receipt is not one an
    Ethereum transaction produced."""
    if receipt.transaction_id != transaction.transaction_hash:
        raise CodecError("the receipt belongs to another transaction")
    contract_address: Address | None = None
    revert_data = b""
    value = decode(receipt.return_value)
    if value is not None:  # None: invalid, nothing ran
        fields = expect_list(value, "Ethereum receipt value", 2)
        if len(fields) != 2:
            raise CodecError("an Ethereum receipt's value is [contract address, revert data]")
        created = expect_bytes(fields[0], "contract address", size_max=ADDRESS_SIZE)
        if created:
            if len(created) != ADDRESS_SIZE:
                raise CodecError("a contract address is 20 bytes")
            contract_address = Address(created)
        revert_data = expect_bytes(fields[1], "revert data")
    logs = decode_eth_logs(receipt.events)
    return EthReceiptFields(
        transaction_hash=transaction.transaction_hash,
        transaction_type=int(transaction.transaction_type),
        sender=transaction.sender,
        to=transaction.to,
        status=1 if receipt.is_success else 0,
        gas_used=receipt.gas_used,
        effective_gas_price=gas_price,
        contract_address=contract_address,
        logs=logs,
        logs_bloom=compute_logs_bloom(logs),
        revert_data=revert_data,
    )
