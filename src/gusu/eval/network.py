"""Local networks of node processes: create one on disk, run its nodes, watch them, fault them, stop them.

A local network is a directory laid out by `initialize_network` (what
`gusu chain init --organizations N` and `gusu net up` write)::

    D/genesis.json   D/pki/...   D/keys/dev.json, dev.pass
    D/node<i>/       config.toml (with [p2p]), node_key.json, tls/, data/

Every node runs as a process of its own, ``python -m gusu.api.process
D/node<i>``, in a session of its own (Ctrl-C in the terminal that started
it, or the end of that program, does not reach it), its output appended to
``D/node<i>/node.log``. The node writes ``node.pid`` once it serves and
prints one JSON ``{"ready": true, ...}`` line: that is how a node's
readiness is detected here. A network is ready once, in addition, every
running validator reports (``gusu_peers``) a connection to every other
running validator. It is not asked to commit a block: a BFT chain makes
blocks only when there are transactions (or when a node's ``[consensus]
empty_block_interval_ms`` heartbeat is set), so callers that want progress
submit load and then wait for it with `LocalNetwork.wait_for_height`.

`LocalNetwork` serves `gusu net`, `gusu bench --nodes N` and the end-to-end
tests. It imports no click and prints nothing: methods return records and
raise `NodeError` saying what went wrong (with the end of the node's log
when a node is at fault).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psutil

from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import decrypt_key_file, read_key_file_metadata
from gusu.errors import ClientError, ConfigError, GusuError, NodeError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.jsonview import bytes_to_hex
from gusu.node.config import CONFIG_FILE_NAME, GENESIS_FILE_NAME, NODE_KEY_FILE_NAME, load_config
from gusu.sdk import Client, PeerView

DEFAULT_BASE_PORT: Final = 8545
"""API port of node0 (the CLI's default endpoint), so plain `gusu ...` commands talk to node0."""
P2P_PORT_OFFSET: Final = 100
"""Node i listens for peers on base + 100 + i: API and P2P ports stay apart for up to 100 nodes."""
NODES_MAX: Final = P2P_PORT_OFFSET
READY_TIMEOUT_S: Final = 60.0
"""Several nodes start at once and share the cores: each needs seconds of imports and key loading."""
CONNECT_TIMEOUT_S: Final = 60.0
"""From all nodes serving to every validator connected to every other: peers dial each other with a backoff
of up to seconds, and a node that is still loading answers slowly."""
COMMIT_TIMEOUT_S: Final = 60.0
"""For a height to be reached while transactions are being submitted (the network makes no empty blocks)."""
STOP_TIMEOUT_S: Final = 20.0
KILL_WAIT_S: Final = 5.0
"""How long a SIGKILLed process may take to disappear."""
STATUS_TIMEOUT_S: Final = 3.0
"""Per request to a node in `status`; a stopped (SIGSTOP) node costs this once, nodes are asked in parallel."""
HEIGHT_TIMEOUT_S: Final = 2.0
"""Per height or peers request while waiting: a node busy starting may answer slowly."""
POLL_INTERVAL_S: Final = 0.05
HEIGHT_POLL_INTERVAL_S: Final = 0.2
CONNECT_POLL_INTERVAL_S: Final = 0.2
LOG_TAIL_LINES: Final = 20
THROWAWAY_PORT_RANGE: Final = (20_000, 32_000)
"""Where `find_free_base_port` looks: above the usual fixed ports, below Linux's ephemeral range (32768-60999),
so that outgoing connections do not take the ports between the search and the start."""
PORT_SEARCH_ATTEMPTS: Final = 50
KEYS_DIRECTORY: Final = "keys"
DEV_KEY_FILE: Final = "dev.json"
DEV_PASSPHRASE_FILE: Final = "dev.pass"
THROWAWAY_CHAIN_ID: Final = "gusu-throwaway"
THROWAWAY_SCRYPT_N: Final = 1024
"""A throw-away network's key files live minutes in a private temporary directory: no need for a slow KDF."""
THROWAWAY_STOP_TIMEOUT_S: Final = 10.0


class PortsInUseError(NodeError):
    """Ports a network needs are taken by other programs."""

    code = "ports_in_use"

    def __init__(self, message: str, taken: Sequence[PortUse]) -> None:
        super().__init__(message)
        self.taken = tuple(taken)


class NetworkStalledError(NodeError):
    """Every node serves but the network did not reach a height in time."""

    code = "network_stalled"


class NetworkNotConnectedError(NodeError):
    """Every node serves but some validators did not connect to each other in time."""

    code = "network_not_connected"


# --- ports ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortUse:
    port: int
    purpose: str
    """What the network wants it for, e.g. "API of node1"."""
    holder: str | None = None
    """Who listens on it, when this machine tells (e.g. "pid 123, python")."""

    def describe(self) -> str:
        return f"{self.port} ({self.purpose})" + ("" if self.holder is None else f", held by {self.holder}")


def plan_ports(count: int, base_port: int) -> tuple[list[int], list[int]]:
    """(API ports, P2P ports) of `count` nodes from `base_port`; NodeError if they do not fit."""
    if not 1 <= count <= NODES_MAX:
        raise NodeError(f"a local network has 1 to {NODES_MAX} nodes, not {count}")
    highest = base_port + P2P_PORT_OFFSET + count - 1
    if base_port < 1 or highest > 65535:
        raise NodeError(
            f"base port {base_port} does not leave room for {count} nodes: their P2P ports would reach {highest}; "
            f"choose a base port from 1024 to {65535 - P2P_PORT_OFFSET - count + 1}"
        )
    api = [base_port + index for index in range(count)]
    return api, [port + P2P_PORT_OFFSET for port in api]


def is_port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the node's servers do (asyncio sets it on POSIX): a port in TIME_WAIT is usable, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise NodeError(f"cannot check port {port} on {host}: {error}") from error
    return True


def _find_listener(port: int) -> str | None:
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            if connection.pid is None:
                return None
            try:
                return f"pid {connection.pid}, {psutil.Process(connection.pid).name()}"
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return f"pid {connection.pid}"
    return None


def find_taken_ports(wanted: Mapping[int, str], host: str = "127.0.0.1") -> list[PortUse]:
    """The ports of `wanted` (port -> purpose) that cannot be listened on now, with who holds them if known."""
    return [
        PortUse(port, purpose, _find_listener(port))
        for port, purpose in sorted(wanted.items())
        if not is_port_free(port, host)
    ]


def find_free_base_port(count: int, host: str = "127.0.0.1", *, seed: int | None = None) -> int:
    """A base port whose `count` API and P2P ports are all free now (for throw-away networks)."""
    chooser = random.Random(seed)
    low, high = THROWAWAY_PORT_RANGE
    for _ in range(PORT_SEARCH_ATTEMPTS):
        base = chooser.randrange(low, high - P2P_PORT_OFFSET - count)
        api, p2p = plan_ports(count, base)
        if all(is_port_free(port, host) for port in (*api, *p2p)):
            return base
    raise NodeError(f"found no {2 * count} free ports in {PORT_SEARCH_ATTEMPTS} tries between {low} and {high}")


# --- processes --------------------------------------------------------------------------------


def is_process_running(pid: int) -> bool:
    """True for a live process (also a stopped one); an exited, unreaped zombie counts as gone."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def get_process_status(pid: int | None) -> str:
    """The state of a node process: "running", "stopped" (SIGSTOP), or "not running"."""
    if pid is None:
        return "not running"
    try:
        status = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "not running"
    except psutil.AccessDenied:
        return "running"
    if status == psutil.STATUS_ZOMBIE:
        return "not running"
    return "stopped" if status in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP) else "running"


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES, start: int = 0) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
    except OSError:
        return "(no log)"
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def parse_ready_line(line: str) -> dict[str, Any] | None:
    """The node's ready record if `line` is one, else None."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return None
    try:
        document = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("ready") is True:
        return document
    return None


def find_ready_record(log_path: Path, offset: int = 0) -> dict[str, Any] | None:
    """The first ready record written to `log_path` after byte `offset`."""
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return None
    for line in data.decode("utf-8", "replace").splitlines():
        ready = parse_ready_line(line)
        if ready is not None:
            return ready
    return None


def spawn_node_process(directory: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m gusu.api.process DIRECTORY`` detached, its output appended to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gusu.api.process", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Its own session: neither Ctrl-C in this terminal nor the end of this program reaches it.
            start_new_session=True,
            close_fds=True,
        )


def _send_signal(pid: int, signal_number: int) -> bool:
    """Send a signal; False when the process is already gone."""
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        return False
    except PermissionError as error:
        raise NodeError(f"not allowed to signal process {pid}: {error}") from error
    return True


# --- peers, as the operating system sees them --------------------------------------------------

Endpoint = tuple[str, int]


def match_peers(
    p2p_ports: Mapping[str, int], connections: Mapping[str, Sequence[tuple[Endpoint, Endpoint]]]
) -> dict[str, list[str]]:
    """Which nodes each node has an established P2P connection with.

    `p2p_ports`: node name -> its P2P listening port. `connections`: node
    name -> (local, remote) endpoints of its established TCP connections.
    A connection a node dialed has the peer's P2P port as its remote port;
    one it accepted has its own P2P port as local port, and the dialer is
    recognised by the remote endpoint, which is the dialer's local one.
    """
    owner_by_port = {port: name for name, port in p2p_ports.items()}
    owner_by_endpoint = {local: name for name, items in connections.items() for local, _ in items}
    peers: dict[str, list[str]] = {}
    for name, items in connections.items():
        found: set[str] = set()
        for local, remote in items:
            if remote[1] in owner_by_port and remote[1] != p2p_ports.get(name):
                found.add(owner_by_port[remote[1]])
            elif local[1] == p2p_ports.get(name) and remote in owner_by_endpoint:
                found.add(owner_by_endpoint[remote])
        found.discard(name)
        peers[name] = sorted(found, key=_node_sort_key)
    return peers


def name_peers(addresses: Iterable[str], names_by_address: Mapping[str, str]) -> tuple[str, ...]:
    """Node names for peer addresses (0x hex, any case), in node order; an address of no known node stays as is."""
    named = {names_by_address.get(address.lower(), address.lower()) for address in addresses}
    return tuple(sorted(named, key=_node_sort_key))


def find_missing_peers(names: Sequence[str], peers: Mapping[str, Iterable[str] | None]) -> dict[str, tuple[str, ...]]:
    """Which of the nodes `names` each of them is not connected to; nodes connected to all others are left out.

    `peers[name]`: the names of the nodes it reports a connection with, or
    None (or no entry) when it did not tell, which counts as connected to none.
    """
    missing: dict[str, tuple[str, ...]] = {}
    for name in names:
        reported = peers.get(name)
        connected = set() if reported is None else set(reported)
        lacking = tuple(other for other in names if other != name and other not in connected)
        if lacking:
            missing[name] = lacking
    return missing


def list_missing_peers(missing: Mapping[str, Sequence[str]]) -> list[str]:
    """``["node1 is not connected to node2 and node3", ...]``, in node order."""
    return [
        f"{name} is not connected to {_join_names(lacking)}"
        for name, lacking in sorted(missing.items(), key=lambda item: _node_sort_key(item[0]))
    ]


def _join_names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _established_connections(pid: int) -> list[tuple[Endpoint, Endpoint]]:
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
        return []
    return [
        ((str(item.laddr.ip), int(item.laddr.port)), (str(item.raddr.ip), int(item.raddr.port)))
        for item in connections
        if item.status == psutil.CONN_ESTABLISHED and item.laddr and item.raddr
    ]


def _node_sort_key(name: str) -> tuple[int, str]:
    digits = name.removeprefix("node")
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)


