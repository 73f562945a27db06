"""Shared helpers for transport tests: a throwaway PKI and genesis, fast settings, meshes and a rogue peer."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.ledger.types import Address, Hash
from gusu.network.handshake import (
    HandshakeTranscript,
    NonceSource,
    Role,
    ValidatorCredential,
    compute_certificate_hash,
    create_key_proof,
    make_key_signer,
)
from gusu.network.messages import (
    HANDSHAKE_NONCE_SIZE,
    PROTOCOL_VERSION,
    Hello,
    KeyProof,
    decode_control,
    decode_message,
    encode_control,
    frame,
)
from gusu.network.settings import P2PSettings
from gusu.network.tls import TlsFiles, build_tls_contexts
from gusu.network.transport import LocalIdentity, P2PNetwork
from gusu.node.pki import (
    CertifiedKey,
    create_organization_ca,
    issue_admin_certificate,
    issue_node_certificate,
    save_certificates,
    save_certified_key,
)

CHAIN_ID = "p2p-test"
GENESIS_HASH = Hash(bytes(range(32)))
FOUNDERS = ("acme", "bank", "coop", "org0", "org1", "org2", "org3")
"""The organisations every test chain has from the start."""
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
    key: PrivateKey
    """The node's consensus key (its address is this key's)."""
    suite: CryptoSuite
    genesis: dict[Address, ValidatorCredential]
    """The chain's genesis validators, as the transport's lookup sees them (shared by the chain's nodes)."""


@dataclass
class ChainPki:
    """A chain's organisation CAs (each its own root) written under `directory`, and its genesis validators.

    `node()` makes a consensus key, enters it in `genesis` under the
    organisation, and issues and writes the node's TLS files.
    """

    directory: Path
    chain_id: str = CHAIN_ID
    suite_name: str = "sm"
    founders: tuple[str, ...] = FOUNDERS
    organizations: dict[str, CertifiedKey] = field(default_factory=dict)
    genesis: dict[Address, ValidatorCredential] = field(default_factory=dict)
    _count: int = 0

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Founded up front, so every transport built later trusts all of them (as genesis would list them).
        for name in self.founders:
            self.organization(name)

    @property
    def suite(self) -> CryptoSuite:
        return get_suite(self.suite_name)

    @property
    def ca_path(self) -> Path:
        """Every organisation CA so far: what a transport built without a trusted-organisations callable trusts."""
        return self.directory / "ca.crt"

    def organization(self, name: str) -> CertifiedKey:
        if name not in self.organizations:
            self.organizations[name] = create_organization_ca(name)
            save_certificates(self.ca_path, [ca.certificate for ca in self.organizations.values()])
        return self.organizations[name]

    def trusted(self) -> dict[str, bytes]:
        """Organisation name -> DER CA certificate (what genesis lists)."""
        return {
            name: ca.certificate.public_bytes(serialization.Encoding.DER) for name, ca in self.organizations.items()
        }

    def _write(self, certified: CertifiedKey) -> TlsFiles:
        self._count += 1
        stem = self.directory / f"leaf{self._count}"
        save_certified_key(stem.with_suffix(".crt"), stem.with_suffix(".key"), certified)
        return TlsFiles(stem.with_suffix(".crt"), stem.with_suffix(".key"), self.ca_path)

    def node(self, organization: str = "org0") -> NodeFiles:
        """A validator of `organization`: a fresh consensus key in genesis, and its certificate."""
        key = self.suite.generate_private_key()
        address = Address(self.suite.compute_address(key.public_key))
        self.genesis[address] = ValidatorCredential(organization, key.public_key)
        return self.certify(address, organization, key)

    def certify(self, address: Address, issuer: str, key: PrivateKey) -> NodeFiles:
        """A certificate for `address` from `issuer`'s CA, whatever genesis says (for impostors).

        `key` is the consensus key the returned files sign with.
        """
        certified = issue_node_certificate(self.organization(issuer), f"node{self._count}", address)
        return NodeFiles(address, self._write(certified), issuer, key, self.suite, self.genesis)

    def admin(self, organization: str = "org0") -> TlsFiles:
        return self._write(issue_admin_certificate(self.organization(organization)))


def make_network(
    files: NodeFiles,
    allowed: Callable[[Address], bool],
    settings: P2PSettings | None = None,
    *,
    chain_id: str = CHAIN_ID,
    genesis_hash: Hash = GENESIS_HASH,
    genesis: dict[Address, ValidatorCredential] | None = None,
    **options: Any,
) -> P2PNetwork:
    """The transport of `files`' node; it accepts genesis validators for which `allowed` is true.

    `genesis` replaces the chain's genesis in this node's view (an impostor
    runs with its own); `options` go to `P2PNetwork` (channels, rng, …).
    """
    view = files.genesis if genesis is None else genesis

    def get_validator(address: Address) -> ValidatorCredential | None:
        return view.get(address) if allowed(address) else None

    return P2PNetwork(
        settings or fast_settings(),
        local=LocalIdentity(chain_id, genesis_hash, files.address),
        tls=files.tls,
        suite=files.suite,
        sign=make_key_signer(files.suite, files.key),
        get_validator=get_validator,
        **options,
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

    def send_hello(
        self,
        address: Address,
        *,
        chain_id: str = CHAIN_ID,
        genesis_hash: Hash = GENESIS_HASH,
        nonce: bytes | None = None,
    ) -> bytes:
        """Send a hello claiming `address`; returns its nonce (fresh unless given)."""
        nonce = nonce if nonce is not None else secrets.token_bytes(HANDSHAKE_NONCE_SIZE)
        self.send(frame(encode_control(Hello(PROTOCOL_VERSION, chain_id, genesis_hash, address, nonce))))
        return nonce

    async def read_control(self) -> object:
        """The next frame, decoded as a control message."""
        length = int.from_bytes(await self.reader.readexactly(4), "big")
        channel, body = decode_message(await self.reader.readexactly(length))
        assert channel == "p2p"
        return decode_control(body)

    def transcript(self, files: NodeFiles, own_nonce: bytes, peer_nonce: bytes) -> HandshakeTranscript:
        """The transcript of this connection, on which the rogue is the dialer presenting `files`' certificate."""
        ssl_object = self.writer.get_extra_info("ssl_object")
        peer_der = ssl_object.getpeercert(binary_form=True)
        own_der = x509.load_pem_x509_certificates(files.tls.certificate.read_bytes())[0].public_bytes(
            serialization.Encoding.DER
        )
        return HandshakeTranscript(
            CHAIN_ID,
            GENESIS_HASH,
            own_nonce,
            peer_nonce,
            compute_certificate_hash(files.suite, own_der),
            compute_certificate_hash(files.suite, peer_der),
        )

    async def handshake(self, files: NodeFiles, *, nonce: bytes | None = None) -> tuple[bytes, bytes]:
        """The whole handshake as `files`' node (hello, then a key proof by `files.key`).

        Returns (our nonce, the key proof we sent), for a later replay.
        """
        nonce = self.send_hello(files.address, nonce=nonce)
        hello = await self.read_control()
        assert isinstance(hello, Hello), hello
        transcript = self.transcript(files, nonce, hello.nonce)
        signature = create_key_proof(
            files.suite, make_key_signer(files.suite, files.key), transcript, Role.DIALER, files.address
        )
        self.send(frame(encode_control(KeyProof(signature))))
        proof = await self.read_control()
        assert isinstance(proof, KeyProof), proof
        return nonce, signature

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


def fixed_nonces(value: bytes) -> NonceSource:
    """A nonce source that always returns `value` (to show what fresh nonces protect against)."""

    def source(size: int) -> bytes:
        assert len(value) == size
        return value

    return source


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
