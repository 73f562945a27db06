"""The ledger: record types, Merkle trees, the block store and world state."""
