"""The contracts a chain runs, by name.

Native contracts are code shipped with the node, not deployed by
transactions, so every node of a chain must register the same set (the
built-ins, plus any extension the consortium agrees on) or the nodes will
disagree about which transactions succeed.
"""

from __future__ import annotations

from collections.abc import Iterable

from gusu.errors import ConfigError
from gusu.execution.contract import Contract, ContractSpec, compute_contract_spec
from gusu.execution.contracts import BUILTIN_CONTRACTS


class ContractRegistry:
    """Contract name -> contract class, checked when registered."""

    def __init__(self, contracts: Iterable[type[Contract]] = ()) -> None:
        self._specs: dict[str, ContractSpec] = {}
        for contract in contracts:
            self.register(contract)

    def register(self, contract: type[Contract]) -> None:
        """Add `contract`; ConfigError if it is malformed or its name is taken."""
        spec = compute_contract_spec(contract)
        if spec.name in self._specs:
            existing = self._specs[spec.name].contract_class
            raise ConfigError(
                f"a contract named {spec.name!r} is already registered ({existing.__module__}.{existing.__qualname__})"
            )
        self._specs[spec.name] = spec

    def get(self, name: str) -> ContractSpec | None:
        return self._specs.get(name)

    def get_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._specs))

    def get_specs(self) -> tuple[ContractSpec, ...]:
        """Every registered contract, sorted by name."""
        return tuple(self._specs[name] for name in self.get_names())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)


def get_default_registry() -> ContractRegistry:
    """A new registry holding the built-in contracts (account, evidence, system)."""
    return ContractRegistry(BUILTIN_CONTRACTS)


def get_available_registry() -> ContractRegistry:
    """Every contract this node implements: the built-ins and those a genesis must list by name (evm)."""
    # Imported here: the EVM engine (py-evm) is loaded only by nodes whose chain runs it.
    from gusu.execution.evm.contract import Evm

    return ContractRegistry((*BUILTIN_CONTRACTS, Evm))


def compute_chain_registry(
    contract_names: Iterable[str], available: ContractRegistry | None = None
) -> ContractRegistry:
    """The registry of a chain whose genesis lists `contract_names`, taken from `available`
    (default: `get_available_registry`).

    ConfigError names a contract this node does not implement: it could not execute that chain's blocks.
    """
    source = available if available is not None else get_available_registry()
    names = list(contract_names)
    missing = [name for name in names if name not in source]
    if missing:
        raise ConfigError(
            f"the chain's genesis lists contracts this node does not implement: {', '.join(missing)} "
            f"(it has {', '.join(source.get_names())}); run a Gusu version that has them"
        )
    registry = ContractRegistry()
    for name in names:
        spec = source.get(name)
        assert spec is not None
        registry.register(spec.contract_class)
    return registry
