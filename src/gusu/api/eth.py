"""The Ethereum JSON-RPC (``eth_*``, ``net_version``, ``web3_clientVersion``) over Gusu's blocks and state.

The methods share POST /rpc and /ws with ``gusu_*`` (batches included): `EthRpc.get_method_specs`
hands them to the `RpcDispatcher`. Reads go through `NodeService` only: blocks and receipts as
stored, state through the ``account`` and ``evm`` contracts' views on the latest state. Raw
Ethereum transactions need a node implementing `gusu.node.eth_service.EthTransactionService`;
without it those methods answer -32004, "not supported on this node". docs/api.md lists every
method, its limits and what differs from Ethereum.

Shapes follow the Ethereum execution API: quantities are 0x-hex without leading zeros, data is
0x-hex, a block Gusu does not have is null. Errors use Ethereum's codes: 3 with the revert data
for a revert, -32000 for a failed call or refused transaction, -32602 for bad params, -32004 for
what this node cannot do, -32005 for a query beyond a limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Final, Literal

import orjson

from gusu import __version__
from gusu.api.errors import EthereumRpcError, InvalidParamsError, MethodNotFoundError
from gusu.api.params import Params, describe
from gusu.api.rpc import (
    MethodSpec,
    RequestContext,
    Session,
    compute_result_response_bytes,
    error_response_bytes,
)
from gusu.codec import Value, decode, encode
from gusu.errors import (
    CodecError,
    ConfigError,
    ContractRevertError,
    ExecutionError,
    GusuError,
    NotFoundError,
    OutOfGasError,
    UnknownContractError,
)
from gusu.execution import CallResult
from gusu.execution.limits import DEFAULT_GAS_SCHEDULE
from gusu.ledger.ethtx import EthTransaction, compute_bloom_bits, remember_recovered_sender
from gusu.ledger.jsonview import JSON, JSONObject
from gusu.ledger.types import Address, BlockHeader, Hash, Height, Receipt, Transaction
from gusu.node.eth_service import EthTransactionService
from gusu.node.service import BlockNotification, BlockRecord, NodeService, ReceiptRecord, TransactionRecord

if TYPE_CHECKING:  # py-evm loads only when a call asks for state overrides
    from gusu.execution.evm.overrides import EthStateOverride

logger = logging.getLogger("gusu.api")

EVM_CONTRACT: Final = "evm"
BALANCE_CONTRACT: Final = "account"
LOG_EVENT: Final = "Log"

REVERTED: Final = 3
SERVER_ERROR: Final = -32000
RESOURCE_NOT_FOUND: Final = -32001
METHOD_NOT_SUPPORTED: Final = -32004
LIMIT_EXCEEDED: Final = -32005

UINT256_MAX: Final = 2**256 - 1
UINT64_MAX: Final = 2**64 - 1
ETH_ADDRESS_SIZE: Final = 20
WORD_SIZE: Final = 32
BLOOM_BYTES: Final = 256
BLOCK_GAS_LIMIT: Final = 30_000_000
"""What blocks report as ``gasLimit``: the default ``evm_gas_per_transaction_max``. Gusu blocks are
bounded by transaction count and bytes, not by a gas total."""
ESTIMATE_REFUND_NUMERATOR: Final = 5
ESTIMATE_REFUND_DENOMINATOR: Final = 4
"""EIP-3529 caps refunds at a fifth of the gas used, so the gas a call consumed before refunds is at
most 5/4 of what it used; eth_estimateGas answers that bound (plus 1/63 for the gas a CALL withholds)."""

EMPTY_UNCLES_HASH: Final = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
EMPTY_TRIE_ROOT: Final = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
ZERO_WORD_HEX: Final = "0x" + "00" * WORD_SIZE
ZERO_NONCE_HEX: Final = "0x0000000000000000"
CLIENT_VERSION: Final = f"Gusu/v{__version__}/python"
_REVERT_MESSAGE = re.compile(r"execution reverted \(data=0x([0-9a-f]*)(\.\.\.)?\): (.*)", re.DOTALL)
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")

BlockTagKind = Literal["latest", "earliest", "number"]


@dataclass(frozen=True, slots=True)
class EthSettings:
    """The Ethereum JSON-RPC's settings: the ``[eth]`` section of the node's config.toml.

    Every limit is named with its unit and validated on construction (`ConfigError` naming the setting),
    so a node never starts with one it would misread; docs/operations.md lists them.
    """

    logs_block_range_max: int = 1_000
    """Blocks one eth_getLogs (or one poll of a log filter) may scan."""
    logs_results_max: int = 10_000
    """Logs one eth_getLogs may return; beyond it the client narrows the range."""
    log_filter_addresses_max: int = 256
    log_filter_topics_per_position_max: int = 256
    filters_max: int = 256
    """eth_newFilter / eth_newBlockFilter filters installed at once on this API (all clients together)."""
    filter_idle_timeout_s: float = 300.0
    """A filter not polled for this long is removed, as Ethereum nodes do (geth: 5 minutes)."""
    block_filter_hashes_max: int = 1_000
    """Block hashes one poll of a block filter returns; the rest come with the next poll."""
    fee_history_blocks_max: int = 1_024
    fee_history_percentiles_max: int = 100
    block_cache_entries_max: int = 256
    """Blocks whose logs, bloom and gas total are kept between requests."""
    state_history_blocks: int = 128
    """State methods (eth_getBalance, eth_call, ...) answer for the latest block and this many blocks
    before it (as geth serves the last 128 states); 0: the latest only. The node must still hold those
    versions of its state tree (``[storage] state_versions_kept``)."""
    send_waits_for_commit: bool = False
    """Development chains: eth_sendRawTransaction answers only once the transaction is committed (or
    after `send_commit_timeout_ms`), as Hardhat's automine does, so tests that read the receipt at once
    see it. Leave it off in production: each waiting request holds a connection."""
    send_commit_timeout_ms: int = 10_000
    """The longest eth_sendRawTransaction waits for the commit when `send_waits_for_commit` is on;
    then it answers the hash anyway (the transaction stays in the pool)."""
    call_state_override_accounts_max: int = 64
    """Accounts one eth_call or eth_estimateGas may override (its third parameter)."""
    call_state_override_slots_max: int = 1_024
    """Storage slots (`stateDiff` entries) those overrides may set, all accounts together."""
    call_state_override_code_bytes_max: int = 65_536
    """Code bytes those overrides may install, all accounts together."""

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            if setting.name == "send_waits_for_commit":
                if not isinstance(value, bool):
                    raise ConfigError(f"[eth] send_waits_for_commit must be true or false; found {value!r}")
                continue
            minimum, maximum = _ETH_SETTING_BOUNDS.get(setting.name, (1, 10_000_000))
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if setting.type == "int" and not isinstance(value, int):  # the annotations are strings here
                is_number = False
            if not is_number or not math.isfinite(value) or not minimum <= value <= maximum:
                raise ConfigError(
                    f"[eth] {setting.name} must be a number from {minimum:,} to {maximum:,}; found {value!r}"
                )


_ETH_SETTING_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "filter_idle_timeout_s": (1, 86_400),
    "state_history_blocks": (0, 1_000_000),
    "send_commit_timeout_ms": (1, 600_000),
}
"""Bounds other than the default 1 to 10,000,000."""


# --- hex in and out -------------------------------------------------------------------------


def quantity(value: int) -> str:
    assert value >= 0
    return hex(value)


def data_hex(data: bytes) -> str:
    return "0x" + data.hex()


def parse_quantity(value: object, what: str, maximum: int = UINT256_MAX) -> int:
    """An Ethereum QUANTITY: 0x-hex digits (leading zeros tolerated, as clients send them)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3:
        raise InvalidParamsError(f"{what} must be a hex quantity such as 0x1a; found {describe(value)}")
    digits = value[2:]
    if len(digits) > 64 or not set(digits) <= _HEX_DIGITS:
        raise InvalidParamsError(f"{what} must be a hex quantity of at most 64 digits; found {describe(value)}")
    number = int(digits, 16)
    if number > maximum:
        raise InvalidParamsError(f"{what} is {number}; the largest accepted is {maximum}")
    return number


def _compute_refusal(error: GusuError) -> GusuError:
    """The error eth_sendRawTransaction answers for a refused transaction: Ethereum clients read a refusal (nonce
    too low, underpriced, ...) from the server error's (-32000) message."""
    if isinstance(error, (EthereumRpcError, InvalidParamsError)):
        return error
    return EthereumRpcError(str(error), SERVER_ERROR, code=error.code)


