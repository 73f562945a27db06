"""The chains pages: a wizard that creates a local network, its nodes started and stopped, remote chains.

A **local** chain is a network of N organisations with one validator process
each on this host, laid out and run by `gusu.eval.network.LocalNetwork`, as
`gusu net up` does, in ``<data directory>/chains/<name>``. Before anything is
written the wizard checks what would make it fail later and lists every
problem at once: the listen address (an IP of this host), each API and P2P
port (free, and not planned by another chain of the console), the folder
(new, writable, with free space). Before every start, the nodes' TLS
certificates are checked against their organisation's CA (signature,
validity period). Creating, starting and stopping take seconds, so they run
as background jobs (one at a time per chain); the chain's page shows the
state and reloads itself meanwhile.

A **remote** chain is registered by its API endpoint (``http``, or ``https``
behind a TLS proxy with an optional CA certificate in PEM); the console asks
it for its status before accepting it.

Each logged-in user chooses which chain the explorer, the dashboard and the
registry pages show (the ``gusu_chain`` cookie, honoured only with a session);
without one they show the console's own endpoint. Any role reads the chains
(``chains.read``); only an operator creates, registers, starts or stops one
(``chains.manage``), and each of those is written to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import html
import ipaddress
import os
import re
import shutil
import socket
import ssl
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from cryptography import x509

from gusu.console.access import AccessInputError, is_allowed
from gusu.console.accounts import (
    STORE_KEY,
    Handler,
    _catalogue,
    _csrf_input,
    _error_html,
    _form,
    _render,
    get_viewer,
    record,
    requires,
)
from gusu.console.chain_store import CHAIN_STATES, ChainRecord, ChainStore, NewChain
from gusu.console.i18n import Catalogue
from gusu.console.settings import ConsoleSettings
from gusu.crypto import SUITE_NAMES
from gusu.errors import GusuError
from gusu.eval.network import P2P_PORT_OFFSET, LocalNetwork, NetworkStatus, find_taken_ports, plan_ports
from gusu.ledger.genesis import CHAIN_ID_PATTERN, ORGANIZATION_PATTERN, load_genesis
from gusu.ledger.types import CHAIN_ID_LENGTH_MAX
from gusu.node.config import GENESIS_FILE_NAME, load_config
from gusu.node.pki import load_certificate, verify_certificate_chain
from gusu.sdk import AsyncClient

_e = html.escape

CHAIN_COOKIE: Final = "gusu_chain"
CHAINS_FOLDER: Final = "chains"
CHAIN_NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""A chain's name in the console; it also names the local network's folder, hence no dot or slash."""
CONSENSUS_ENGINES: Final = ("tendermint", "raft")
BASE_PORT_MIN: Final = 1024
"""The wizard does not plan privileged ports: nodes run as the console's user."""
DEFAULT_BASE_PORT: Final = 9545
"""Away from `gusu net up`'s 8545 (API) and 8645 (P2P)."""
BASE_PORT_STEP: Final = 10
ENDPOINT_LENGTH_MAX: Final = 256
MESSAGE_LENGTH_MAX: Final = 2000
"""Characters of an operation's error kept in the store (node logs can be long)."""
REFRESH_S: Final = 2
"""A chain's page reloads itself this often while an operation runs."""
STATE_KEYS: Final = {
    "creating": "chains.state.creating",
    "starting": "chains.state.starting",
    "running": "chains.state.running",
    "stopping": "chains.state.stopping",
    "stopped": "chains.state.stopped",
    "failed": "chains.state.failed",
    "registered": "chains.state.registered",
}
KIND_KEYS: Final = {"local": "chains.kind.local", "remote": "chains.kind.remote"}
PROCESS_KEYS: Final = {
    "running": "chains.process.running",
    "stopped": "chains.process.stopped",
    "not running": "chains.process.not_running",
}
SUITE_KEYS: Final = {"sm": "chains.suite.sm", "ecdsa": "chains.suite.ecdsa"}
CONSENSUS_KEYS: Final = {"tendermint": "chains.consensus.tendermint", "raft": "chains.consensus.raft"}
NODE_ACTION_KEYS: Final = {"start": "chains.start_node", "stop": "chains.stop_node"}

SETTINGS_KEY: Final = web.AppKey("chain_pages_settings", ConsoleSettings)
JOBS_KEY: Final = web.AppKey("chain_jobs", dict)
NETWORKS_KEY: Final = web.AppKey("chain_networks", dict)
CLIENTS_KEY: Final = web.AppKey("chain_clients", dict)
DEFAULT_CLIENT_KEY: Final = web.AppKey("chain_default_client", AsyncClient)
CREATE_LOCK_KEY: Final = web.AppKey("chain_create_lock", asyncio.Lock)
SELECTED_KEY: Final = web.RequestKey("chain_selected", object)


# --- forms ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalChainPlan:
    """What the wizard's form asks for, validated."""

    name: str
    organisations: tuple[str, ...]
    suite: str
    consensus: str
    network_chain_id: str
    host: str
    base_port: int


@dataclass(frozen=True, slots=True)
class RemoteChainInput:
    name: str
    endpoint: str
    ca_certificate: str | None


def _has_control(text: str) -> bool:
    return any(unicodedata.category(character).startswith("C") for character in text)


def parse_chain_name(text: str) -> str:
    name = text.strip()
    if not CHAIN_NAME_PATTERN.fullmatch(name):
        raise AccessInputError(
            "error.chain_name_invalid",
            "a chain name is 1 to 32 lower-case letters, digits, '_' or '-', starting with a letter or digit",
        )
    return name