# --- the network ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalNode:
    index: int
    name: str
    organization: str
    directory: Path
    address: str
    """Consensus (validator) address, 0x hex."""
    host: str
    api_port: int
    p2p_port: int

    @property
    def api_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.api_port}"

    @property
    def rpc_url(self) -> str:
        return f"{self.api_url}/rpc"

    @property
    def websocket_url(self) -> str:
        return "ws://" + self.api_url.removeprefix("http://") + "/ws"

    @property
    def p2p_endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.p2p_port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "node.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / "node.pid"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "organization": self.organization,
            "address": self.address,
            "directory": str(self.directory),
            "api_url": self.api_url,
            "rpc": self.rpc_url,
            "websocket": self.websocket_url,
            "p2p_endpoint": self.p2p_endpoint,
            "log": str(self.log_path),
        }


@dataclass(frozen=True, slots=True)
class StartReport:
    started: tuple[str, ...]
    already_running: tuple[str, ...]
    ready: Mapping[str, Mapping[str, Any]]
    """Ready record of each node started now."""
    height: int | None
    """The highest height among the running nodes once they were connected (None if not waited for)."""
    peers: Mapping[str, tuple[str, ...]]
    """Each running node's connected peers, by name, once connected (empty if not waited for)."""


@dataclass(frozen=True, slots=True)
class StopRecord:
    name: str
    pid: int | None
    outcome: str
    """What happened: "stopped" (exited after SIGTERM), "killed" (needed SIGKILL) or "not running"."""
    waited_s: float


