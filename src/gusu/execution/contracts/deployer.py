"""The `contracts` contract: deploy, upgrade and describe sandboxed Python contracts by transaction.

``deploy(name, source, args)`` compiles the source in the sandbox (a source
the compiler refuses fails the transaction with `contract_source_invalid`),
checks governance's approval of its code hash where the chain requires it,
stores the code once per hash, records the instance under `name` with the
sender as owner, and runs the contract's declared ``@migration`` (if any)
with `args` in the new namespace, all in one transaction: if the migration
fails, nothing is deployed.

``upgrade(name, source, args)``, by the owner only, points `name` at new
code (approved, where required), keeps the namespace's state and runs the
new code's migration with `args`. Freezing is governance's: a frozen name
refuses every call (`freeze_contract` proposals), deployed or native.

Design and rules: docs/contracts.md ("Deploying").
"""

from __future__ import annotations

from gusu.codec import Value, encode
from gusu.errors import ContractSourceError
from gusu.execution.context import Context
from gusu.execution.contract import NAME_PATTERN, Contract, method, view
from gusu.execution.deployment import (
    APPROVAL_PARAMETER,
    CODE_PREFIX,
    COMPILED_CACHE,
    INSTANCE_PREFIX,
    SETTINGS_KEY,
    DeployerSettings,
    Instance,
    compute_code_hash,
    decode_instance,
    decode_settings,
)
from gusu.execution.errors import ContractError
from gusu.execution.governance.registry import is_contract_code_approved
from gusu.execution.sandbox import CompiledContract, describe_declarations, run_method
from gusu.execution.state import compute_state_key_prefix
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import NAME_LENGTH_MAX, Hash