def parse_data(value: object, what: str, size: int | None = None, size_max: int | None = None) -> bytes:
    """Ethereum DATA: 0x and an even number of hex digits (either case: addresses come checksummed)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidParamsError(f"{what} must be 0x-prefixed hex; found {describe(value)}")
    digits = value[2:]
    if size_max is not None and len(digits) > 2 * size_max:
        raise InvalidParamsError(f"{what} is {len(digits) // 2} bytes; the limit is {size_max}")
    if len(digits) % 2 or not set(digits) <= _HEX_DIGITS:
        raise InvalidParamsError(f"{what} must be an even number of hex digits; found {describe(value)}")
    data = bytes.fromhex(digits)
    if size is not None and len(data) != size:
        raise InvalidParamsError(f"{what} must be {size} bytes; found {len(data)}")
    return data


def parse_address(value: object, what: str) -> Address:
    return Address(parse_data(value, what, size=ETH_ADDRESS_SIZE))


# --- logs and blooms -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EthLog:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: Hash
    transaction_hash: Hash
    transaction_index: int
    log_index: int

    def to_json(self) -> JSONObject:
        return {
            "address": data_hex(self.address),
            "topics": [data_hex(topic) for topic in self.topics],
            "data": data_hex(self.data),
            "blockNumber": quantity(self.block_number),
            "blockHash": data_hex(self.block_hash),
            "transactionHash": data_hex(self.transaction_hash),
            "transactionIndex": quantity(self.transaction_index),
            "logIndex": quantity(self.log_index),
            "removed": False,
        }


def decode_log_event(data: bytes) -> tuple[bytes, tuple[bytes, ...], bytes] | None:
    """(address, topics, data) of an `evm` ``Log`` event; None if the data has another shape."""
    try:
        value = decode(data)
    except CodecError:
        return None
    if not isinstance(value, list) or len(value) != 3:
        return None
    address, topics, payload = value
    if not isinstance(address, bytes) or not isinstance(topics, list) or not isinstance(payload, bytes):
        return None
    if not all(isinstance(topic, bytes) for topic in topics):
        return None
    return address, tuple(topic for topic in topics if isinstance(topic, bytes)), payload


def compute_receipt_logs(receipt: Receipt) -> list[tuple[bytes, tuple[bytes, ...], bytes]]:
    """The Ethereum logs in a receipt: its `evm` ``Log`` events, none for a failed transaction."""
    if not receipt.is_success:
        return []
    logs = []
    for event in receipt.events:
        if event.contract == EVM_CONTRACT and event.name == LOG_EVENT:
            decoded = decode_log_event(event.data)
            if decoded is not None:
                logs.append(decoded)
    return logs


def compute_bloom(logs: Iterable[tuple[bytes, Sequence[bytes]]]) -> bytes:
    """Ethereum's 2048-bit logs bloom over each log's address and topics (three 11-bit indices each)."""
    bloom = 0
    for address, topics in logs:
        bloom |= compute_bloom_bits(address)
        for topic in topics:
            bloom |= compute_bloom_bits(topic)
    return bloom.to_bytes(BLOOM_BYTES, "big")


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which logs a query or filter wants: addresses (any if empty) and topics by position."""

    addresses: frozenset[bytes] = frozenset()
    topics: tuple[frozenset[bytes] | None, ...] = ()
    """One entry per position: None matches anything, else any of the set."""

    def is_match(self, address: bytes, topics: Sequence[bytes]) -> bool:
        if self.addresses and address not in self.addresses:
            return False
        for position, wanted in enumerate(self.topics):
            if wanted is None:
                continue
            if position >= len(topics) or topics[position] not in wanted:
                return False
        return True


# --- a block seen the Ethereum way --------------------------------------------------------------


def get_evm_call(transaction: Transaction) -> tuple[bytes | None, bytes, int] | None:
    """(to or None for deploy, data, value) of an evm.deploy / evm.call Gusu transaction, else None."""
    if transaction.contract != EVM_CONTRACT or transaction.method not in ("deploy", "call"):
        return None
    try:
        args = decode(transaction.args)
    except CodecError:
        return None
    if not isinstance(args, list):
        return None
    if transaction.method == "deploy" and len(args) == 2:
        bytecode, value = args
        if isinstance(bytecode, bytes) and isinstance(value, int):
            return None, bytecode, value
    if transaction.method == "call" and len(args) == 3:
        to, data, value = args
        if isinstance(to, bytes) and isinstance(data, bytes) and isinstance(value, int):
            return to, data, value
    return None


def compute_eth_gas_used(transaction: Transaction | EthTransaction | None, receipt: Receipt | None) -> int:
    """Ethereum's ``gasUsed`` of one of a block's transactions.

    An Ethereum transaction's receipt holds it exactly. A Gusu ``evm.deploy``/``evm.call`` is metered in
    Gusu gas, its fixed charge (2,000 + 2 per argument byte, + 2 per return byte when it succeeded)
    plus the EVM's gas: its ``gasUsed`` is the EVM's part. Any other Gusu transaction is no Ethereum
    transaction and counts 0, so a block's ``gasUsed`` and each receipt's ``cumulativeGasUsed`` add
    Ethereum gas only, never Gusu gas.
    """
    if transaction is None or receipt is None:
        return 0
    if isinstance(transaction, EthTransaction):
        return receipt.gas_used
    if get_evm_call(transaction) is None:
        return 0
    fixed = DEFAULT_GAS_SCHEDULE.transaction + DEFAULT_GAS_SCHEDULE.argument_byte * len(transaction.args)
    if receipt.is_success:
        fixed += DEFAULT_GAS_SCHEDULE.return_byte * len(receipt.return_value)
    return max(receipt.gas_used - fixed, 0)


@dataclass(frozen=True, slots=True)
class EthBlock:
    record: BlockRecord
    logs: tuple[EthLog, ...]
    bloom: bytes
    gas_used: tuple[int, ...]
    """Ethereum's gasUsed of each transaction (`compute_eth_gas_used`)."""
    cumulative_gas: tuple[int, ...]
    """Ethereum gas used by the block's transactions up to and including each one."""
    log_starts: tuple[int, ...]
    """Where each transaction's logs start in `logs`, and then the number of logs: transaction i's are
    ``logs[log_starts[i]:log_starts[i + 1]]``."""

    @property
    def total_gas_used(self) -> int:
        return self.cumulative_gas[-1] if self.cumulative_gas else 0

    def get_transaction_logs(self, index: int) -> tuple[EthLog, ...]:
        """The logs of the transaction at `index` (a slice: a receipt of a big block costs no scan of it)."""
        return self.logs[self.log_starts[index] : self.log_starts[index + 1]]


def compute_eth_block(
    record: BlockRecord,
    receipts: Sequence[Receipt | None],
    transactions: Sequence[Transaction | EthTransaction | None],
) -> EthBlock:
    """The block's logs (``logIndex`` counts them over the block), bloom and gas, from one receipt and
    one transaction body per transaction id (None where the node has none)."""
    logs: list[EthLog] = []
    gas_used: list[int] = []
    cumulative: list[int] = []
    log_starts: list[int] = []
    total = 0
    height = int(record.header.height)
    for index, (transaction_id, receipt, transaction) in enumerate(
        zip(record.transaction_ids, receipts, transactions, strict=True)
    ):
        log_starts.append(len(logs))
        if receipt is not None:
            for address, topics, payload in compute_receipt_logs(receipt):
                logs.append(
                    EthLog(address, topics, payload, height, record.block_hash, transaction_id, index, len(logs))
                )
        gas_used.append(compute_eth_gas_used(transaction, receipt))
        total += gas_used[-1]
        cumulative.append(total)
    log_starts.append(len(logs))
    bloom = compute_bloom((log.address, log.topics) for log in logs)
    return EthBlock(record, tuple(logs), bloom, tuple(gas_used), tuple(cumulative), tuple(log_starts))


# --- filters ------------------------------------------------------------------------------------


@dataclass(slots=True)
class InstalledFilter:
    kind: Literal["logs", "blocks"]
    next_height: int
    """The first height the next poll reports."""
    last_poll_s: float
    criteria: LogFilter = field(default_factory=LogFilter)
    to_height: int | None = None
    """A log filter's fixed end (its toBlock as a number), or None to follow the tip."""
    from_height: int = 0
    """A log filter's start (eth_getFilterLogs reads from here)."""


