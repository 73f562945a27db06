"""Shared helpers for transport tests: a throwaway PKI, fast settings, meshes and a rogue peer."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gusu.ledger.types import Address, Hash
from gusu.network.messages import Hello, decode_control, decode_message, encode_control, frame
from gusu.network.settings import P2PSettings
from gusu.network.tls import TlsFiles, build_tls_contexts
from gusu.network.transport import LocalIdentity, P2PNetwork
from gusu.node.pki import (
    CertifiedKey,
    create_organization_ca,
    create_root_ca,
    issue_admin_certificate,
    issue_node_certificate,
    save_certificates,
    save_certified_key,
)

CHAIN_ID = "p2p-test"
GENESIS_HASH = Hash(bytes(range(32)))
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout_s: float = 20.0) -> T:
    """Run a test scenario on a fresh event loop, failing instead of hanging."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout_s)

    return asyncio.run(bounded())


def fast_settings(**overrides: Any) -> P2PSettings:
    """Settings scaled down so timeouts and limits trigger within a test's budget."""
    values: dict[str, Any] = {
        "listen_port": 0,
        "handshake_timeout_s": 1.0,
        "ping_interval_s": 0.2,
        "peer_timeout_s": 2.0,
        "send_timeout_s": 1.0,
        "close_timeout_s": 0.5,
        "reconnect_backoff_min_ms": 20,
        "reconnect_backoff_max_ms": 200,
    }
    values.update(overrides)
    return P2PSettings(**values)


@dataclass
class NodeFiles:
    address: Address
    tls: TlsFiles
    organization: str


@dataclass
class ChainPki:
    """A chain's CA tree written under `directory`; `node()` issues and writes one node's TLS files."""

    directory: Path
    chain_id: str = CHAIN_ID
    root: CertifiedKey = field(init=False)
    organizations: dict[str, CertifiedKey] = field(default_factory=dict)
    _count: int = 0

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.root = create_root_ca(self.chain_id)
        save_certificates(self.ca_path, (self.root.certificate,))

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.crt"

    def organization(self, name: str) -> CertifiedKey:
        if name not in self.organizations:
            self.organizations[name] = create_organization_ca(self.root, name)
        return self.organizations[name]

    def _write(self, certified: CertifiedKey) -> TlsFiles:
        self._count += 1
        stem = self.directory / f"leaf{self._count}"
        save_certified_key(stem.with_suffix(".crt"), stem.with_suffix(".key"), certified)
        return TlsFiles(stem.with_suffix(".crt"), stem.with_suffix(".key"), self.ca_path)

    def node(self, organization: str = "org0", address: Address | None = None) -> NodeFiles:
        address = address if address is not None else Address(os.urandom(20))
        certified = issue_node_certificate(self.organization(organization), f"node{self._count}", address)
        return NodeFiles(address, self._write(certified), organization)

    def admin(self, organization: str = "org0") -> TlsFiles:
        return self._write(issue_admin_certificate(self.organization(organization)))


def make_network(
    files: NodeFiles,
    allowed: Callable[[Address], bool],
    settings: P2PSettings | None = None,
    *,
    chain_id: str = CHAIN_ID,
    genesis_hash: Hash = GENESIS_HASH,
) -> P2PNetwork:
    return P2PNetwork(
        settings or fast_settings(),
        local=LocalIdentity(chain_id, genesis_hash, files.address),
        tls=files.tls,
        is_allowed=allowed,
    )


class Inbox:
    """Collects (receiver, sender, channel, body) from subscribed networks."""

    def __init__(self) -> None:
        self.items: list[tuple[Address, Address, str, bytes]] = []
        self.changed = asyncio.Event()

    def attach(self, network: P2PNetwork, channels: Iterable[str] = ("consensus", "tx", "sync")) -> None:
        for channel in channels:

            def handler(sender: Address, body: bytes, channel: str = channel) -> None:
                self.items.append((network.address, sender, channel, body))
                self.changed.set()

            network.subscribe(channel, handler)

    def received_by(self, address: Address, channel: str | None = None) -> list[tuple[Address, bytes]]:
        return [
            (sender, body)
            for receiver, sender, item_channel, body in self.items
            if receiver == address and (channel is None or item_channel == channel)
        ]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def start_mesh(networks: list[P2PNetwork], timeout_s: float = 5.0) -> None:
    """Start every network, have each dial every other, and wait for the full mesh."""
    for network in networks:
        await network.start()
    for network in networks:
        for other in networks:
            if other is not network:
                network.add_peer(other.listen_endpoint)
    for network in networks:
        await network.wait_connected([other.address for other in networks if other is not network], timeout_s)


async def stop_all(networks: Iterable[P2PNetwork]) -> None:
    await asyncio.gather(*(network.stop() for network in networks))


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


class RoguePeer:
    """A hand-driven peer: real TLS with a certificate of our choosing, then whatever bytes a test wants."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, tls: TlsFiles | None) -> RoguePeer:
        context: ssl.SSLContext | None = None
        if tls is not None:
            context = build_tls_contexts(tls).client if _is_node(tls) else _plain_client_context(tls)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def send_hello(self, address: Address, *, chain_id: str = CHAIN_ID, genesis_hash: Hash = GENESIS_HASH) -> None:
        self.send(frame(encode_control(Hello(1, chain_id, genesis_hash, address))))

    async def read_control(self) -> object:
        """The next frame, decoded as a control message."""
        length = int.from_bytes(await self.reader.readexactly(4), "big")
        channel, body = decode_message(await self.reader.readexactly(length))
        assert channel == "p2p"
        return decode_control(body)

    async def closed_by_peer(self, timeout_s: float = 5.0) -> bool:
        """True once the other side closes the connection (everything before EOF is discarded)."""
        try:
            async with asyncio.timeout(timeout_s):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError):
            pass
        self.writer.close()
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(1):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, ssl.SSLError):
            pass


def _is_node(tls: TlsFiles) -> bool:
    try:
        build_tls_contexts(tls)
    except Exception:
        return False
    return True


def _plain_client_context(tls: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.3 client context for certificates `build_tls_contexts` refuses (admins, other chains)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(tls.certificate), str(tls.key))
    return context
