"""The Python SDK: sign transactions, talk to a node, and check what it says.

* `build_transaction` signs a contract call offline; `Client` (blocking) and
  `AsyncClient` (asyncio, with WebSocket subscriptions) send it and read the
  chain through a node's JSON-RPC API (docs/api.md);
* `verify_block_hash`, `verify_transaction_proof` and `verify_receipt_proof`
  let someone who trusts only a block hash check a node's answers;
* `Client.get_state_proof` reads any contract's stored value with a state
  proof, which `verify_state_proof` (against a trusted block hash) or
  `verify_certified_state_proof` (against the validator set) checks;
  `read_balance` and `read_evidence` decode the built-in contracts' values
  (gusu.sdk.state);
* `start_light_client` and `verify_next_block` (or `verify_next_header`) take a
  light client from a trusted block (the genesis block) to the next, checking
  each commit certificate against the validator set the previous header
  announced, across validator-set changes.
* `Governance` and `AsyncGovernance` (gusu.sdk.governance) propose, vote
  and read the consortium's registry through the `system` contract.
* `Contracts` and `AsyncContracts` (gusu.sdk.contracts) deploy, upgrade,
  call and describe sandboxed contracts, decode their events, and generate
  typed clients from their interfaces.
* `EvmContracts` and `AsyncEvmContracts` (gusu.sdk.evm, imported on its
  own since it loads eth-abi) deploy, send to and call Solidity contracts
  from a compiled artifact with Gusu transactions, on any suite.

See docs/sdk.md for a guide. The SDK depends on gusu.crypto, gusu.codec,
gusu.ledger and gusu.errors only, so it can ship without the node.
"""

from gusu.ledger.lightclient import LightClientState, start_light_client, verify_next_header
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.sdk._rpc import TransactionDroppedError
from gusu.sdk.client import AsyncClient, Client, ClientSettings, Subscription
from gusu.sdk.contracts import (
    AsyncContractHandle,
    AsyncContracts,
    CallOutcome,
    ContractHandle,
    ContractInterface,
    Contracts,
    DecodedEvent,
    Deployed,
    InstanceView,
    decode_events,
    generate_client,
)
from gusu.sdk.governance import AsyncGovernance, Governance, ProposalRequest
from gusu.sdk.state import (
    EvidenceRecordView,
    compute_balance_key,
    compute_evidence_key,
    read_balance,
    read_evidence,
    verify_certified_state_proof,
    verify_state_proof,
)
from gusu.sdk.transactions import (
    SignedTransaction,
    build_transaction,
    verify_block_hash,
    verify_next_block,
    verify_receipt_proof,
    verify_transaction,
    verify_transaction_proof,
)
from gusu.sdk.views import (
    BlockNotification,
    BlockView,
    ContractEventsView,
    ContractEventView,
    EventNotification,
    EvidencePage,
    EvidenceView,
    NodeStatus,
    PeerView,
    ReceiptProof,
    ReceiptView,
    SenderTransactionsPage,
    TransactionProof,
    TransactionStatus,
    TransactionView,
)

__all__ = [
    "AsyncClient",
    "AsyncContractHandle",
    "AsyncContracts",
    "AsyncGovernance",
    "BlockNotification",
    "BlockView",
    "CallOutcome",
    "CertifiedStateProof",
    "Client",
    "ClientSettings",
    "ContractEventView",
    "ContractEventsView",
    "ContractHandle",
    "ContractInterface",
    "Contracts",
    "DecodedEvent",
    "Deployed",
    "EventNotification",
    "EvidencePage",
    "EvidenceRecordView",
    "EvidenceView",
    "Governance",
    "InstanceView",
    "LightClientState",
    "NodeStatus",
    "PeerView",
    "ProposalRequest",
    "ReceiptProof",
    "ReceiptView",
    "SenderTransactionsPage",
    "SignedTransaction",
    "Subscription",
    "TransactionDroppedError",
    "TransactionProof",
    "TransactionStatus",
    "TransactionView",
    "build_transaction",
    "compute_balance_key",
    "compute_evidence_key",
    "decode_events",
    "generate_client",
    "read_balance",
    "read_evidence",
    "start_light_client",
    "verify_block_hash",
    "verify_certified_state_proof",
    "verify_next_block",
    "verify_next_header",
    "verify_receipt_proof",
    "verify_state_proof",
    "verify_transaction",
    "verify_transaction_proof",
]