def _parse_count(text: str, low: int, high: int, key: str, english: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6 or not low <= int(text) <= high:
        raise AccessInputError(key, english, low=low, high=high)
    return int(text)


def parse_local_chain_form(form: Mapping[str, str], organisations_max: int) -> LocalChainPlan:
    """The wizard's fields, each checked with a message naming what a valid one looks like."""
    name = parse_chain_name(form.get("name", ""))
    names_text = form.get("organisation_names", "").strip()
    if names_text:
        names = tuple(part for part in re.split(r"[\s,，]+", names_text) if part)
        if not 1 <= len(names) <= organisations_max or any(not ORGANIZATION_PATTERN.fullmatch(part) for part in names):
            raise AccessInputError(
                "error.chain_organisation_names_invalid",
                f"organisation names: 1 to {organisations_max} names of letters, digits, '.', '_' or '-', "
                "separated by commas or spaces",
                count=organisations_max,
            )
        if len({part.lower() for part in names}) != len(names):
            raise AccessInputError("error.chain_organisation_names_repeated", "organisation names must differ")
    else:
        count = _parse_count(
            form.get("organisations", ""),
            1,
            organisations_max,
            "error.chain_organisations_invalid",
            f"the number of organisations is a whole number from 1 to {organisations_max}",
        )
        names = tuple(f"org{index}" for index in range(count))
    suite = form.get("suite", "")
    if suite not in SUITE_NAMES:
        raise AccessInputError("error.chain_suite_invalid", "choose the sm or ecdsa suite")
    consensus = form.get("consensus", "")
    if consensus not in CONSENSUS_ENGINES:
        raise AccessInputError("error.chain_consensus_invalid", "choose tendermint or raft")
    network_chain_id = form.get("chain_id", "").strip() or f"gusu-{name}"
    if len(network_chain_id) > CHAIN_ID_LENGTH_MAX or not CHAIN_ID_PATTERN.fullmatch(network_chain_id):
        raise AccessInputError(
            "error.chain_id_invalid",
            f"a chain id is 1 to {CHAIN_ID_LENGTH_MAX} letters, digits, '.', '_' or '-', starting with a letter or "
            "digit",
            count=CHAIN_ID_LENGTH_MAX,
        )
    host = form.get("host", "").strip() or "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise AccessInputError(
            "error.chain_host_invalid", "the listen address is an IP address of this host, such as 127.0.0.1"
        ) from None
    if address.is_unspecified or address.is_multicast:
        raise AccessInputError(
            "error.chain_host_invalid", "the listen address is an IP address of this host, such as 127.0.0.1"
        )
    base_port = _parse_count(
        form.get("base_port", ""),
        BASE_PORT_MIN,
        65535,
        "error.chain_base_port_invalid",
        f"the base port is a whole number from {BASE_PORT_MIN} to 65535",
    )
    return LocalChainPlan(name, names, suite, consensus, network_chain_id, str(address), base_port)


def parse_endpoint(text: str) -> str:
    """An http(s) URL with a host, no user name, query or fragment; a trailing /rpc or / is dropped."""
    endpoint = text.strip()
    invalid = AccessInputError(
        "error.chain_endpoint_invalid", "the endpoint is an http:// or https:// URL such as http://10.0.0.5:8545"
    )
    if not endpoint or len(endpoint) > ENDPOINT_LENGTH_MAX or _has_control(endpoint) or " " in endpoint:
        raise invalid
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise invalid from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or parts.path not in ("", "/", "/rpc")
        or port == 0
    ):
        raise invalid
    return f"{parts.scheme}://{parts.netloc}"


def parse_ca_certificate(text: str, now: datetime.datetime | None = None) -> str | None:
    """A PEM CA certificate (None when empty): it must parse, be valid now and be a CA."""
    pem = text.strip().replace("\r\n", "\n")
    if not pem:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise AccessInputError(
            "error.chain_certificate_invalid", "the CA certificate must be one certificate in PEM form"
        ) from None
    moment = now or datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise AccessInputError(
            "error.chain_certificate_expired",
            f"the CA certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d}, not now",
            start=f"{certificate.not_valid_before_utc:%Y-%m-%d}",
            end=f"{certificate.not_valid_after_utc:%Y-%m-%d}",
        )
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise AccessInputError("error.chain_certificate_not_ca", "the certificate is not a CA certificate")
    return pem + "\n"


def parse_remote_chain_form(form: Mapping[str, str]) -> RemoteChainInput:
    name = parse_chain_name(form.get("name", ""))
    endpoint = parse_endpoint(form.get("endpoint", ""))
    certificate = parse_ca_certificate(form.get("ca_certificate", ""))
    if certificate is not None and not endpoint.startswith("https://"):
        raise AccessInputError(
            "error.chain_certificate_needs_https", "a CA certificate is for an https:// endpoint only"
        )
    return RemoteChainInput(name, endpoint, certificate)


# --- checks before a network is created or started --------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the wizard refuses to start: a catalogue key, its parameters, and the English text."""

    key: str
    english: str
    params: Mapping[str, object]


def compute_planned_ports(count: int, base_port: int) -> dict[int, str]:
    """Port -> purpose ("API of node1") of a network of `count` nodes from `base_port`."""
    api, p2p = plan_ports(count, base_port)
    wanted = {port: f"API node{index}" for index, port in enumerate(api)}
    wanted.update({port: f"P2P node{index}" for index, port in enumerate(p2p)})
    return wanted


