"""The contracts pages: the template library, deployment, a contract's call forms and its history.

Everything goes through the node's documented API: deployment is a transaction
to the native `contracts` deployer (docs/contracts.md), a contract's interface
and instance record are that contract's views, read-only entry points run as
`gusu_call` queries and methods as signed transactions. On a chain whose
governance must approve code first, the deploy form says so and links to the
governance page with the `approve_contract` proposal filled in.

A contract's event history is every event it emitted, whoever sent the transaction, from the node's
``gusu_getEvents`` (`AsyncClient.get_events`), paged as a Solidity contract's is (`get_history_page`: newest
first, 20 a page, a ``?before=HEIGHT-ORDER`` cursor, windows halved when the node refuses one); the
transactions sent through this console are listed below it, paged by ``?sent_before=``.

Call forms are generated from the interface: one field per parameter, parsed
by its declared type (`int`, `str`, `bytes`, `bool`, `Address`, `Hash`,
`T | None`; a `list[...]` as JSON) with a message naming the parameter.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from gusu.codec import Value, encode
from gusu.console.access import AccessInputError
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
from gusu.console.signing import (
    Form,
    SendRefusedError,
    key_fields_html,
    read_form,
    send_transaction,
    unlock_key,
)
from gusu.console.store import StoredKey
from gusu.devkit.templates import TEMPLATES, render_template
from gusu.errors import CodecError, ConsoleInputError, GusuError, RemoteError
from gusu.ledger.jsonview import bytes_to_hex, value_from_json, value_to_json
from gusu.ledger.types import EVENTS_PER_RECEIPT_MAX
from gusu.sdk import AsyncClient, ContractEventView
from gusu.sdk.contracts import DEPLOYER_CONTRACT, AsyncContracts, ContractInterface, MethodView

CONTRACT_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
METHOD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
PARAMETERS_MAX: Final = 32
"""Most parameters a generated form handles; a contract declaring more is called from the SDK."""
TEMPLATE_MESSAGES: Final = {
    "basic": "template.basic",
    "evidence": "template.evidence",
    "traceability": "template.traceability",
    "receivables": "template.receivables",
    "data_sharing": "template.data_sharing",
    "certificates": "template.certificates",
}
"""The catalogue key describing each devkit template (tests check it covers `TEMPLATES`)."""
_KIND_KEYS: Final = {"method": "contract.kind_method", "view": "contract.kind_view"}
_INT_PATTERN: Final = re.compile(r"-?[0-9]{1,20}")
_HEX_PATTERN: Final = re.compile(r"0[xX](?:[0-9a-fA-F]{2})*")
EVENTS_PAGE_SIZE: Final = 20
"""Events per page of a contract's event history (as a Solidity contract's)."""
EVENT_TEXT_LENGTH_MAX: Final = 4096
"""Characters of an event's value shown in the history; longer ones are cut with an ellipsis."""


# --- arguments -------------------------------------------------------------------------------------


def _hex(text: str, size: int | None, name: str, key: str) -> bytes:
    if _HEX_PATTERN.fullmatch(text) is None or (size is not None and len(text) != 2 + 2 * size):
        size_text = f" of {size} bytes" if size else ""
        raise AccessInputError(key, f"argument {name} must be 0x-hex{size_text}", name=name)
    return bytes.fromhex(text[2:])


def parse_argument(annotation: str, text: str, name: str, json_length_max: int) -> Value:
    """The value a form field gives the parameter `name: annotation`; AccessInputError naming it otherwise."""
    annotation = annotation.strip()
    if annotation.endswith("| None"):
        return None if text.strip() == "" else parse_argument(annotation[: -len("| None")], text, name, json_length_max)
    text = text.strip()
    if annotation == "int":
        if _INT_PATTERN.fullmatch(text) is None or not -(2**63) <= int(text) < 2**64:
            raise AccessInputError("error.argument_int", f"argument {name} must be a whole number", name=name)
        return int(text)
    if annotation == "str":
        return text
    if annotation == "bool":
        if text not in ("true", "false"):
            raise AccessInputError("error.argument_bool", f"argument {name} must be true or false", name=name)
        return text == "true"
    if annotation == "bytes":
        return _hex(text, None, name, "error.argument_bytes")
    if annotation == "Address":
        return _hex(text, 20, name, "error.argument_address")
    if annotation == "Hash":
        return _hex(text, 32, name, "error.argument_hash")
    return parse_arguments_json(f"[{text}]", json_length_max, name)[0]


