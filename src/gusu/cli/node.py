"""`gusu node`: run a node in the foreground or background, stop it, ask how it is and who its peers are."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization

from gusu.cli.context import CliState, common_options, get_state
from gusu.cli.nodeproc import (
    check_node_directory,
    get_api_url,
    get_running_pid,
    start_detached,
    stop_node,
)
from gusu.cli.remote import get_health, open_client
from gusu.cli.render import (
    evidence_table,
    evidence_view_to_json,
    format_time_ms,
    format_versions,
    key_value_table,
    peer_view_to_json,
    peers_table,
    status_to_json,
)
from gusu.errors import ClientError, GusuError, NodeError, RemoteError
from gusu.node.config import load_config
from gusu.node.statesync_stage import read_progress
from gusu.sdk import Client, PeerView
from gusu.sdk.client import EVIDENCE_LIMIT

EXIT_NODE_DOWN = 1


def _node_directory_option(function: Any) -> Any:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Node directory (default <home>/chains/local/node0).",
    )(function)


def _resolve_directory(state: CliState, directory: Path | None) -> Path:
    return (directory or state.default_node_directory).expanduser().resolve()


def _resolve_target(state: CliState, directory: Path | None) -> tuple[str, Path | None]:
    """The API URL to ask, and the node directory it was read from (None when it is an endpoint).

    --dir wins; then an endpoint named on the command line or in the
    environment; then the default node directory if it holds a node; then
    the default endpoint.
    """
    named_endpoint = state.endpoint_explicit or state.endpoint_from_environment
    if directory is not None or (not named_endpoint and _has_default_node(state)):
        node_directory = _resolve_directory(state, directory)
        check_node_directory(node_directory)
        return get_api_url(node_directory), node_directory
    return state.endpoint, None


def _get_peers_or_none(client: Client) -> list[PeerView] | None:
    """The node's peers, or None when it cannot tell (a node from before `gusu_peers`)."""
    try:
        return client.peers()
    except RemoteError:
        return None


def _print_endpoints(state: CliState, ready: dict[str, Any], heading: str) -> None:
    table = key_value_table(heading)
    for name in ("rpc", "websocket", "rest", "metrics"):
        if name in ready:
            table.add_row(name, str(ready[name]))
    for name in ("chain_id", "height", "pid"):
        if name in ready:
            table.add_row(name.replace("_", " "), str(ready[name]))
    state.stdout.print(table)


@click.group("node")
def node_group() -> None:
    """Run and inspect a node."""


@node_group.command("start")
@_node_directory_option
@click.option("--detach", is_flag=True, help="Run in the background (output in NODE_DIR/node.log).")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="With --detach: seconds to wait for the node to serve.",
)
@common_options
def node_start(directory: Path | None, detach: bool, timeout_s: float) -> None:
    """Start the node of a node directory (made by `gusu chain init`)."""
    state = get_state()
    node_directory = _resolve_directory(state, directory)
    check_node_directory(node_directory)
    if detach:
        ready = start_detached(node_directory, timeout_s)
        document = {"detached": True, "node_directory": str(node_directory), **ready}

        def render() -> None:
            _print_endpoints(state, ready, f"node running in the background from {node_directory}")
            state.stdout.print(
                f"log: {node_directory / 'node.log'}   stop it with: gusu node stop"
                + ("" if directory is None else f" --dir {node_directory}")
            )

        state.emit(document, render)
        return

    # Imported only here: the API server is heavy and no other command needs it.
    from gusu.api.process import configure_logging, serve

    config = load_config(node_directory)
    configure_logging(config.node.log_level)

    def on_ready(ready: dict[str, object]) -> None:
        document = {"detached": False, "node_directory": str(node_directory), **ready}
        if state.json_output:
            state.emit(document)
        else:
            _print_endpoints(state, ready, f"node serving from {node_directory} (Ctrl-C stops it)")

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(node_directory, on_ready=on_ready))
    except KeyboardInterrupt:
        # serve() turns SIGINT into a clean stop; this is a second Ctrl-C during shutdown.
        raise NodeError("interrupted while stopping; the node may not have shut down cleanly") from None
    state.note("node stopped")


