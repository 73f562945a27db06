"""Deployed contracts: code by hash, instances by name, and the compiled-code cache.

A contract deployed by transaction (`contracts.deploy`) lives in the state of
the native `contracts` contract (`gusu.execution.contracts.deployer`):

* ``code/<code hash>`` -> the contract's UTF-8 source, stored once per hash;
* ``instance/<name>`` -> [code_hash, owner, deployed_height, upgraded_height,
  version, code_bytes].

The code hash is the chain suite's hash (SM3 or keccak-256) of the canonical
encoding ``["gusu.contract.code.v1", source bytes]``: the hash governance
approves (`approve_contract`) and clients compare against a file on disk.
An instance's own state is the namespace of its name, exactly as a native
contract's, so an upgrade that keeps the name keeps the state.

The executor resolves a transaction's contract name to a native contract
first and then to an instance here (`read_instance`), loads its compiled
code through `get_compiled` (a bounded cache: compiling is deterministic, so
the cache changes speed, never results), and runs it in the sandbox. The gas
of loading code is charged by its size whether or not the cache held it.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass

from gusu.codec import decode, encode
from gusu.crypto import get_suite
from gusu.errors import CodecError
from gusu.execution.errors import ContractError
from gusu.execution.sandbox import DEFAULT_SANDBOX_LIMITS, CompiledContract, SandboxLimits, compile_contract
from gusu.execution.state import StateReader, compute_state_key

# Re-exported: the hash moved to the ledger layer so that the SDK can compute it.
from gusu.ledger.contractcode import TAG_CODE_HASH as TAG_CODE_HASH
from gusu.ledger.contractcode import compute_code_hash as compute_code_hash
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Hash, Height

DEPLOYER_CONTRACT = "contracts"
"""The native contract that deploys, upgrades and describes contracts."""
CODE_PREFIX = b"code/"
INSTANCE_PREFIX = b"instance/"
SETTINGS_KEY = b"settings"
"""[suite, approval_required, [native contract names]]: fixed at genesis."""
TAG_CONTRACT_ADDRESS = "gusu.contract.address.v1"

CONTRACT_CALLS_DEPTH_MAX = 8
"""Contracts one transaction may nest (the outermost counts as one); a consensus rule."""

APPROVAL_PARAMETER = "contract_deploy_approval_required"
"""Genesis parameter: 1 if deploying or upgrading code needs governance's `approve_contract`, 0 if not.
When a genesis omits it, chains that run the `system` contract (governed chains) require approval."""

COMPILED_CACHE_ENTRIES_MAX = 256
"""Compiled contracts kept in memory per process (each a few hundred KiB at most)."""


@dataclass(frozen=True, slots=True)
class Instance:
    """A deployed contract at a name."""

    name: str
    code_hash: Hash
    owner: Address
    """The account that deployed it, the only one that may upgrade it."""
    deployed_height: Height
    upgraded_height: Height
    version: int
    """1 at deployment, one more at each upgrade."""
    code_bytes: int
    """Size of the source, which every call pays to load."""

    def to_value(self) -> list[object]:
        return [
            self.code_hash,
            self.owner,
            self.deployed_height,
            self.upgraded_height,
            self.version,
            self.code_bytes,
        ]


@dataclass(frozen=True, slots=True)
class DeployerSettings:
    suite: str
    is_approval_required: bool
    native_contracts: tuple[str, ...]


def compute_contract_address(suite: str, name: str) -> Address:
    """The address a deployed contract acts as when it calls another: the last 20 bytes of the suite hash
    of ``["gusu.contract.address.v1", name]``. It follows the name, so it survives upgrades, and no key
    pair stands behind it, so only the contract itself can act as it."""
    return Address(get_suite(suite).hash(encode([TAG_CONTRACT_ADDRESS, name]))[-ADDRESS_SIZE:])


@functools.lru_cache(maxsize=4096)
def compute_instance_key(name: str) -> bytes:
    """The full state key of instance `name` (in the deployer's namespace)."""
    return compute_state_key(DEPLOYER_CONTRACT, INSTANCE_PREFIX + name.encode())


def compute_code_key(code_hash: bytes) -> bytes:
    return compute_state_key(DEPLOYER_CONTRACT, CODE_PREFIX + code_hash)


def decode_instance(name: str, raw: bytes) -> Instance:
    """The instance record stored for `name`; ContractError if it is malformed (only the deployer writes it)."""
    try:
        value = decode(raw)
    except CodecError as error:
        raise ContractError(f"the record of deployed contract {name} is not canonical: {error}") from None
    match value:
        case [bytes() as code_hash, bytes() as owner, int(deployed), int(upgraded), int(version), int(size)]:
            if len(code_hash) == HASH_SIZE and len(owner) == ADDRESS_SIZE:
                deployed_height, upgraded_height = Height(deployed), Height(upgraded)
                return Instance(name, Hash(code_hash), Address(owner), deployed_height, upgraded_height, version, size)
    raise ContractError(f"the record of deployed contract {name} is malformed")


def read_instance(reader: StateReader, name: str) -> Instance | None:
    raw = reader.get(compute_instance_key(name))
    return None if raw is None else decode_instance(name, raw)


def compute_settings_key() -> bytes:
    return compute_state_key(DEPLOYER_CONTRACT, SETTINGS_KEY)


def decode_settings(raw: bytes | None) -> DeployerSettings | None:
    if raw is None:
        return None
    match decode(raw):
        case [str() as suite, bool() as required, list() as natives] if all(type(n) is str for n in natives):
            return DeployerSettings(suite, required, tuple(str(n) for n in natives))
    raise ContractError("the deployer's settings are malformed")


class CompiledCache:
    """Compiled contracts by code hash, least recently used first out; bounded by `entries_max`."""

    def __init__(self, entries_max: int = COMPILED_CACHE_ENTRIES_MAX) -> None:
        assert entries_max >= 1
        self._entries: OrderedDict[tuple[bytes, SandboxLimits], CompiledContract] = OrderedDict()
        self._entries_max = entries_max

    def get(
        self, code_hash: bytes, source: str | None, limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS
    ) -> CompiledContract | None:
        """The compiled code of `code_hash`, compiling `source` on a miss (None: a miss and no source)."""
        key = (bytes(code_hash), limits)
        compiled = self._entries.get(key)
        if compiled is not None:
            self._entries.move_to_end(key)
            return compiled
        if source is None:
            return None
        compiled = compile_contract(source, limits)
        self._entries[key] = compiled
        if len(self._entries) > self._entries_max:
            self._entries.popitem(last=False)
        return compiled


COMPILED_CACHE = CompiledCache()
"""The process's cache: compiled code depends only on the source and the limits, so nodes share it safely."""
