"""`gusu net`: a local network of validators, one process each: up, down and status.

The process management lives in `gusu.eval.network.LocalNetwork` (shared
with `gusu bench --nodes N` and the end-to-end tests); this module turns
its records into tables, JSON documents and next steps.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from gusu.cli.context import CliState, common_options, get_state
from gusu.cli.keystore import get_scrypt_n
from gusu.crypto import SUITE_NAMES
from gusu.errors import NodeError
from gusu.eval.network import (
    CONNECT_TIMEOUT_S,
    DEFAULT_BASE_PORT,
    NODES_MAX,
    P2P_PORT_OFFSET,
    STOP_TIMEOUT_S,
    LocalNetwork,
    LocalNode,
    NetworkNotConnectedError,
    NetworkStatus,
    NodeState,
    PortsInUseError,
)
from gusu.node.chain import DEFAULT_CHAIN_ID
from gusu.node.network_init import ORGANIZATIONS_MAX

DEFAULT_NET_NODES = 4
EXIT_UNHEALTHY = 1
SHORT_HASH_CHARACTERS = 18
"""0x and 16 hex digits: enough to tell blocks apart in a table (the JSON has the full hash)."""


def get_default_workers(nodes: int) -> int:
    """Verifier processes per node when not given: share this machine's cores among the nodes."""
    return max(1, (os.cpu_count() or 1) // max(1, nodes))


def resolve_network_directory(state: CliState, directory: Path | None) -> Path:
    return (directory or state.default_network_directory).expanduser().resolve()


def open_network(state: CliState, directory: Path) -> LocalNetwork:
    if not LocalNetwork.exists(directory):
        default = directory == state.default_network_directory.expanduser().resolve()
        flag = "" if default else f" --dir {directory}"
        raise NodeError(f"no network in {directory}; create and start one with `gusu net up{flag}`")
    return LocalNetwork.open(directory)


def directory_flag(state: CliState, directory: Path) -> str:
    """`` --dir D`` unless D is the default network directory (so printed commands stay short)."""
    return "" if directory == state.default_network_directory.expanduser().resolve() else f" --dir {directory}"


def endpoint_flag(node: LocalNode) -> str:
    return "" if node.api_url == "http://127.0.0.1:8545" else f" --endpoint {node.api_url}"


def nodes_table(title: str, nodes: list[dict[str, Any]], *, with_pid: bool) -> Table:
    """One row per node: name, organisation, (pid), address, API url, P2P endpoint."""
    table = Table(title=title, title_justify="left")
    table.add_column("node", style="bold")
    table.add_column("org")
    if with_pid:
        table.add_column("pid", justify="right")
    table.add_column("address")
    table.add_column("api url")
    table.add_column("p2p endpoint")
    for node in nodes:
        row = [node["name"], node["organization"]]
        if with_pid:
            row.append("-" if node.get("pid") is None else str(node["pid"]))
        row += [node["address"], node["api_url"], node["p2p_endpoint"]]
        table.add_row(*row)
    return table


@click.group("net")
def net_group() -> None:
    """Run a local network of validators, one process each (up, down, status)."""


def _directory_option(function: Any) -> Any:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Network directory (default <home>/chains/net).",
    )(function)