@node_group.command("stop")
@_node_directory_option
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=20.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
@common_options
def node_stop(directory: Path | None, timeout_s: float) -> None:
    """Stop a background node (SIGTERM, then SIGKILL if it does not exit in time)."""
    state = get_state()
    node_directory = _resolve_directory(state, directory)
    outcome = stop_node(node_directory, timeout_s)
    document = {
        "stopped": True,
        "pid": outcome.pid,
        "killed": outcome.killed,
        "waited_s": round(outcome.waited_s, 3),
        "node_directory": str(node_directory),
    }
    if outcome.killed:
        state.warn(
            f"the node (pid {outcome.pid}) did not stop within {timeout_s:g} s of SIGTERM and was killed "
            "with SIGKILL; it will recover its store on the next start"
        )

    def render() -> None:
        how = "killed" if outcome.killed else "stopped"
        state.stdout.print(f"node (pid {outcome.pid}) {how} after {outcome.waited_s:.1f} s")

    state.emit(document, render)


def _get_state_sync_progress(node_directory: Path | None) -> dict[str, object] | None:
    """The progress a node joining by state sync records (it serves its API only once the snapshot is installed;
    the record goes with the install)."""
    if node_directory is None:
        return None
    try:
        config = load_config(node_directory)
    except GusuError:
        return None
    return read_progress(config.data_path)


def describe_state_sync_progress(progress: dict[str, object]) -> str:
    phase = progress.get("phase")
    if phase == "failed":
        return f"failed: {progress.get('error')}"
    if progress.get("height") is None:
        return "waiting for peers to offer a snapshot"
    return (
        f"{phase} snapshot {progress.get('height')}: {progress.get('chunks_done')} of "
        f"{progress.get('chunks_total')} chunks, {progress.get('peers_dropped')} peers dropped"
    )


@node_group.command("status")
@_node_directory_option
@common_options
def node_status(directory: Path | None) -> None:
    """Height, chain, mempool, peers and health of a node (by --dir, or --endpoint)."""
    state = get_state()
    document: dict[str, Any] = {}
    endpoint, node_directory = _resolve_target(state, directory)
    if node_directory is not None:
        pid = get_running_pid(node_directory)
        document.update({"node_directory": str(node_directory), "pid": pid, "running": pid is not None})
    state.endpoint = endpoint
    document["endpoint"] = endpoint
    health = get_health(endpoint)
    try:
        with open_client(state) as client:
            status = client.status()
            peers = _get_peers_or_none(client)
    except ClientError as error:
        joining = _get_state_sync_progress(node_directory)
        if joining is not None:
            document["state_sync"] = joining
            message = (
                f"the node's API is not up: it is joining the chain by state sync (last recorded: "
                f"{describe_state_sync_progress(joining)}); its API starts once the snapshot is installed"
            )
        else:
            message = f"no node answers at {endpoint}: {error}" + (
                "" if node_directory is None else f"; start it with `gusu node start --dir {node_directory}`"
            )
        if not state.json_output:
            raise NodeError(message) from error
        # Scripts get the status document (saying the node is down), not an error document.
        document.update({"reachable": False, "healthy": False, "error": str(error)})
        state.emit(document)
        click.echo(f"error: {message}", err=True)
        click.get_current_context().exit(EXIT_NODE_DOWN)
    document.update({"reachable": True, "healthy": health.get("ok") is True, **status_to_json(status)})
    document["peers"] = None if peers is None else [peer_view_to_json(peer) for peer in peers]
    document["health"] = health

    def render() -> None:
        table = key_value_table(f"node at {endpoint}")
        health_text = "[green]healthy[/green]" if document["healthy"] else f"[red]unhealthy[/red] {health}"
        table.add_row("health", health_text)
        if node_directory is not None:
            table.add_row("directory", str(node_directory))
            table.add_row("pid", str(document["pid"]) if document["pid"] is not None else "not running from here")
        table.add_row("chain", f"{status.chain_id} ({status.suite})")
        table.add_row("height", f"{status.height:,}")
        table.add_row(
            "latest block", f"{document['latest_block_hash']} at {format_time_ms(status.latest_block_time_ms)}"
        )
        table.add_row("mempool", f"{status.mempool_transactions:,} transactions, {status.mempool_bytes:,} bytes")
        table.add_row("consensus", status.consensus)
        table.add_row("peers", _describe_peers(peers))
        table.add_row("node address", document["node_address"])
        table.add_row("version", status.version)
        # What two validators must agree on to agree on blocks: compare these across organisations.
        table.add_row("consensus versions", format_versions(status.versions))
        state.stdout.print(table)

    state.emit(document, render)
    if not document["healthy"]:
        click.echo(f"error: the node at {endpoint} answers but reports it is not healthy: {health}", err=True)
        click.get_current_context().exit(EXIT_NODE_DOWN)