def parse_arguments_json(text: str, length_max: int, name: str = "arguments") -> list[Value]:
    """A JSON array of values; "0x.." strings are bytes (as `gusu contract deploy --args`)."""
    if len(text) > length_max:
        raise AccessInputError("error.field_long", f"{name} is longer than {length_max} characters", count=length_max)
    try:
        document = json.loads(text) if text.strip() else []
    except ValueError:
        document = None
    if not isinstance(document, list):
        raise AccessInputError("error.arguments_json", f"{name} must be a JSON array such as [1000]", name=name)
    try:
        values = [_json_value(item) for item in document]
        encode(values)
    except (CodecError, ValueError, RecursionError):
        raise AccessInputError(
            "error.arguments_json", f"{name} holds a value the chain cannot encode", name=name
        ) from None
    return values


def _json_value(item: object) -> Value:
    if isinstance(item, str) and item.startswith(("0x", "0X")):
        if _HEX_PATTERN.fullmatch(item) is None:
            raise ValueError("odd or non-hex bytes")
        return bytes.fromhex(item[2:])
    if isinstance(item, list):
        return [_json_value(inner) for inner in item]
    return value_from_json(item)  # type: ignore[arg-type]


def compute_migration_signature(source: str) -> str | None:
    """``setup(initial_supply: int)`` for the module's @migration function, None without one or for bad source."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(decorator, ast.Name) and decorator.id == "migration" for decorator in node.decorator_list
        ):
            parameters = [
                f"{argument.arg}: {ast.unparse(argument.annotation)}" if argument.annotation else argument.arg
                for argument in node.args.args
            ]
            return f"{node.name}({', '.join(parameters)})"
    return None


def _parse_call_arguments(method: MethodView, values: dict[str, str], json_length_max: int) -> list[Value]:
    return [
        parse_argument(parameter.annotation, values.get(f"arg{index}", ""), parameter.name, json_length_max)
        for index, parameter in enumerate(method.parameters[:PARAMETERS_MAX])
    ]


def _display(value: Value) -> str:
    return json.dumps(value_to_json(value), ensure_ascii=False)


# --- rendering -------------------------------------------------------------------------------------


def _client(request: web.Request) -> AsyncClient:
    """The client of the chain the viewer chose (gusu.console.chains), else the console's own endpoint."""
    from gusu.console.chains import get_client

    return get_client(request)


def _allowed(request: web.Request, permission: str) -> bool:
    from gusu.console.access import is_allowed

    viewer = get_viewer(request)
    return viewer is not None and is_allowed(viewer.user.role, permission)


def _approval_notice(request: web.Request, name: str, code_hash: str) -> str:
    """Says the code must be approved first, with a link to the governance page's proposal form filled in."""
    message = _catalogue(request).get_message
    proposal = urlencode({"kind": "approve_contract", "args": json.dumps([code_hash])})
    return (
        f'<div class="notice" id="approval-needed" role="status"><p>'
        f"{_e(message('contracts.approval_needed', name=name, code_hash=code_hash))}</p>"
        f'<p><a id="approval-link" href="/governance?{_e(proposal)}">{_e(message("contracts.approval_link"))}</a>'
        "</p></div>"
    )


def _template_options(request: web.Request, chosen: str) -> str:
    message = _catalogue(request).get_message
    upload_selected = " selected" if chosen == "" else ""
    options = "".join(
        f'<option value="{kind}"{" selected" if kind == chosen else ""}>{kind}</option>' for kind in TEMPLATES
    )
    return f'<option value=""{upload_selected}>{_e(message("contracts.upload_option"))}</option>{options}'


