"""The organisations, nodes and certificates page: the governance registry of the chain being shown.

Everything comes from the node's documented API: the ``system`` contract's
views through ``gusu_call`` (the SDK's `AsyncGovernance`: organisations,
nodes, revocations, proposals) and ``GET /metrics`` for the certificates the
node itself depends on (its TLS certificate, the organisation CAs and its
peers', with seconds to expiry). An organisation's CA certificate is shown
with its expiry and whether its SHA-256 is revoked; pending join requests are
the pending proposals of kind ``add_organization`` and ``add_node`` (what
``gusu node join`` proposes). Read-only, for every role (``registry.read``).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import html
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import web
from cryptography import x509

from gusu.console.accounts import _catalogue, _render, requires
from gusu.console.alerts import CertificateExpiry, compute_certificates
from gusu.console.chains import get_client, get_endpoint
from gusu.console.i18n import Catalogue
from gusu.errors import GusuError
from gusu.ledger.jsonview import bytes_to_hex
from gusu.sdk import AsyncGovernance
from gusu.sdk.governance import PROPOSALS_PAGE_MAX, NodeRecordView, OrganizationView, ProposalView, RevocationView

_e = html.escape

EXPIRING_DAYS: Final = 30
"""A certificate with fewer days left is flagged as expiring (as `gusu org status` warns from 30 days)."""
PROPOSAL_PAGES_MAX: Final = 16
"""Pages of proposals read for the join requests: at most 16 × 64 = 1,024 proposals per page view."""
JOIN_KINDS: Final = ("add_organization", "add_node")
METRICS_BYTES_MAX: Final = 1 << 20
CERTIFICATE_STATUS_KEYS: Final = {
    "valid": "registry.certificate.valid",
    "expiring": "registry.certificate.expiring",
    "expired": "registry.certificate.expired",
    "revoked": "registry.certificate.revoked",
    "none": "registry.certificate.none",
}
JOIN_KIND_KEYS: Final = {"add_organization": "registry.join.add_organization", "add_node": "registry.join.add_node"}


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    subject: str
    not_after: datetime.datetime | None
    days_left: int | None
    sha256: str
    status: str
    """valid, expiring, expired, revoked, or none (no certificate: a single-operator chain's implicit organisation)."""


def compute_certificate_info(der: bytes, revoked: frozenset[bytes], now: datetime.datetime) -> CertificateInfo:
    """What the page shows of an organisation's CA certificate (DER); unparsable counts as expired."""
    if not der:
        return CertificateInfo("", None, None, "", "none")
    digest = hashlib.sha256(der).digest()
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return CertificateInfo("?", None, None, bytes_to_hex(digest), "expired")
    not_after = certificate.not_valid_after_utc
    days_left = int((not_after - now).total_seconds() // 86400)
    if digest in revoked:
        status = "revoked"
    elif not certificate.not_valid_before_utc <= now <= not_after:
        status = "expired"
    elif days_left < EXPIRING_DAYS:
        status = "expiring"
    else:
        status = "valid"
    return CertificateInfo(certificate.subject.rfc4514_string(), not_after, days_left, bytes_to_hex(digest), status)


def is_join_request(proposal: ProposalView) -> bool:
    return proposal.status == "pending" and proposal.kind in JOIN_KINDS


def compute_join_subject(proposal: ProposalView) -> str:
    """Who wants in: the organisation's name, or the node's name, organisation and role."""
    args = proposal.args if isinstance(proposal.args, list) else []
    if proposal.kind == "add_organization" and args and isinstance(args[0], str):
        return args[0]
    if proposal.kind == "add_node" and len(args) >= 5:
        name, organisation, role = args[0], args[3], args[4]
        if isinstance(name, str) and isinstance(organisation, str) and isinstance(role, str):
            return f"{name} ({organisation}, {role})"
    return "?"


@dataclass(frozen=True, slots=True)
class Registry:
    organisations: list[OrganizationView]
    nodes: list[NodeRecordView]
    revocations: list[RevocationView]
    joins: list[ProposalView]
    height: int


async def get_registry(governance: AsyncGovernance) -> Registry:
    organisations = await governance.get_organizations()
    nodes = await governance.get_nodes()
    revocations = await governance.get_revocations()
    joins: list[ProposalView] = []
    start = 1
    for _ in range(PROPOSAL_PAGES_MAX):
        page = await governance.list_proposals(start, PROPOSALS_PAGE_MAX)
        if not page:
            break
        joins += [proposal for proposal in page if is_join_request(proposal)]
        start = page[-1].id + 1
    height = int(await governance.client.block_number())
    return Registry(organisations, nodes, revocations, joins, height)


async def get_node_certificates(endpoint: str, timeout_s: float) -> tuple[CertificateExpiry, ...] | None:
    """The node's certificate expiries from its /metrics page; None when it cannot be read."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            asyncio.timeout(timeout_s),
            session.get(f"{endpoint}/metrics") as response,
        ):
            if response.status != 200:
                return None
            body = await response.content.read(METRICS_BYTES_MAX)
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    return compute_certificates(body.decode("utf-8", errors="replace"))


def _status_html(catalogue: Catalogue, status: str) -> str:
    return (
        f'<span class="certificate-{_e(status)}" data-certificate="{_e(status)}">'
        f"{_e(catalogue.get_message(CERTIFICATE_STATUS_KEYS[status]))}</span>"
    )


def _table(table_id: str, headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p id="{table_id}-empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def compute_registry_html(
    catalogue: Catalogue,
    registry: Registry,
    certificates: tuple[CertificateExpiry, ...] | None,
    now: datetime.datetime,
) -> str:
    message = catalogue.get_message
    revoked = frozenset(revocation.certificate_sha256 for revocation in registry.revocations)
    organisation_rows = []
    for organisation in registry.organisations:
        info = compute_certificate_info(organisation.ca_certificate, revoked, now)
        expires = "—" if info.not_after is None else f"{info.not_after:%Y-%m-%d}"
        days = "—" if info.days_left is None else message("registry.days", days=info.days_left)
        organisation_rows.append(
            f'<tr data-organisation="{_e(organisation.name)}"><td>{_e(organisation.name)}</td>'
            f"<td>{_e(organisation.status)}</td><td>{organisation.weight}</td><td>{len(organisation.admins)}</td>"
            f"<td>{_e(info.subject or '—')}</td><td>{_e(expires)}</td><td>{_e(days)}</td>"
            f"<td>{_status_html(catalogue, info.status)}</td></tr>"
        )
    node_rows = [
        f'<tr data-node="{_e(bytes_to_hex(node.address))}"><td>{_e(node.name)}</td>'
        f'<td class="mono">{_e(bytes_to_hex(node.address))}</td><td>{_e(node.organization)}</td>'
        f"<td>{_e(node.role)}</td><td>{node.power}</td></tr>"
        for node in registry.nodes
    ]
    if certificates is None:
        certificate_section = f'<p id="node-certificates-unknown">{_e(message("registry.metrics_unreadable"))}</p>'
    else:
        certificate_rows = []
        for certificate in certificates:
            days_left = int(certificate.seconds_left // 86400)
            status = (
                "expired" if certificate.seconds_left <= 0 else "expiring" if days_left < EXPIRING_DAYS else "valid"
            )
            certificate_rows.append(
                f"<tr><td>{_e(certificate.kind)}</td><td>{_e(certificate.subject)}</td>"
                f"<td>{_e(message('registry.days', days=days_left))}</td>"
                f"<td>{_status_html(catalogue, status)}</td></tr>"
            )
        certificate_section = _table(
            "node-certificates",
            [
                message("registry.kind"),
                message("registry.subject"),
                message("registry.days_left"),
                message("registry.status"),
            ],
            certificate_rows,
            message("registry.none"),
        )
    revocation_rows = [
        f'<tr><td class="mono">{_e(bytes_to_hex(revocation.certificate_sha256))}</td><td>{_e(revocation.reason)}</td>'
        f"<td>{revocation.height}</td></tr>"
        for revocation in registry.revocations
    ]
    join_rows = []
    for proposal in registry.joins:
        votes = ", ".join(
            f"{organisation} {message('registry.vote.yes') if approve else message('registry.vote.no')}"
            for organisation, approve in proposal.votes
        )
        join_rows.append(
            f'<tr data-proposal="{proposal.id}"><td>{proposal.id}</td>'
            f"<td>{_e(message(JOIN_KIND_KEYS[proposal.kind]))}</td><td>{_e(compute_join_subject(proposal))}</td>"
            f"<td>{_e(proposal.organization)}</td><td>{_e(votes or '—')}</td><td>{proposal.expiry_height}</td>"
            # The governance page lists proposals from `start` up: this one comes first, at its vote form.
            f'<td><a class="join-vote" href="/governance?start={proposal.id}#vote-{proposal.id}">'
            f"{_e(message('registry.join.vote'))}</a></td></tr>"
        )
    return (
        f"<h1>{_e(message('registry.title'))}</h1>"
        f'<p class="hint">{_e(message("registry.height", height=registry.height))}</p>'
        f"<h2>{_e(message('registry.organisations'))}</h2>"
        + _table(
            "organisations",
            [
                message("registry.name"),
                message("registry.status"),
                message("registry.weight"),
                message("registry.admins"),
                message("registry.ca_subject"),
                message("registry.expires"),
                message("registry.days_left"),
                message("registry.certificate"),
            ],
            organisation_rows,
            message("registry.none"),
        )
        + f"<h2>{_e(message('registry.nodes'))}</h2>"
        + _table(
            "registry-nodes",
            [
                message("registry.name"),
                message("registry.address"),
                message("registry.organisation"),
                message("registry.role"),
                message("registry.power"),
            ],
            node_rows,
            message("registry.none"),
        )
        + f"<h2>{_e(message('registry.node_certificates'))}</h2>{certificate_section}"
        + f"<h2>{_e(message('registry.revocations'))}</h2>"
        + _table(
            "revocations",
            [message("registry.digest"), message("registry.reason"), message("registry.revoked_height")],
            revocation_rows,
            message("registry.none"),
        )
        + f"<h2>{_e(message('registry.joins'))}</h2>"
        + _table(
            "join-requests",
            [
                message("registry.proposal"),
                message("registry.kind"),
                message("registry.subject"),
                message("registry.proposer"),
                message("registry.votes"),
                message("registry.expiry_height"),
                message("registry.join.vote_header"),
            ],
            join_rows,
            message("registry.joins_none"),
        )
    )


@requires("registry.read")
async def _registry_get(request: web.Request) -> web.StreamResponse:
    catalogue = _catalogue(request)
    client = get_client(request)
    try:
        registry = await get_registry(AsyncGovernance(client))
    except GusuError as error:
        content = (
            f"<h1>{_e(catalogue.get_message('registry.title'))}</h1>"
            f'<p class="error" role="alert" id="registry-unreachable">'
            f"{_e(catalogue.get_message('registry.unreachable', reason=str(error)[:300]))}</p>"
        )
        return _render(request, "registry", content, 502)
    certificates = await get_node_certificates(get_endpoint(request), client.settings.timeout_s)
    now = datetime.datetime.now(datetime.UTC)
    return _render(request, "registry", compute_registry_html(catalogue, registry, certificates, now))


def _certificate_json(info: CertificateInfo) -> dict[str, object]:
    return {
        "subject": info.subject,
        "not_after": None if info.not_after is None else info.not_after.isoformat(),
        "days_left": info.days_left,
        "sha256": info.sha256,
        "status": info.status,
    }


@requires("registry.read")
async def _api_registry(request: web.Request) -> web.StreamResponse:
    client = get_client(request)
    registry = await get_registry(AsyncGovernance(client))
    certificates = await get_node_certificates(get_endpoint(request), client.settings.timeout_s)
    now = datetime.datetime.now(datetime.UTC)
    revoked = frozenset(revocation.certificate_sha256 for revocation in registry.revocations)
    return web.json_response(
        {
            "height": registry.height,
            "organisations": [
                {
                    "name": organisation.name,
                    "status": organisation.status,
                    "weight": organisation.weight,
                    "admins": [bytes_to_hex(admin) for admin in organisation.admins],
                    "ca_certificate": _certificate_json(
                        compute_certificate_info(organisation.ca_certificate, revoked, now)
                    ),
                }
                for organisation in registry.organisations
            ],
            "nodes": [
                {
                    "name": node.name,
                    "address": bytes_to_hex(node.address),
                    "organisation": node.organization,
                    "role": node.role,
                    "power": node.power,
                }
                for node in registry.nodes
            ],
            "node_certificates": None
            if certificates is None
            else [
                {"kind": item.kind, "subject": item.subject, "seconds_left": item.seconds_left} for item in certificates
            ],
            "revocations": [
                {
                    "sha256": bytes_to_hex(revocation.certificate_sha256),
                    "reason": revocation.reason,
                    "height": revocation.height,
                }
                for revocation in registry.revocations
            ],
            "join_requests": [
                {
                    "id": proposal.id,
                    "kind": proposal.kind,
                    "subject": compute_join_subject(proposal),
                    "proposer": proposal.organization,
                    "votes": [[organisation, approve] for organisation, approve in proposal.votes],
                    "expiry_height": proposal.expiry_height,
                }
                for proposal in registry.joins
            ],
        }
    )


def add_registry_routes(app: web.Application) -> None:
    app.router.add_get("/organisations", _registry_get)
    app.router.add_get("/api/registry", _api_registry)