def _describe_peers(peers: list[PeerView] | None) -> str:
    if peers is None:
        return "n/a (the node does not report its peers)"
    if not peers:
        return "none connected"
    return f"{len(peers)} connected: " + ", ".join(peer.organization or peer.address.hex() for peer in peers)


@node_group.command("peers")
@_node_directory_option
@common_options
def node_peers(directory: Path | None) -> None:
    """The validators a node is connected to, with round trip, queues and traffic (by --dir, or --endpoint)."""
    state = get_state()
    endpoint, node_directory = _resolve_target(state, directory)
    state.endpoint = endpoint
    try:
        with open_client(state) as client:
            peers = client.peers()
    except RemoteError as error:
        if error.code == "method_not_found":
            raise NodeError(
                f"the node at {endpoint} does not report its peers (it predates gusu_peers); upgrade it"
            ) from error
        raise
    except ClientError as error:
        hint = "" if node_directory is None else f"; start it with `gusu node start --dir {node_directory}`"
        raise NodeError(f"no node answers at {endpoint}: {error}{hint}") from error
    document: dict[str, Any] = {"endpoint": endpoint, "peers": [peer_view_to_json(peer) for peer in peers]}

    def render() -> None:
        if not peers:
            state.stdout.print(f"node at {endpoint}: no peer connected (a one-validator chain has none)")
            return
        state.stdout.print(peers_table(peers, f"{len(peers)} validator(s) connected to the node at {endpoint}"))

    state.emit(document, render)


@node_group.command("evidence")
@_node_directory_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=EVIDENCE_LIMIT, show_default=True, help="Records per page."
)
@click.option("--before-height", type=click.IntRange(min=0), default=None, help="Only evidence below this height.")
@common_options
def node_evidence(directory: Path | None, limit: int, before_height: int | None) -> None:
    """Equivocation evidence the node recorded, newest height first (by --dir, or --endpoint)."""
    state = get_state()
    endpoint, node_directory = _resolve_target(state, directory)
    state.endpoint = endpoint
    try:
        with open_client(state) as client:
            page = client.evidence(limit, before_height)
    except RemoteError as error:
        if error.code in ("method_not_found", "unsupported"):
            raise NodeError(f"the node at {endpoint} does not keep equivocation evidence; upgrade it") from error
        raise
    except ClientError as error:
        hint = "" if node_directory is None else f"; start it with `gusu node start --dir {node_directory}`"
        raise NodeError(f"no node answers at {endpoint}: {error}{hint}") from error
    document: dict[str, Any] = {
        "endpoint": endpoint,
        "evidence": [evidence_view_to_json(view) for view in page.evidence],
        "next_before_height": page.next_before_height,
    }

    def render() -> None:
        if not page.evidence:
            state.stdout.print(f"node at {endpoint}: no equivocation evidence recorded")
            return
        state.stdout.print(evidence_table(page, f"equivocation evidence at the node at {endpoint}"))
        if page.next_before_height is not None:
            state.stdout.print(f"older evidence: add --before-height {page.next_before_height}")

    state.emit(document, render)


def _has_default_node(state: CliState) -> bool:
    return (state.default_node_directory / "config.toml").is_file()


