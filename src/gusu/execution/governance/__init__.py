"""Consortium governance: the registry, the proposals and votes, and the checks other layers make.

The `system` contract (gusu.execution.contracts.system) is a thin shell over
this package; docs/governance.md is the design. Other layers read the
governance state through the plain functions exported here, over committed
state (a `StateReader`), without a contract call.
"""

from gusu.execution.governance.registry import (
    Account,
    Node,
    Organization,
    check_transaction_permission,
    get_account,
    get_organizations,
    is_certificate_revoked,
    is_contract_code_approved,
    read_config_schedule,
)

__all__ = [
    "Account",
    "Node",
    "Organization",
    "check_transaction_permission",
    "get_account",
    "get_organizations",
    "is_certificate_revoked",
    "is_contract_code_approved",
    "read_config_schedule",
]
