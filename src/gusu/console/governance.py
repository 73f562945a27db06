"""The governance page: proposals with their votes and outcomes, making a proposal and voting.

Reads are the `system` contract's views through the SDK's `AsyncGovernance`
(docs/governance.md); proposing and voting are signed transactions to
`system.propose` and `system.vote` with one of the user's keys (the chain
decides whether that key's account is an organisation admin and may vote).
A proposal's arguments are a JSON array as in docs/governance.md's table of
kinds ("0x.." strings are bytes); the contracts page links here with an
`approve_contract` proposal filled in.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gusu.codec import encode
from gusu.console.access import AccessInputError, is_allowed
from gusu.console.accounts import (
    ACCESS_SETTINGS_KEY,
    STORE_KEY,
    _catalogue,
    _csrf_input,
    _e,
    _error_html,
    _render,
    get_viewer,
    record,
    requires,
)
from gusu.console.contracts import _client, _display, _transaction_result, parse_arguments_json
from gusu.console.proposal_forms import (
    FIELD_PREFIX,
    LONG_FIELDS,
    PROPOSAL_FIELDS,
    compute_fields_html,
    compute_proposal_args,
)
from gusu.console.signing import Form, key_fields_html, parse_key_address, read_form, send_transaction, unlock_key
from gusu.errors import CodecError, RemoteError
from gusu.ledger.jsonview import bytes_to_hex
from gusu.sdk import AsyncGovernance
from gusu.sdk.governance import EXPIRY_BLOCKS_DEFAULT, KINDS, PROPOSALS_PAGE_MAX, SYSTEM_CONTRACT

PROPOSALS_SHOWN: Final = 20
"""Proposals on one page of the governance page."""
PROPOSAL_ID_MAX: Final = 2**62
EXPIRY_BLOCKS_MAX: Final = 10_000_000


def _parse_whole(text: str, maximum: int, key: str, english: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= maximum:
        raise AccessInputError(key, english, count=maximum)
    return int(text)


async def _governance_page(
    request: web.Request, form: Form | None = None, error: AccessInputError | None = None
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    client = _client(request)
    governance = AsyncGovernance(client)
    writer = is_allowed(viewer.user.role, "governance.write")
    result = ""
    start = 1
    try:
        if "start" in request.query:
            start = _parse_whole(request.query["start"], PROPOSAL_ID_MAX, "error.cursor_invalid", "start is a number")
        if "transaction" in request.query and form is None:
            result = await _transaction_result(request, request.query["transaction"], None)
    except AccessInputError as refused:
        error = error or refused
    try:
        proposals = await governance.list_proposals(start, min(PROPOSALS_SHOWN, PROPOSALS_PAGE_MAX))
        organizations = await governance.get_organizations()
    except RemoteError as missing:
        if missing.code not in ("contract_unknown", "method_unknown"):
            raise
        # A chain whose genesis runs no `system` contract has no governance to show.
        content = (
            f"<h1>{_e(message('governance.title'))}</h1>"
            f'<p class="notice" id="governance-unavailable">{_e(message("governance.unavailable"))}</p>'
        )
        return _render(request, "governance", content, 200)
    keys = await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id) if writer else []
    token = _csrf_input(viewer.session.csrf_token)
    rows = []
    for proposal in proposals:
        votes = ", ".join(
            f"{name}: {message('governance.approve' if approve else 'governance.reject')}"
            for name, approve in proposal.votes
        )
        status_key = _STATUS_KEYS.get(proposal.status)
        status = message(status_key) if status_key else proposal.status
        vote_form = ""
        if writer and proposal.status == "pending":
            vote_form = (
                f'<form class="stack vote" id="vote-{proposal.id}" action="/governance/{proposal.id}/vote" '
                f'method="post">{token}{key_fields_html(request, keys, f"vote-{proposal.id}")}'
                f'<button type="submit" name="approve" value="true"{"" if keys else " disabled"}>'
                f"{_e(message('governance.approve'))}</button>"
                f'<button type="submit" name="approve" value="false"{"" if keys else " disabled"}>'
                f"{_e(message('governance.reject'))}</button>"
                f'<button type="submit" formaction="/governance/{proposal.id}/cancel"{"" if keys else " disabled"}>'
                f"{_e(message('governance.withdraw'))}</button></form>"
            )
        rows.append(
            f'<tr data-proposal="{proposal.id}" data-status="{_e(proposal.status)}"><td>{proposal.id}</td>'
            f"<td><code>{_e(proposal.kind)}</code></td><td><code>{_e(_display(proposal.args))}</code></td>"
            f"<td>{_e(proposal.organization)}<br><code>{bytes_to_hex(proposal.proposer)}</code></td>"
            f"<td>{proposal.created_height} → {proposal.expiry_height}</td>"
            f'<td class="status">{_e(status)}'
            f"{'<br>' + _e(proposal.reason) if proposal.reason else ''}</td>"
            f"<td>{_e(votes) or '—'}</td><td>{vote_form}</td></tr>"
        )
    older = (
        f'<a id="proposals-next" href="/governance?start={proposals[-1].id + 1}">{_e(message("governance.next"))}</a>'
        if len(proposals) == PROPOSALS_SHOWN
        else ""
    )
    organisation_rows = "".join(
        f"<tr><td>{_e(organization.name)}</td><td>{organization.weight}</td>"
        f"<td>{_e(', '.join(bytes_to_hex(admin) for admin in organization.admins))}</td></tr>"
        for organization in organizations
    )
    values = form.fields if form is not None else dict(request.query)
    chosen = values.get("kind", "")
    propose_form = ""
    # Each kind's arguments as typed fields (docs/console.md, "Proposal forms"): a GET form picks the kind
    # (no script needed), the propose form then carries that kind's fields; the JSON box stays for experts.
    typed_fields = ""
    kind_picker = ""
    if writer:
        kind_options = "".join(
            f'<option value="{kind}"{" selected" if kind == chosen else ""}>{kind}</option>' for kind in KINDS
        )
        kind_picker = (
            f'<form class="inline" id="kind-form" action="/governance" method="get">'
            f'<label for="kind-pick">{_e(message("governance.kind"))}</label>'
            f'<select id="kind-pick" name="kind">{kind_options}</select>'
            f'<button type="submit" id="kind-show">{_e(message("governance.kind_show"))}</button></form>'
        )
        if chosen in PROPOSAL_FIELDS:
            typed_fields = (
                f'<input type="hidden" name="fields_kind" value="{_e(chosen)}">'
                + compute_fields_html(catalogue, chosen, values)
                + f'<p class="hint">{_e(message("governance.args_or_fields"))}</p>'
            )
        options = "".join(
            f'<option value="{kind}"{" selected" if kind == chosen else ""}>{kind}</option>' for kind in KINDS
        )
        propose_form = (
            f"<h2>{_e(message('governance.propose_title'))}</h2><p>{_e(message('governance.propose_intro'))}</p>"
            f"{kind_picker}"
            f'<form class="stack" id="propose-form" action="/governance/propose" method="post">{token}'
            f'<label for="propose-kind">{_e(message("governance.kind"))}</label>'
            f'<select id="propose-kind" name="kind">{options}</select>'
            f"{typed_fields}"
            f'<label for="propose-args">{_e(message("governance.arguments"))}</label>'
            f'<input id="propose-args" name="args" maxlength="{settings.arguments_text_length_max}" '
            f'value="{_e(values.get("args", ""))}">'
            f'<label for="propose-expiry">{_e(message("governance.expiry_blocks"))}</label>'
            f'<input id="propose-expiry" name="expiry_blocks" inputmode="numeric" '
            f'value="{_e(values.get("expiry_blocks", str(EXPIRY_BLOCKS_DEFAULT)))}">'
            f"{key_fields_html(request, keys, 'propose')}"
            f'<button type="submit"{"" if keys else " disabled"}>{_e(message("governance.propose_submit"))}</button>'
            "</form>"
        )
    content = (
        f"<h1>{_e(message('governance.title'))}</h1>{_error_html(catalogue, error)}{result}"
        f"<h2>{_e(message('governance.proposals'))}</h2>"
        f'<table id="proposals"><thead><tr><th>#</th><th>{_e(message("governance.kind"))}</th>'
        f"<th>{_e(message('governance.args_column'))}</th><th>{_e(message('governance.organisation'))}</th>"
        f"<th>{_e(message('governance.heights'))}</th><th>{_e(message('governance.status'))}</th>"
        f"<th>{_e(message('governance.votes'))}</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<nav class="pager">{older}</nav>{propose_form}'
        f"<h2>{_e(message('governance.organisations'))}</h2>"
        f'<table id="organisations"><thead><tr><th>{_e(message("users.organisation"))}</th>'
        f"<th>{_e(message('governance.weight'))}</th><th>{_e(message('governance.admins'))}</th></tr></thead>"
        f"<tbody>{organisation_rows}</tbody></table>"
    )
    return _render(request, "governance", content, 400 if error else 200)


_STATUS_KEYS: Final = {
    "pending": "governance.status_pending",
    "approved": "governance.status_approved",
    "rejected": "governance.status_rejected",
    "failed": "governance.status_failed",
    "cancelled": "governance.status_cancelled",
    "expired": "governance.status_expired",
}
"""The catalogue key of each proposal status."""


async def validate_organisation_key(request: web.Request, form: Form) -> None:
    """An organisation admin of the console signs governance only with an admin key of their own organisation.

    The chain checks that the key is some organisation's admin; this adds the console's binding of the user
    to one organisation (operators are bound to none and may use any of their keys).
    """
    viewer = get_viewer(request)
    assert viewer is not None
    if viewer.user.role != "org_admin":
        return
    address = parse_key_address(form.get("key"))
    organisations = await AsyncGovernance(_client(request)).get_organizations()
    own = next((item for item in organisations if item.name == viewer.user.organisation), None)
    if own is None or address not in {bytes_to_hex(admin) for admin in own.admins}:
        raise AccessInputError(
            "error.key_not_organisation",
            f"this key is not an admin key of {viewer.user.organisation}",
            organisation=viewer.user.organisation or "",
        )


@requires("governance.read")
async def _governance_get(request: web.Request) -> web.StreamResponse:
    return await _governance_page(request)


@requires("governance.write")
async def _governance_propose(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    form: Form | None = None
    try:
        long_fields = {FIELD_PREFIX + name: settings.arguments_text_length_max for name in LONG_FIELDS}
        form = await read_form(request, {"args": settings.arguments_text_length_max, "passphrase": 256, **long_fields})
        kind = form.get("kind")
        if kind not in KINDS:
            raise AccessInputError("error.kind_invalid", "choose a proposal kind from the list")
        if form.get("args").strip() or "fields_kind" not in form.fields:
            args = parse_arguments_json(form.get("args"), settings.arguments_text_length_max, "args")
        elif form.get("fields_kind") != kind:
            raise AccessInputError(
                "error.proposal_fields_other_kind",
                "the fields shown are another kind's: choose the kind above and show its form first",
            )
        else:
            args = compute_proposal_args(_catalogue(request), kind, form.fields)
        expiry_blocks = _parse_whole(
            form.get("expiry_blocks"), EXPIRY_BLOCKS_MAX, "error.expiry_invalid", "expiry is a number of blocks"
        )
        await validate_organisation_key(request, form)
        key = await unlock_key(request, viewer, form)
        height = int(await _client(request).block_number())
        try:
            encoded = encode(args)
        except CodecError:
            raise AccessInputError("error.arguments_json", "args cannot be encoded", name="args") from None
        sent = await send_transaction(request, key, SYSTEM_CONTRACT, "propose", [kind, encoded, height + expiry_blocks])
        del key
    except AccessInputError as error:
        await record(request, "governance.propose", form.get("kind")[:64] if form else None, "refused")
        return await _governance_page(request, form, error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "governance.propose", f"{kind} {sent.transaction_id}", outcome)
    return web.Response(status=303, headers={"Location": f"/governance?transaction={sent.transaction_id}"})


@requires("governance.write")
async def _governance_vote(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    form: Form | None = None
    proposal_text = request.match_info["proposal_id"][:24]
    try:
        proposal_id = _parse_whole(proposal_text, PROPOSAL_ID_MAX, "error.proposal_invalid", "a proposal id")
        form = await read_form(request, {"passphrase": 256})
        approve_text = form.get("approve")
        if approve_text not in ("true", "false"):
            raise AccessInputError("error.argument_bool", "approve must be true or false", name="approve")
        await validate_organisation_key(request, form)
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, SYSTEM_CONTRACT, "vote", [proposal_id, approve_text == "true"])
        del key
    except AccessInputError as error:
        await record(request, "governance.vote", proposal_text, "refused")
        return await _governance_page(request, form, error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "governance.vote", f"{proposal_id} {approve_text} {sent.transaction_id}", outcome)
    return web.Response(status=303, headers={"Location": f"/governance?transaction={sent.transaction_id}"})


@requires("governance.write")
async def _governance_cancel(request: web.Request) -> web.StreamResponse:
    """Withdraws a pending proposal (the chain lets only the proposing organisation's admins)."""
    viewer = get_viewer(request)
    assert viewer is not None
    form: Form | None = None
    proposal_text = request.match_info["proposal_id"][:24]
    try:
        proposal_id = _parse_whole(proposal_text, PROPOSAL_ID_MAX, "error.proposal_invalid", "a proposal id")
        form = await read_form(request, {"passphrase": 256})
        await validate_organisation_key(request, form)
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, SYSTEM_CONTRACT, "cancel", [proposal_id])
        del key
    except AccessInputError as error:
        await record(request, "governance.cancel", proposal_text, "refused")
        return await _governance_page(request, form, error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "governance.cancel", f"{proposal_id} {sent.transaction_id}", outcome)
    return web.Response(status=303, headers={"Location": f"/governance?transaction={sent.transaction_id}"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/governance", _governance_get)
    app.router.add_post("/governance/propose", _governance_propose)
    app.router.add_post("/governance/{proposal_id}/vote", _governance_vote)
    app.router.add_post("/governance/{proposal_id}/cancel", _governance_cancel)
