"""Gusu Chain: a consortium blockchain platform with national (SM) cryptography.

Layers, bottom to top: crypto, codec, ledger, execution, mempool and
consensus, network, node, api; the client-side sdk; and on top cli, console,
apps and eval. See docs/architecture.md.
"""

__version__ = "0.1.0"