class FilterRegistry:
    """eth_newFilter and eth_newBlockFilter filters: at most `filters_max`, dropped when idle."""

    def __init__(self, settings: EthSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._filters: dict[str, InstalledFilter] = {}

    def __len__(self) -> int:
        return len(self._filters)

    def install(self, installed: InstalledFilter) -> str:
        self.apply_expiry()
        if len(self._filters) >= self._settings.filters_max:
            raise EthereumRpcError(
                f"this node already has {self._settings.filters_max} filters installed, its limit; "
                "eth_uninstallFilter the ones you no longer poll (idle filters expire after "
                f"{self._settings.filter_idle_timeout_s:g} s), or use eth_getLogs",
                LIMIT_EXCEEDED,
                code="filters_exceeded",
            )
        filter_id = "0x" + secrets.token_hex(16)
        self._filters[filter_id] = installed
        return filter_id

    def get(self, filter_id: object) -> InstalledFilter:
        self.apply_expiry()
        found = self._filters.get(filter_id) if isinstance(filter_id, str) else None
        if found is None:
            raise EthereumRpcError(
                f"filter not found: no filter {describe(filter_id)} (it was uninstalled, or it expired after "
                f"{self._settings.filter_idle_timeout_s:g} s without a poll); install a new one",
                SERVER_ERROR,
                code="not_found",
            )
        found.last_poll_s = self._clock()
        return found

    def uninstall(self, filter_id: object) -> bool:
        self.apply_expiry()
        return isinstance(filter_id, str) and self._filters.pop(filter_id, None) is not None

    def apply_expiry(self) -> None:
        oldest = self._clock() - self._settings.filter_idle_timeout_s
        for filter_id in [key for key, item in self._filters.items() if item.last_poll_s < oldest]:
            del self._filters[filter_id]


# --- the methods --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRequest:
    sender: Address | None
    to: Address | None
    data: bytes
    value: int
    gas: int | None
    height: Height | None = None
    """The recent block whose state the call runs on; None: the latest."""
    state_overrides: tuple[EthStateOverride, ...] = ()
    """How some accounts are to be seen by this call (`gusu.execution.evm.overrides`)."""


_CALL_FIELDS: Final = frozenset(
    {
        "from",
        "to",
        "gas",
        "gasPrice",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "value",
        "data",
        "input",
        "nonce",
        "type",
        "accessList",
        "chainId",
    }
)


class EthRpc:
    """The ``eth_*`` methods for one node."""

    def __init__(
        self, node: NodeService, settings: EthSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._node = node
        # Raw Ethereum transactions, the pool's nonces and the fee policy need a node that executes
        # Ethereum transactions (gusu.node.node.Node does); without one those methods answer -32004.
        self._eth_service = node if isinstance(node, EthTransactionService) else None
        self._settings = settings or EthSettings()
        self._clock = clock
        self._filters = FilterRegistry(self._settings, clock)
        self._blocks: OrderedDict[Hash, EthBlock] = OrderedDict()
        self._evm_chain_id: int | None = None
        self._heads: tuple[Hash, bytes] | None = None
        # send_waits_for_commit: the requests waiting for their transaction's block, and the one block
        # listener that wakes them (installed while any waits).
        self._commit_waiters: dict[Hash, list[asyncio.Future[None]]] = {}
        self._remove_commit_listener: Callable[[], None] | None = None

    @property
    def settings(self) -> EthSettings:
        return self._settings

    @property
    def filters(self) -> FilterRegistry:
        return self._filters

    def get_method_specs(self) -> list[MethodSpec]:
        def spec(name: str, handler: Callable[[Params], JSON], names: tuple[str, ...], required: int) -> MethodSpec:
            async def run(params: Params, _context: RequestContext) -> JSON:
                return self._translate(handler, params)

            return MethodSpec(name, run, names, required, is_immediate=True)

        return [
            spec("web3_clientVersion", lambda _p: CLIENT_VERSION, (), 0),
            spec("net_version", lambda _p: str(self.get_evm_chain_id()), (), 0),
            spec("net_listening", lambda _p: True, (), 0),
            spec("eth_chainId", lambda _p: quantity(self.get_evm_chain_id()), (), 0),
            spec("eth_blockNumber", lambda _p: quantity(self._get_tip()), (), 0),
            spec("eth_syncing", lambda _p: False, (), 0),
            spec("eth_accounts", lambda _p: [], (), 0),
            spec("eth_gasPrice", lambda _p: quantity(self.get_gas_price()), (), 0),
            spec("eth_maxPriorityFeePerGas", lambda _p: quantity(0), (), 0),
            spec("eth_feeHistory", self._fee_history, ("blockCount", "newestBlock", "rewardPercentiles"), 2),
            spec("eth_getBlockByNumber", self._get_block_by_number, ("block", "fullTransactions"), 1),
            spec("eth_getBlockByHash", self._get_block_by_hash, ("blockHash", "fullTransactions"), 1),
            spec("eth_getBlockTransactionCountByNumber", self._get_block_transaction_count_by_number, ("block",), 1),
            spec("eth_getBlockTransactionCountByHash", self._get_block_transaction_count_by_hash, ("blockHash",), 1),
            spec("eth_getBalance", self._get_balance, ("address", "block"), 1),
            spec("eth_getCode", self._get_code, ("address", "block"), 1),
            spec("eth_getStorageAt", self._get_storage_at, ("address", "slot", "block"), 2),
            spec("eth_getTransactionCount", self._get_transaction_count, ("address", "block"), 1),
            spec("eth_call", self._call, ("transaction", "block", "stateOverrides"), 1),
            spec("eth_estimateGas", self._estimate_gas, ("transaction", "block", "stateOverrides"), 1),
            spec("eth_getLogs", self._get_logs, ("filter",), 1),
            spec("eth_newFilter", self._new_filter, ("filter",), 1),
            spec("eth_newBlockFilter", self._new_block_filter, (), 0),
            spec("eth_newPendingTransactionFilter", self._new_pending_filter, (), 0),
            spec("eth_getFilterChanges", self._get_filter_changes, ("filterId",), 1),
            spec("eth_getFilterLogs", self._get_filter_logs, ("filterId",), 1),
            spec("eth_uninstallFilter", self._uninstall_filter, ("filterId",), 1),
            spec("eth_getTransactionByHash", self._get_transaction_by_hash, ("transactionHash",), 1),
            spec("eth_getTransactionReceipt", self._get_transaction_receipt, ("transactionHash",), 1),
            MethodSpec("eth_sendRawTransaction", self._send_raw_transaction, ("rawTransaction",), 1),
            MethodSpec("eth_subscribe", self._subscribe, ("kind", "filter"), 1),
            MethodSpec("eth_unsubscribe", self._unsubscribe, ("subscriptionId",), 1),
        ]

    @staticmethod
    def _translate(handler: Callable[[Params], JSON], params: Params) -> JSON:
        try:
            return handler(params)
        except (EthereumRpcError, InvalidParamsError, MethodNotFoundError):
            raise
        except ContractRevertError as error:
            raise compute_revert_error(error) from None
        except GusuError as error:
            # Ethereum clients expect the server-error code for anything the node refused.
            raise EthereumRpcError(str(error), SERVER_ERROR, code=error.code) from None

    # --- chain facts ------------------------------------------------------------------

    def get_evm_chain_id(self) -> int:
        if self._evm_chain_id is None:
            try:
                result = self._node.call(EVM_CONTRACT, "get_chain_id", encode([]), None)
            except UnknownContractError:
                raise _no_evm() from None
            chain_id = decode(result.return_value)
            assert isinstance(chain_id, int)
            self._evm_chain_id = chain_id  # fixed at genesis
        return self._evm_chain_id

    def get_gas_price(self) -> int:
        """The chain's fixed gas price (its fee policy) when the node states one, else 0 (no fee).

        The price is also every block's base fee: the policy burns it as Ethereum burns the base fee
        and charges no tip, so ``eth_maxPriorityFeePerGas`` is 0.
        """
        return 0 if self._eth_service is None else self._eth_service.get_eth_gas_price()

    def _get_tip(self) -> int:
        return int(self._node.get_status().height)

    # --- block tags -----------------------------------------------------------------------

    def _parse_block_number(self, value: object, what: str) -> int:
        """A block tag or number as a height (clamped to nothing: the block may not exist)."""
        if value in ("latest", "pending", "safe", "finalized"):
            # BFT commits are final, so safe and finalized are the tip; there is no pending block.
            return self._get_tip()
        if value == "earliest":
            return 0
        return parse_quantity(value, what, UINT64_MAX)

    def _get_state_height(self, params: Params, index: int) -> Height | None:
        """The block whose state a state method reads: None for the latest, else a height within the
        window of `state_history_blocks` before the tip (older ones are refused)."""
        if not params.has(index):
            return None
        value = params.raw(index)
        what = params.what(index)
        if isinstance(value, dict):
            if "blockHash" in value:
                block_hash = parse_data(value["blockHash"], f"{what} field blockHash", size=WORD_SIZE)
                record = self._node.get_block_by_hash(block_hash)
                if record is None:
                    raise EthereumRpcError(
                        f"header not found: no block has the hash {data_hex(block_hash)}",
                        SERVER_ERROR,
                        code="not_found",
                    )
                height = int(record.header.height)
            elif "blockNumber" in value:
                height = self._parse_block_number(value["blockNumber"], f"{what} field blockNumber")
            else:
                raise InvalidParamsError(f"{what} must be a block tag, a number, or {{blockHash}} / {{blockNumber}}")
        else:
            height = self._parse_block_number(value, what)
        tip = self._get_tip()
        if height > tip:
            raise EthereumRpcError(
                f"header not found: block {height} is beyond the latest, {tip}", SERVER_ERROR, code="not_found"
            )
        if height == tip:
            return None
        window = self._settings.state_history_blocks
        if self._eth_service is None or height < tip - window:
            kept = (
                "only the state after the latest block"
                if window == 0 or self._eth_service is None
                else (f"the state of the latest block and the {window} before it ([eth] state_history_blocks)")
            )
            raise EthereumRpcError(
                f"historical state is not available: this node serves {kept}, so it cannot answer for block "
                f'{height} (the latest is {tip}); ask for "latest" or a recent block',
                SERVER_ERROR,
                code="state_unavailable",
            )
        return Height(height)

    # --- blocks ----------------------------------------------------------------------------

    def _get_record(self, height: int) -> BlockRecord | None:
        if height > self._get_tip():
            return None
        return self._node.get_block(Height(height))

    def get_eth_block(self, record: BlockRecord) -> EthBlock:
        cached = self._blocks.get(record.block_hash)
        if cached is not None:
            self._blocks.move_to_end(record.block_hash)
            return cached
        receipts = [self._get_receipt(transaction_id) for transaction_id in record.transaction_ids]
        return self._cache_block(compute_eth_block(record, receipts, self._get_block_bodies(record)))

    def _cache_block(self, block: EthBlock) -> EthBlock:
        self._blocks[block.record.block_hash] = block
        if len(self._blocks) > self._settings.block_cache_entries_max:
            self._blocks.popitem(last=False)
        return block

    def _get_block_bodies(self, record: BlockRecord) -> list[Transaction | EthTransaction | None]:
        """The transactions of a committed block, one per id (Gusu and Ethereum ones alike)."""
        found = self._node.get_block_transactions(record.header.height)
        if found is None or len(found) != len(record.transaction_ids):
            logger.warning("no transaction bodies for committed block %d", int(record.header.height))
            return [None] * len(record.transaction_ids)
        return [item.transaction for item in found]

    def _get_receipt(self, transaction_id: Hash) -> Receipt | None:
        # Receipts of Gusu and Ethereum transactions alike are stored under the transaction's id.
        found = self._node.get_receipt(transaction_id)
        if found is not None:
            return found.receipt
        logger.warning("no receipt for committed transaction %s", transaction_id.hex())
        return None

    def _block_json(self, record: BlockRecord, full: bool) -> JSONObject:
        block = self.get_eth_block(record)
        header = record.header
        transactions: list[JSON]
        if full:
            transactions = self._transactions_in_block_json(record)
        else:
            transactions = [data_hex(transaction_id) for transaction_id in record.transaction_ids]
        return {
            **self._header_json(header, record.block_hash, block.bloom, block.total_gas_used, self.get_gas_price()),
            "totalDifficulty": quantity(0),
            "size": quantity(self._get_block_size(header.height)),
            "transactions": transactions,
            "uncles": [],
        }

    @staticmethod
    def _header_json(header: BlockHeader, block_hash: Hash, bloom: bytes, gas_used: int, base_fee: int) -> JSONObject:
        return {
            "number": quantity(int(header.height)),
            "hash": data_hex(block_hash),
            "parentHash": data_hex(header.parent_hash),
            "nonce": ZERO_NONCE_HEX,
            "sha3Uncles": EMPTY_UNCLES_HASH,
            "logsBloom": data_hex(bloom),
            "transactionsRoot": data_hex(header.transactions_root),
            "stateRoot": data_hex(header.state_root),
            "receiptsRoot": data_hex(header.receipts_root),
            "miner": data_hex(header.proposer[-ETH_ADDRESS_SIZE:]),
            "difficulty": quantity(0),
            "extraData": "0x",
            "gasLimit": quantity(BLOCK_GAS_LIMIT),
            "gasUsed": quantity(gas_used),
            "timestamp": quantity(header.timestamp_ms // 1000),
            "mixHash": ZERO_WORD_HEX,
            "baseFeePerGas": quantity(base_fee),
            "withdrawalsRoot": EMPTY_TRIE_ROOT,
            "withdrawals": [],
            "blobGasUsed": quantity(0),
            "excessBlobGas": quantity(0),
            "parentBeaconBlockRoot": ZERO_WORD_HEX,
        }

    def _get_block_size(self, height: Height) -> int:
        raw = self._node.get_raw_block(height)
        return 0 if raw is None else len(raw[0])

    def _get_block_by_number(self, params: Params) -> JSON:
        height = self._parse_block_number(params.raw(0), params.what(0))
        record = self._get_record(height)
        return None if record is None else self._block_json(record, params.flag(1))

    def _get_block_by_hash(self, params: Params) -> JSON:
        block_hash = parse_data(params.raw(0), params.what(0), size=WORD_SIZE)
        record = self._node.get_block_by_hash(block_hash)
        return None if record is None else self._block_json(record, params.flag(1))

    def _get_block_transaction_count_by_number(self, params: Params) -> JSON:
        record = self._get_record(self._parse_block_number(params.raw(0), params.what(0)))
        return None if record is None else quantity(len(record.transaction_ids))

    def _get_block_transaction_count_by_hash(self, params: Params) -> JSON:
        record = self._node.get_block_by_hash(parse_data(params.raw(0), params.what(0), size=WORD_SIZE))
        return None if record is None else quantity(len(record.transaction_ids))

    def _fee_history(self, params: Params) -> JSON:
        count = params.raw(0)
        block_count = count if isinstance(count, int) and not isinstance(count, bool) else None
        if block_count is None:
            block_count = parse_quantity(count, params.what(0), UINT64_MAX)
        if not 1 <= block_count <= self._settings.fee_history_blocks_max:
            raise InvalidParamsError(
                f"{params.what(0)} must be from 1 to {self._settings.fee_history_blocks_max}; found {block_count}"
            )
        newest = min(self._parse_block_number(params.raw(1), params.what(1)), self._get_tip())
        percentiles: list[float] = []
        if params.has(2):
            raw_percentiles = params.raw(2)
            if (
                not isinstance(raw_percentiles, list)
                or len(raw_percentiles) > self._settings.fee_history_percentiles_max
            ):
                raise InvalidParamsError(
                    f"{params.what(2)} must be an array of at most {self._settings.fee_history_percentiles_max} "
                    "percentiles"
                )
            previous = 0.0
            for item in raw_percentiles:
                if isinstance(item, bool) or not isinstance(item, (int, float)) or not previous <= item <= 100:
                    raise InvalidParamsError(f"{params.what(2)} must rise monotonically from 0 to 100")
                previous = float(item)
                percentiles.append(previous)
        oldest = max(0, newest - block_count + 1)
        blocks = newest - oldest + 1
        result: JSONObject = {
            "oldestBlock": quantity(oldest),
            # One more base fee than blocks: the next block's. The fee policy charges no base fee.
            "baseFeePerGas": [quantity(self.get_gas_price())] * (blocks + 1),
            "gasUsedRatio": [0.0] * blocks,
            "baseFeePerBlobGas": [quantity(0)] * (blocks + 1),
            "blobGasUsedRatio": [0.0] * blocks,
        }
        if percentiles:
            result["reward"] = [[quantity(0)] * len(percentiles) for _ in range(blocks)]
        return result

    # --- state -----------------------------------------------------------------------------------

    def _view(
        self,
        contract: str,
        method: str,
        args: list[Value],
        sender: Address | None = None,
        height: Height | None = None,
        state_overrides: tuple[EthStateOverride, ...] = (),
    ) -> CallResult:
        """Run a view on the latest state, or (`height`) on the state after that recent block, seen through
        `state_overrides` if any."""
        try:
            if height is None and not state_overrides:
                return self._node.call(contract, method, encode(args), sender)
            # _get_state_height gives a height, and _parse_state_overrides overrides, only with the service.
            assert self._eth_service is not None
            at = Height(self._get_tip()) if height is None else height
            try:
                return self._eth_service.call_at_height(at, contract, method, encode(args), sender, state_overrides)
            except NotFoundError as error:
                # Pruned by the node's [storage] state_versions_kept, or meanwhile.
                raise EthereumRpcError(
                    f"historical state is not available: {error}", SERVER_ERROR, code="state_unavailable"
                ) from None
        except UnknownContractError:
            if contract == EVM_CONTRACT:
                raise _no_evm() from None
            raise

    def _get_balance(self, params: Params) -> JSON:
        address = parse_address(params.raw(0), params.what(0))
        height = self._get_state_height(params, 1)
        balance = decode(self._view(BALANCE_CONTRACT, "balance", [address], height=height).return_value)
        assert isinstance(balance, int)
        return quantity(balance)

    def _get_code(self, params: Params) -> JSON:
        address = parse_address(params.raw(0), params.what(0))
        height = self._get_state_height(params, 1)
        code = decode(self._view(EVM_CONTRACT, "get_code", [address], height=height).return_value)
        assert isinstance(code, bytes)
        return data_hex(code)

    def _get_storage_at(self, params: Params) -> JSON:
        address = parse_address(params.raw(0), params.what(0))
        slot = parse_quantity(params.raw(1), params.what(1))
        height = self._get_state_height(params, 2)
        args: list[Value] = [address, slot.to_bytes(32, "big")]
        value = decode(self._view(EVM_CONTRACT, "get_storage_at", args, height=height).return_value)
        assert isinstance(value, bytes)
        return data_hex(value)

    def _get_transaction_count(self, params: Params) -> JSON:
        address = parse_address(params.raw(0), params.what(0))
        if params.has(1) and params.raw(1) == "pending" and self._eth_service is not None:
            self.get_evm_chain_id()  # refuses a chain without the evm contract
            return quantity(self._eth_service.get_eth_transaction_count(address, is_pending=True))
        height = self._get_state_height(params, 1)
        nonce = decode(self._view(EVM_CONTRACT, "get_nonce", [address], height=height).return_value)
        assert isinstance(nonce, int)
        return quantity(nonce)

    # --- calls -----------------------------------------------------------------------------------

    def _parse_call(self, params: Params) -> CallRequest:
        what = params.what(0)
        request = params.raw(0)
        if not isinstance(request, dict):
            raise InvalidParamsError(f"{what} must be a transaction call object; found {describe(request)}")
        unknown = sorted(key for key in request if key not in _CALL_FIELDS)
        if unknown:
            raise InvalidParamsError(f"{what} has unknown field(s) {', '.join(repr(key[:40]) for key in unknown[:5])}")
        state_overrides = self._parse_state_overrides(params.raw(2), params.what(2)) if params.has(2) else ()
        height = self._get_state_height(params, 1)
        sender = None if request.get("from") is None else parse_address(request["from"], f"{what} field from")
        to = None if request.get("to") is None else parse_address(request["to"], f"{what} field to")
        data = b""
        for key in ("input", "data"):
            if request.get(key) is not None:
                given = parse_data(request[key], f"{what} field {key}")
                if key == "data" and request.get("input") is not None and given != data:
                    raise InvalidParamsError(f"{what} has both input and data, and they differ; send one")
                data = given
        value = 0 if request.get("value") is None else parse_quantity(request["value"], f"{what} field value")
        gas = None if request.get("gas") is None else parse_quantity(request["gas"], f"{what} field gas", UINT64_MAX)
        for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "nonce"):
            if request.get(key) is not None:
                parse_quantity(request[key], f"{what} field {key}")
        return CallRequest(sender, to, data, value, gas, height, state_overrides)

    def _parse_state_overrides(self, value: object, what: str) -> tuple[EthStateOverride, ...]:
        """geth's state override set: {address: {balance, nonce, code, stateDiff}}; `state` (the whole storage
        replaced) is refused. Bounded by the [eth] call_state_override_* settings."""
        if value is None or value == {}:
            return ()
        if self._eth_service is None:
            raise EthereumRpcError(
                "state overrides need the node's Ethereum service, which this API has not", SERVER_ERROR
            )
        if not isinstance(value, dict):
            raise InvalidParamsError(
                f"{what} must be a state override object (address: account); found {describe(value)}"
            )
        settings = self._settings
        if len(value) > settings.call_state_override_accounts_max:
            raise EthereumRpcError(
                f"{what} overrides {len(value)} accounts; the limit is {settings.call_state_override_accounts_max} "
                "([eth] call_state_override_accounts_max)",
                LIMIT_EXCEEDED,
                code="request_too_large",
            )
        from gusu.execution.evm.overrides import EthStateOverride  # loads py-evm: only when asked for

        overrides: dict[Address, EthStateOverride] = {}
        slots = code_bytes = 0
        for address_json, account in value.items():
            address = parse_address(address_json, f"{what} key")
            where = f"{what}[{address_json[:42]!r}]"
            if address in overrides:
                raise InvalidParamsError(f"{where}: the address is given twice (in another spelling)")
            if not isinstance(account, dict):
                raise InvalidParamsError(f"{where} must be an account override object; found {describe(account)}")
            unknown = sorted(key for key in account if key not in ("balance", "nonce", "code", "state", "stateDiff"))
            if unknown:
                named = ", ".join(repr(key[:40]) for key in unknown[:5])
                raise InvalidParamsError(f"{where} has unknown field(s) {named}")
            if account.get("state") is not None:
                raise InvalidParamsError(
                    f"{where} field state (the whole storage replaced) is not supported by this node: it cannot hide "
                    "the slots it does not list; give the slots to change in stateDiff"
                )
            balance = None
            if account.get("balance") is not None:
                # Native balances are unsigned 64-bit (`gusu.execution.evm.world.BALANCE_MAX`), overridden ones too.
                balance = parse_quantity(account["balance"], f"{where} field balance", UINT64_MAX)
            nonce = None
            if account.get("nonce") is not None:
                nonce = parse_quantity(account["nonce"], f"{where} field nonce", UINT64_MAX)
            code = None if account.get("code") is None else parse_data(account["code"], f"{where} field code")
            code_bytes += len(code or b"")
            state_diff: list[tuple[int, int]] = []
            diff = account.get("stateDiff")
            if diff is not None:
                if not isinstance(diff, dict):
                    raise InvalidParamsError(
                        f"{where} field stateDiff must be an object (slot: value); found {describe(diff)}"
                    )
                slots += len(diff)
                if slots > settings.call_state_override_slots_max:
                    raise EthereumRpcError(
                        f"{what} sets more than {settings.call_state_override_slots_max} storage slots "
                        "([eth] call_state_override_slots_max)",
                        LIMIT_EXCEEDED,
                        code="request_too_large",
                    )
                for slot_json, word_json in diff.items():
                    slot = int.from_bytes(parse_data(slot_json, f"{where} stateDiff key", 32), "big")
                    word = int.from_bytes(parse_data(word_json, f"{where} stateDiff[{slot_json[:66]!r}]", 32), "big")
                    state_diff.append((slot, word))
            overrides[address] = EthStateOverride(address, balance, nonce, code, tuple(state_diff))
        if code_bytes > settings.call_state_override_code_bytes_max:
            raise EthereumRpcError(
                f"{what} installs {code_bytes} bytes of code; the limit is "
                f"{settings.call_state_override_code_bytes_max} ([eth] call_state_override_code_bytes_max)",
                LIMIT_EXCEEDED,
                code="request_too_large",
            )
        return tuple(overrides.values())

    def _request_view(
        self, request: CallRequest, contract: str, method: str, args: list[Value], *, is_anonymous: bool = False
    ) -> CallResult:
        """A view for a call request: on its block, through its state overrides, from its sender (or none)."""
        sender = None if is_anonymous else request.sender
        return self._view(contract, method, args, sender, request.height, request.state_overrides)

    def _run_call(self, request: CallRequest, *, is_estimate: bool = False) -> tuple[bytes, int]:
        """(return data, Ethereum gas used) of the call on the latest state; raises as Ethereum nodes do.

        A creation (no `to`) runs only for an estimate, through the evm contract's deploy_static view."""
        if request.to is None:
            if not is_estimate or request.value:
                raise EthereumRpcError(
                    "eth_call of a contract creation, and estimates of creations that send value, are not supported "
                    "by this node (eth_estimateGas of a creation without value is); give `gas` yourself",
                    METHOD_NOT_SUPPORTED,
                    code="unsupported",
                )
            args: list[Value] = [request.data]
            return b"", compute_view_evm_gas(self._request_view(request, EVM_CONTRACT, "deploy_static", args), args)
        if request.value:
            view = self._request_view(request, EVM_CONTRACT, "get_code", [request.to], is_anonymous=True)
            code = decode(view.return_value)
            if code:
                raise EthereumRpcError(
                    "calls and estimates that send value to a contract are not supported by this node (its calls "
                    "run through evm.call_static, which sends none); leave value out to simulate the call",
                    METHOD_NOT_SUPPORTED,
                    code="unsupported",
                )
            # A plain transfer: Ethereum charges the intrinsic gas and nothing else.
            if request.sender is not None:
                view = self._request_view(request, BALANCE_CONTRACT, "balance", [request.sender], is_anonymous=True)
                balance = decode(view.return_value)
                assert isinstance(balance, int)
                if balance < request.value:
                    raise EthereumRpcError(
                        f"insufficient funds for transfer: 0x{request.sender.hex()} holds {balance}, "
                        f"sends {request.value}",
                        SERVER_ERROR,
                        code="insufficient_balance",
                    )
            return b"", compute_intrinsic_gas(request.data)
        call_args: list[Value] = [request.to, request.data]
        result = self._request_view(request, EVM_CONTRACT, "call_static", call_args)
        output = decode(result.return_value)
        assert isinstance(output, bytes)
        return output, compute_view_evm_gas(result, call_args)

    def _call(self, params: Params) -> JSON:
        request = self._parse_call(params)
        try:
            output, gas_used = self._run_call(request)
        except OutOfGasError as error:
            raise EthereumRpcError(f"out of gas: {error}", SERVER_ERROR, code=error.code) from None
        if request.gas is not None and gas_used > request.gas:
            raise EthereumRpcError(
                f"out of gas: the call needs {gas_used} gas; it was given {request.gas}",
                SERVER_ERROR,
                code="out_of_gas",
            )
        return data_hex(output)

    def _estimate_gas(self, params: Params) -> JSON:
        request = self._parse_call(params)
        try:
            _, gas_used = self._run_call(request, is_estimate=True)
        except OutOfGasError as error:
            raise EthereumRpcError(f"gas required exceeds allowance: {error}", SERVER_ERROR, code=error.code) from None
        estimate = compute_gas_estimate(gas_used, compute_intrinsic_gas(request.data))
        if request.gas is not None and estimate > request.gas:
            raise EthereumRpcError(
                f"gas required exceeds allowance ({request.gas}): the estimate is {estimate}",
                SERVER_ERROR,
                code="out_of_gas",
            )
        return quantity(estimate)

    # --- logs and filters --------------------------------------------------------------------

    def _parse_log_filter(self, value: JSON, what: str) -> tuple[LogFilter, int, int | None, Hash | None]:
        """(criteria, from height, to height or None for the tip, block hash or None)."""
        if not isinstance(value, dict):
            raise InvalidParamsError(f"{what} must be a filter object; found {describe(value)}")
        unknown = sorted(key for key in value if key not in ("fromBlock", "toBlock", "address", "topics", "blockHash"))
        if unknown:
            raise InvalidParamsError(f"{what} has unknown field(s) {', '.join(repr(key[:40]) for key in unknown[:5])}")
        addresses: set[bytes] = set()
        address_json = value.get("address")
        if isinstance(address_json, list):
            if len(address_json) > self._settings.log_filter_addresses_max:
                raise EthereumRpcError(
                    f"{what} field address lists {len(address_json)} addresses; the limit is "
                    f"{self._settings.log_filter_addresses_max}",
                    LIMIT_EXCEEDED,
                    code="request_too_large",
                )
            addresses = {parse_address(item, f"{what} field address") for item in address_json}
        elif address_json is not None:
            addresses = {parse_address(address_json, f"{what} field address")}
        topics: list[frozenset[bytes] | None] = []
        topics_json = value.get("topics")
        if topics_json is not None:
            if not isinstance(topics_json, list) or len(topics_json) > 4:
                raise InvalidParamsError(f"{what} field topics must be an array of at most 4 positions")
            for position, item in enumerate(topics_json):
                label = f"{what} field topics[{position}]"
                if item is None:
                    topics.append(None)
                elif isinstance(item, list):
                    if len(item) > self._settings.log_filter_topics_per_position_max:
                        raise EthereumRpcError(
                            f"{label} lists {len(item)} topics; the limit is "
                            f"{self._settings.log_filter_topics_per_position_max}",
                            LIMIT_EXCEEDED,
                            code="request_too_large",
                        )
                    choices = [parse_data(topic, label, size=WORD_SIZE) for topic in item if topic is not None]
                    # An empty or null-holding alternative matches anything, as in geth.
                    topics.append(None if not choices or None in item else frozenset(choices))
                else:
                    topics.append(frozenset({parse_data(item, label, size=WORD_SIZE)}))
        criteria = LogFilter(frozenset(addresses), tuple(topics))
        if value.get("blockHash") is not None:
            if value.get("fromBlock") is not None or value.get("toBlock") is not None:
                raise InvalidParamsError(f"{what} gives blockHash with fromBlock or toBlock; give one or the other")
            block_hash = parse_data(value["blockHash"], f"{what} field blockHash", size=WORD_SIZE)
            return criteria, 0, None, Hash(block_hash)
        tip = self._get_tip()
        from_json = value.get("fromBlock")
        to_json = value.get("toBlock")
        from_height = tip if from_json is None else self._parse_block_number(from_json, f"{what} field fromBlock")
        to_height: int | None = None
        if to_json is not None and to_json not in ("latest", "pending", "safe", "finalized"):
            to_height = self._parse_block_number(to_json, f"{what} field toBlock")
        if to_height is not None and from_height > to_height:
            raise InvalidParamsError(f"{what}: fromBlock {from_height} is after toBlock {to_height}")
        return criteria, from_height, to_height, None

    def _collect_logs(self, criteria: LogFilter, from_height: int, to_height: int) -> list[EthLog]:
        span = to_height - from_height + 1
        if span > self._settings.logs_block_range_max:
            raise EthereumRpcError(
                f"query exceeds the limit: blocks {from_height} to {to_height} are {span} blocks; one query may "
                f"scan at most {self._settings.logs_block_range_max}, so split the range",
                LIMIT_EXCEEDED,
                code="request_too_large",
            )
        found: list[EthLog] = []
        for height in range(from_height, to_height + 1):
            record = self._node.get_block(Height(height))
            if record is None or not record.transaction_ids:
                continue
            found.extend(self._matching_logs(record, criteria))
            if len(found) > self._settings.logs_results_max:
                raise EthereumRpcError(
                    f"query returned more than {self._settings.logs_results_max} results; narrow the block range "
                    "or the filter",
                    LIMIT_EXCEEDED,
                    code="request_too_large",
                )
        return found

    def _matching_logs(self, record: BlockRecord, criteria: LogFilter) -> list[EthLog]:
        block = self.get_eth_block(record)
        return [log for log in block.logs if criteria.is_match(log.address, log.topics)]

    def _get_logs(self, params: Params) -> JSON:
        criteria, from_height, to_height, block_hash = self._parse_log_filter(params.raw(0), params.what(0))
        if block_hash is not None:
            record = self._node.get_block_by_hash(block_hash)
            if record is None:
                raise EthereumRpcError(
                    f"unknown block: no block has the hash {data_hex(block_hash)}", SERVER_ERROR, code="not_found"
                )
            return [log.to_json() for log in self._matching_logs(record, criteria)]
        tip = self._get_tip()
        end = tip if to_height is None else min(to_height, tip)
        if from_height > end:
            return []
        return [log.to_json() for log in self._collect_logs(criteria, from_height, end)]

    def _new_filter(self, params: Params) -> JSON:
        criteria, from_height, to_height, block_hash = self._parse_log_filter(params.raw(0), params.what(0))
        if block_hash is not None:
            raise InvalidParamsError(f"{params.what(0)}: a filter follows a range; blockHash is for eth_getLogs only")
        # Changes are what commits after the filter is installed, as on Ethereum nodes;
        # eth_getFilterLogs reads from fromBlock.
        next_height = max(from_height, self._get_tip() + 1)
        installed = InstalledFilter("logs", next_height, self._clock(), criteria, to_height, from_height)
        return self._filters.install(installed)

    def _new_block_filter(self, _params: Params) -> JSON:
        return self._filters.install(InstalledFilter("blocks", self._get_tip() + 1, self._clock()))

    def _new_pending_filter(self, _params: Params) -> JSON:
        raise EthereumRpcError(
            "pending transaction filters are not supported by this node; use eth_newBlockFilter",
            METHOD_NOT_SUPPORTED,
            code="unsupported",
        )

    def _get_filter_changes(self, params: Params) -> JSON:
        installed = self._filters.get(params.raw(0))
        tip = self._get_tip()
        if installed.kind == "blocks":
            end = min(tip, installed.next_height + self._settings.block_filter_hashes_max - 1)
            hashes: list[JSON] = []
            for height in range(installed.next_height, end + 1):
                record = self._node.get_block(Height(height))
                if record is not None:
                    hashes.append(data_hex(record.block_hash))
            installed.next_height = max(installed.next_height, end + 1)
            return hashes
        end = tip if installed.to_height is None else min(tip, installed.to_height)
        # Each poll scans at most the range limit; a filter far behind catches up over several polls.
        end = min(end, installed.next_height + self._settings.logs_block_range_max - 1)
        if installed.next_height > end:
            return []
        logs = self._collect_logs(installed.criteria, installed.next_height, end)
        installed.next_height = end + 1
        return [log.to_json() for log in logs]

    def _get_filter_logs(self, params: Params) -> JSON:
        installed = self._filters.get(params.raw(0))
        if installed.kind != "logs":
            raise InvalidParamsError(f"{params.what(0)} is a block filter; eth_getFilterLogs reads log filters")
        tip = self._get_tip()
        end = tip if installed.to_height is None else min(tip, installed.to_height)
        if installed.from_height > end:
            return []
        return [log.to_json() for log in self._collect_logs(installed.criteria, installed.from_height, end)]

    def _uninstall_filter(self, params: Params) -> JSON:
        return self._filters.uninstall(params.raw(0))

    # --- transactions and receipts: raw Ethereum ones and Gusu evm.deploy / evm.call -------------

    def _require_eth_service(self, rpc_method: str) -> EthTransactionService:
        if self._eth_service is None:
            raise EthereumRpcError(
                f"{rpc_method} is not supported on this node: it does not execute raw Ethereum transactions "
                "(run a release that does, on an ecdsa chain); Gusu transactions go through gusu_sendRawTransaction",
                METHOD_NOT_SUPPORTED,
                code="unsupported",
            )
        return self._eth_service

    async def _send_raw_transaction(self, params: Params, context: RequestContext) -> JSON:
        raw = parse_data(params.raw(0), params.what(0))
        if not raw:
            raise InvalidParamsError(f"{params.what(0)} is empty; give the signed transaction as 0x-hex")
        service = self._require_eth_service("eth_sendRawTransaction")
        sender = context.recovered_senders.get(raw) if context.recovered_senders else None
        if sender is not None:
            remember_recovered_sender(raw, sender)
        try:
            transaction_hash = await service.submit_eth_raw_transaction(raw)
        except GusuError as error:
            raise _compute_refusal(error) from None
        if self._settings.send_waits_for_commit:
            await self._wait_for_commit(transaction_hash)
        return data_hex(transaction_hash)

    async def answer_lone_sends(self, requests: Sequence[tuple[JSON, bytes, Address]]) -> list[bytes] | None:
        """The serialised responses to requests that are each one eth_sendRawTransaction alone, given as (JSON-RPC
        id, raw transaction, its sender recovered by the node's gateway), all admitted together; None when they
        must go through the dispatcher one by one instead (no raw-transaction service, or `send_waits_for_commit`).

        Under a stream of sends the gateway hands the node many such requests at once (`gusu.api.gateway`); one
        admission and one journal write for all of them cost the node less than a dispatch, a task and an
        admission each. Each response is byte for byte what the dispatcher answers that request alone."""
        service = self._eth_service
        if service is None or self._settings.send_waits_for_commit:
            return None
        for _, raw, sender in requests:
            remember_recovered_sender(raw, sender)
        try:
            outcomes: list[Hash | GusuError] = await service.submit_eth_raw_transactions(
                [raw for _, raw, _ in requests]
            )
        except GusuError as error:  # none was taken (the node is stopping): each is refused as alone
            outcomes = [error] * len(requests)
        return [
            error_response_bytes(_compute_refusal(outcome), request_id)
            if isinstance(outcome, GusuError)
            else compute_result_response_bytes(request_id, data_hex(outcome))
            for (request_id, _, _), outcome in zip(requests, outcomes, strict=True)
        ]

    async def _wait_for_commit(self, transaction_hash: Hash) -> None:
        """Until `transaction_hash` is in a committed block, or `send_commit_timeout_ms` passed (then the
        hash is answered all the same: the transaction stays in the pool and the client polls for it)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._commit_waiters.setdefault(transaction_hash, [])
        waiters.append(future)
        if self._remove_commit_listener is None:
            self._remove_commit_listener = self._node.add_block_listener(self._on_block_committed)
        try:
            # It may have committed between its admission and the listener.
            if self._node.get_receipt(transaction_hash) is None:
                await asyncio.wait_for(future, self._settings.send_commit_timeout_ms / 1000)
        except TimeoutError:
            logger.info(
                "eth_sendRawTransaction: %s did not commit within %d ms; answering its hash",
                transaction_hash.hex(),
                self._settings.send_commit_timeout_ms,
            )
        finally:
            waiters.remove(future)
            if not waiters:
                del self._commit_waiters[transaction_hash]
            if not self._commit_waiters and self._remove_commit_listener is not None:
                self._remove_commit_listener()
                self._remove_commit_listener = None

    def _on_block_committed(self, notification: BlockNotification) -> None:
        for transaction_id in notification.transaction_ids:
            for future in self._commit_waiters.get(transaction_id, ()):
                if not future.done():
                    future.set_result(None)

    def _get_location(self, found: TransactionRecord) -> tuple[Height, int, Hash] | None:
        """(height, index, block hash) of a committed transaction; None while pending."""
        if found.status != "committed" or found.height is None or found.index is None:
            return None
        block = self._node.get_block(found.height)
        return None if block is None else (found.height, found.index, block.block_hash)

    def _get_transaction_by_hash(self, params: Params) -> JSON:
        transaction_hash = Hash(parse_data(params.raw(0), params.what(0), size=WORD_SIZE))
        found = self._node.get_transaction(transaction_hash)
        if found is None or found.status == "dropped":
            if self._eth_service is None:
                # Possibly an Ethereum transaction, which only a node that executes them can know.
                self._require_eth_service("eth_getTransactionByHash")
            return None
        return self._transaction_json(found, self._get_location(found), is_listed=False)

    def _transactions_in_block_json(self, record: BlockRecord) -> list[JSON]:
        found = self._node.get_block_transactions(record.header.height)
        if found is None or len(found) != len(record.transaction_ids):
            logger.error("committed block %d has no transaction bodies", int(record.header.height))
            raise EthereumRpcError(
                "the node lacks the bodies of a committed block's transactions", SERVER_ERROR, code="internal_error"
            )
        listed: list[JSON] = []
        for index, item in enumerate(found):
            rendered = self._transaction_json(item, (record.header.height, index, record.block_hash), is_listed=True)
            assert rendered is not None
            listed.append(rendered)
        return listed

    def _transaction_json(
        self, found: TransactionRecord, location: tuple[Height, int, Hash] | None, *, is_listed: bool
    ) -> JSONObject | None:
        """The Ethereum transaction object of a raw Ethereum transaction, or of a Gusu evm.deploy/evm.call.

        Another Gusu transaction (say account.transfer) is None, except in a block's list (`is_listed`):
        there it appears, from its sender to nobody with empty input, so that the list matches the
        block's hashes.
        """
        transaction = found.transaction
        if transaction is None:
            return None
        if isinstance(transaction, EthTransaction):
            return self._eth_transaction_json(transaction, location)
        call = get_evm_call(transaction)
        if call is None and not is_listed:
            return None
        to, data, value = call if call is not None else (None, b"", 0)
        sender = found.sender or Address(self._node.suite.compute_address(transaction.sender_public_key))
        return {
            "hash": data_hex(found.transaction_id),
            "type": quantity(0),
            # Gusu's replay guard, not the EVM nonce: Gusu transactions are not ordered by EVM nonce.
            "nonce": quantity(transaction.nonce),
            "from": data_hex(sender[-ETH_ADDRESS_SIZE:]),
            "to": None if to is None else data_hex(to),
            "value": quantity(value),
            "gas": quantity(BLOCK_GAS_LIMIT),
            "gasPrice": quantity(0),
            "input": data_hex(data),
            "chainId": quantity(self.get_evm_chain_id()),
            # Signed with Gusu's scheme (and key), which an Ethereum signature cannot express.
            "v": quantity(0),
            "r": quantity(0),
            "s": quantity(0),
            **self._location_json(location),
        }

    @staticmethod
    def _location_json(location: tuple[Height, int, Hash] | None) -> JSONObject:
        if location is None:
            return {"blockHash": None, "blockNumber": None, "transactionIndex": None}
        height, index, block_hash = location
        return {
            "blockHash": data_hex(block_hash),
            "blockNumber": quantity(int(height)),
            "transactionIndex": quantity(index),
        }

    def _eth_transaction_json(self, tx: EthTransaction, location: tuple[Height, int, Hash] | None) -> JSONObject:
        gas_price = tx.max_fee_per_gas
        if tx.transaction_type == 2 and location is not None:
            # As Ethereum nodes report a mined EIP-1559 transaction: the price it paid, here the fee policy's.
            gas_price = self.get_gas_price()
        result: JSONObject = {
            "hash": data_hex(tx.transaction_hash),
            "type": quantity(tx.transaction_type),
            "nonce": quantity(tx.nonce),
            "from": data_hex(tx.sender),
            "to": None if tx.to is None else data_hex(tx.to),
            "value": quantity(tx.value),
            "gas": quantity(tx.gas_limit),
            "gasPrice": quantity(gas_price),
            "input": data_hex(tx.data),
            "v": quantity(self._legacy_v(tx.transaction_type, tx.chain_id, tx.y_parity)),
            "r": quantity(tx.r),
            "s": quantity(tx.s),
            **self._location_json(location),
        }
        if tx.chain_id is not None:
            result["chainId"] = quantity(tx.chain_id)
        if tx.transaction_type != 0:
            result["yParity"] = quantity(tx.y_parity)
            result["accessList"] = [
                {"address": data_hex(entry.address), "storageKeys": [data_hex(key) for key in entry.storage_keys]}
                for entry in tx.access_list
            ]
        if tx.transaction_type == 2:
            result["maxFeePerGas"] = quantity(tx.max_fee_per_gas)
            result["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas)
        return result

    @staticmethod
    def _legacy_v(transaction_type: int, chain_id: int | None, y_parity: int) -> int:
        if transaction_type != 0:
            return y_parity
        return 27 + y_parity if chain_id is None else chain_id * 2 + 35 + y_parity

    def _get_transaction_receipt(self, params: Params) -> JSON:
        transaction_hash = Hash(parse_data(params.raw(0), params.what(0), size=WORD_SIZE))
        if self._eth_service is not None:
            eth_receipt = self._eth_service.get_eth_receipt(transaction_hash)
            if eth_receipt is not None:
                fields = eth_receipt.fields
                return self._receipt_json(
                    eth_receipt.receipt,
                    sender=fields.sender,
                    to=fields.to,
                    contract_address=fields.contract_address,
                    effective_gas_price=fields.effective_gas_price,
                    transaction_type=fields.transaction_type,
                    logs_bloom=fields.logs_bloom,
                )
        gusu = self._gusu_evm_receipt(transaction_hash)
        if gusu is not None:
            return gusu
        if self._node.get_transaction(transaction_hash) is None and self._eth_service is None:
            # Possibly an Ethereum transaction; a known Gusu one is pending (null, as Ethereum nodes
            # answer, so that tools waiting for a receipt keep polling) or not an EVM call.
            self._require_eth_service("eth_getTransactionReceipt")
        return None

    def _gusu_evm_receipt(self, transaction_id: Hash) -> JSONObject | None:
        found = self._node.get_receipt(transaction_id)
        if found is None:
            return None
        transaction_record = self._node.get_transaction(transaction_id)
        if transaction_record is None or not isinstance(transaction_record.transaction, Transaction):
            return None
        tx = transaction_record.transaction
        call = get_evm_call(tx)
        if call is None:
            return None
        to, _data, _value = call
        sender = transaction_record.sender or Address(self._node.suite.compute_address(tx.sender_public_key))
        contract_address: Address | None = None
        if to is None and found.receipt.is_success:
            created = decode(found.receipt.return_value)
            if isinstance(created, bytes):
                contract_address = Address(created)
        return self._receipt_json(
            found,
            sender=Address(sender[-ETH_ADDRESS_SIZE:]),
            to=None if to is None else Address(to),
            contract_address=contract_address,
            effective_gas_price=0,
            transaction_type=0,
        )

    def _receipt_json(
        self,
        where: ReceiptRecord,
        *,
        sender: Address,
        to: bytes | None,
        contract_address: Address | None,
        effective_gas_price: int,
        transaction_type: int,
        logs_bloom: bytes | None = None,
    ) -> JSONObject:
        """An Ethereum receipt; gasUsed, cumulativeGasUsed and the logs (with their block-wide logIndex)
        come from the block seen the Ethereum way (`compute_eth_block`). `logs_bloom`: the bloom of those logs
        when the caller has it (an Ethereum transaction's receipt fields carry it), else computed here."""
        receipt, height, index = where.receipt, where.height, where.index
        # The receipts of one block are asked for one after another: the block seen the Ethereum way is
        # cached by its hash, which the receipt's record names, so the block itself is read only once.
        block = self._blocks.get(where.block_hash)
        if block is not None:
            self._blocks.move_to_end(where.block_hash)
        else:
            record = self._node.get_block(height)
            if record is not None and record.block_hash == where.block_hash:
                block = self.get_eth_block(record)
        if block is None or index >= len(block.record.transaction_ids):
            logger.error("the block of committed transaction %s is missing", receipt.transaction_id.hex())
            raise EthereumRpcError(
                "the node lacks the block of a committed transaction", SERVER_ERROR, code="internal_error"
            )
        logs = block.get_transaction_logs(index)
        return {
            "transactionHash": data_hex(receipt.transaction_id),
            "transactionIndex": quantity(index),
            "blockHash": data_hex(where.block_hash),
            "blockNumber": quantity(int(height)),
            "from": data_hex(sender),
            "to": None if to is None else data_hex(to),
            "cumulativeGasUsed": quantity(block.cumulative_gas[index]),
            "gasUsed": quantity(block.gas_used[index]),
            "effectiveGasPrice": quantity(effective_gas_price),
            "contractAddress": None if contract_address is None else data_hex(contract_address),
            "logs": [log.to_json() for log in logs],
            "logsBloom": data_hex(
                compute_bloom((log.address, log.topics) for log in logs) if logs_bloom is None else logs_bloom
            ),
            "type": quantity(transaction_type),
            "status": quantity(1 if receipt.is_success else 0),
        }

    # --- subscriptions -----------------------------------------------------------------------

    async def _subscribe(self, params: Params, context: RequestContext) -> JSON:
        session = _require_session(context, "eth_subscribe")
        kind = params.raw(0)
        render: Callable[[BlockNotification], list[bytes]]
        if kind == "newHeads":
            if params.has(1):
                raise InvalidParamsError(f"{params.what(1)}: newHeads takes no filter")
            render = self._render_new_heads
        elif kind == "logs":
            criteria = LogFilter()
            if params.has(1):
                value = params.raw(1)
                if isinstance(value, dict) and any(key in value for key in ("fromBlock", "toBlock", "blockHash")):
                    raise InvalidParamsError(f"{params.what(1)}: a logs subscription takes only address and topics")
                criteria, *_ = self._translate_parse(value, params.what(1))
            render = self._logs_renderer(criteria)
        else:
            raise InvalidParamsError(
                f'{params.what(0)} must be "newHeads" or "logs" (pending transactions are not offered); '
                f"found {describe(kind)}"
            )
        subscription_id, activate = session.subscribe("eth", None, None, render)
        context.after_reply.append(activate)
        return subscription_id

    def _translate_parse(self, value: JSON, what: str) -> tuple[LogFilter, int, int | None, Hash | None]:
        try:
            return self._parse_log_filter(value, what)
        except (EthereumRpcError, InvalidParamsError):
            raise
        except GusuError as error:
            raise EthereumRpcError(str(error), SERVER_ERROR, code=error.code) from None

    async def _unsubscribe(self, params: Params, context: RequestContext) -> JSON:
        session = _require_session(context, "eth_unsubscribe")
        subscription_id = params.raw(0)
        if not isinstance(subscription_id, str):
            raise InvalidParamsError(f"{params.what(0)} must be the id eth_subscribe returned")
        return session.unsubscribe(subscription_id)

    def _render_new_heads(self, notification: BlockNotification) -> list[bytes]:
        # Shared by every newHeads subscriber: serialised once per block.
        if self._heads is not None and self._heads[0] == notification.block_hash:
            return [self._heads[1]]
        block = self._notified_block(notification)
        head = orjson.dumps(
            self._header_json(
                notification.header, notification.block_hash, block.bloom, block.total_gas_used, self.get_gas_price()
            )
        )
        self._heads = (notification.block_hash, head)
        return [head]

    def _notified_block(self, notification: BlockNotification) -> EthBlock:
        cached = self._blocks.get(notification.block_hash)
        if cached is not None:
            return cached
        record = BlockRecord(notification.header, notification.block_hash, notification.transaction_ids, None)
        # The block is durably committed before listeners hear of it, so its bodies can be read.
        return self._cache_block(compute_eth_block(record, notification.receipts, self._get_block_bodies(record)))

    def _logs_renderer(self, criteria: LogFilter) -> Callable[[BlockNotification], list[bytes]]:
        def render(notification: BlockNotification) -> list[bytes]:
            block = self._notified_block(notification)
            return [orjson.dumps(log.to_json()) for log in block.logs if criteria.is_match(log.address, log.topics)]

        return render


def compute_intrinsic_gas(data: bytes) -> int:
    """Ethereum's intrinsic gas of a call (not a creation) without an access list (EIP-2028 data costs).

    The engine has the same rule (`gusu.execution.evm.engine`), but importing it would load py-evm
    into every node's API, chains without the EVM included."""
    zero_bytes = data.count(0)
    return 21_000 + 4 * zero_bytes + 16 * (len(data) - zero_bytes)


def compute_view_evm_gas(result: CallResult, args: list[Value]) -> int:
    """The EVM's gas of an evm view (call_static, deploy_static): its Gusu gas minus Gusu's fixed charges
    (2,000 + 2 per argument byte + 2 per return byte)."""
    fixed = (
        DEFAULT_GAS_SCHEDULE.transaction
        + DEFAULT_GAS_SCHEDULE.argument_byte * len(encode(args))
        + DEFAULT_GAS_SCHEDULE.return_byte * len(result.return_value)
    )
    return max(result.gas_used - fixed, 0)


def compute_gas_estimate(gas_used: int, intrinsic_gas: int) -> int:
    """A gas limit under which a call that used `gas_used` succeeds (see ESTIMATE_REFUND_NUMERATOR).

    A plain transfer (nothing beyond the intrinsic gas) is estimated exactly, as wallets expect 21,000.
    """
    if gas_used <= intrinsic_gas:
        return intrinsic_gas
    before_refunds = -(-gas_used * ESTIMATE_REFUND_NUMERATOR // ESTIMATE_REFUND_DENOMINATOR)
    return before_refunds + -(-before_refunds // 63)


def compute_revert_error(error: ExecutionError) -> EthereumRpcError:
    """Ethereum's revert error from the evm contract's message ``execution reverted (data=0x..): reason``.

    The code is 3 and ``data`` the revert data as hex, which ethers and web3.py decode into the
    reason string, panic code or custom error. Data cut short in the message (beyond 400 bytes) is
    returned as far as it goes.
    """
    message = str(error)
    match = _REVERT_MESSAGE.fullmatch(message)
    if match is None:
        return EthereumRpcError(message, SERVER_ERROR, code=error.code)
    revert_data = "0x" + match.group(1)
    reason = match.group(3)
    data = bytes.fromhex(match.group(1))
    is_reason_string = data[:4] == bytes.fromhex("08c379a0")
    text = f"execution reverted: {reason}" if is_reason_string else "execution reverted"
    return EthereumRpcError(text, REVERTED, rpc_data=revert_data, code=error.code)


def _require_session(context: RequestContext, method: str) -> Session:
    if context.session is None:
        raise MethodNotFoundError(f"{method} works only over the WebSocket endpoint /ws, not over POST /rpc")
    return context.session


def _no_evm() -> EthereumRpcError:
    return EthereumRpcError(
        'this chain does not run the evm contract, so it has no EVM state; list "evm" among the genesis contracts',
        METHOD_NOT_SUPPORTED,
        code="unsupported",
    )


__all__ = [
    "EthRpc",
    "EthSettings",
    "FilterRegistry",
    "LogFilter",
    "compute_bloom",
    "compute_eth_block",
    "compute_gas_estimate",
    "compute_revert_error",
    "parse_data",
    "parse_quantity",
]
