"""`gusu chain`: lay out a new local chain on disk."""

from __future__ import annotations

from pathlib import Path

import click

from gusu.cli.context import common_options, get_state
from gusu.cli.keystore import get_scrypt_n
from gusu.cli.render import key_value_table
from gusu.crypto import SUITE_NAMES
from gusu.ledger.jsonview import bytes_to_hex
from gusu.node.chain import DEFAULT_CHAIN_ID, initialize_chain


@click.group("chain")
def chain_group() -> None:
    """Create chains."""


@chain_group.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the chain (default <home>/chains/local).",
)
@click.option("--suite", type=click.Choice(list(SUITE_NAMES)), default="sm", show_default=True, help="Crypto suite.")
@click.option("--chain-id", default=DEFAULT_CHAIN_ID, show_default=True, help="Chain id signed into every transaction.")
@click.option("--port", type=click.IntRange(1, 65535), default=8545, show_default=True, help="API port of node0.")
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=2,
    show_default=True,
    help="Signature-verifier processes of node0 (0 verifies on the event loop).",
)
@common_options
def chain_init(directory: Path | None, suite: str, chain_id: str, port: int, workers: int) -> None:
    """Create a one-node chain with a funded dev account (also the genesis admin)."""
    state = get_state()
    chain_directory = (directory or state.default_chain_directory).expanduser().resolve()
    layout = initialize_chain(
        chain_directory,
        suite_name=suite,
        chain_id=chain_id,
        api_port=port,
        verifier_workers=workers,
        scrypt_n=get_scrypt_n(),
    )
    node_directory = layout.node_directories[0]
    base_url = f"http://127.0.0.1:{layout.api_ports[0]}"
    default_node = node_directory == state.default_node_directory.expanduser().resolve()
    start_command = "gusu node start" + ("" if default_node else f" --dir {node_directory}")
    endpoint_flag = "" if layout.api_ports[0] == 8545 else f" --endpoint {base_url}"
    balance_command = f"gusu{endpoint_flag} account balance {bytes_to_hex(layout.dev_address)}"
    endpoints = {
        "rpc": f"{base_url}/rpc",
        "websocket": f"ws://127.0.0.1:{layout.api_ports[0]}/ws",
        "rest": f"{base_url}/v1",
        "metrics": f"{base_url}/metrics",
    }
    document = {
        "directory": str(layout.directory),
        "chain_id": layout.genesis.chain_id,
        "suite": layout.genesis.suite,
        "genesis": str(layout.directory / "genesis.json"),
        "node_directory": str(node_directory),
        "dev_key": str(layout.dev_key_path),
        "dev_passphrase_file": str(layout.dev_passphrase_path),
        "dev_address": bytes_to_hex(layout.dev_address),
        "endpoints": endpoints,
        "next": [start_command, balance_command],
    }

    def render() -> None:
        table = key_value_table(f"chain {chain_id} ({suite}) created in {layout.directory}")
        table.add_row("node directory", str(node_directory))
        table.add_row("dev key", f"{layout.dev_key_path} (passphrase in {layout.dev_passphrase_path.name})")
        table.add_row("dev address", bytes_to_hex(layout.dev_address))
        for name, url in endpoints.items():
            table.add_row(name, url)
        state.stdout.print(table)
        state.stdout.print("\nnext:")
        state.stdout.print(f"  {start_command} --detach")
        state.stdout.print(f"  {balance_command}")
        state.stdout.print(f"  gusu{endpoint_flag} account transfer 0x<address> 100 --key {layout.dev_key_path}")

    state.emit(document, render)