async def _contracts_page(
    request: web.Request,
    form: Form | None = None,
    error: AccessInputError | None = None,
    approval: tuple[str, str] | None = None,
) -> web.Response:
    """The library and deploy form; `approval` is (name, code hash) when the chain must approve the code first."""
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    store = request.app[STORE_KEY]
    settings = request.app[ACCESS_SETTINGS_KEY]
    deployer = AsyncContracts(_client(request))
    required = await deployer.is_approval_required()
    rows = "".join(
        f'<tr data-template="{kind}"><td><code>{kind}</code></td><td>{_e(message(TEMPLATE_MESSAGES[kind]))}</td>'
        f"<td><code>{_e(compute_migration_signature(render_template(kind, 'example').contract_source) or '—')}"
        "</code></td></tr>"
        for kind in TEMPLATES
    )
    options = _template_options(request, form.get("template") if form else "basic")
    notice = "" if approval is None else _approval_notice(request, *approval)
    deploy_form = ""
    if _allowed(request, "contracts.write"):
        keys = await store.list_signing_keys(viewer.user.user_id)
        deploy_form = (
            f"<h2>{_e(message('contracts.deploy'))}</h2>"
            f"<p>{_e(message('contracts.approval_on' if required else 'contracts.approval_off'))}</p>"
            f'<form class="stack" id="deploy-form" action="/contracts/deploy" method="post" '
            f'enctype="multipart/form-data">{_csrf_input(viewer.session.csrf_token)}'
            f'<label for="deploy-name">{_e(message("contracts.name"))}</label>'
            f'<input id="deploy-name" name="name" maxlength="64" required pattern="[a-z][a-z0-9_]*" '
            f'value="{_e(form.get("name") if form else "")}">'
            f'<label for="deploy-template">{_e(message("contracts.template"))}</label>'
            f'<select id="deploy-template" name="template">{options}</select>'
            f'<label for="deploy-source">{_e(message("contracts.source"))}</label>'
            '<input id="deploy-source" name="source" type="file" accept=".py,text/x-python">'
            f'<label for="deploy-args">{_e(message("contracts.arguments"))}</label>'
            f'<input id="deploy-args" name="args" maxlength="{settings.arguments_text_length_max}" '
            'placeholder="[1000]" '
            f'value="{_e(form.get("args") if form else "")}">'
            f"{key_fields_html(request, keys, 'deploy')}"
            f'<button type="submit"{" disabled" if not keys else ""}>{_e(message("contracts.deploy_submit"))}</button>'
            "</form>"
        )
    deployed = await store.list_deployed_contracts(settings.contracts_listed_max)
    deployed_html = "".join(f'<li><a href="/contracts/{_e(name)}">{_e(name)}</a></li>' for name in deployed)
    content = (
        f"<h1>{_e(message('contracts.title'))}</h1>{notice}{_error_html(catalogue, error)}"
        f'<form class="inline" id="open-contract-form" action="/contracts/open" method="get">'
        f'<label for="open-name">{_e(message("contracts.open"))}</label>'
        '<input id="open-name" name="name" maxlength="64" required>'
        f'<button type="submit">{_e(message("contracts.open_submit"))}</button></form>'
        f'<p><a id="evm-contracts-link" href="/contracts/evm">{_e(message("evm.link"))}</a></p>'
        f"<h2>{_e(message('contracts.deployed'))}</h2>"
        + (f'<ul id="deployed-contracts">{deployed_html}</ul>' if deployed else f"<p>{_e(message('common.none'))}</p>")
        + f"<h2>{_e(message('contracts.templates'))}</h2>"
        f'<table id="templates"><thead><tr><th>{_e(message("contracts.template"))}</th>'
        f"<th>{_e(message('contracts.description'))}</th><th>{_e(message('contracts.migration'))}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{deploy_form}"
    )
    status = 400 if error else 200
    return _render(request, "contracts", content, status)


@requires("contracts.read")
async def _contracts_get(request: web.Request) -> web.StreamResponse:
    return await _contracts_page(request)


@requires("contracts.read")
async def _contracts_open(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "").strip()
    if CONTRACT_NAME.fullmatch(name) is None:
        error = AccessInputError("error.contract_name", "a contract name is lower-case letters, digits and _")
        return await _contracts_page(request, error=error)
    return web.Response(status=303, headers={"Location": f"/contracts/{quote(name)}"})


def _deploy_source(form: Form, name: str) -> str:
    template = form.get("template")
    upload = form.files.get("source")
    if upload is not None:
        try:
            source = upload.decode("utf-8")
        except UnicodeDecodeError:
            raise AccessInputError("error.source_invalid", "the contract source must be UTF-8 Python text") from None
        if not source.strip():
            raise AccessInputError("error.source_invalid", "the contract source must be UTF-8 Python text")
        return source
    if template not in TEMPLATES:
        raise AccessInputError("error.source_missing", "choose a template or upload a Python source file")
    return render_template(template, name).contract_source