def find_host_problem(host: str) -> Problem | None:
    """Whether `host` is an address of this machine (a socket can be bound to it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                return Problem(
                    "chains.problem.host_not_local", f"{host} is not an address of this host", {"host": host}
                )
            return Problem("chains.problem.host_unusable", f"cannot listen on {host}: {error.strerror}", {"host": host})
    return None


def find_plan_problems(
    plan: LocalChainPlan, directory: Path, other_chains: Sequence[ChainRecord], disk_free_min_bytes: int
) -> list[Problem]:
    """Every reason creating `plan` in `directory` would fail or collide, checked now (blocking: run in a thread)."""
    problems: list[Problem] = []
    count = len(plan.organisations)
    highest = plan.base_port + P2P_PORT_OFFSET + count - 1
    if highest > 65535:
        problems.append(
            Problem(
                "chains.problem.port_range",
                f"from base port {plan.base_port} the P2P ports of {count} nodes reach {highest}",
                {"base": plan.base_port, "count": count, "highest": highest},
            )
        )
    host_problem = find_host_problem(plan.host)
    if host_problem is not None:
        problems.append(host_problem)
    if highest <= 65535:
        wanted = compute_planned_ports(count, plan.base_port)
        for other in other_chains:
            if other.kind != "local" or other.base_port is None:
                continue
            for port in sorted(set(wanted) & set(compute_planned_ports(other.organisations, other.base_port))):
                problems.append(
                    Problem(
                        "chains.problem.port_planned",
                        f"port {port} ({wanted[port]}) is planned for the chain {other.name}",
                        {"port": port, "purpose": wanted[port], "chain": other.name},
                    )
                )
        if host_problem is None:
            for use in find_taken_ports(wanted, plan.host):
                problems.append(
                    Problem(
                        "chains.problem.port_taken",
                        f"port {use.port} ({use.purpose}) is in use" + (f" by {use.holder}" if use.holder else ""),
                        {"port": use.port, "purpose": use.purpose, "holder": use.holder or "?"},
                    )
                )
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        problems.append(
            Problem("chains.problem.directory_exists", f"{directory} exists already", {"directory": str(directory)})
        )
    parent = directory.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(parent, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        problems.append(
            Problem("chains.problem.directory_unwritable", f"cannot write in {parent}", {"directory": str(parent)})
        )
    else:
        free = shutil.disk_usage(parent).free
        if free < disk_free_min_bytes:
            problems.append(
                Problem(
                    "chains.problem.disk_low",
                    f"{parent} has {free // (1 << 20)} MiB free, {disk_free_min_bytes // (1 << 20)} MiB are needed",
                    {"free": free // (1 << 20), "needed": disk_free_min_bytes // (1 << 20)},
                )
            )
    return problems


def find_certificate_problems(network: LocalNetwork, now: datetime.datetime | None = None) -> list[Problem]:
    """Each node's TLS certificate checked against its organisation's CA in the genesis (signature, validity)."""
    genesis = load_genesis(network.directory / GENESIS_FILE_NAME)
    cas = {
        organisation.name: x509.load_der_x509_certificate(organisation.ca_certificate)
        for organisation in genesis.organizations
        if organisation.ca_certificate
    }
    problems: list[Problem] = []
    for node in network.nodes:
        path = node.directory / load_config(node.directory).p2p.tls_certificate
        try:
            certificate = load_certificate(path)
            ca = cas.get(node.organization)
            if ca is None:
                raise GusuError(f"the genesis lists no CA of the organisation {node.organization}")
            verify_certificate_chain(certificate, ca, now=now)
        except GusuError as error:
            problems.append(
                Problem(
                    "chains.problem.certificate",
                    f"the TLS certificate of {node.name} is not usable: {error}",
                    {"node": node.name, "reason": str(error)},
                )
            )
    return problems


class ProblemsError(GusuError):
    """Checks failed before an operation; `problems` says what is wrong."""

    code = "chain_checks_failed"

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(problem.english for problem in problems))
        self.problems = tuple(problems)


# --- clients: which chain a request shows ----------------------------------------------------


def _ssl_context(ca_certificate: str | None) -> ssl.SSLContext | None:
    return None if ca_certificate is None else ssl.create_default_context(cadata=ca_certificate)


def _make_client(chain: ChainRecord, settings: ConsoleSettings) -> AsyncClient:
    return AsyncClient(
        chain.endpoint,
        timeout_s=settings.node_timeout_s,
        retries_max=0,
        ssl_context=_ssl_context(chain.ca_certificate),
    )


def get_client(request: web.Request) -> AsyncClient:
    """The client of the chain this request shows: the viewer's chosen chain, else the console's endpoint."""
    selected = request.get(SELECTED_KEY)
    if isinstance(selected, tuple):
        client = selected[1]
        assert isinstance(client, AsyncClient)
        return client
    return request.app[DEFAULT_CLIENT_KEY]


def get_selected_chain(request: web.Request) -> ChainRecord | None:
    selected = request.get(SELECTED_KEY)
    if isinstance(selected, tuple):
        chain = selected[0]
        assert isinstance(chain, ChainRecord)
        return chain
    return None


def get_endpoint(request: web.Request) -> str:
    """The base URL (no /rpc) of the chain this request shows."""
    chain = get_selected_chain(request)
    return chain.endpoint if chain is not None else request.app[SETTINGS_KEY].endpoint.removesuffix("/rpc")


def _store(request: web.Request) -> ChainStore:
    return ChainStore(request.app[STORE_KEY].backend)


@web.middleware
async def chain_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolves the viewer's chosen chain (the cookie counts only with a session: anonymous pages show the default)."""
    text = request.cookies.get(CHAIN_COOKIE, "")
    if text and get_viewer(request) is not None and text.isascii() and text.isdigit() and len(text) <= 18:
        chain = await _store(request).get_chain(int(text))
        if chain is not None:
            clients: dict[tuple[int, str], AsyncClient] = request.app[CLIENTS_KEY]
            key = (chain.chain_id, chain.endpoint)
            client = clients.get(key)
            if client is None:
                client = clients[key] = _make_client(chain, request.app[SETTINGS_KEY])
            request[SELECTED_KEY] = (chain, client)
    return await handler(request)


# --- jobs -------------------------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _settings(request: web.Request) -> ConsoleSettings:
    return request.app[SETTINGS_KEY]


def get_chains_folder(settings: ConsoleSettings) -> Path:
    return Path(settings.data_directory).expanduser().resolve() / CHAINS_FOLDER


def _network(app: web.Application, chain: ChainRecord) -> LocalNetwork:
    """The chain's `LocalNetwork`, kept for the console's life: it holds (and reaps) the processes it started."""
    networks: dict[int, LocalNetwork] = app[NETWORKS_KEY]
    network = networks.get(chain.chain_id)
    if network is None:
        assert chain.directory is not None
        network = networks[chain.chain_id] = LocalNetwork.open(Path(chain.directory))
    return network


def _describe(error: BaseException) -> str:
    return (str(error) or type(error).__name__)[:MESSAGE_LENGTH_MAX]


def is_busy(app: web.Application, chain_id: int) -> bool:
    jobs: dict[int, asyncio.Task[None]] = app[JOBS_KEY]
    job = jobs.get(chain_id)
    return job is not None and not job.done()