@dataclass(frozen=True, slots=True)
class NodeState:
    name: str
    organization: str
    api_url: str
    p2p_endpoint: str
    pid: int | None
    process: str
    """The process: "running", "stopped" (SIGSTOP) or "not running"."""
    reachable: bool
    height: int | None = None
    latest_block_hash: str | None = None
    common_block_hash: str | None = None
    """Its block hash at the network's common height."""
    mempool_transactions: int | None = None
    peers: tuple[str, ...] | None = None
    """Nodes it is connected to: as it reports them (gusu_peers), or else as the operating system shows its
    established P2P connections; None when neither tells."""
    peers_source: str | None = None
    """Where `peers` comes from: "rpc" (the node's own word), "os" (its sockets), or None."""
    peers_expected: int = 0
    """Validators it should be connected to: all the others."""
    error: str | None = None

    @property
    def alive(self) -> bool:
        return self.process != "not running"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "organization": self.organization,
            "api_url": self.api_url,
            "p2p_endpoint": self.p2p_endpoint,
            "pid": self.pid,
            "alive": self.alive,
            "process": self.process,
            "reachable": self.reachable,
            "height": self.height,
            "latest_block_hash": self.latest_block_hash,
            "common_block_hash": self.common_block_hash,
            "mempool_transactions": self.mempool_transactions,
            "peers": None if self.peers is None else list(self.peers),
            "peers_connected": None if self.peers is None else len(self.peers),
            "peers_expected": self.peers_expected,
            "peers_source": self.peers_source,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    directory: Path
    chain_id: str
    suite: str
    nodes: tuple[NodeState, ...]
    common_height: int | None
    """The lowest height among the nodes that answered: every one of them has a block there."""
    agree: bool
    """All nodes that answered have the same block at the common height."""
    disagreeing: tuple[str, ...]
    """Nodes outside the largest group of identical hashes (all of them when no group is largest)."""
    verdict: str
    disconnected: Mapping[str, tuple[str, ...]]
    """Answering nodes that lack a connection to another answering node, and which (empty when none do)."""

    @property
    def healthy(self) -> bool:
        """Every node runs, answers, agrees with the others and is connected to them."""
        return self.agree and all(node.reachable for node in self.nodes) and not self.disconnected

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "chain_id": self.chain_id,
            "suite": self.suite,
            "nodes": [node.to_json() for node in self.nodes],
            "alive": sum(1 for node in self.nodes if node.alive),
            "reachable": sum(1 for node in self.nodes if node.reachable),
            "common_height": self.common_height,
            "agree": self.agree,
            "disagreeing": list(self.disagreeing),
            "disconnected": {name: list(lacking) for name, lacking in self.disconnected.items()},
            "healthy": self.healthy,
            "verdict": self.verdict,
        }


@dataclass(slots=True)
class _Answer:
    height: int | None = None
    latest_block_hash: str | None = None
    mempool_transactions: int | None = None
    common_block_hash: str | None = None
    peer_addresses: tuple[str, ...] | None = None
    """What gusu_peers answered (0x hex), None when it did not."""
    error: str | None = None


