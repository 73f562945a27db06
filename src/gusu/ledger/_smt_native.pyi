"""Types of the native state-tree update (src/gusu/ledger/_smt_native.c); see gusu.ledger.smt."""

from collections.abc import Callable, Mapping

def apply_updates(
    suite: int,
    prefixes: tuple[bytes, bytes, bytes, bytes],
    store_get: Callable[[bytes], bytes | None],
    cache_nodes: dict[bytes, tuple[int, bytes, int]] | None,
    version: int,
    parent_version: int | None,
    writes: Mapping[bytes, bytes | None],
    internal_depth_max: int,
) -> tuple[
    bytes,
    dict[bytes, bytes],
    tuple[tuple[int, bytes], ...],
    dict[bytes, bytes],
    list[tuple[bytes, int, bytes]],
]: ...
def hash(suite: int, data: bytes) -> bytes: ...
def encode_stale_keys(version: int, stale: tuple[tuple[int, bytes], ...]) -> list[bytes]: ...