@node_group.command("init")
@click.option(
    "--org",
    "organization",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The organisation directory (`gusu org init`) whose CA certifies the node.",
)
@click.option("--name", required=True, help="Node name (its certificate's CN and genesis name).")
@_node_directory_option
@click.option("--p2p-host", default="127.0.0.1", show_default=True, help="Where the node listens for peers.")
@click.option("--p2p-port", type=click.IntRange(1, 65535), default=26656, show_default=True)
@click.option("--api-host", default="127.0.0.1", show_default=True)
@click.option("--api-port", type=click.IntRange(1, 65535), default=8545, show_default=True)
@click.option("--peer", "peers", multiple=True, metavar="HOST:PORT", help="A peer to dial (repeat).")
@click.option("--power", type=click.IntRange(1), default=1, show_default=True, help="Validator power.")
@click.option("--workers", type=click.IntRange(0, 64), default=2, show_default=True, help="Verifier processes.")
@common_options
def node_init(
    organization: Path,
    name: str,
    directory: Path | None,
    p2p_host: str,
    p2p_port: int,
    api_host: str,
    api_port: int,
    peers: tuple[str, ...],
    power: int,
    workers: int,
) -> None:
    """Create a node of an organisation in --dir: consensus key, TLS certificate from the org CA, config.

    Prints the public node record (also in NODE_DIR/node.json) for `gusu chain genesis --validator`.
    Copy the assembled genesis.json into the node directory before starting it.
    """
    from gusu.cli.keystore import get_scrypt_n
    from gusu.node.orgdir import initialize_org_node

    state = get_state()
    node_directory = _resolve_directory(state, directory)
    record = initialize_org_node(
        organization.expanduser().resolve(),
        node_directory,
        name,
        listen_host=p2p_host,
        p2p_port=p2p_port,
        api_host=api_host,
        api_port=api_port,
        peers=peers,
        power=power,
        scrypt_n=get_scrypt_n(),
        verifier_workers=workers,
    )
    document = {**record.to_json(), "directory": str(node_directory)}

    def render() -> None:
        table = key_value_table(f"node {record.name} of {record.organization} created in {node_directory}")
        for key in ("address", "public_key", "power", "p2p_endpoint"):
            table.add_row(key, str(document[key]))
        state.stdout.print(table)
        state.stdout.print(f"\npublic record: {node_directory / 'node.json'} (for `gusu chain genesis --validator`)")

    state.emit(document, render)


@node_group.command("renew-cert")
@click.option(
    "--org",
    "organization",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The node's organisation directory (its CA issues the new certificate).",
)
@_node_directory_option
@common_options
def node_renew_cert(organization: Path, directory: Path | None) -> None:
    """Issue the node a new TLS certificate and key; a running node uses them for new connections within
    [p2p] certificate_check_interval_s, while its existing connections go on."""
    from gusu.network.trust import compute_certificate_sha256
    from gusu.node.orgdir import renew_node_certificate

    state = get_state()
    node_directory = _resolve_directory(state, directory)
    certified = renew_node_certificate(organization.expanduser().resolve(), node_directory)
    der = certified.certificate.public_bytes(serialization.Encoding.DER)
    document = {
        "directory": str(node_directory),
        "subject": certified.certificate.subject.rfc4514_string(),
        "not_after": certified.certificate.not_valid_after_utc.isoformat(),
        "sha256": compute_certificate_sha256(der).hex(),
    }

    def render() -> None:
        table = key_value_table(f"new TLS certificate for {node_directory}")
        for key in ("subject", "not_after", "sha256"):
            table.add_row(key, document[key])
        state.stdout.print(table)

    state.emit(document, render)


@node_group.command("list")
@common_options
def node_list() -> None:
    """The nodes the chain's registry lists (validators and observers), from the node at --endpoint."""
    from gusu.cli.gov import list_nodes

    list_nodes(get_state())


@node_group.command("join")
@click.option("--org", "organization", type=click.Path(exists=True, path_type=Path), required=True,
              help="The joining organisation directory (gusu org init), or its bundle (org export).")  # fmt: skip
@click.option("--node", "node", type=click.Path(exists=True, path_type=Path), required=True,
              help="The node's directory (gusu node init --org), or its node.json.")  # fmt: skip
@click.option("--validator", is_flag=True, help="Join as a validator (default: as an observer, power 0).")
@click.option("--power", type=click.IntRange(1), default=None, help="A validator's power (default: the record's).")
@click.option(
    "--submit", is_flag=True, help="Submit the proposals (signed by a member's admin) instead of printing them."
)
@click.option("--proposer-org", "proposer_directory", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="With --submit: the member organisation directory whose admin proposes.")  # fmt: skip
@click.option(
    "--key", "key_reference", default=None, metavar="NAME|PATH", help="With --submit: or a member admin's key."
)
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--expiry-height", type=click.IntRange(min=1), default=None, help="Last height at which votes count.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=60.0, show_default=True)
@common_options
def node_join(
    organization: Path,
    node: Path,
    validator: bool,
    power: int | None,
    submit: bool,
    proposer_directory: Path | None,
    key_reference: str | None,
    passphrase_file: Path | None,
    expiry_height: int | None,
    timeout_s: float,
) -> None:
    """The proposals that bring a node into the running chain: add_organization if its organisation is not a
    member yet, then add_node (an observer, or a validator with --validator). Prints them (and the
    `gusu gov propose` commands a member runs), or submits them with --submit."""
    from gusu.cli.gov import run_node_join

    run_node_join(
        organization, node, validator, power, submit, proposer_directory, key_reference, passphrase_file,
        expiry_height, timeout_s,
    )  # fmt: skip