@requires("contracts.write")
async def _contracts_deploy(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    form: Form | None = None
    try:
        form = await read_form(
            request,
            {"args": settings.arguments_text_length_max, "passphrase": 256},
            settings.contract_source_bytes_max,
        )
        name = form.get("name").strip()
        if CONTRACT_NAME.fullmatch(name) is None:
            raise AccessInputError("error.contract_name", "a contract name is lower-case letters, digits and _")
        source = _deploy_source(form, name)
        args = parse_arguments_json(form.get("args"), settings.arguments_text_length_max, "args")
        deployer = AsyncContracts(_client(request))
        if await deployer.get_instance(name) is not None:
            raise AccessInputError("error.contract_exists", f"a contract named {name} is deployed already", name=name)
        code_hash = await deployer.compute_code_hash(source)
        if await deployer.is_approval_required() and not await deployer.is_code_approved(code_hash):
            await record(request, "contract.deploy", name, "needs_approval")
            return await _contracts_page(request, form, approval=(name, bytes_to_hex(code_hash)))
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, DEPLOYER_CONTRACT, "deploy", [name, source, encode(args)])
        del key
    except SendRefusedError as error:
        await record(request, "contract.deploy", form.get("name")[:64] if form else None, "refused")
        return await _contracts_page(request, form, error=error)
    except AccessInputError as error:
        await record(request, "contract.deploy", form.get("name")[:64] if form else None, "refused")
        return await _contracts_page(request, form, error=error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.deploy", f"{name} {sent.transaction_id}", outcome)
    if not sent.receipt.is_success:
        # Nothing was deployed (a name the chain reserves, a failing migration...): say why on the form.
        failed = AccessInputError(
            "error.transaction_failed",
            f"transaction {sent.transaction_id} failed",
            transaction_id=sent.transaction_id,
            reason=f"{sent.receipt.error_code}: {sent.receipt.error_message}",
        )
        return await _contracts_page(request, form, error=failed)
    return web.Response(status=303, headers={"Location": f"/contracts/{name}?transaction={sent.transaction_id}"})


# --- one contract -----------------------------------------------------------------------------------


def _parse_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if CONTRACT_NAME.fullmatch(name) is None:
        raise AccessInputError("error.contract_name", "a contract name is lower-case letters, digits and _")
    return name


def _method_form(
    request: web.Request, name: str, method: MethodView, keys: Sequence[StoredKey], values: dict[str, str]
) -> str:
    message = _catalogue(request).get_message
    viewer = get_viewer(request)
    assert viewer is not None
    fields = []
    for index, parameter in enumerate(method.parameters[:PARAMETERS_MAX]):
        field_id = f"{method.name}-arg{index}"
        label = f"{parameter.name}: {parameter.annotation}"
        value = values.get(f"arg{index}", "") if values.get("method") == method.name else ""
        if parameter.annotation == "bool":
            options = "".join(
                f'<option value="{choice}"{" selected" if value == choice else ""}>{choice}</option>'
                for choice in ("true", "false")
            )
            control = f'<select id="{_e(field_id)}" name="arg{index}">{options}</select>'
        else:
            control = f'<input id="{_e(field_id)}" name="arg{index}" maxlength="4096" value="{_e(value)}">'
        fields.append(f'<label for="{_e(field_id)}"><code>{_e(label)}</code></label>{control}')
    kind = _e(message(_KIND_KEYS.get(method.kind, "contract.kind_method")))
    heading = f'<h3><code>{_e(method.get_signature())}</code> <span class="kind">{kind}</span></h3>'
    if method.is_view:
        return (
            f'<form class="stack method" id="view-{_e(method.name)}" action="/contracts/{_e(name)}" method="get">'
            f'{heading}<input type="hidden" name="method" value="{_e(method.name)}">{"".join(fields)}'
            f'<button type="submit">{_e(message("contract.query"))}</button></form>'
        )
    return (
        f'<form class="stack method" id="call-{_e(method.name)}" action="/contracts/{_e(name)}/call" method="post">'
        f"{heading}{_csrf_input(viewer.session.csrf_token)}"
        f'<input type="hidden" name="method" value="{_e(method.name)}">'
        f"{''.join(fields)}{key_fields_html(request, keys, 'call-' + method.name)}"
        f'<button type="submit"{"" if keys else " disabled"}>{_e(message("contract.send"))}</button>'
        "</form>"
    )


def _events_html(request: web.Request, events: list[dict[str, object]]) -> str:
    message = _catalogue(request).get_message
    if not events:
        return f"<p>{_e(message('common.none'))}</p>"
    rows = "".join(
        f"<tr><td>{_e(str(event.get('contract', '')))}</td><td>{_e(str(event.get('name', '')))}</td>"
        f"<td><code>{_e(json.dumps(event.get('fields') or event.get('data'), ensure_ascii=False))}</code></td></tr>"
        for event in events
    )
    return (
        f'<table class="events"><thead><tr><th>{_e(message("event.contract"))}</th><th>{_e(message("event.name"))}</th>'
        f"<th>{_e(message('event.data'))}</th></tr></thead><tbody>{rows}</tbody></table>"
    )


async def _transaction_result(request: web.Request, transaction_text: str, interface: ContractInterface | None) -> str:
    from gusu.console.chain import parse_hash
    from gusu.console.signing import compute_events_json

    message = _catalogue(request).get_message
    try:
        transaction_id = parse_hash(transaction_text)
        view = await _client(request).get_receipt(transaction_id)
    except (ConsoleInputError, RemoteError) as error:
        if isinstance(error, RemoteError) and error.code != "not_found":
            raise
        raise AccessInputError("error.transaction_unknown", "no committed transaction has that id") from None
    receipt = view.receipt
    identifier = bytes_to_hex(transaction_id)
    status_key = "receipt.status.success" if receipt.is_success else "receipt.status.failed"
    detail = (
        f'<dt>{_e(message("receipt.return_value"))}</dt><dd id="result-value"><code>'
        f"{_e(_display(_decoded(receipt.return_value)))}</code></dd>"
        if receipt.is_success
        else f'<dt>{_e(message("receipt.error"))}</dt><dd id="result-error">'
        f"{_e(receipt.error_code)}: {_e(receipt.error_message)}</dd>"
    )
    return (
        f'<section class="result" id="transaction-result" data-success="{str(receipt.is_success).lower()}">'
        f'<h2>{_e(message("contract.result"))}</h2><dl class="fields">'
        f'<dt>{_e(message("tx.id"))}</dt><dd><a id="result-transaction" href="/transactions/{identifier}">'
        f"{identifier}</a></dd>"
        f'<dt>{_e(message("tx.block"))}</dt><dd><a href="/blocks/{view.height}">{view.height}</a></dd>'
        f'<dt>{_e(message("receipt.status"))}</dt><dd id="result-status">{_e(message(status_key))}</dd>{detail}'
        f"</dl><h3>{_e(message('receipt.events'))}</h3>"
        f"{_events_html(request, compute_events_json(receipt, interface))}</section>"
    )


def _decoded(data: bytes) -> Value:
    from gusu.codec import decode

    try:
        return decode(data)
    except CodecError:
        return data


async def _view_result(request: web.Request, name: str, interface: ContractInterface, values: dict[str, str]) -> str:
    message = _catalogue(request).get_message
    settings = request.app[ACCESS_SETTINGS_KEY]
    method = interface.get_method(values.get("method", ""))
    if method is None or not method.is_view:
        raise AccessInputError("error.method_unknown", "the contract has no such read-only entry point")
    args = _parse_call_arguments(method, values, settings.arguments_text_length_max)
    try:
        value = await _client(request).call(name, method.name, args)
    except RemoteError as error:
        if error.code in ("not_found",):
            raise
        return (
            f'<section class="result" id="query-result" data-success="false"><h2>{_e(message("contract.query_result"))}'
            f'</h2><p class="error" role="alert" id="query-error">{_e(error.code)}: {_e(str(error))}</p></section>'
        )
    return (
        f'<section class="result" id="query-result" data-success="true"><h2>{_e(message("contract.query_result"))}</h2>'
        f"<p><code>{_e(method.get_signature())}</code> → "
        f'<code id="query-value">{_e(_display(value))}</code></p></section>'
    )


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One entry of a Python contract's event history, placed as the history pager orders entries."""

    event: ContractEventView

    @property
    def block_height(self) -> int:
        return int(self.event.height)

    @property
    def log_index(self) -> int:
        """The event's order within its block: by transaction, then by its place in the receipt."""
        return self.event.index * EVENTS_PER_RECEIPT_MAX + self.event.event_index


def compute_event_fields(event: ContractEventView, interface: ContractInterface | None) -> str:
    """The event's value as JSON text, its fields named when the interface declares it (as receipts show)."""
    schema = None if interface is None else interface.get_event(event.name)
    value: object = value_to_json(event.data)
    if schema is not None and isinstance(event.data, list) and len(event.data) == len(schema.fields):
        value = {field: value_to_json(item) for field, item in zip(schema.fields, event.data, strict=True)}
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= EVENT_TEXT_LENGTH_MAX else text[:EVENT_TEXT_LENGTH_MAX] + "…"


async def _chain_events_html(
    request: web.Request, name: str, interface: ContractInterface | None, deployed_height: int
) -> str:
    """Every event the contract emitted, from the node's gusu_getEvents, a page at a time (``?before=``),
    newest first, whoever sent the transaction; paged as a Solidity contract's history is."""
    from gusu.console.contracts_evm import (
        HISTORY_SCAN_BLOCKS_MAX,
        HISTORY_WINDOW_BLOCKS,
        get_history_page,
        parse_history_cursor,
    )

    message = _catalogue(request).get_message
    before = parse_history_cursor(request.query.get("before"))
    client = _client(request)
    heading = f'<h2 id="events">{_e(message("events.history"))}</h2><p>{_e(message("events.python_note"))}</p>'

    async def query(from_height: int, to_height: int) -> list[HistoryEvent]:
        found = await client.get_events(name, from_height, to_height)
        return [HistoryEvent(event) for event in found.events]

    try:
        tip = int(await client.block_number())
        page = await get_history_page(
            query,
            tip,
            min(deployed_height, tip),
            before,
            EVENTS_PAGE_SIZE,
            HISTORY_WINDOW_BLOCKS,
            HISTORY_SCAN_BLOCKS_MAX,
        )
    except (GusuError, aiohttp.ClientError, OSError, TimeoutError) as error:
        reason = str(error)[:300]
        return (
            f'{heading}<p class="error" id="events-error" role="alert">'
            f"{_e(message('events.unavailable', reason=reason))}</p>"
        )
    rows = []
    for entry in page.logs:
        event = entry.event
        transaction = bytes_to_hex(event.transaction_id)
        rows.append(
            f'<tr class="chain-event" data-block="{event.height}" data-index="{event.index}" '
            f'data-event-index="{event.event_index}" data-transaction="{transaction}">'
            f'<td><a href="/blocks/{event.height}">{event.height}</a></td>'
            f'<td><a class="event-transaction" href="/transactions/{transaction}"><code>{transaction[:18]}…</code>'
            f'</a></td><td class="event-name">{_e(event.name)}</td>'
            f'<td><code class="event-fields">{_e(compute_event_fields(event, interface))}</code></td></tr>'
        )
    searched = message("events.searched", low=page.searched_from_height, high=page.searched_to_height)
    older = ""
    if page.next_before is not None:
        position = page.next_before
        cursor = urlencode({"before": f"{position.block_height}-{position.log_index}"})
        older = (
            f'<p><a id="events-older" href="/contracts/{_e(name)}?{_e(cursor)}#events">'
            f"{_e(message('events.older'))}</a></p>"
        )
    table = (
        f'<table id="event-history"><thead><tr><th>{_e(message("tx.block"))}</th><th>{_e(message("tx.id"))}</th>'
        f"<th>{_e(message('event.name'))}</th><th>{_e(message('event.data'))}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else f'<p id="event-history-empty">{_e(message("events.none_found"))}</p>'
    )
    return f'{heading}{table}<p class="note" id="events-searched">{_e(searched)}</p>{older}'


async def _contract_page(
    request: web.Request,
    name: str,
    values: dict[str, str] | None = None,
    error: AccessInputError | None = None,
    approval: tuple[str, str] | None = None,
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    deployer = AsyncContracts(_client(request))
    instance = await deployer.get_instance(name)
    if instance is None:
        content = (
            f"<h1>{_e(message('contract.title', name=name))}</h1>"
            f'<p class="error" id="contract-missing" role="alert">{_e(message("contract.missing", name=name))}</p>'
            f'<p><a href="/contracts">{_e(message("contracts.title"))}</a></p>'
        )
        return _render(request, "contract", content, 404)
    interface = await deployer.get_interface(name)
    assert interface is not None
    query = values if values is not None else dict(request.query)
    result = ""
    if error is None:
        try:
            if "transaction" in request.query and values is None:
                result = await _transaction_result(request, request.query["transaction"], interface)
            elif "method" in query and values is None:
                result = await _view_result(request, name, interface, query)
        except AccessInputError as refused:
            error = refused
    keys = (
        await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
        if _allowed(request, "contracts.write")
        else []
    )
    forms = []
    for method in interface.get_callable():
        if method.is_view or _allowed(request, "contracts.write"):
            forms.append(_method_form(request, name, method, keys, query))
    settings = request.app[ACCESS_SETTINGS_KEY]
    # A page of the transactions sent from here at a time: ?sent_before=<entry> shows the older ones
    # (?before= pages the event history from the node, as on a Solidity contract's page).
    before_text = request.query.get("sent_before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) <= 18 else None
    history = await request.app[STORE_KEY].list_contract_transactions_before(
        name, before, settings.contract_history_max + 1
    )
    older = ""
    if len(history) > settings.contract_history_max:
        history = history[: settings.contract_history_max]
        older_query = urlencode({"sent_before": history[-1].entry_id})
        older = (
            f'<p><a id="history-older" href="/contracts/{_e(name)}?{_e(older_query)}">'
            f"{_e(message('events.older'))}</a></p>"
        )
    history_rows = "".join(
        f"<tr><td>{_e(time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(entry.time_ms / 1000)))}</td>"
        f"<td>{_e(entry.actor)}</td><td>{_e(entry.method)}</td>"
        f'<td><a href="/transactions/{_e(entry.transaction_id)}">{_e(entry.transaction_id[:18])}…</a></td>'
        f"<td>{_e(message('receipt.status.success' if entry.success else 'receipt.status.failed'))}</td>"
        f"<td>{_events_html(request, json.loads(entry.events))}</td></tr>"
        for entry in history
    )
    events = "".join(
        f"<li><code>{_e(event.name)}({_e(', '.join(event.fields))})</code></li>" for event in interface.events
    )
    try:
        chain_history = await _chain_events_html(request, name, interface, int(instance.deployed_height))
    except AccessInputError as refused:
        error = error or refused
        chain_history = ""
    owner = bytes_to_hex(instance.owner)
    upgrade_form = ""
    if _allowed(request, "contracts.write"):
        token = _csrf_input(viewer.session.csrf_token)
        upgrade_form = (
            f"<h2>{_e(message('contract.upgrade_title'))}</h2><p>{_e(message('contract.upgrade_intro'))}</p>"
            f'<form class="stack" id="upgrade-form" action="/contracts/{_e(name)}/upgrade" method="post" '
            f'enctype="multipart/form-data">{token}'
            f'<label for="upgrade-template">{_e(message("contracts.template"))}</label>'
            f'<select id="upgrade-template" name="template">{_template_options(request, "")}</select>'
            f'<label for="upgrade-source">{_e(message("contracts.source"))}</label>'
            '<input id="upgrade-source" name="source" type="file" accept=".py,text/x-python">'
            f'<label for="upgrade-args">{_e(message("contracts.arguments"))}</label>'
            f'<input id="upgrade-args" name="args" maxlength="{settings.arguments_text_length_max}" placeholder="[]">'
            f"{key_fields_html(request, keys, 'upgrade')}"
            f'<button type="submit"{" disabled" if not keys else ""}>{_e(message("contract.upgrade_submit"))}'
            "</button></form>"
        )
    notice = "" if approval is None else _approval_notice(request, *approval)
    content = (
        f"<h1>{_e(message('contract.title', name=name))}</h1>{notice}{_error_html(catalogue, error)}{result}"
        f'<dl class="fields"><dt>{_e(message("contract.owner"))}</dt>'
        f'<dd><a href="/accounts/{owner}">{owner}</a></dd>'
        f'<dt>{_e(message("contract.version"))}</dt><dd id="contract-version">{instance.version}</dd>'
        f"<dt>{_e(message('contract.code_hash'))}</dt><dd><code>{bytes_to_hex(instance.code_hash)}</code></dd>"
        f'<dt>{_e(message("contract.deployed_height"))}</dt><dd><a href="/blocks/{instance.deployed_height}">'
        f"{instance.deployed_height}</a></dd>"
        f"<dt>{_e(message('contract.code_bytes'))}</dt><dd>{instance.code_bytes}</dd></dl>"
        f"<h2>{_e(message('contract.methods'))}</h2>{''.join(forms)}"
        f"<h2>{_e(message('contract.declared_events'))}</h2><ul>{events}</ul>{chain_history}"
        f"<h2>{_e(message('contract.history'))}</h2><p>{_e(message('contract.history_note'))}</p>"
        f'<table id="contract-history"><thead><tr><th>{_e(message("audit.time"))}</th>'
        f"<th>{_e(message('audit.actor'))}</th><th>{_e(message('tx.method'))}</th><th>{_e(message('tx.id'))}</th>"
        f"<th>{_e(message('receipt.status'))}</th><th>{_e(message('receipt.events'))}</th></tr></thead>"
        f"<tbody>{history_rows}</tbody></table>{older}{upgrade_form}"
    )
    return _render(request, "contract", content, 400 if error else 200)


@requires("contracts.read")
async def _contract_get(request: web.Request) -> web.StreamResponse:
    return await _contract_page(request, _parse_name(request))


@requires("contracts.write")
async def _contract_call(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    name = _parse_name(request)
    form: Form | None = None
    try:
        form = await read_form(
            request,
            {f"arg{index}": settings.arguments_text_length_max for index in range(PARAMETERS_MAX)}
            | {"passphrase": 256},
        )
        interface = await AsyncContracts(_client(request)).get_interface(name)
        if interface is None:
            raise web.HTTPNotFound()
        method = interface.get_method(form.get("method"))
        if method is None or method.kind != "method":
            raise AccessInputError("error.method_unknown", "the contract has no such entry point")
        args = _parse_call_arguments(method, form.fields, settings.arguments_text_length_max)
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, name, method.name, args, interface)
        del key
    except AccessInputError as error:
        await record(request, "contract.call", f"{name}.{form.get('method')[:64] if form else ''}", "refused")
        return await _contract_page(request, name, dict(form.fields) if form else {}, error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"{name}.{method.name} {sent.transaction_id}", outcome)
    return web.Response(status=303, headers={"Location": f"/contracts/{name}?transaction={sent.transaction_id}"})


@requires("contracts.write")
async def _contract_upgrade(request: web.Request) -> web.StreamResponse:
    """Points `name` at new code (the chain lets only its owner): the same checks and approval as deploying."""
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    name = _parse_name(request)
    form: Form | None = None
    try:
        form = await read_form(
            request,
            {"args": settings.arguments_text_length_max, "passphrase": 256},
            settings.contract_source_bytes_max,
        )
        deployer = AsyncContracts(_client(request))
        instance = await deployer.get_instance(name)
        if instance is None:
            raise web.HTTPNotFound()
        source = _deploy_source(form, name)
        args = parse_arguments_json(form.get("args"), settings.arguments_text_length_max, "args")
        code_hash = await deployer.compute_code_hash(source)
        if code_hash == instance.code_hash:
            raise AccessInputError("error.same_code", "the contract runs this code already")
        if await deployer.is_approval_required() and not await deployer.is_code_approved(code_hash):
            await record(request, "contract.upgrade", name, "needs_approval")
            return await _contract_page(request, name, {}, approval=(name, bytes_to_hex(code_hash)))
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, DEPLOYER_CONTRACT, "upgrade", [name, source, encode(args)])
        del key
    except AccessInputError as error:
        await record(request, "contract.upgrade", name, "refused")
        return await _contract_page(request, name, {}, error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.upgrade", f"{name} {sent.transaction_id}", outcome)
    return web.Response(status=303, headers={"Location": f"/contracts/{name}?transaction={sent.transaction_id}"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/contracts", _contracts_get)
    app.router.add_get("/contracts/open", _contracts_open)
    app.router.add_post("/contracts/deploy", _contracts_deploy)
    app.router.add_get("/contracts/{name}", _contract_get)
    app.router.add_post("/contracts/{name}/call", _contract_call)
    app.router.add_post("/contracts/{name}/upgrade", _contract_upgrade)