def judge_agreement(hashes: Mapping[str, str]) -> tuple[bool, tuple[str, ...]]:
    """(all equal, the nodes outside the largest group of equal hashes) for node -> block hash."""
    counts = Counter(hashes.values())
    if len(counts) <= 1:
        return True, ()
    ranked = counts.most_common()
    if ranked[0][1] == ranked[1][1]:
        # No majority to side with: every node is in doubt.
        return False, tuple(sorted(hashes, key=_node_sort_key))
    majority = ranked[0][0]
    return False, tuple(sorted((name for name, value in hashes.items() if value != majority), key=_node_sort_key))


def judge_connections(nodes: Sequence[NodeState]) -> dict[str, tuple[str, ...]]:
    """The answering nodes that lack a connection to another answering node, and which.

    Only nodes whose peers are known are judged; a node that is down is
    expected by no one (its absence is reported as such, not as a missing
    connection).
    """
    answering = [node.name for node in nodes if node.reachable]
    known = {node.name: node.peers for node in nodes if node.reachable and node.peers is not None}
    return {name: lacking for name, lacking in find_missing_peers(answering, known).items() if name in known}


def describe_verdict(
    nodes: Sequence[NodeState],
    common_height: int | None,
    agree: bool,
    disagreeing: Sequence[str],
    disconnected: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """One line: do the nodes agree, and which are down, disagree or lack a connection."""
    answered = [node for node in nodes if node.reachable and node.common_block_hash is not None]
    silent = [node for node in nodes if not node.reachable]
    notes = []
    for node in silent:
        if node.process == "not running":
            notes.append(f"{node.name} is not running")
        elif node.process == "stopped":
            notes.append(f"{node.name} is stopped (SIGSTOP)")
        else:
            notes.append(f"{node.name} does not answer")
    notes += list_missing_peers(disconnected or {})
    suffix = "" if not notes else "; " + ", ".join(notes)
    if not answered:
        return "no node answers" + suffix
    if not agree:
        groups: dict[str, list[str]] = {}
        for node in answered:
            assert node.common_block_hash is not None
            groups.setdefault(node.common_block_hash, []).append(node.name)
        detail = "; ".join(f"{', '.join(names)}: {block_hash[:18]}…" for block_hash, names in groups.items())
        return f"DISAGREEMENT at height {common_height}: {', '.join(disagreeing)} differ ({detail})" + suffix
    if len(answered) == len(nodes):
        return f"all {len(nodes)} nodes agree at height {common_height}" + suffix
    return f"{len(answered)} of {len(nodes)} nodes agree at height {common_height}" + suffix


class LocalNetwork:
    """The nodes of a local network directory, and their processes."""

    def __init__(
        self,
        directory: Path,
        nodes: Sequence[LocalNode],
        *,
        chain_id: str,
        suite: str,
        validator_count: int,
        consensus: str = "tendermint",
    ) -> None:
        self.directory = directory
        self.consensus = consensus
        """The genesis ordering: solo, tendermint or raft."""
        self.nodes = tuple(nodes)
        self.chain_id = chain_id
        self.suite = suite
        self.validator_count = validator_count
        """Validators in the genesis: with one, the chain runs solo and its node opens no P2P port."""
        self._names_by_address = {node.address.lower(): node.name for node in self.nodes if node.address}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        """Processes started by this object: polled (which reaps them) rather than found by pid file."""

    # --- creating and opening ---------------------------------------------------------------------

    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / GENESIS_FILE_NAME).is_file()

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        organizations: int | Sequence[str],
        nodes_per_organization: int = 1,
        suite_name: str = "sm",
        chain_id: str | None = None,
        base_port: int = DEFAULT_BASE_PORT,
        host: str = "127.0.0.1",
        verifier_workers: int = 2,
        scrypt_n: int | None = None,
        consensus: str = "tendermint",
    ) -> LocalNetwork:
        """Lay out a network in `directory` (API ports from `base_port`, P2P ports from `base_port` + 100).

        PortsInUseError (before anything is written) when one of those ports is taken.
        """
        # Imported here: the PKI and transport code are needed only to create a network.
        from gusu.node.chain import DEFAULT_CHAIN_ID
        from gusu.node.network_init import initialize_network

        if cls.exists(directory):
            raise NodeError(f"{directory} already holds a chain; choose another directory or remove it")
        organization_count = organizations if isinstance(organizations, int) else len(organizations)
        count = organization_count * nodes_per_organization
        api_ports, p2p_ports = plan_ports(count, base_port)
        wanted = {port: f"API of node{index}" for index, port in enumerate(api_ports)}
        wanted.update({port: f"P2P of node{index}" for index, port in enumerate(p2p_ports)})
        taken = find_taken_ports(wanted, host)
        if taken:
            raise PortsInUseError(
                f"port{'s' if len(taken) > 1 else ''} already in use on {host}: "
                + "; ".join(use.describe() for use in taken),
                taken,
            )
        initialize_network(
            directory,
            organizations=organizations,
            nodes_per_organization=nodes_per_organization,
            suite_name=suite_name,
            chain_id=chain_id or DEFAULT_CHAIN_ID,
            base_api_port=base_port,
            base_p2p_port=base_port + P2P_PORT_OFFSET,
            scrypt_n=scrypt_n,
            host=host,
            verifier_workers=verifier_workers,
            consensus=consensus,
        )
        return cls.open(directory)

    @classmethod
    def open(cls, directory: Path) -> LocalNetwork:
        """The network laid out in `directory`; NodeError if there is none."""
        from gusu.node.pki import get_node_identity, load_certificate

        if not cls.exists(directory):
            raise NodeError(f"no network in {directory} (no {GENESIS_FILE_NAME})")
        genesis = load_genesis(directory / GENESIS_FILE_NAME)
        node_directories = sorted(
            (path.parent for path in directory.glob(f"node*/{CONFIG_FILE_NAME}")),
            key=lambda path: _node_sort_key(path.name),
        )
        if not node_directories:
            raise NodeError(f"{directory} holds a genesis but no node directory (node<i>/{CONFIG_FILE_NAME})")
        nodes = []
        for index, node_directory in enumerate(node_directories):
            try:
                config = load_config(node_directory)
            except ConfigError as error:
                # Say which node: every node directory has the same file names.
                raise ConfigError(f"{node_directory}: {error}") from None
            host = str(config.api.get("host", "127.0.0.1"))
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            certificate_path = node_directory / config.p2p.tls_certificate
            organization = "-"
            address = ""
            if certificate_path.is_file():
                identity = get_node_identity(load_certificate(certificate_path))
                organization, address = identity.organization, bytes_to_hex(identity.address)
            else:
                address = _read_node_address(node_directory)
            nodes.append(
                LocalNode(
                    index=index,
                    name=config.node.name or node_directory.name,
                    organization=organization,
                    directory=node_directory,
                    address=address,
                    host=host,
                    api_port=int(config.api.get("port", 8545)),
                    p2p_port=config.p2p.listen_port,
                )
            )
        return cls(
            directory,
            nodes,
            chain_id=genesis.chain_id,
            suite=genesis.suite,
            validator_count=len(genesis.validators),
            consensus=genesis.consensus,
        )

    @property
    def dev_key_path(self) -> Path:
        return self.directory / KEYS_DIRECTORY / DEV_KEY_FILE

    @property
    def dev_passphrase_path(self) -> Path:
        return self.directory / KEYS_DIRECTORY / DEV_PASSPHRASE_FILE

    @property
    def dev_address(self) -> str:
        """The dev account's address, read from its key file without the passphrase ("" if unreadable)."""
        try:
            return bytes_to_hex(read_key_file_metadata(self.dev_key_path.read_bytes()).address)
        except (OSError, GusuError):
            return ""

    def load_dev_key(self) -> PrivateKey:
        """The funded developer key, decrypted with the passphrase beside it."""
        try:
            return decrypt_key_file(
                self.dev_key_path.read_bytes(), self.dev_passphrase_path.read_text(encoding="utf-8").strip()
            )
        except OSError as error:
            raise NodeError(f"cannot read the dev key of {self.directory}: {error}") from error

    def node(self, reference: int | str | LocalNode) -> LocalNode:
        """A node by index (0-based), name ("node2") or record."""
        if isinstance(reference, LocalNode):
            return reference
        for node in self.nodes:
            if reference in (node.index, node.name):
                return node
        names = ", ".join(node.name for node in self.nodes)
        raise NodeError(f"no node {reference!r} in {self.directory} (its nodes: {names})")

    def _select(self, nodes: Iterable[int | str | LocalNode] | None) -> list[LocalNode]:
        return list(self.nodes) if nodes is None else [self.node(item) for item in nodes]

    # --- processes ----------------------------------------------------------------------------------

    def pid(self, reference: int | str | LocalNode) -> int | None:
        """The pid of the node's running process (a stopped one counts), or None."""
        node = self.node(reference)
        process = self._processes.get(node.name)
        if process is not None:
            if process.poll() is None:
                return process.pid
            del self._processes[node.name]  # exited and now reaped
        try:
            pid = int(node.pid_path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        return pid if pid > 0 and is_process_running(pid) else None

    def is_running(self, reference: int | str | LocalNode) -> bool:
        return self.pid(reference) is not None

    def running_pids(self) -> dict[str, int]:
        return {node.name: pid for node in self.nodes if (pid := self.pid(node)) is not None}

    def start(
        self,
        nodes: Iterable[int | str | LocalNode] | None = None,
        *,
        ready_timeout_s: float = READY_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        wait_for_peers: bool = True,
    ) -> StartReport:
        """Start the nodes that are not running, wait until they serve, then until the validators are connected.

        "Connected" means: every running node (a SIGSTOPped one does not
        count) reports, through ``gusu_peers``, a connection to every other
        running node. That is all a network needs to commit what it is sent;
        it is not asked to commit a block, since without transactions (and
        without an ``empty_block_interval_ms`` heartbeat) it makes none. To
        see progress, submit transactions and `wait_for_height`.

        If a node fails to serve, the nodes started by this call are stopped
        again and NodeError carries the end of the failing node's log. If the
        validators are not connected within `connect_timeout_s`, the nodes are
        left running for inspection and NetworkNotConnectedError says which
        connections are missing.
        """
        selected = self._select(nodes)
        already = [node for node in selected if self.is_running(node)]
        to_start = [node for node in selected if node not in already]
        self._check_ports(to_start)
        offsets: dict[str, int] = {}
        for node in to_start:
            offsets[node.name] = node.log_path.stat().st_size if node.log_path.exists() else 0
            self._processes[node.name] = spawn_node_process(node.directory, node.log_path)
        try:
            ready = self._wait_ready(to_start, offsets, ready_timeout_s)
        except BaseException:
            # A half-started network is worse than none: whatever started here stops again.
            self.stop(to_start, timeout_s=KILL_WAIT_S)
            raise
        height = None
        peers: dict[str, tuple[str, ...]] = {}
        if wait_for_peers:
            # Every running node, not only those started now: a node that rejoins must be
            # connected to the others, and they to it. A stopped (SIGSTOP) node cannot answer.
            running = [node for node in self.nodes if get_process_status(self.pid(node)) == "running"]
            # A one-validator chain has no P2P: nothing to connect.
            if self.validator_count > 1:
                peers = self.wait_connected(running, connect_timeout_s)
            heights = self.get_heights(running)
            height = max((value for value in heights.values() if value is not None), default=None)
        return StartReport(
            started=tuple(node.name for node in to_start),
            already_running=tuple(node.name for node in already),
            ready=ready,
            height=height,
            peers=peers,
        )

    def _check_ports(self, nodes: Sequence[LocalNode]) -> None:
        wanted: dict[int, str] = {}
        for node in nodes:
            wanted[node.api_port] = f"API of {node.name}"
            if self.validator_count > 1:
                wanted[node.p2p_port] = f"P2P of {node.name}"
        hosts = {node.host for node in nodes}
        taken = [use for host in sorted(hosts) for use in find_taken_ports(wanted, host)]
        if taken:
            raise PortsInUseError(
                f"cannot start: port{'s' if len(taken) > 1 else ''} already in use: "
                + "; ".join(use.describe() for use in taken),
                taken,
            )

    def _wait_ready(
        self, nodes: Sequence[LocalNode], offsets: Mapping[str, int], timeout_s: float
    ) -> dict[str, dict[str, Any]]:
        ready: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while len(ready) < len(nodes):
            for node in nodes:
                if node.name in ready:
                    continue
                record = find_ready_record(node.log_path, offsets[node.name])
                if record is not None:
                    ready[node.name] = record
                    continue
                code = self._processes[node.name].poll()
                if code is not None:
                    raise NodeError(
                        f"{node.name} exited with status {code} before serving; last lines of {node.log_path}:\n"
                        + read_log_tail(node.log_path, start=offsets[node.name])
                    )
            if len(ready) == len(nodes):
                break
            if time.monotonic() > deadline:
                late = [node for node in nodes if node.name not in ready]
                raise NodeError(
                    f"{', '.join(node.name for node in late)} did not serve within {timeout_s:g} s; "
                    f"last lines of {late[0].log_path}:\n"
                    + read_log_tail(late[0].log_path, start=offsets[late[0].name])
                )
            time.sleep(POLL_INTERVAL_S)
        return ready

    def get_heights(self, nodes: Iterable[int | str | LocalNode] | None = None) -> dict[str, int | None]:
        """Each node's height (None when it does not answer), asked in parallel."""
        selected = self._select(nodes)

        def ask(node: LocalNode) -> int | None:
            try:
                with Client(node.api_url, timeout_s=HEIGHT_TIMEOUT_S, retries_max=0) as client:
                    return int(client.block_number())
            except (ClientError, OSError):
                return None

        with ThreadPoolExecutor(max_workers=max(1, len(selected))) as pool:
            return dict(zip((node.name for node in selected), pool.map(ask, selected), strict=True))

    def get_peers(self, nodes: Iterable[int | str | LocalNode] | None = None) -> dict[str, list[PeerView] | None]:
        """Each node's connected peers as it reports them (None when it does not answer), asked in parallel."""
        selected = self._select(nodes)

        def ask(node: LocalNode) -> list[PeerView] | None:
            try:
                with Client(node.api_url, timeout_s=HEIGHT_TIMEOUT_S, retries_max=0) as client:
                    return client.peers()
            except (ClientError, OSError):
                return None

        with ThreadPoolExecutor(max_workers=max(1, len(selected))) as pool:
            return dict(zip((node.name for node in selected), pool.map(ask, selected), strict=True))

    def name_peers(self, peers: Iterable[PeerView]) -> tuple[str, ...]:
        """The names of the nodes of this network that `peers` are (addresses of no node here stay as hex)."""
        return name_peers((bytes_to_hex(peer.address) for peer in peers), self._names_by_address)

    def wait_connected(
        self, nodes: Iterable[int | str | LocalNode] | None = None, timeout_s: float = CONNECT_TIMEOUT_S
    ) -> dict[str, tuple[str, ...]]:
        """Wait until every node of `nodes` answers and is connected to every other; each one's peers by name.

        NetworkNotConnectedError on timeout, naming the missing connections
        and showing the end of the logs of the nodes that lack some.
        """
        selected = self._select(nodes)
        names = [node.name for node in selected]
        deadline = time.monotonic() + timeout_s
        while True:
            answers = self.get_peers(selected)
            named = {name: None if found is None else self.name_peers(found) for name, found in answers.items()}
            missing = find_missing_peers(names, named)
            if not missing:
                return {name: found for name, found in named.items() if found is not None}
            if time.monotonic() > deadline:
                silent = [name for name in names if named[name] is None]
                notes = [f"{name} does not answer" for name in silent]
                notes += list_missing_peers({name: lacking for name, lacking in missing.items() if name not in silent})
                tails = "\n".join(
                    f"--- last lines of {node.log_path}:\n{read_log_tail(node.log_path, lines=8)}"
                    for node in selected
                    if node.name in missing
                )
                raise NetworkNotConnectedError(
                    f"the validators did not all connect to each other within {timeout_s:g} s "
                    f"({'; '.join(notes)}); check each node's [p2p] peers and that nothing blocks its P2P port\n"
                    + tails
                )
            time.sleep(CONNECT_POLL_INTERVAL_S)

    def wait_for_height(
        self,
        height: int,
        nodes: Iterable[int | str | LocalNode] | None = None,
        timeout_s: float = COMMIT_TIMEOUT_S,
    ) -> dict[str, int | None]:
        """Wait until every node of `nodes` has committed `height`; their heights. NetworkStalledError on timeout."""
        selected = self._select(nodes)
        deadline = time.monotonic() + timeout_s
        while True:
            heights = self.get_heights(selected)
            if all(value is not None and value >= height for value in heights.values()):
                return heights
            if time.monotonic() > deadline:
                lagging = [node for node in selected if (heights[node.name] or -1) < height]
                shown = ", ".join(
                    f"{node.name} at {'?' if heights[node.name] is None else heights[node.name]}" for node in lagging
                )
                tails = "\n".join(
                    f"--- last lines of {node.log_path}:\n{read_log_tail(node.log_path, lines=8)}" for node in lagging
                )
                raise NetworkStalledError(
                    f"the network did not reach height {height} within {timeout_s:g} s ({shown})\n{tails}"
                )
            time.sleep(HEIGHT_POLL_INTERVAL_S)

    def wait_for_commit(
        self, timeout_s: float = COMMIT_TIMEOUT_S, nodes: Iterable[int | str | LocalNode] | None = None
    ) -> int:
        """Wait until every node of `nodes` has a block above the highest height any of them had now.

        Blocks come only from transactions (or a heartbeat, if the nodes set
        ``empty_block_interval_ms``): call this while load is submitted.
        """
        selected = self._select(nodes)
        heights = self.get_heights(selected)
        target = max((value for value in heights.values() if value is not None), default=0) + 1
        self.wait_for_height(target, selected, timeout_s)
        return target

    def stop(
        self, nodes: Iterable[int | str | LocalNode] | None = None, *, timeout_s: float = STOP_TIMEOUT_S
    ) -> list[StopRecord]:
        """SIGTERM the nodes (all at once), SIGKILL those still running after `timeout_s`."""
        selected = self._select(nodes)
        started = time.monotonic()
        pids: dict[str, int] = {}
        for node in selected:
            pid = self.pid(node)
            if pid is not None and _send_signal(pid, signal.SIGTERM):
                # A SIGSTOPped node would hold the SIGTERM until it is continued.
                _send_signal(pid, signal.SIGCONT)
                pids[node.name] = pid
        survivors = self._wait_exited(pids, timeout_s)
        for name in survivors:
            _send_signal(pids[name], signal.SIGKILL)
        unkillable = self._wait_exited({name: pids[name] for name in survivors}, KILL_WAIT_S)
        records = []
        for node in selected:
            pid = pids.get(node.name)
            if pid is None:
                records.append(StopRecord(node.name, None, "not running", 0.0))
                continue
            if node.name in unkillable:
                raise NodeError(f"{node.name} (pid {pid}) survived SIGKILL for {KILL_WAIT_S:g} s")
            if node.name in survivors:
                # A killed node cannot remove its own pid file.
                node.pid_path.unlink(missing_ok=True)
            outcome = "killed" if node.name in survivors else "stopped"
            records.append(StopRecord(node.name, pid, outcome, time.monotonic() - started))
        return records

    def _wait_exited(self, pids: Mapping[str, int], timeout_s: float) -> set[str]:
        """Wait for the processes to exit (reaping our own children); the names still running after `timeout_s`."""
        remaining = dict(pids)
        deadline = time.monotonic() + timeout_s
        while remaining:
            for name in list(remaining):
                process = self._processes.get(name)
                if process is not None and process.pid == remaining[name]:
                    if process.poll() is not None:
                        del self._processes[name]
                        del remaining[name]
                elif not is_process_running(remaining[name]):
                    del remaining[name]
            if not remaining or time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL_S)
        return set(remaining)

    def kill(self, reference: int | str | LocalNode, signal_number: int = signal.SIGKILL) -> int:
        """Send a signal to a node's process; its pid. SIGKILL and SIGTERM wait until it has gone."""
        node = self.node(reference)
        pid = self.pid(node)
        if pid is None:
            raise NodeError(f"{node.name} is not running")
        _send_signal(pid, signal_number)
        if signal_number in (signal.SIGKILL, signal.SIGTERM):
            timeout_s = KILL_WAIT_S if signal_number == signal.SIGKILL else STOP_TIMEOUT_S
            if self._wait_exited({node.name: pid}, timeout_s):
                raise NodeError(f"{node.name} (pid {pid}) still runs {timeout_s:g} s after signal {signal_number}")
            if signal_number == signal.SIGKILL:
                node.pid_path.unlink(missing_ok=True)
        return pid

    def restart(self, reference: int | str | LocalNode, *, ready_timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """Stop the node if it runs (SIGTERM, then SIGKILL), start it again; its ready record once it serves."""
        node = self.node(reference)
        self.stop([node])
        report = self.start([node], ready_timeout_s=ready_timeout_s, wait_for_peers=False)
        return dict(report.ready[node.name])

    # --- status ---------------------------------------------------------------------------------------

    def status(self, timeout_s: float = STATUS_TIMEOUT_S) -> NetworkStatus:
        """Every node's process, height, mempool and peers, and whether they agree at their common height.

        Peers are what each node reports (``gusu_peers``); for a node that
        does not answer (stopped, hung, or too old to have the method) they
        are read from its established sockets on the P2P ports instead.
        """
        pids = {node.name: self.pid(node) for node in self.nodes}

        def ask(node: LocalNode) -> _Answer:
            if pids[node.name] is None:
                return _Answer(error="not running")
            try:
                with Client(node.api_url, timeout_s=timeout_s, retries_max=0) as client:
                    status = client.status()
                    answer = _Answer(
                        height=int(status.height),
                        latest_block_hash=bytes_to_hex(status.latest_block_hash),
                        mempool_transactions=status.mempool_transactions,
                    )
                    with contextlib.suppress(ClientError, OSError):
                        answer.peer_addresses = tuple(bytes_to_hex(peer.address) for peer in client.peers())
            except (ClientError, OSError) as error:
                return _Answer(error=str(error) or type(error).__name__)
            return answer

        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            answers = dict(zip((node.name for node in self.nodes), pool.map(ask, self.nodes), strict=True))
            heights = [answer.height for answer in answers.values() if answer.height is not None]
            common_height = min(heights) if heights else None

            def ask_hash(node: LocalNode) -> None:
                answer = answers[node.name]
                if answer.height is None or common_height is None:
                    return
                if answer.height == common_height:
                    answer.common_block_hash = answer.latest_block_hash
                    return
                try:
                    with Client(node.api_url, timeout_s=timeout_s, retries_max=0) as client:
                        answer.common_block_hash = bytes_to_hex(client.get_block(common_height).block_hash)
                except (ClientError, OSError) as error:
                    answer.error = f"block {common_height}: {error}"

            list(pool.map(ask_hash, self.nodes))

        # The operating system's view, only for the nodes that did not say themselves.
        unsure = {name for name, answer in answers.items() if answer.peer_addresses is None}
        connections = {
            name: _established_connections(pid) for name, pid in pids.items() if pid is not None and name in unsure
        }
        seen = match_peers({node.name: node.p2p_port for node in self.nodes}, connections) if connections else {}
        states = []
        for node in self.nodes:
            answer = answers[node.name]
            pid = pids[node.name]
            peers: tuple[str, ...] | None = None
            source: str | None = None
            if answer.peer_addresses is not None:
                peers, source = name_peers(answer.peer_addresses, self._names_by_address), "rpc"
            elif node.name in seen:
                peers, source = tuple(seen[node.name]), "os"
            states.append(
                NodeState(
                    name=node.name,
                    organization=node.organization,
                    api_url=node.api_url,
                    p2p_endpoint=node.p2p_endpoint,
                    pid=pid,
                    process=get_process_status(pid),
                    reachable=answer.height is not None,
                    height=answer.height,
                    latest_block_hash=answer.latest_block_hash,
                    common_block_hash=answer.common_block_hash,
                    mempool_transactions=answer.mempool_transactions,
                    peers=peers,
                    peers_source=source,
                    peers_expected=self.validator_count - 1,
                    error=answer.error,
                )
            )
        hashes = {state.name: state.common_block_hash for state in states if state.common_block_hash is not None}
        agree, disagreeing = judge_agreement(hashes)
        disconnected = judge_connections(states)
        return NetworkStatus(
            directory=self.directory,
            chain_id=self.chain_id,
            suite=self.suite,
            nodes=tuple(states),
            common_height=common_height,
            agree=agree,
            disagreeing=disagreeing,
            verdict=describe_verdict(states, common_height, agree, disagreeing, disconnected),
            disconnected=disconnected,
        )


def _read_node_address(node_directory: Path) -> str:
    try:
        return bytes_to_hex(read_key_file_metadata((node_directory / NODE_KEY_FILE_NAME).read_bytes()).address)
    except (OSError, GusuError):
        return ""


@contextlib.contextmanager
def throwaway_network(
    nodes: int,
    *,
    suite_name: str = "sm",
    verifier_workers: int = 1,
    chain_id: str = THROWAWAY_CHAIN_ID,
    scrypt_n: int | None = THROWAWAY_SCRYPT_N,
    start: bool = True,
    consensus: str = "tendermint",
    spare_nodes: int = 0,
) -> Iterator[LocalNetwork]:
    """A network of `nodes` validators (one organisation each) in a temporary directory, on free ports.

    Started (serving, its validators connected) unless `start` is False; on leaving, its
    processes are stopped and the directory removed, also after an error
    or Ctrl-C. `spare_nodes` more nodes' ports (indexes `nodes`, `nodes` + 1, ...)
    are free too when it is created, for nodes the caller adds later (and stops).
    """
    temporary = Path(tempfile.mkdtemp(prefix="gusu-net-"))
    network: LocalNetwork | None = None
    try:
        for attempt in range(PORT_SEARCH_ATTEMPTS):
            try:
                network = LocalNetwork.create(
                    temporary / "net",
                    organizations=nodes,
                    suite_name=suite_name,
                    chain_id=chain_id,
                    base_port=find_free_base_port(nodes + spare_nodes),
                    verifier_workers=verifier_workers,
                    scrypt_n=scrypt_n,
                    consensus=consensus,
                )
                break
            except PortsInUseError:
                # Another program took a port between the search and the check: search again.
                if attempt == PORT_SEARCH_ATTEMPTS - 1:
                    raise
        assert network is not None
        if start:
            network.start()
        yield network
    finally:
        if network is not None:
            network.stop(timeout_s=THROWAWAY_STOP_TIMEOUT_S)
        shutil.rmtree(temporary, ignore_errors=True)