@net_group.command("up")
@_directory_option
@click.option(
    "--nodes",
    type=click.IntRange(1, min(ORGANIZATIONS_MAX, NODES_MAX)),
    default=DEFAULT_NET_NODES,
    show_default=True,
    help="Validators of a new network, one organisation each (ignored when --dir holds a network).",
)
@click.option("--suite", type=click.Choice(list(SUITE_NAMES)), default="sm", show_default=True, help="Crypto suite.")
@click.option("--chain-id", default=DEFAULT_CHAIN_ID, show_default=True, help="Chain id of a new network.")
@click.option(
    "--base-port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_BASE_PORT,
    show_default=True,
    help=f"API port of node0; node i uses BASE+i for its API and BASE+{P2P_PORT_OFFSET}+i for peers.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Signature-verifier processes per node of a new network [default: cores ÷ nodes, at least 1].",
)
@click.option(
    "--consensus",
    type=click.Choice(["tendermint", "raft"]),
    default="tendermint",
    show_default=True,
    help="Ordering of a new network: tendermint (BFT) or raft (crash faults only; members trust each other).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=CONNECT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the nodes to serve, and again for the validators to connect to each other.",
)
@common_options
def net_up(
    directory: Path | None,
    nodes: int,
    suite: str,
    chain_id: str,
    base_port: int,
    workers: int | None,
    consensus: str,
    timeout_s: float,
) -> None:
    """Create a network if --dir holds none, start every node, wait until the validators are connected.

    The network then commits what it is sent: it makes blocks when there are
    transactions (set [consensus] empty_block_interval_ms in each node's
    config.toml for a heartbeat of empty blocks).
    """
    state = get_state()
    context = click.get_current_context()
    network_directory = resolve_network_directory(state, directory)
    created = not LocalNetwork.exists(network_directory)
    if created:
        try:
            network = LocalNetwork.create(
                network_directory,
                organizations=nodes,
                suite_name=suite,
                chain_id=chain_id,
                base_port=base_port,
                verifier_workers=workers if workers is not None else get_default_workers(nodes),
                scrypt_n=get_scrypt_n(),
                consensus=consensus,
            )
        except PortsInUseError as error:
            raise PortsInUseError(f"{error}; choose another --base-port", error.taken) from None
        state.note(f"created a {nodes}-node {suite} {consensus} network in {network_directory}")
    else:
        network = LocalNetwork.open(network_directory)
        ignored = [
            f"--{name.replace('_', '-')}"
            for name in ("nodes", "suite", "chain_id", "base_port", "workers", "consensus")
            if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        ]
        if ignored:
            state.warn(
                f"{network_directory} already holds a {len(network.nodes)}-node network; "
                f"ignoring {', '.join(ignored)} (options for a new network)"
            )
    flag = directory_flag(state, network_directory)
    try:
        with state.busy(f"starting {len(network.nodes)} nodes and waiting for them to connect"):
            report = network.start(ready_timeout_s=timeout_s, connect_timeout_s=timeout_s)
    except PortsInUseError as error:
        raise PortsInUseError(
            f"{error}; stop whatever holds them and run `gusu net up{flag}` again", error.taken
        ) from None
    except NetworkNotConnectedError as error:
        raise NetworkNotConnectedError(
            f"{error}\nthe nodes are still running: inspect them with `gusu net status{flag}` and their node.log "
            f"files, stop them with `gusu net down{flag}`"
        ) from None
    pids = network.running_pids()
    node_documents = [{**node.to_json(), "pid": pids.get(node.name)} for node in network.nodes]
    # Shown against node1 on purpose: any node takes transactions.
    other = network.nodes[min(1, len(network.nodes) - 1)]
    next_steps = [
        f"gusu net status{flag}",
        f"gusu{endpoint_flag(other)} account transfer 0x<address> 100 --key {network.dev_key_path}",
        f"gusu net down{flag}",
    ]
    document = {
        "directory": str(network_directory),
        "created": created,
        "chain_id": network.chain_id,
        "suite": network.suite,
        "height": report.height,
        "peers": {name: list(peers) for name, peers in report.peers.items()},
        "started": list(report.started),
        "already_running": list(report.already_running),
        "nodes": node_documents,
        "dev_key": str(network.dev_key_path),
        "dev_address": network.dev_address,
        "next": next_steps,
    }

    def render() -> None:
        state.stdout.print(
            nodes_table(
                f"network {network.chain_id} ({network.suite}) in {network_directory}", node_documents, with_pid=True
            )
        )
        if report.already_running:
            state.stdout.print(f"already running: {', '.join(report.already_running)}")
        connected = "" if len(node_documents) < 2 else ", every validator connected to the others"
        height = "" if report.height is None else f", at height {report.height}"
        state.stdout.print(f"{len(node_documents)} nodes serving{connected}{height}")
        state.stdout.print(
            escape(
                "blocks are made when there are transactions; for a heartbeat of empty blocks set "
                "[consensus] empty_block_interval_ms in each node's config.toml"
            )
        )
        state.stdout.print(f"dev key: {network.dev_key_path} ({network.dev_address})")
        state.stdout.print("logs: <node directory>/node.log\n\nnext:")
        for step in next_steps:
            state.stdout.print(f"  {step}")

    state.emit(document, render)