def _load_node_chain(node_directory: Path) -> tuple[Any, Any, Any]:
    """The node's configuration, genesis and suite."""
    from gusu.crypto import get_suite
    from gusu.ledger.genesis import load_genesis

    check_node_directory(node_directory)
    config = load_config(node_directory)
    genesis = load_genesis(config.genesis_path)
    return config, genesis, get_suite(genesis.suite)


def _manifest_table(state: CliState, manifest: Any, heading: str) -> None:
    table = key_value_table(heading)
    table.add_row("chain id", manifest.chain_id)
    table.add_row("height", str(manifest.height))
    table.add_row("block hash", "0x" + manifest.block_hash.hex())
    table.add_row("state root", "0x" + manifest.state_root.hex())
    table.add_row("files", str(len(manifest.files)))
    table.add_row("bytes", str(sum(item.size_bytes for item in manifest.files)))
    state.stdout.print(table)


@node_group.command("backup")
@_node_directory_option
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="New directory for the backup (must not exist, or be empty).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds to wait for a running node to finish the backup.",
)
@common_options
def node_backup(directory: Path | None, out: Path, timeout_s: float) -> None:
    """Back up a node's chain store: a running node takes a consistent snapshot while it goes on committing."""
    from gusu.node.backup import backup_stopped_node, wait_for_backup_result, write_backup_request

    state = get_state()
    node_directory = _resolve_directory(state, directory)
    config, _genesis, suite = _load_node_chain(node_directory)
    out = out.expanduser().resolve()
    if get_running_pid(node_directory) is not None:
        request = write_backup_request(node_directory, out)
        manifest = wait_for_backup_result(node_directory, request, timeout_s)
    else:
        manifest = backup_stopped_node(config, suite, out)
    state.emit(
        {"backup": str(out), "manifest": manifest.to_json()},
        lambda: _manifest_table(state, manifest, f"backup written to {out}"),
    )


@node_group.command("restore")
@_node_directory_option
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Backup directory (made by `gusu node backup`).",
)
@click.option("--force", is_flag=True, help="Replace an existing chain store (kept beside it as chain.replaced-*).")
@common_options
def node_restore(directory: Path | None, source: Path, force: bool) -> None:
    """Verify a backup against the chain and make it a stopped node's store; the node then catches up by sync."""
    from gusu.node.backup import restore_into

    state = get_state()
    node_directory = _resolve_directory(state, directory)
    config, genesis, suite = _load_node_chain(node_directory)
    pid = get_running_pid(node_directory)
    if pid is not None:
        raise NodeError(f"the node is running (pid {pid}); stop it with `gusu node stop` before restoring")
    manifest = restore_into(config, genesis, suite, source.expanduser().resolve(), force=force)
    state.emit(
        {"restored": True, "node_directory": str(node_directory), "manifest": manifest.to_json()},
        lambda: _manifest_table(state, manifest, f"restored {node_directory}; start the node to catch up"),
    )


@node_group.group("archive")
def node_archive() -> None:
    """Block bodies moved out of the store by retention ([storage] block_bodies_kept)."""


@node_archive.command("import")
@_node_directory_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@common_options
def node_archive_import(directory: Path | None, files: tuple[Path, ...]) -> None:
    """Verify archive files against the headers in a stopped node's store and write their bodies back."""
    from gusu.node.backup import import_archive

    state = get_state()
    node_directory = _resolve_directory(state, directory)
    config, _genesis, suite = _load_node_chain(node_directory)
    pid = get_running_pid(node_directory)
    if pid is not None:
        raise NodeError(f"the node is running (pid {pid}); stop it with `gusu node stop` before importing")
    ranges = import_archive(config, suite, list(files))
    state.emit(
        {"imported": [{"first": first, "last": last} for first, last in ranges]},
        lambda: state.stdout.print(
            "\n".join(f"imported the bodies of blocks {first} to {last}" for first, last in ranges)
        ),
    )
