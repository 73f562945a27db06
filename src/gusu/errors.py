"""The one rooted tree of expected failures.

Every failure a user, a client or a peer can cause raises a subclass of
`GusuError` whose message says what went wrong and what to do about it.
Programmer errors are assertions instead, and stop the process.

`code` is the stable, machine-readable name an API reports; `retryable`
tells a client whether sending the same request later may succeed.
"""

from __future__ import annotations


class GusuError(Exception):
    """Root of every expected failure in Gusu."""

    code: str = "error"
    retryable: bool = False


# --- configuration -----------------------------------------------------------


class ConfigError(GusuError):
    """A configuration file or setting is missing or invalid."""

    code = "config_invalid"


# --- codec ---------------------------------------------------------------------


class CodecError(GusuError):
    """Bytes are not the canonical encoding of the expected value."""

    code = "codec_invalid"


# --- crypto ------------------------------------------------------------------


class CryptoError(GusuError):
    """A key, signature or ciphertext is malformed or does not check out."""

    code = "crypto_invalid"


class UnknownSuiteError(CryptoError):
    """A crypto suite name is not one Gusu implements."""

    code = "suite_unknown"


class InvalidKeyError(CryptoError):
    """A public or private key is malformed or not on the suite's curve."""

    code = "key_invalid"


class InvalidSignatureError(CryptoError):
    """A signature does not verify, or is not in canonical form."""

    code = "signature_invalid"


class KeyFileError(CryptoError):
    """A key file cannot be read: wrong passphrase, corrupt or wrong format."""

    code = "key_file_invalid"


class DecryptionError(CryptoError):
    """Ciphertext failed authentication: wrong key or tampered data."""

    code = "decryption_failed"


# --- ledger --------------------------------------------------------------------


class LedgerError(GusuError):
    """The ledger cannot satisfy a request."""

    code = "ledger_error"


class NotFoundError(LedgerError):
    """A block, transaction or receipt does not exist (yet)."""

    code = "not_found"


class StorageError(LedgerError):
    """The on-disk store is unusable: locked, corrupt or of another chain."""

    code = "storage_error"


class BackupError(LedgerError):
    """A backup or archive file is damaged, of another chain, or of a newer format."""

    code = "backup_invalid"


class InvalidStateProofError(LedgerError):
    """A state proof is malformed, or does not bind the key and value to the state root."""

    code = "state_proof_invalid"


class InvalidBlockError(LedgerError):
    """A block does not follow its parent or its roots do not match."""

    code = "block_invalid"
    stage: str = ""
    """Which step of the block rules rejected it (`gusu.node.blocks`): header, transactions, body,
    signatures or execution; empty when not known."""


# --- transactions ----------------------------------------------------------------


class TransactionError(GusuError):
    """A transaction is rejected before it enters the pool."""

    code = "tx_invalid"


class WrongChainError(TransactionError):
    code = "tx_wrong_chain"


class ExpiredTransactionError(TransactionError):
    """The transaction's last valid height has passed (or is too far ahead)."""

    code = "tx_expired"


class DuplicateTransactionError(TransactionError):
    """The same transaction is already pending or committed (replay)."""

    code = "tx_duplicate"


class TransactionTooLargeError(TransactionError):
    code = "tx_too_large"


class NonceTooLowError(TransactionError):
    """An Ethereum transaction's nonce is below its sender's account nonce: used already (a replay)."""

    code = "nonce_too_low"


class PermissionDeniedError(TransactionError):
    """The consortium's permissions do not let this sender call this method (or the sender is an auditor).

    Raised at admission and again at execution (the receipt fails with this code)."""

    code = "permission_denied"


class AccountFrozenError(TransactionError):
    """Governance froze the sending account; its transactions are refused until it is unfrozen."""

    code = "account_frozen"


class ContractFrozenError(TransactionError):
    """Governance froze the called contract; calls to it are refused until it is unfrozen."""

    code = "contract_frozen"


# --- mempool ---------------------------------------------------------------------


class MempoolError(GusuError):
    code = "mempool_error"


class MempoolFullError(MempoolError):
    """The pool has no room now; the same transaction may be sent again later."""

    code = "mempool_full"
    retryable = True


class SenderQuotaError(MempoolError):
    """One sender holds its fair share of the pool; retry once some commit."""

    code = "sender_quota"
    retryable = True


class NonceTooHighError(MempoolError):
    """An Ethereum transaction's nonce is further ahead of its sender's than the pool holds."""

    code = "nonce_too_high"


class ReplacementRefusedError(MempoolError):
    """A pending Ethereum transaction has the same sender and nonce, and this one may not replace it."""

    code = "replacement_underpriced"


# --- execution -------------------------------------------------------------------


class ExecutionError(GusuError):
    """A contract call failed; the transaction changes no state."""

    code = "execution_failed"


class UnknownContractError(ExecutionError):
    code = "contract_unknown"


class UnknownMethodError(ExecutionError):
    code = "method_unknown"


class InvalidArgumentsError(ExecutionError):
    code = "arguments_invalid"


class OutOfGasError(ExecutionError):
    """The call used more than its metered budget."""

    code = "out_of_gas"


class ContractRevertError(ExecutionError):
    """The contract refused the call (for example: insufficient balance)."""

    code = "reverted"


class ContractError(ExecutionError):
    """The contract itself is broken: it raised an unexpected exception, misused
    the runtime (for example wrote state from a view) or returned a value that
    has no canonical encoding."""

    code = "contract_error"


class StateLimitError(ExecutionError):
    """A key or value, or a transaction's total writes, exceeds a limit."""

    code = "state_limit"


class ContractSourceError(ExecutionError):
    """A deployed contract's source is refused by the sandbox's compiler (syntax, a name or construct outside
    the allow-list, a limit on its size)."""

    code = "contract_source_invalid"


class SandboxLimitError(ExecutionError):
    """A sandboxed contract call exceeded a sandbox limit (steps, memory, storage writes, call depth, integer
    size)."""

    code = "sandbox_limit"


# --- API and client ----------------------------------------------------------------


class ApiError(GusuError):
    code = "api_error"


class RequestTooLargeError(ApiError):
    code = "request_too_large"


class InvalidRequestError(ApiError):
    code = "request_invalid"


class RateLimitedError(ApiError):
    code = "rate_limited"
    retryable = True


class ClientError(GusuError):
    """The SDK could not complete a call (connection, timeout, remote error)."""

    code = "client_error"


class RemoteError(ClientError):
    """The node answered with an error; `code` carries the node's code."""

    def __init__(self, code: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class TransactionFailedError(ClientError):
    """A transaction committed but failed (its receipt says why); `code` is the receipt's error code."""

    code = "transaction_failed"

    def __init__(self, message: str, receipt_code: str = "") -> None:
        super().__init__(message)
        self.receipt_code = receipt_code


class ContractNotApprovedError(ClientError):
    """Deploying or upgrading code that this chain's governance has not approved (`approve_contract`)."""

    code = "contract_not_approved"


class TimeoutError_(ClientError):  # noqa: N801 - the builtin TimeoutError is not a GusuError
    """Waiting for a node (for example for a receipt) took longer than allowed."""

    code = "timeout"
    retryable = True


# --- node --------------------------------------------------------------------------


class NodeError(GusuError):
    code = "node_error"


class TemporarilyUnavailableError(NodeError):
    """The node could not serve this request now (a worker restarted, it is stopping); retry."""

    code = "unavailable"
    retryable = True


# --- console -----------------------------------------------------------------------


class ConsoleInputError(GusuError):
    """A console page or console API request carries a malformed value (height, hash, address, query)."""

    code = "input_invalid"