async def _run_job(app: web.Application, chain: ChainRecord, operation: str, nodes: tuple[str, ...] | None) -> None:
    """Create (and then start), start or stop a local network in a worker thread; the outcome goes to the store."""
    store = ChainStore(app[STORE_KEY].backend)
    settings = app[SETTINGS_KEY]
    try:
        if operation != "create":
            await store.apply_state(chain.chain_id, "starting" if operation == "start" else "stopping", "", _now_ms())
        if operation == "create":
            assert chain.directory is not None and chain.base_port is not None and chain.host is not None
            network = await asyncio.to_thread(
                LocalNetwork.create,
                Path(chain.directory),
                organizations=chain.organisation_names.split(","),
                suite_name=chain.suite,
                chain_id=chain.network_chain_id,
                base_port=chain.base_port,
                host=chain.host,
                verifier_workers=settings.chain_verifier_workers,
                scrypt_n=settings.chain_scrypt_n,
                consensus=chain.consensus,
            )
            app[NETWORKS_KEY][chain.chain_id] = network
            await store.apply_state(chain.chain_id, "starting", "", _now_ms())
            operation = "start"
        network = await asyncio.to_thread(_network, app, chain)
        if operation == "start":
            problems = await asyncio.to_thread(find_certificate_problems, network)
            if problems:
                raise ProblemsError(problems)
            await asyncio.to_thread(
                network.start,
                nodes,
                ready_timeout_s=settings.chain_start_timeout_s,
                connect_timeout_s=settings.chain_start_timeout_s,
            )
            await store.apply_state(chain.chain_id, "running", "", _now_ms())
        else:
            await asyncio.to_thread(network.stop, nodes, timeout_s=settings.chain_stop_timeout_s)
            running = await asyncio.to_thread(network.running_pids)
            await store.apply_state(chain.chain_id, "running" if running else "stopped", "", _now_ms())
    except asyncio.CancelledError:
        await store.apply_state(chain.chain_id, "failed", "the console stopped during the operation", _now_ms())
        raise
    except Exception as error:  # any failure is the operation's outcome, shown on the chain's page
        await store.apply_state(chain.chain_id, "failed", _describe(error), _now_ms())


def _start_job(request: web.Request, chain: ChainRecord, operation: str, nodes: tuple[str, ...] | None) -> None:
    app = request.app
    jobs: dict[int, asyncio.Task[None]] = app[JOBS_KEY]
    jobs[chain.chain_id] = asyncio.get_running_loop().create_task(_run_job(app, chain, operation, nodes))


async def _stop_jobs(app: web.Application) -> None:
    jobs: dict[int, asyncio.Task[None]] = app[JOBS_KEY]
    for job in jobs.values():
        job.cancel()
    for job in jobs.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):  # the job recorded its own outcome
            await job


async def wait_jobs(app: web.Application) -> None:
    """Wait until no chain operation runs (for tests and an orderly shutdown)."""
    jobs: dict[int, asyncio.Task[None]] = app[JOBS_KEY]
    while any(not job.done() for job in jobs.values()):
        await asyncio.sleep(0.1)


# --- pages ------------------------------------------------------------------------------------


def _time(time_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time_ms / 1000)) + " UTC"


def _can_manage(request: web.Request) -> bool:
    viewer = get_viewer(request)
    return viewer is not None and is_allowed(viewer.user.role, "chains.manage")


def _input(
    catalogue: Catalogue, name: str, key: str, value: str = "", extra: str = "", hint: str = "", prefix: str = "field"
) -> str:
    hint_html = f'<span class="hint">{_e(catalogue.get_message(hint))}</span>' if hint else ""
    return (
        f'<label for="{prefix}-{name}">{_e(catalogue.get_message(key))}</label>'
        f'<input id="{prefix}-{name}" name="{name}" maxlength="256" value="{_e(value)}" {extra}>{hint_html}'
    )


def _select(catalogue: Catalogue, name: str, key: str, options: Sequence[tuple[str, str]], chosen: str) -> str:
    rendered = "".join(
        f'<option value="{_e(value)}"{" selected" if value == chosen else ""}>{_e(label)}</option>'
        for value, label in options
    )
    return (
        f'<label for="field-{name}">{_e(catalogue.get_message(key))}</label>'
        f'<select id="field-{name}" name="{name}">{rendered}</select>'
    )


def _problems_html(catalogue: Catalogue, problems: Sequence[Problem]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_e(catalogue.get_message(problem.key, **problem.params))}</li>" for problem in problems)
    return (
        f'<div class="error" role="alert" id="chain-problems"><p>{_e(catalogue.get_message("chains.problems"))}</p>'
        f"<ul>{items}</ul></div>"
    )


def compute_suggested_base_port(chains: Sequence[ChainRecord], organisations: int, host: str = "127.0.0.1") -> int:
    """The first base port from 9545 (in steps of 10) that no chain plans and whose ports are free now."""
    planned: set[int] = set()
    for chain in chains:
        if chain.kind == "local" and chain.base_port is not None:
            planned |= set(compute_planned_ports(chain.organisations, chain.base_port))
    for base in range(DEFAULT_BASE_PORT, 65535 - P2P_PORT_OFFSET - organisations, BASE_PORT_STEP):
        wanted = compute_planned_ports(organisations, base)
        if not planned & set(wanted) and not find_taken_ports(wanted, host):
            return base
    return DEFAULT_BASE_PORT


