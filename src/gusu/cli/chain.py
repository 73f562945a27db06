"""`gusu chain`: lay out a new local chain on disk: one node, or a network of organisations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import get_scrypt_n
from gusu.cli.render import key_value_table
from gusu.crypto import SUITE_NAMES, get_suite
from gusu.errors import GusuError
from gusu.ledger.genesis import DEFAULT_CONTRACTS
from gusu.ledger.jsonview import bytes_to_hex, hex_to_bytes
from gusu.ledger.types import ADDRESS_SIZE, Address
from gusu.node.chain import DEFAULT_CHAIN_ID, initialize_chain

DEFAULT_BASE_PORT = 8545


@click.group("chain")
def chain_group() -> None:
    """Create chains."""


def _parse_organizations(
    _context: click.Context, _parameter: click.Parameter, value: str | None
) -> int | list[str] | None:
    """`--organizations 4` (org0..org3) or `--organizations acme,bank,coop` (their names)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise click.BadParameter("give a count (4) or comma-separated names (acme,bank,coop)")
    return names


@chain_group.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the chain (default <home>/chains/local; with --organizations <home>/chains/net).",
)
@click.option(
    "--organizations",
    default=None,
    callback=_parse_organizations,
    metavar="N|NAMES",
    help="Create a network: N organisations (org0, org1...) or their comma-separated names.",
)
@click.option(
    "--nodes-per-organization",
    type=click.IntRange(1, 100),
    default=None,
    help="With --organizations: validators per organisation [default 1].",
)
@click.option(
    "--base-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="With --organizations: API port of node0 [default 8545]; node i: BASE+i (API), BASE+100+i (P2P).",
)
@click.option("--suite", type=click.Choice(list(SUITE_NAMES)), default="sm", show_default=True, help="Crypto suite.")
@click.option("--chain-id", default=DEFAULT_CHAIN_ID, show_default=True, help="Chain id signed into every transaction.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="One-node chain: API port of node0 [default 8545]."
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=2,
    show_default=True,
    help="Signature-verifier processes of each node (0 verifies on the event loop).",
)
@click.option(
    "--consensus",
    type=click.Choice(["tendermint", "raft"]),
    default="tendermint",
    show_default=True,
    help="With --organizations: ordering: tendermint (BFT) or raft (crash faults only; members trust each other).",
)
@click.option(
    "--evm",
    is_flag=True,
    help="One-node chain: also run the `evm` contract (Solidity; gusu evm, docs/evm.md).",
)
@common_options
def chain_init(
    directory: Path | None,
    organizations: int | list[str] | None,
    nodes_per_organization: int | None,
    base_port: int | None,
    suite: str,
    chain_id: str,
    port: int | None,
    workers: int,
    consensus: str,
    evm: bool,
) -> None:
    """Create a one-node chain, or with --organizations a network, with a funded dev account (the genesis admin)."""
    state = get_state()
    if evm and organizations is not None:
        raise CliUsageError("--evm is for a one-node chain (without --organizations)")
    if organizations is not None:
        if port is not None:
            raise CliUsageError("--port is for a one-node chain; with --organizations use --base-port")
        _init_network(
            state,
            directory,
            organizations,
            nodes_per_organization or 1,
            base_port if base_port is not None else DEFAULT_BASE_PORT,
            suite,
            chain_id,
            workers,
            consensus,
        )
        return
    if nodes_per_organization is not None or base_port is not None:
        raise CliUsageError("--nodes-per-organization and --base-port go with --organizations N")
    if click.get_current_context().get_parameter_source("consensus") is click.core.ParameterSource.COMMANDLINE:
        raise CliUsageError("--consensus goes with --organizations N (a one-node chain orders alone: solo)")
    port = port if port is not None else DEFAULT_BASE_PORT
    chain_directory = (directory or state.default_chain_directory).expanduser().resolve()
    layout = initialize_chain(
        chain_directory,
        suite_name=suite,
        chain_id=chain_id,
        api_port=port,
        verifier_workers=workers,
        scrypt_n=get_scrypt_n(),
        contracts=(*DEFAULT_CONTRACTS, "evm") if evm else DEFAULT_CONTRACTS,
    )
    node_directory = layout.node_directories[0]
    if evm:
        _enable_development_eth(node_directory / "config.toml")
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
        "contracts": list(layout.genesis.contracts),
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


def _enable_development_eth(config_path: Path) -> None:
    """An EVM development chain answers eth_sendRawTransaction once committed, as Hardhat's automine does."""
    with config_path.open("a", encoding="utf-8") as config_file:
        config_file.write(
            "\n[eth]\n"
            "# A development chain (`gusu chain init --evm`): eth_sendRawTransaction answers once the transaction\n"
            "# is committed, so tests written for Hardhat's automine read their receipts at once (docs/evm.md).\n"
            "# Each waiting request holds a connection: leave it off on a production node.\n"
            "send_waits_for_commit = true\n"
        )


