"""The `system` contract: the chain's genesis settings, readable on chain.

Stores, at genesis, the chain parameters, the validator set and the admins,
so that clients and contracts' users can read them with a view call.

State: ``parameters`` -> [[name, value], ...] sorted by name;
``parameter/<name>`` -> value; ``validators`` -> [[name, address,
public_key, power], ...] in genesis order; ``admins`` -> [address, ...].
"""

from __future__ import annotations

from gusu.codec import Value
from gusu.execution.context import Context
from gusu.execution.contract import Contract, view
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import NAME_LENGTH_MAX

PARAMETERS_KEY = b"parameters"
PARAMETER_PREFIX = b"parameter/"
VALIDATORS_KEY = b"validators"
ADMINS_KEY = b"admins"


class System(Contract):
    name = "system"
    trusted = True

    def on_genesis(self, ctx: Context, genesis: Genesis) -> None:
        ctx.set_value(PARAMETERS_KEY, [[name, value] for name, value in genesis.parameters])
        for name, value in genesis.parameters:
            ctx.set_int(PARAMETER_PREFIX + name.encode(), value)
        ctx.set_value(
            VALIDATORS_KEY,
            [[item.name, item.address, item.public_key, item.power] for item in genesis.validators],
        )
        ctx.set_value(ADMINS_KEY, list(genesis.admins))

    @view
    def get_parameter(self, ctx: Context, name: str) -> int:
        """The value of parameter `name`; reverts if the chain has no such parameter."""
        if 0 < len(name) <= NAME_LENGTH_MAX:
            value = ctx.get_value(PARAMETER_PREFIX + name.encode())
            if isinstance(value, int):
                return value
        known = ctx.get_value(PARAMETERS_KEY)
        names = [str(item[0]) for item in known if isinstance(item, list)] if isinstance(known, list) else []
        ctx.revert(f"this chain has no parameter {name!r} (parameters: {', '.join(names) or 'none'})")

    @view
    def get_parameters(self, ctx: Context) -> Value:
        """[[name, value], ...] sorted by name."""
        return ctx.get_value(PARAMETERS_KEY)

    @view
    def get_validators(self, ctx: Context) -> Value:
        """[[name, address, public_key, power], ...] in genesis order."""
        return ctx.get_value(VALIDATORS_KEY)

    @view
    def get_admins(self, ctx: Context) -> Value:
        return ctx.get_value(ADMINS_KEY)
