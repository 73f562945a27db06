"""The public voucher check (no login): /scf/verify?voucher=12&face=300000.00[&holder=tier2].

A third party who was shown a voucher enters its number and face value (and the holder, if told); the page
answers "no match", or "match" with the issuer, a public status, the maturity date and the voucher record's
state-proof check (gusu.apps.scf.public decides; docs/apps/scf.md, "The public check", says what is revealed
and why). Lookups are counted per client address, matching or not, and refused beyond
`ConsoleSettings.scf_verify_lookups_per_address_max` within `scf_verify_window_s`, so that the voucher number
and face value space cannot be walked cheaply through this page.
"""

from __future__ import annotations

import datetime
import html
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from gusu.apps.scf.contract import CONTRACT_NAME
from gusu.apps.scf.public import (
    HOLDER_TEXT_LENGTH_MAX,
    VOUCHER_TEXT_LENGTH_MAX,
    PublicAnswer,
    compute_enterprise_key,
    compute_public_answer,
    compute_voucher_key,
    is_claim_matching,
    parse_claim,
    parse_stored_enterprise_name,
    parse_stored_voucher,
)
from gusu.apps.scf.views import YUAN_TEXT_LENGTH_MAX, Voucher
from gusu.console.accounts import ACCESS_SETTINGS_KEY, _catalogue, _render, get_address
from gusu.console.app_evidence import ProofCheck, check_key_proof
from gusu.console.chains import get_client
from gusu.console.i18n import Catalogue
from gusu.errors import ClientError, GusuError

PAGE: Final = "scf_verify"
PATH: Final = "/scf/verify"
CHINA_TIME: Final = datetime.timezone(datetime.timedelta(hours=8))
PUBLIC_STATUS_KEYS: Final = {
    "pending_accept": "scf.public.status.pending_accept",
    "refused": "scf.public.status.refused",
    "accepted": "scf.public.status.accepted",
    "financed": "scf.public.status.financed",
    "settled": "scf.public.status.settled",
    "overdue": "scf.public.status.overdue",
}
"""The catalogue key of each of gusu.apps.scf.public.PUBLIC_STATUSES."""
_e = html.escape


@dataclass(frozen=True, slots=True)
class LookupLimits:
    lookups_per_address_max: int = 20
    """Lookups (matching or not) one client address may make within the window."""
    window_s: float = 600.0
    entries_max: int = 10_000
    """Most addresses remembered; the least recently seen are forgotten first."""


class LookupLimiter:
    """Counts lookups per client address in a bounded table of timestamps (a sliding window)."""

    def __init__(self, limits: LookupLimits) -> None:
        self.limits = limits
        self._lookups: OrderedDict[str, list[float]] = OrderedDict()

    def on_lookup(self, address: str, now_s: float) -> bool:
        """Count one lookup from `address`; whether it is allowed (a refused one is not counted)."""
        times = [moment for moment in self._lookups.get(address, []) if now_s - moment < self.limits.window_s]
        allowed = len(times) < self.limits.lookups_per_address_max
        if allowed:
            times.append(now_s)
        self._lookups[address] = times
        self._lookups.move_to_end(address)
        while len(self._lookups) > self.limits.entries_max:
            self._lookups.popitem(last=False)
        return allowed

    def get_entry_count(self) -> int:
        return len(self._lookups)


LIMITER_KEY: Final = web.AppKey("scf_verify_limiter", LookupLimiter)


