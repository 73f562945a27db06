"""The built-in contracts every Gusu chain runs."""

from gusu.execution.contracts.account import Account
from gusu.execution.contracts.deployer import Deployer
from gusu.execution.contracts.evidence import Evidence
from gusu.execution.contracts.system import System

BUILTIN_CONTRACTS = (Account, Deployer, Evidence, System)

__all__ = ["BUILTIN_CONTRACTS", "Account", "Deployer", "Evidence", "System"]