def _wizard_form(catalogue: Catalogue, token: str, form: Mapping[str, str], base_port: int) -> str:
    message = catalogue.get_message
    suites = [(suite, message(key)) for suite, key in SUITE_KEYS.items()]
    engines = [(engine, message(key)) for engine, key in CONSENSUS_KEYS.items()]
    return (
        f"<h2>{_e(message('chains.create'))}</h2>"
        f'<p class="hint">{_e(message("chains.create_hint"))}</p>'
        f'<form class="stack" id="create-chain-form" action="/chains" method="post">{token}'
        + _input(catalogue, "name", "chains.name", form.get("name", ""), "required", "chains.name_hint")
        + _input(
            catalogue, "organisations", "chains.organisations", form.get("organisations", "4"), "inputmode=numeric"
        )
        + _input(
            catalogue,
            "organisation_names",
            "chains.organisation_names",
            form.get("organisation_names", ""),
            hint="chains.organisation_names_hint",
        )
        + _select(catalogue, "suite", "chains.suite", suites, form.get("suite", "sm"))
        + _select(catalogue, "consensus", "chains.consensus", engines, form.get("consensus", "tendermint"))
        + _input(catalogue, "chain_id", "chains.chain_id", form.get("chain_id", ""), hint="chains.chain_id_hint")
        + _input(catalogue, "host", "chains.host", form.get("host", "127.0.0.1"))
        + _input(
            catalogue,
            "base_port",
            "chains.base_port",
            form.get("base_port", str(base_port)),
            "inputmode=numeric",
            "chains.base_port_hint",
        )
        + f'<button type="submit">{_e(message("chains.create_submit"))}</button></form>'
    )


def _register_form(catalogue: Catalogue, token: str, form: Mapping[str, str]) -> str:
    message = catalogue.get_message
    return (
        f"<h2>{_e(message('chains.register'))}</h2>"
        f'<form class="stack" id="register-chain-form" action="/chains/register" method="post">{token}'
        + _input(catalogue, "name", "chains.name", form.get("name", ""), "required", prefix="remote")
        + _input(catalogue, "endpoint", "chains.endpoint", form.get("endpoint", ""), "required inputmode=url")
        + f'<label for="field-ca_certificate">{_e(message("chains.ca_certificate"))}</label>'
        f'<textarea id="field-ca_certificate" name="ca_certificate" rows="4">'
        f"{_e(form.get('ca_certificate', ''))}</textarea>"
        f'<span class="hint">{_e(message("chains.ca_certificate_hint"))}</span>'
        f'<button type="submit">{_e(message("chains.register_submit"))}</button></form>'
    )


def _state_html(catalogue: Catalogue, chain: ChainRecord) -> str:
    key = STATE_KEYS.get(chain.state)
    label = catalogue.get_message(key) if key else chain.state
    return f'<span class="chain-state state-{_e(chain.state)}" data-state="{_e(chain.state)}">{_e(label)}</span>'


def _select_form(catalogue: Catalogue, token: str, chain_id: int | None, shown: bool) -> str:
    if shown:
        return f'<span class="chain-shown">{_e(catalogue.get_message("chains.shown"))}</span>'
    value = "" if chain_id is None else str(chain_id)
    return (
        f'<form action="/chains/select" method="post">{token}<input type="hidden" name="chain" value="{value}">'
        f'<button type="submit">{_e(catalogue.get_message("chains.show"))}</button></form>'
    )