class _ForeignReader:
    """Reads full keys through a context (charged), for governance's registry readers."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, key: bytes) -> bytes | None:
        return self._ctx.get_foreign(key)


class Deployer(Contract):
    name = "contracts"
    trusted = True

    def on_genesis(self, ctx: Context, genesis: Genesis) -> None:
        required = dict(genesis.parameters).get(APPROVAL_PARAMETER)
        is_required = ("system" in genesis.contracts) if required is None else required != 0
        ctx.set_value(SETTINGS_KEY, [genesis.suite, is_required, list(genesis.contracts)])

    @method
    def deploy(self, ctx: Context, name: str, source: str, args: bytes) -> Hash:
        """Deploy `source` at `name`; returns the code hash. Emits Deployed [name, code_hash, owner]."""
        settings = _get_settings(ctx)
        _validate_new_name(ctx, settings, name)
        if _get_instance(ctx, name) is not None:
            ctx.revert(f"a contract named {name!r} is already deployed; upgrade it, or deploy under another name")
        code_hash, compiled = _install_code(ctx, settings, source)
        instance = Instance(name, code_hash, ctx.sender, ctx.block.height, ctx.block.height, 1, len(source.encode()))
        ctx.set_value(INSTANCE_PREFIX + name.encode(), instance.to_value())  # type: ignore[arg-type]
        _run_migration(ctx, compiled, name, args)
        ctx.emit("Deployed", [name, code_hash, ctx.sender])
        return code_hash

    @method
    def upgrade(self, ctx: Context, name: str, source: str, args: bytes) -> Hash:
        """Point `name` at new code, keeping its state; owner only. Emits Upgraded [name, old, new, version]."""
        settings = _get_settings(ctx)
        existing = _get_instance(ctx, name)
        if existing is None:
            ctx.revert(f"no contract named {name!r} is deployed; deploy it first")
        if existing.owner != ctx.sender:
            ctx.revert(f"only the owner of {name} (0x{existing.owner.hex()}) may upgrade it")
        code_hash, compiled = _install_code(ctx, settings, source)
        if code_hash == existing.code_hash:
            ctx.revert(f"{name} already runs code 0x{code_hash.hex()}")
        upgraded = Instance(
            name,
            code_hash,
            existing.owner,
            existing.deployed_height,
            ctx.block.height,
            existing.version + 1,
            len(source.encode()),
        )
        ctx.set_value(INSTANCE_PREFIX + name.encode(), upgraded.to_value())  # type: ignore[arg-type]
        _run_migration(ctx, compiled, name, args)
        ctx.emit("Upgraded", [name, existing.code_hash, code_hash, upgraded.version])
        return code_hash

    @view
    def get_instance(self, ctx: Context, name: str) -> Value:
        """[code_hash, owner, deployed_height, upgraded_height, version, code_bytes], or None."""
        instance = _get_instance(ctx, name)
        return None if instance is None else instance.to_value()  # type: ignore[return-value]

    @view
    def get_code(self, ctx: Context, code_hash: Hash) -> str | None:
        """The source stored under `code_hash`, or None."""
        raw = ctx.get(CODE_PREFIX + code_hash)
        return None if raw is None else raw.decode()

    @view
    def get_interface(self, ctx: Context, name: str) -> Value:
        """[[[method, kind, [[parameter, annotation], ...]], ...], [[event, [field, ...]], ...], migration]
        of the contract deployed at `name`, or None."""
        instance = _get_instance(ctx, name)
        if instance is None:
            return None
        raw = ctx.get(CODE_PREFIX + instance.code_hash)
        if raw is None:
            raise ContractError(f"the code of {name} (0x{instance.code_hash.hex()}) is missing")
        compiled = COMPILED_CACHE.get(instance.code_hash, raw.decode())
        assert compiled is not None
        return compute_interface_value(compiled)

    @view
    def is_approval_required(self, ctx: Context) -> bool:
        return _get_settings(ctx).is_approval_required

    @view
    def is_code_approved(self, ctx: Context, code_hash: Hash) -> bool:
        """Whether governance approved `code_hash` (`approve_contract`): clients check before they deploy."""
        return is_contract_code_approved(_ForeignReader(ctx), code_hash)


def _get_settings(ctx: Context) -> DeployerSettings:
    settings = decode_settings(ctx.get(SETTINGS_KEY))
    if settings is None:
        raise ContractError("the contracts contract has no settings: it did not run at genesis")
    return settings


def _get_instance(ctx: Context, name: str) -> Instance | None:
    raw = ctx.get(INSTANCE_PREFIX + name.encode())
    return None if raw is None else decode_instance(name, raw)


def _validate_new_name(ctx: Context, settings: DeployerSettings, name: str) -> None:
    if not 1 <= len(name) <= NAME_LENGTH_MAX or not NAME_PATTERN.fullmatch(name):
        ctx.revert(
            f"contract name {name!r} is not allowed: use 1 to {NAME_LENGTH_MAX} lowercase letters, digits and "
            "underscores, starting with a letter"
        )
    if name in settings.native_contracts:
        ctx.revert(f"{name!r} is a built-in contract of this chain; choose another name")


def _install_code(ctx: Context, settings: DeployerSettings, source: str) -> tuple[Hash, CompiledContract]:
    """Compile `source`, check its approval, store it once; its hash and compiled form."""
    code_hash = compute_code_hash(settings.suite, source)
    try:
        compiled = COMPILED_CACHE.get(code_hash, source)
    except ContractSourceError as error:
        ctx.revert(f"the contract's source is refused: {error}")
    assert compiled is not None
    if settings.is_approval_required and not is_contract_code_approved(_ForeignReader(ctx), code_hash):
        ctx.revert(
            f"code 0x{code_hash.hex()} is not approved: this chain deploys only code that governance approved; "
            f"propose it with `gusu gov propose approve-contract --code-hash 0x{code_hash.hex()}`"
        )
    key = CODE_PREFIX + code_hash
    if ctx.get(key) is None:
        ctx.set(key, source.encode())
    return code_hash, compiled


def _run_migration(ctx: Context, compiled: CompiledContract, name: str, args: bytes) -> None:
    """Run the code's declared migration (if any) with `args`, in `name`'s namespace, as part of this call."""
    if compiled.migration is None:
        if args not in (b"", encode([])):
            ctx.revert(f"{name} declares no @migration, so it takes no deployment arguments")
        return
    child = ctx.create_call(name, compiled.migration, compute_state_key_prefix(name), read_only=False)
    run_method(compiled, compiled.migration, args or encode([]), child, allow_migration=True)
    if child.fault is not None:
        raise child.fault
    ctx.apply_call(child)


def compute_interface_value(compiled: CompiledContract) -> Value:
    """`describe_declarations` as a canonical value (what `get_interface` returns)."""
    described = describe_declarations(compiled)
    methods: list[Value] = [
        [name, item["kind"], [[str(p), str(a)] for p, a in item["parameters"]]]
        for name, item in described["methods"].items()
    ]
    events: list[Value] = [[name, [str(field) for field in fields]] for name, fields in described["events"].items()]
    migration = described["migration"]
    return [methods, events, migration if isinstance(migration, str) else None]
