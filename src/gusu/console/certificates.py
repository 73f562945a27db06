"""The dashboard's certificate expiry counter: days until the nearest certificate of the chain expires.

Two sources, both read through the node's documented API (as the organisations page reads them):
the organisations' CA certificates in the ``system`` contract (`AsyncGovernance`), and the
certificates the node itself depends on (its own, the CAs it trusts, its peers'), from the
``gusu_certificate_expiry_seconds`` lines of its ``GET /metrics`` page. ``GET /api/certificates``
answers the nearest one, with a status the page colours (valid, expiring within
`EXPIRING_DAYS`, expired) and how many are expiring or expired; for every role (``registry.read``).
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from gusu.console.accounts import requires
from gusu.console.alerts import CertificateExpiry
from gusu.console.chains import get_client, get_endpoint
from gusu.console.registry_pages import EXPIRING_DAYS, CertificateInfo, compute_certificate_info, get_node_certificates
from gusu.ledger.jsonview import JSONObject
from gusu.sdk import AsyncGovernance

SECONDS_PER_DAY: Final = 86_400


@dataclass(frozen=True, slots=True)
class CertificateSources:
    """What the counter is computed from: (organisation, its CA certificate) pairs, and the node's
    certificate expiries (None when its /metrics page could not be read)."""

    organisations: tuple[tuple[str, CertificateInfo], ...]
    node_certificates: tuple[CertificateExpiry, ...] | None


CertificateReader = Callable[[web.Request], Awaitable[CertificateSources]]
READER_KEY: Final[web.AppKey[CertificateReader]] = web.AppKey("certificate_reader")
"""How `/api/certificates` reads its sources; tests put a stand-in here."""


async def get_certificate_sources(request: web.Request) -> CertificateSources:
    """The organisations' CA certificates and the node's own, from the chain the request shows."""
    client = get_client(request)
    governance = AsyncGovernance(client)
    organisations = await governance.get_organizations()
    revoked = frozenset(revocation.certificate_sha256 for revocation in await governance.get_revocations())
    now = datetime.datetime.now(datetime.UTC)
    infos = tuple(
        (organisation.name, compute_certificate_info(organisation.ca_certificate, revoked, now))
        for organisation in organisations
    )
    node_certificates = await get_node_certificates(get_endpoint(request), client.settings.timeout_s)
    return CertificateSources(infos, node_certificates)


def compute_expiry_status(days_left: int, seconds_left: float) -> str:
    if seconds_left <= 0:
        return "expired"
    return "expiring" if days_left < EXPIRING_DAYS else "valid"


def compute_expiry_counter(
    organisations: Sequence[tuple[str, CertificateInfo]], node_certificates: Sequence[CertificateExpiry] | None
) -> JSONObject:
    """The counter's answer: the nearest expiry (revoked and absent certificates aside), and the counts.

    ``{"nearest": {"source", "name", "subject", "days_left", "status"} | null, "total", "expiring",
    "expired", "revoked", "node_metrics_readable"}``; `source` is ``organisation`` or the metric's
    kind (``node``, ``ca``, ``peer``).
    """
    candidates: list[tuple[float, JSONObject]] = []
    revoked = 0
    for name, info in organisations:
        if info.status == "revoked":
            revoked += 1
        if info.status in ("revoked", "none") or info.days_left is None:
            continue
        seconds_left = float(info.days_left * SECONDS_PER_DAY) if info.status != "expired" else -1.0
        candidates.append(
            (
                seconds_left,
                {
                    "source": "organisation",
                    "name": name,
                    "subject": info.subject,
                    "days_left": info.days_left,
                    "status": info.status,
                },
            )
        )
    for certificate in node_certificates or ():
        days_left = int(certificate.seconds_left // SECONDS_PER_DAY)
        candidates.append(
            (
                certificate.seconds_left,
                {
                    "source": certificate.kind,
                    "name": certificate.subject,
                    "subject": certificate.subject,
                    "days_left": days_left,
                    "status": compute_expiry_status(days_left, certificate.seconds_left),
                },
            )
        )
    candidates.sort(key=lambda candidate: candidate[0])
    statuses = [candidate[1]["status"] for candidate in candidates]
    return {
        "nearest": candidates[0][1] if candidates else None,
        "total": len(candidates),
        "expiring": statuses.count("expiring"),
        "expired": statuses.count("expired"),
        "revoked": revoked,
        "node_metrics_readable": node_certificates is not None,
    }


@requires("registry.read")
async def _api_certificates(request: web.Request) -> web.StreamResponse:
    sources = await request.app[READER_KEY](request)
    return web.json_response(compute_expiry_counter(sources.organisations, sources.node_certificates))


def add_certificate_routes(app: web.Application) -> None:
    """`GET /api/certificates`, reading the node (a test may replace ``app[READER_KEY]`` before startup)."""
    app[READER_KEY] = get_certificate_sources
    app.router.add_get("/api/certificates", _api_certificates)