def _init_network(
    state: CliState,
    directory: Path | None,
    organizations: int | list[str],
    nodes_per_organization: int,
    base_port: int,
    suite: str,
    chain_id: str,
    workers: int,
    consensus: str = "tendermint",
) -> None:
    """`chain init --organizations`: lay out a network (ports checked first), print its nodes and next steps."""
    # Imported here: a one-node chain needs none of the network machinery.
    from gusu.cli.net import directory_flag, endpoint_flag, nodes_table
    from gusu.eval.network import LocalNetwork, PortsInUseError

    network_directory = (directory or state.default_network_directory).expanduser().resolve()
    try:
        network = LocalNetwork.create(
            network_directory,
            organizations=organizations,
            nodes_per_organization=nodes_per_organization,
            suite_name=suite,
            chain_id=chain_id,
            base_port=base_port,
            verifier_workers=workers,
            scrypt_n=get_scrypt_n(),
            consensus=consensus,
        )
    except PortsInUseError as error:
        raise PortsInUseError(f"{error}; choose another --base-port", error.taken) from None
    organization_names = list(dict.fromkeys(node.organization for node in network.nodes))
    flag = directory_flag(state, network_directory)
    other = network.nodes[min(1, len(network.nodes) - 1)]
    next_steps = [
        f"gusu net up{flag}",
        f"gusu net status{flag}",
        f"gusu{endpoint_flag(other)} account balance {network.dev_address}",
        f"gusu net down{flag}",
    ]
    nodes = [node.to_json() for node in network.nodes]
    document: dict[str, Any] = {
        "directory": str(network_directory),
        "chain_id": network.chain_id,
        "suite": network.suite,
        "genesis": str(network_directory / "genesis.json"),
        "organizations": organization_names,
        "validators": len(network.nodes),
        "nodes": nodes,
        "pki": str(network_directory / "pki"),
        "dev_key": str(network.dev_key_path),
        "dev_passphrase_file": str(network.dev_passphrase_path),
        "dev_address": network.dev_address,
        "next": next_steps,
    }

    def render() -> None:
        title = (
            f"chain {network.chain_id} ({network.suite}) created in {network_directory}: "
            f"{len(organization_names)} organisations, {len(nodes)} validators"
        )
        state.stdout.print(nodes_table(title, nodes, with_pid=False))
        state.stdout.print(f"dev key: {network.dev_key_path} ({network.dev_address}; passphrase in dev.pass)")
        state.stdout.print(
            f"organisation CAs: {document['pki']}/<org>/ca.crt (each organisation its own root; "
            "for separate machines see `gusu org init`)"
        )
        state.stdout.print("\nnext:")
        for step in next_steps:
            state.stdout.print(f"  {step}")

    state.emit(document, render)


def _parse_allocation(text: str) -> tuple[Address, int]:
    address_text, separator, amount_text = text.partition("=")
    try:
        address = Address(hex_to_bytes(address_text.strip()))
        amount = int(amount_text)
    except (ValueError, GusuError):
        address, amount = Address(b""), -1
    if not separator or len(address) != ADDRESS_SIZE or amount < 0:
        raise CliUsageError(f"--allocate {text!r}: write 0x<address>=<amount>")
    return address, amount


@chain_group.command("genesis")
@click.option("--chain-id", required=True, help="Chain id signed into every transaction.")
@click.option(
    "--org",
    "organizations",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="An organisation bundle (`gusu org export`); repeat for each founder.",
)
@click.option(
    "--validator",
    "validators",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="A node record (NODE_DIR/node.json from `gusu node init`); repeat for each validator.",
)
@click.option("--allocate", "allocations", multiple=True, metavar="0xADDRESS=AMOUNT", help="An initial balance.")
@click.option("--timestamp-ms", type=click.IntRange(0), default=0, show_default=True, help="Genesis time.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write genesis.json."
)
@common_options
def chain_genesis(
    chain_id: str,
    organizations: tuple[Path, ...],
    validators: tuple[Path, ...],
    allocations: tuple[str, ...],
    timestamp_ms: int,
    out: Path,
) -> None:
    """Assemble genesis from public parts only: organisation bundles and node records; no private key is read."""
    from gusu.ledger.genesis import compute_genesis_hash, save_genesis
    from gusu.node.orgdir import assemble_genesis, read_node_record, read_organization_bundle

    state = get_state()
    bundles = [read_organization_bundle(path) for path in organizations]
    records = [read_node_record(path) for path in validators]
    suites = {record.suite for record in records if record.suite}
    if len(suites) > 1:
        raise CliUsageError(f"the node records use different suites ({', '.join(sorted(suites))})")
    suite_name = suites.pop() if suites else "sm"
    genesis = assemble_genesis(
        chain_id=chain_id,
        organizations=bundles,
        validators=records,
        suite_name=suite_name,
        allocations=[_parse_allocation(text) for text in allocations],
        timestamp_ms=timestamp_ms,
    )
    target = out.expanduser().resolve()
    save_genesis(target, genesis)
    genesis_hash = compute_genesis_hash(get_suite(suite_name), genesis)
    document: dict[str, Any] = {
        "genesis": str(target),
        "chain_id": chain_id,
        "suite": suite_name,
        "genesis_hash": bytes_to_hex(genesis_hash),
        "organizations": [bundle.name for bundle in genesis.organizations],
        "validators": [
            {"name": v.name, "organization": v.organization, "address": bytes_to_hex(v.address), "power": v.power}
            for v in genesis.validators
        ],
        "peers": [record.p2p_endpoint for record in records],
    }

    def render() -> None:
        table = key_value_table(f"genesis of chain {chain_id} ({suite_name}) written to {target}")
        table.add_row("genesis hash", document["genesis_hash"])
        table.add_row("organisations", ", ".join(document["organizations"]))
        for validator in document["validators"]:
            table.add_row(f"validator {validator['name']}", f"{validator['organization']} {validator['address']}")
        state.stdout.print(table)
        state.stdout.print(
            "\nnext: copy it into every node directory as genesis.json, then `gusu node start --dir ...`"
        )

    state.emit(document, render)