def _date(time_ms: int) -> str:
    return datetime.datetime.fromtimestamp(time_ms // 1000, CHINA_TIME).strftime("%Y-%m-%d")


def compute_form_html(catalogue: Catalogue, voucher: str, face: str, holder: str) -> str:
    message = catalogue.get_message
    return (
        f"<h1>{_e(message('scf.public.title'))}</h1><p>{_e(message('scf.public.intro'))}</p>"
        f'<form id="scf-verify-form" method="get" action="{PATH}">'
        f'<label for="scf-verify-voucher">{_e(message("scf.public.voucher_label"))}</label> '
        f'<input id="scf-verify-voucher" name="voucher" inputmode="numeric" maxlength="{VOUCHER_TEXT_LENGTH_MAX}" '
        f'value="{_e(voucher)}" required> '
        f'<label for="scf-verify-face">{_e(message("scf.public.face_label"))}</label> '
        f'<input id="scf-verify-face" name="face" inputmode="decimal" maxlength="{YUAN_TEXT_LENGTH_MAX}" '
        f'placeholder="1234.56" value="{_e(face)}" required> '
        f'<label for="scf-verify-holder">{_e(message("scf.public.holder_label"))}</label> '
        f'<input id="scf-verify-holder" name="holder" maxlength="{HOLDER_TEXT_LENGTH_MAX}" value="{_e(holder)}"> '
        f'<button type="submit" id="scf-verify-lookup">{_e(message("scf.public.lookup"))}</button></form>'
        f'<p class="hint">{_e(message("scf.public.reveals"))}</p>'
    )


def _id(element_id: str) -> str:
    return f' id="{element_id}"' if element_id else ""


def compute_answer_html(catalogue: Catalogue, voucher_id: int, answer: PublicAnswer, check: ProofCheck) -> str:
    message = catalogue.get_message
    issuer = answer.issuer + (f" ({answer.issuer_name})" if answer.issuer_name else "")
    if check.problem is not None:
        proof_text = message("evidence.proof_invalid", reason=check.problem[:300])
        proof_class = "not-recorded"
    else:
        key = "scf.public.proof_certified" if check.certified else "scf.public.proof_consistent"
        proof_text = message(key, height=check.proof.height)
        proof_class = "recorded"
    rows = [
        (message("scf.voucher"), _e(str(voucher_id)), "scf-verify-voucher-id"),
        (message("scf.issuer"), _e(issuer), "scf-verify-issuer"),
        (message("scf.status"), _e(message(PUBLIC_STATUS_KEYS[answer.status])), "scf-verify-status"),
        (message("scf.maturity"), _e(_date(answer.maturity_ms)), "scf-verify-maturity"),
        (
            message("evidence.proof"),
            f'<span id="scf-verify-proof" class="{proof_class}" data-valid="{str(check.problem is None).lower()}">'
            f'{_e(proof_text)}</span><br><span class="mono">{_e(message("evidence.proof_block"))} '
            f"0x{check.proof.block_hash.hex()}</span>",
            "",
        ),
    ]
    fields = "".join(f"<dt>{_e(label)}</dt><dd{_id(element_id)}>{value}</dd>" for label, value, element_id in rows)
    return (
        f'<section id="scf-verify-result" data-match="true" data-status="{_e(answer.status)}">'
        f'<p class="recorded" role="status">{_e(message("scf.public.match"))}</p>'
        f'<dl class="fields">{fields}</dl></section>'
    )


def _no_match(catalogue: Catalogue) -> str:
    text = catalogue.get_message("scf.public.no_match")
    return (
        f'<section id="scf-verify-result" data-match="false">'
        f'<p class="not-recorded" role="status">{_e(text)}</p></section>'
    )


def _get_limiter(request: web.Request) -> LookupLimiter:
    limiter = request.app.get(LIMITER_KEY)
    assert limiter is not None, "add_scf_public_routes installs the limiter"
    return limiter


async def _verify_page(request: web.Request) -> web.StreamResponse:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    voucher_text = request.query.get("voucher", "")[:VOUCHER_TEXT_LENGTH_MAX]
    face_text = request.query.get("face", "")[:YUAN_TEXT_LENGTH_MAX]
    holder_text = request.query.get("holder", "")[:HOLDER_TEXT_LENGTH_MAX]
    content = compute_form_html(catalogue, voucher_text, face_text, holder_text)
    if not voucher_text and not face_text:
        return _render(request, PAGE, content)
    try:
        claim = parse_claim(voucher_text, face_text, holder_text)
    except ClientError as error:
        content += f'<p class="error" role="alert" id="scf-verify-error">{_e(str(error)[:300])}</p>'
        return _render(request, PAGE, content, 400)
    limiter = _get_limiter(request)
    if not limiter.on_lookup(get_address(request), time.monotonic()):
        minutes = max(1, round(limiter.limits.window_s / 60))
        text = message("scf.public.limited", count=limiter.limits.lookups_per_address_max, minutes=minutes)
        content += f'<p class="error" role="alert" id="scf-verify-limited">{_e(text)}</p>'
        return _render(request, PAGE, content, 429)
    client = get_client(request)
    try:
        check = await check_key_proof(client, CONTRACT_NAME, compute_voucher_key(claim.voucher_id))
        voucher: Voucher | None = None
        if check.proof.value is not None:
            voucher = parse_stored_voucher(check.proof.value)
        holder_name = ""
        if (
            voucher is not None
            and voucher.face_fen == claim.face_fen
            and claim.holder
            and claim.holder.lower() != voucher.holder.lower()
        ):
            # The holder's registered name is read only when the id did not match, and never shown.
            holder_check = await check_key_proof(client, CONTRACT_NAME, compute_enterprise_key(voucher.holder))
            holder_name = parse_stored_enterprise_name(holder_check.proof.value)
        if not is_claim_matching(claim, voucher, holder_name):
            return _render(request, PAGE, content + _no_match(catalogue))
        assert voucher is not None
        issuer_check = await check_key_proof(client, CONTRACT_NAME, compute_enterprise_key(voucher.issuer))
        answer = compute_public_answer(voucher, parse_stored_enterprise_name(issuer_check.proof.value))
    except GusuError as error:
        content += (
            f'<p class="error" role="alert" id="scf-verify-error">'
            f"{_e(message('scf.unreachable', reason=str(error)[:300]))}</p>"
        )
        return _render(request, PAGE, content, 502)
    return _render(request, PAGE, content + compute_answer_html(catalogue, claim.voucher_id, answer, check))


def add_scf_public_routes(app: web.Application) -> None:
    settings = app.get(ACCESS_SETTINGS_KEY)
    limits = (
        LookupLimits()
        if settings is None
        else LookupLimits(settings.scf_verify_lookups_per_address_max, settings.scf_verify_window_s)
    )
    app[LIMITER_KEY] = LookupLimiter(limits)
    app.router.add_get(PATH, _verify_page)