@net_group.command("down")
@_directory_option
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=STOP_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
@common_options
def net_down(directory: Path | None, timeout_s: float) -> None:
    """Stop every node of the network (SIGTERM, then SIGKILL for those that do not exit in time)."""
    state = get_state()
    network_directory = resolve_network_directory(state, directory)
    network = open_network(state, network_directory)
    with state.busy(f"stopping {len(network.nodes)} nodes"):
        records = network.stop(timeout_s=timeout_s)
    for record in records:
        if record.outcome == "killed":
            state.warn(
                f"{record.name} (pid {record.pid}) did not stop within {timeout_s:g} s of SIGTERM and was killed "
                "with SIGKILL; it will recover its store on the next start"
            )
    document = {
        "directory": str(network_directory),
        "nodes": [
            {"name": record.name, "pid": record.pid, "outcome": record.outcome, "waited_s": round(record.waited_s, 3)}
            for record in records
        ],
        "stopped": sum(1 for record in records if record.outcome == "stopped"),
        "killed": sum(1 for record in records if record.outcome == "killed"),
        "not_running": sum(1 for record in records if record.outcome == "not running"),
    }

    def render() -> None:
        if all(record.outcome == "not running" for record in records):
            state.stdout.print(f"no node of {network_directory} was running")
            return
        for record in records:
            if record.outcome == "not running":
                state.stdout.print(f"{record.name}: was not running")
            else:
                state.stdout.print(f"{record.name} (pid {record.pid}) {record.outcome} after {record.waited_s:.1f} s")

    state.emit(document, render)


@net_group.command("status")
@_directory_option
@common_options
def net_status(directory: Path | None) -> None:
    """Each node's process, height, mempool and peers, and whether they agree on the chain.

    Peers are the validators each node reports being connected to (marked
    "(os)" when read from its sockets because the node did not answer).
    Exits with status 1 unless every node runs, answers, agrees and is
    connected to the others.
    """
    state = get_state()
    network_directory = resolve_network_directory(state, directory)
    network = open_network(state, network_directory)
    status = network.status()

    def render() -> None:
        state.stdout.print(_status_table(status))
        style = "green" if status.healthy else ("bold red" if not status.agree else "yellow")
        state.stdout.print(f"[{style}]{status.verdict}[/{style}]")

    state.emit(status.to_json(), render)
    if not status.healthy:
        click.echo(f"error: {status.verdict}", err=True)
        click.get_current_context().exit(EXIT_UNHEALTHY)


def _format_peers(node: NodeState) -> str:
    """``3/3``: connected validators of all the others; ``(os)`` when read from sockets, not told by the node."""
    if node.peers is None:
        return "-"
    text = f"{len(node.peers)}/{node.peers_expected}" + (" (os)" if node.peers_source == "os" else "")
    return text if len(node.peers) >= node.peers_expected else f"[yellow]{text}[/yellow]"


def _status_table(status: NetworkStatus) -> Table:
    height_label = "block at common height" if status.common_height is None else f"block at {status.common_height}"
    table = Table(title=f"network {status.chain_id} ({status.suite}) in {status.directory}", title_justify="left")
    for column in ("node", "org", "pid", "process", "height", height_label, "mempool", "peers"):
        table.add_column(column, justify="right" if column in ("pid", "height", "mempool") else "left")
    for node in status.nodes:
        block = "-" if node.common_block_hash is None else node.common_block_hash[:SHORT_HASH_CHARACTERS] + "…"
        if node.name in status.disagreeing:
            block = f"[bold red]{block}[/bold red]"
        peers = _format_peers(node)
        process = node.process if node.process == "running" else f"[yellow]{node.process}[/yellow]"
        if node.process == "running" and not node.reachable:
            process = "[yellow]running, not answering[/yellow]"
        table.add_row(
            node.name,
            node.organization,
            "-" if node.pid is None else str(node.pid),
            process,
            "-" if node.height is None else f"{node.height:,}",
            block,
            "-" if node.mempool_transactions is None else f"{node.mempool_transactions:,}",
            peers,
        )
    return table