async def _chains_page(
    request: web.Request,
    error: AccessInputError | None = None,
    problems: Sequence[Problem] = (),
    form: Mapping[str, str] | None = None,
    register_form: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    token = _csrf_input(viewer.session.csrf_token)
    chains = await _store(request).list_chains()
    selected = get_selected_chain(request)
    selected_id = None if selected is None else selected.chain_id
    rows = [
        f'<tr data-chain="default"><td>{_e(message("chains.default"))}</td><td>—</td>'
        f"<td>{_e(_settings(request).endpoint)}</td><td>—</td>"
        f"<td>{_select_form(catalogue, token, None, selected_id is None)}</td></tr>"
    ]
    for chain in chains:
        rows.append(
            f'<tr data-chain="{chain.chain_id}"><td><a href="/chains/{chain.chain_id}">{_e(chain.name)}</a></td>'
            f"<td>{_e(message(KIND_KEYS[chain.kind]))}</td><td>{_e(chain.endpoint)}</td>"
            f"<td>{_state_html(catalogue, chain)}</td>"
            f"<td>{_select_form(catalogue, token, chain.chain_id, chain.chain_id == selected_id)}</td></tr>"
        )
    content = (
        f"<h1>{_e(message('chains.title'))}</h1>{_error_html(catalogue, error)}{_problems_html(catalogue, problems)}"
        f'<table id="chains"><thead><tr><th>{_e(message("chains.name"))}</th><th>{_e(message("chains.kind"))}</th>'
        f"<th>{_e(message('chains.endpoint'))}</th><th>{_e(message('chains.state'))}</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if _can_manage(request):
        base_port = await asyncio.to_thread(compute_suggested_base_port, chains, 4)
        content += _wizard_form(catalogue, token, form or {}, base_port) + _register_form(
            catalogue, token, register_form or {}
        )
    else:
        content += f'<p id="chains-read-only">{_e(message("chains.read_only"))}</p>'
    return _render(request, "chains", content, status)


@requires("chains.read")
async def _chains_get(request: web.Request) -> web.StreamResponse:
    return await _chains_page(request)


async def _check_chain_count(request: web.Request, name: str) -> None:
    store = _store(request)
    chains_max = _settings(request).chains_max
    if await store.count_chains() >= chains_max:
        raise AccessInputError(
            "error.chains_max", f"there are {chains_max} chains already, the most allowed", count=chains_max
        )
    if await store.get_chain_by_name(name) is not None:
        raise AccessInputError("error.chain_name_taken", f"a chain named {name} exists already")


@requires("chains.manage")
async def _chains_create(request: web.Request) -> web.StreamResponse:
    form: dict[str, str] = {}
    settings = _settings(request)
    try:
        form = await _form(request)
        plan = parse_local_chain_form(form, settings.chain_organisations_max)
    except AccessInputError as error:
        await record(request, "chain.create", form.get("name", "")[:64] or None, "refused")
        return await _chains_page(request, error=error, form=form, status=400)
    directory = get_chains_folder(settings) / plan.name
    store = _store(request)
    async with request.app[CREATE_LOCK_KEY]:  # two wizards at once must not plan the same ports or name
        try:
            await _check_chain_count(request, plan.name)
        except AccessInputError as error:
            await record(request, "chain.create", plan.name, "refused")
            return await _chains_page(request, error=error, form=form, status=400)
        problems = await asyncio.to_thread(
            find_plan_problems, plan, directory, await store.list_chains(), settings.chain_disk_free_min_bytes
        )
        if problems:
            await record(request, "chain.create", f"{plan.name}: {problems[0].english}"[:200], "refused")
            return await _chains_page(request, problems=problems, form=form, status=400)
        chain = await _insert_local(store, plan, directory)
    _start_job(request, chain, "create", None)
    await record(
        request,
        "chain.create",
        f"{plan.name} ({len(plan.organisations)} organisations, {plan.suite}, {plan.consensus}, "
        f"{plan.host}:{plan.base_port})",
        "ok",
    )
    return web.Response(status=303, headers={"Location": f"/chains/{chain.chain_id}"})


async def _insert_local(store: ChainStore, plan: LocalChainPlan, directory: Path) -> ChainRecord:
    return await store.create_chain(
        NewChain(
            name=plan.name,
            kind="local",
            endpoint=f"http://{plan.host if ':' not in plan.host else f'[{plan.host}]'}:{plan.base_port}",
            ca_certificate=None,
            directory=str(directory),
            host=plan.host,
            base_port=plan.base_port,
            organisations=len(plan.organisations),
            organisation_names=",".join(plan.organisations),
            consensus=plan.consensus,
            network_chain_id=plan.network_chain_id,
            suite=plan.suite,
            state="creating",
        ),
        _now_ms(),
    )


async def get_remote_identity(chain: RemoteChainInput, timeout_s: float) -> tuple[str, str]:
    """(chain id, suite) the endpoint reports; AccessInputError saying why when it does not answer."""
    client = AsyncClient(
        chain.endpoint, timeout_s=timeout_s, retries_max=0, ssl_context=_ssl_context(chain.ca_certificate)
    )
    try:
        status = await client.status()
    except (GusuError, OSError, TimeoutError, ssl.SSLError) as error:
        raise AccessInputError(
            "error.chain_unreachable",
            f"the node at {chain.endpoint} did not answer: {error}",
            endpoint=chain.endpoint,
            reason=str(error)[:300],
        ) from None
    finally:
        await client.close()
    return status.chain_id, status.suite


@requires("chains.manage")
async def _chains_register(request: web.Request) -> web.StreamResponse:
    form: dict[str, str] = {}
    settings = _settings(request)
    async with request.app[CREATE_LOCK_KEY]:  # names are unique: one creation or registration at a time
        try:
            form = await _chain_form(request, settings)
            remote = parse_remote_chain_form(form)
            await _check_chain_count(request, remote.name)
            network_chain_id, suite = await get_remote_identity(remote, settings.node_timeout_s)
        except AccessInputError as error:
            await record(request, "chain.register", form.get("name", "")[:64] or None, "refused")
            return await _chains_page(request, error=error, register_form=form, status=400)
        chain = await _store(request).create_chain(
            NewChain(
                name=remote.name,
                kind="remote",
                endpoint=remote.endpoint,
                ca_certificate=remote.ca_certificate,
                directory=None,
                host=None,
                base_port=None,
                organisations=0,
                organisation_names="",
                consensus="",
                network_chain_id=network_chain_id,
                suite=suite,
                state="registered",
            ),
            _now_ms(),
        )
    await record(request, "chain.register", f"{remote.name} ({remote.endpoint}, {network_chain_id})", "ok")
    return web.Response(status=303, headers={"Location": f"/chains/{chain.chain_id}"})


async def _chain_form(request: web.Request, settings: ConsoleSettings) -> dict[str, str]:
    """The register form: every field as `_form` limits it, except the certificate, which may be longer."""
    form = await request.post()
    certificate = form.get("ca_certificate", "")
    if not isinstance(certificate, str):
        certificate = ""
    if len(certificate) > settings.chain_certificate_length_max:
        raise AccessInputError(
            "error.chain_certificate_long",
            f"the CA certificate is longer than {settings.chain_certificate_length_max} characters",
            count=settings.chain_certificate_length_max,
        )
    limit = settings.form_field_length_max
    fields: dict[str, str] = {"ca_certificate": certificate}
    for name, value in form.items():
        if isinstance(value, str) and name != "ca_certificate":
            if len(value) > limit:
                raise AccessInputError(
                    "error.field_long", f"a form field is longer than {limit} characters", count=limit
                )
            fields[name] = value
    return fields


@requires("chains.read")
async def _select_chain(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    text = form.get("chain", "")
    response = web.Response(status=303, headers={"Location": "/chains"})
    if text == "":
        response.del_cookie(CHAIN_COOKIE, path="/")
        return response
    chain = None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        chain = await _store(request).get_chain(int(text))
    if chain is None:
        raise web.HTTPNotFound()
    response.set_cookie(
        CHAIN_COOKIE, str(chain.chain_id), path="/", httponly=True, samesite="Strict", secure=request.secure
    )
    return response


async def _chain_from_path(request: web.Request) -> ChainRecord:
    text = request.match_info["chain_id"]
    chain = None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        chain = await _store(request).get_chain(int(text))
    if chain is None:
        raise web.HTTPNotFound()
    return chain


def _nodes_html(catalogue: Catalogue, status: NetworkStatus, token: str | None, chain: ChainRecord, busy: bool) -> str:
    message = catalogue.get_message
    rows = []
    for node in status.nodes:
        process_key = PROCESS_KEYS.get(node.process)
        process = message(process_key) if process_key else node.process
        peers = "—" if node.peers is None else f"{len(node.peers)}/{node.peers_expected}"
        action = ""
        if token is not None and not busy:
            verb = "stop" if node.process == "running" else "start"
            action = (
                f'<form action="/chains/{chain.chain_id}/{verb}" method="post">{token}'
                f'<input type="hidden" name="node" value="{_e(node.name)}">'
                f'<button type="submit">{_e(message(NODE_ACTION_KEYS[verb]))}</button></form>'
            )
        rows.append(
            f'<tr data-node="{_e(node.name)}" data-process="{_e(node.process)}"><td>{_e(node.name)}</td>'
            f"<td>{_e(node.organization)}</td><td>{'—' if node.pid is None else node.pid}</td><td>{_e(process)}</td>"
            f'<td class="height">{"—" if node.height is None else node.height}</td><td>{_e(peers)}</td>'
            f"<td>{_e(node.api_url)}</td><td>{action}</td></tr>"
        )
    verdict_key = "chains.verdict.healthy" if status.healthy else "chains.verdict.unhealthy"
    return (
        f'<p id="chain-verdict" data-healthy="{int(status.healthy)}">{_e(message(verdict_key))}</p>'
        f'<table id="chain-nodes"><thead><tr><th>{_e(message("chains.node"))}</th>'
        f"<th>{_e(message('chains.organisation'))}</th><th>{_e(message('chains.pid'))}</th>"
        f"<th>{_e(message('chains.process'))}</th><th>{_e(message('chains.height'))}</th>"
        f"<th>{_e(message('chains.peers'))}</th><th>{_e(message('chains.api_url'))}</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


async def _chain_page(
    request: web.Request, chain: ChainRecord, error: AccessInputError | None = None, status_code: int = 200
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    manage = _can_manage(request)
    token = _csrf_input(viewer.session.csrf_token)
    # Busy means a job of this process runs: a state left "starting" by a console that died blocks nothing.
    busy = is_busy(request.app, chain.chain_id)
    selected = get_selected_chain(request)
    fields = [
        ("chains.kind", message(KIND_KEYS[chain.kind])),
        ("chains.endpoint", chain.endpoint),
        ("chains.chain_id", chain.network_chain_id or "—"),
        ("chains.suite", message(SUITE_KEYS[chain.suite]) if chain.suite in SUITE_KEYS else chain.suite or "—"),
        ("chains.created", _time(chain.created_ms)),
    ]
    if chain.kind == "local":
        fields += [
            ("chains.organisations", chain.organisation_names.replace(",", ", ")),
            ("chains.consensus", message(CONSENSUS_KEYS.get(chain.consensus, "chains.consensus.tendermint"))),
            ("chains.directory", chain.directory or ""),
            ("chains.host", chain.host or ""),
            ("chains.base_port", str(chain.base_port)),
        ]
    if chain.ca_certificate:
        certificate = x509.load_pem_x509_certificate(chain.ca_certificate.encode("ascii"))
        fields.append(("chains.ca_certificate", f"{certificate.subject.rfc4514_string()}"))
        fields.append(("chains.ca_expires", f"{certificate.not_valid_after_utc:%Y-%m-%d}"))
    rows = "".join(f"<dt>{_e(message(key))}</dt><dd>{_e(value)}</dd>" for key, value in fields)
    state_message = ""
    if chain.state == "failed" and chain.message:
        state_message = f'<pre class="error" id="chain-message">{_e(chain.message)}</pre>'
    refresh = f'<p class="hint" data-refresh-s="{REFRESH_S}">{_e(message("chains.working"))}</p>' if busy else ""
    content = (
        f"<h1>{_e(message('chains.chain_title', name=chain.name))}</h1>{_error_html(catalogue, error)}"
        f"<p>{_e(message('chains.state'))}: {_state_html(catalogue, chain)}</p>{refresh}{state_message}"
        f'<dl class="fields">{rows}</dl>'
        + _select_form(catalogue, token, chain.chain_id, selected is not None and selected.chain_id == chain.chain_id)
    )
    if (
        chain.kind == "local"
        and chain.state != "creating"
        and chain.directory
        and LocalNetwork.exists(Path(chain.directory))
    ):
        try:
            network = await asyncio.to_thread(_network, request.app, chain)
            status: NetworkStatus | None = await asyncio.to_thread(network.status)
        except GusuError as failure:
            status = None
            unreadable = message("error.chain_unusable", reason=str(failure)[:300])
            content += f'<p class="error" id="chain-unreadable">{_e(unreadable)}</p>'
        content += f"<h2>{_e(message('chains.nodes'))}</h2>"
        if status is not None:
            content += _nodes_html(catalogue, status, token if manage else None, chain, busy)
        if manage and not busy:
            content += (
                f'<div class="actions"><form action="/chains/{chain.chain_id}/start" method="post">{token}'
                f'<button type="submit" id="chain-start">{_e(message("chains.start"))}</button></form>'
                f'<form action="/chains/{chain.chain_id}/stop" method="post">{token}'
                f'<button type="submit" id="chain-stop" class="danger">{_e(message("chains.stop"))}</button></form>'
                "</div>"
            )
    elif chain.kind == "remote":
        client = _make_client(chain, _settings(request))
        try:
            node_status = await client.status()
            content += (
                f'<p id="chain-remote-status" data-reachable="1">'
                f"{_e(message('chains.remote_status', height=node_status.height, chain_id=node_status.chain_id))}</p>"
            )
        except (GusuError, OSError, TimeoutError, ssl.SSLError) as failure:
            content += (
                f'<p id="chain-remote-status" class="error" data-reachable="0">'
                f"{_e(message('chains.remote_unreachable', reason=str(failure)[:300]))}</p>"
            )
        finally:
            await client.close()
        if manage:
            content += _endpoint_form(catalogue, token, chain)
    return _render(request, "chain", content, status_code)


def _endpoint_form(catalogue: Catalogue, token: str, chain: ChainRecord) -> str:
    """A registered chain's node address can change: the form that moves the chain to the new one."""
    message = catalogue.get_message
    return (
        f"<h2>{_e(message('chains.endpoint_change'))}</h2>"
        f'<form class="stack" id="endpoint-form" action="/chains/{chain.chain_id}/endpoint" method="post">{token}'
        + _input(catalogue, "endpoint", "chains.endpoint", chain.endpoint, "required inputmode=url", prefix="move")
        + f'<label for="move-ca_certificate">{_e(message("chains.ca_certificate"))}</label>'
        f'<textarea id="move-ca_certificate" name="ca_certificate" rows="4">{_e(chain.ca_certificate or "")}</textarea>'
        f'<span class="hint">{_e(message("chains.endpoint_change_hint"))}</span>'
        f'<button type="submit" id="endpoint-submit">{_e(message("chains.endpoint_change_submit"))}</button></form>'
    )


@requires("chains.manage")
async def _chain_endpoint(request: web.Request) -> web.StreamResponse:
    """Moves a registered chain to its node's new address, once the node there answers as the same chain."""
    chain = await _chain_from_path(request)
    settings = _settings(request)
    try:
        if chain.kind != "remote":
            raise AccessInputError(
                "error.chain_endpoint_local",
                "a chain this console created keeps the addresses its wizard planned (docs/console.md, Chains)",
            )
        form = await _chain_form(request, settings)
        remote = parse_remote_chain_form({**form, "name": chain.name})
        network_chain_id, _suite = await get_remote_identity(remote, settings.node_timeout_s)
        if chain.network_chain_id and network_chain_id != chain.network_chain_id:
            raise AccessInputError(
                "error.chain_endpoint_other_chain",
                f"the node at {remote.endpoint} runs the chain {network_chain_id}, not {chain.network_chain_id}",
                endpoint=remote.endpoint,
                found=network_chain_id,
                expected=chain.network_chain_id,
            )
    except AccessInputError as error:
        await record(request, "chain.endpoint", chain.name, "refused")
        return await _chain_page(request, chain, error, 400)
    await _store(request).apply_endpoint(chain.chain_id, remote.endpoint, remote.ca_certificate, _now_ms())
    await record(request, "chain.endpoint", f"{chain.name} ({chain.endpoint} -> {remote.endpoint})", "ok")
    return web.Response(status=303, headers={"Location": f"/chains/{chain.chain_id}"})


@requires("chains.read")
async def _chain_get(request: web.Request) -> web.StreamResponse:
    return await _chain_page(request, await _chain_from_path(request))


def _operation(operation: str) -> Handler:
    @requires("chains.manage")
    async def handler(request: web.Request) -> web.StreamResponse:
        chain = await _chain_from_path(request)
        form = await _form(request)
        node = form.get("node", "")
        target = chain.name if not node else f"{chain.name} {node[:64]}"
        try:
            if chain.kind != "local":
                raise AccessInputError(
                    "error.chain_not_local", "only a chain this console created can be run from here"
                )
            nodes: tuple[str, ...] | None = None
            if node:
                try:
                    network = await asyncio.to_thread(_network, request.app, chain)
                except GusuError as failure:
                    raise AccessInputError(
                        "error.chain_unusable", f"the network cannot be read: {failure}", reason=str(failure)[:300]
                    ) from None
                if node not in {item.name for item in network.nodes}:
                    raise AccessInputError("error.chain_node_unknown", "this chain has no such node")
                nodes = (node,)
            # Checked last, with no await between the check and the launch: two clicks start one job.
            if is_busy(request.app, chain.chain_id):
                raise AccessInputError("error.chain_busy", "an operation on this chain is under way; wait for it")
        except AccessInputError as error:
            await record(request, f"chain.{operation}", target, "refused")
            return await _chain_page(request, chain, error, 400)
        _start_job(request, chain, operation, nodes)
        await record(request, f"chain.{operation}", target, "ok")
        return web.Response(status=303, headers={"Location": f"/chains/{chain.chain_id}"})

    return handler


# --- JSON API ----------------------------------------------------------------------------------


def _chain_json(chain: ChainRecord) -> dict[str, object]:
    return {
        "id": chain.chain_id,
        "name": chain.name,
        "kind": chain.kind,
        "endpoint": chain.endpoint,
        "chain_id": chain.network_chain_id,
        "suite": chain.suite,
        "state": chain.state,
        "message": chain.message if chain.state == "failed" else "",
        "organisations": chain.organisations,
        "base_port": chain.base_port,
        "tls_ca": chain.ca_certificate is not None,
    }


@requires("chains.read")
async def _api_chains(request: web.Request) -> web.StreamResponse:
    chains = await _store(request).list_chains()
    selected = get_selected_chain(request)
    return web.json_response(
        {
            "chains": [_chain_json(chain) for chain in chains],
            "selected": None if selected is None else selected.chain_id,
        }
    )


@requires("chains.read")
async def _api_chain_nodes(request: web.Request) -> web.StreamResponse:
    chain = await _chain_from_path(request)
    if chain.kind != "local" or chain.directory is None or not LocalNetwork.exists(Path(chain.directory)):
        return web.json_response({**_chain_json(chain), "nodes": []})
    network = await asyncio.to_thread(_network, request.app, chain)
    status = await asyncio.to_thread(network.status)
    return web.json_response({**_chain_json(chain), **status.to_json(), "directory": chain.directory})


# --- the application ----------------------------------------------------------------------------


def add_chain_routes(app: web.Application, settings: ConsoleSettings, default_client: AsyncClient) -> None:
    """The chains pages and API, and `chain_middleware`'s state (install that middleware after access's)."""
    app[SETTINGS_KEY] = settings
    app[JOBS_KEY] = {}
    app[NETWORKS_KEY] = {}
    app[CLIENTS_KEY] = {}
    app[DEFAULT_CLIENT_KEY] = default_client
    app[CREATE_LOCK_KEY] = asyncio.Lock()

    async def close(app: web.Application) -> None:
        await _stop_jobs(app)
        clients: dict[tuple[int, str], AsyncClient] = app[CLIENTS_KEY]
        for client in clients.values():
            await client.close()

    app.on_cleanup.append(close)
    router = app.router
    router.add_get("/chains", _chains_get)
    router.add_post("/chains", _chains_create)
    router.add_post("/chains/register", _chains_register)
    router.add_post("/chains/select", _select_chain)
    router.add_get("/chains/{chain_id}", _chain_get)
    router.add_post("/chains/{chain_id}/start", _operation("start"))
    router.add_post("/chains/{chain_id}/stop", _operation("stop"))
    router.add_post("/chains/{chain_id}/endpoint", _chain_endpoint)
    router.add_get("/api/chains", _api_chains)
    router.add_get("/api/chains/{chain_id}", _api_chain_nodes)


assert set(STATE_KEYS) == set(CHAIN_STATES) and set(SUITE_KEYS) == set(SUITE_NAMES)
assert tuple(CONSENSUS_KEYS) == CONSENSUS_ENGINES
