"""The Solidity (EVM) contracts pages: upload a compiled artifact, deploy it, call it, see its events.

The console compiles nothing: it takes a compiler's output (a Hardhat
artifact, or solc's standard-JSON output for one contract) and reads it with
`gusu.sdk.evm.parse_artifact`; docs/console.md says why. Deployment and
calls are ordinary Gusu transactions to the native `evm` contract, signed
with the user's keystore key (gusu.console.signing); views run through
``evm.call_static`` (`AsyncEvmContracts.call`). On a governed chain the code
hash (keccak-256 of the runtime code, `gusu evm hash`) must be approved first:
the deploy refusal links to the governance page with the proposal filled in.

The chain keeps code, not ABIs, so the console keeps the artifact of every
contract it deployed or a user registered by address (gusu.console.evm_store).
Forms are generated from the ABI, one field per input, parsed by its type
(`parse_form_argument`) with a message naming the input; results and logs are
decoded with the same ABI. A contract's event history is every log it emitted,
whoever sent the transaction (the console, the SDK, ethers), read from the
node's ``eth_getLogs`` window by window down from the tip
(`AsyncEvmContracts.query_logs`, `get_history_page`), newest first, a bounded
page at a time; on a chain without the `evm` contract the section is absent.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from gusu.console.access import AccessInputError
from gusu.console.accounts import (
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
from gusu.console.contracts import _approval_notice
from gusu.console.evm_store import EvmStore, StoredArtifact
from gusu.console.signing import Form, key_fields_html, read_form, send_transaction, unlock_key
from gusu.console.store import StoredKey
from gusu.errors import ClientError, CodecError, GusuError, RemoteError, TransactionFailedError
from gusu.ledger.types import Receipt
from gusu.sdk import AsyncClient
from gusu.sdk.contracts import AsyncContracts
from gusu.sdk.evm import (
    CONTRACT_UNKNOWN,
    EVM_CONTRACT,
    LOGS_BLOCK_RANGE_MAX,
    AbiFunction,
    AbiParameter,
    AsyncEvmContracts,
    ChainLog,
    EvmArtifact,
    check_receipt,
    compute_runtime_code_hash,
    decode_logs,
    decode_result,
    encode_call,
    encode_constructor,
    get_deployment,
    parse_abi_argument,
    parse_address,
    parse_artifact,
    to_json_value,
)

ARTIFACT_UPLOAD_BYTES_MAX: Final = 1024 * 1024
"""The largest artifact file the upload form takes (a contract at the 24 KiB code limit, as hex twice, with
its ABI and solc's metadata, stays well below)."""
ARGUMENT_TEXT_LENGTH_MAX: Final = 16 * 1024
"""The longest text one form field gives an argument (an array or a string)."""
INPUTS_MAX: Final = 32
"""Most inputs a generated form handles; a function declaring more is called from the SDK or CLI."""
FUNCTIONS_SHOWN_MAX: Final = 200
"""Functions a contract page shows forms for (an ABI may list up to 4,096 entries)."""
EVENTS_PAGE_SIZE: Final = 20
"""Events per page of a contract's event history."""
HISTORY_WINDOW_BLOCKS: Final = LOGS_BLOCK_RANGE_MAX
"""Blocks one eth_getLogs of the event history spans: the node's default limit (1,000)."""
HISTORY_SCAN_BLOCKS_MAX: Final = 20 * HISTORY_WINDOW_BLOCKS
"""Blocks one page of the event history searches at most (20 node calls); older ones are on the next page."""
CONTRACTS_LISTED_MAX: Final = 100
RESULT_TEXT_LENGTH_MAX: Final = 4096
"""Characters of a decoded value shown; longer ones are cut with an ellipsis."""
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")


# --- arguments -------------------------------------------------------------------------------------


def parse_form_argument(parameter: AbiParameter, text: str, index: int) -> Any:
    """The value a form field gives the ABI input `parameter`; AccessInputError naming it and saying what is expected.

    Integers in decimal or 0x hex within the type's range, ``address`` as 0x + 40 hex digits, ``bool`` as
    true/false, ``bytes``/``bytesN`` as 0x hex (N bytes exactly), ``string`` as typed, arrays and tuples as
    JSON (`gusu.sdk.evm.parse_abi_argument`, the CLI's rules).
    """
    name = parameter.name or f"#{index + 1}"
    if len(text) > ARGUMENT_TEXT_LENGTH_MAX:
        raise AccessInputError(
            "error.field_long", f"argument {name} is longer than {ARGUMENT_TEXT_LENGTH_MAX} characters",
            count=ARGUMENT_TEXT_LENGTH_MAX,
        )  # fmt: skip
    value = text if parameter.type == "string" else text.strip()
    try:
        return parse_abi_argument(parameter.type, value)
    except (ClientError, ValueError, TypeError, RecursionError) as error:
        reason = str(error)[:300] if isinstance(error, ClientError) else f"not a {parameter.type}"
        raise AccessInputError(
            "error.abi_argument", f"argument {name} ({parameter.type}): {reason}",
            name=name, type=parameter.type, reason=reason,
        ) from None  # fmt: skip


def parse_form_arguments(inputs: Sequence[AbiParameter], values: dict[str, str]) -> list[Any]:
    """Every input of a generated form (fields ``arg0``, ``arg1``, ...)."""
    if len(inputs) > INPUTS_MAX:
        raise AccessInputError(
            "error.abi_inputs", f"the function has more than {INPUTS_MAX} inputs; call it with the SDK or CLI",
            count=INPUTS_MAX,
        )  # fmt: skip
    return [parse_form_argument(p, values.get(f"arg{index}", ""), index) for index, p in enumerate(inputs)]


def parse_upload(data: bytes, name: str) -> EvmArtifact:
    """An uploaded artifact; AccessInputError saying what is wrong with it."""
    try:
        document = json.loads(data.decode("utf-8"))
        return parse_artifact(document, name)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AccessInputError(
            "error.artifact_invalid", "the file is not JSON; upload a Hardhat artifact or solc's JSON output",
            reason="not JSON",
        ) from None  # fmt: skip
    except ClientError as error:
        reason = str(error)[:300]
        raise AccessInputError("error.artifact_invalid", f"not an artifact: {reason}", reason=reason) from None


def compute_artifact_json(artifact: EvmArtifact) -> str:
    """What the store keeps: the artifact's parts `parse_artifact` reads back."""
    return json.dumps(
        {
            "contractName": artifact.name,
            "abi": list(artifact.abi_json),
            "bytecode": "0x" + artifact.bytecode.hex(),
            "deployedBytecode": "0x" + artifact.deployed_bytecode.hex(),
        },
        separators=(",", ":"),
    )


def get_artifact(stored: StoredArtifact) -> EvmArtifact:
    return parse_artifact(json.loads(stored.artifact), stored.name)


def compute_display(value: Any) -> str:
    """A decoded ABI value as JSON text, cut at RESULT_TEXT_LENGTH_MAX."""
    text = json.dumps(to_json_value(value), ensure_ascii=False)
    return text if len(text) <= RESULT_TEXT_LENGTH_MAX else text[:RESULT_TEXT_LENGTH_MAX] + "…"


def compute_logs_json(receipt: Receipt, artifact: EvmArtifact, address: str) -> list[dict[str, object]]:
    """A receipt's EVM logs decoded with the artifact's ABI, as the history keeps them."""
    try:
        logs = decode_logs(receipt, artifact.abi)
    except CodecError:
        return []
    return [
        {
            "contract": log.log.address,
            "name": log.event or "Log",
            "fields": to_json_value(dict(log.args)) if log.event else {"topics": to_json_value(log.log.topics)},
        }
        for log in logs
        if log.log.address == address or not address
    ]


# --- pages -----------------------------------------------------------------------------------------


def _client(request: web.Request) -> AsyncClient:
    from gusu.console.chains import get_client

    return get_client(request)


def _store(request: web.Request) -> EvmStore:
    return EvmStore(request.app[STORE_KEY].backend)


def _allowed(request: web.Request, permission: str) -> bool:
    from gusu.console.access import is_allowed

    viewer = get_viewer(request)
    return viewer is not None and is_allowed(viewer.user.role, permission)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _input_fields(request: web.Request, inputs: Sequence[AbiParameter], prefix: str, values: dict[str, str]) -> str:
    fields = []
    for index, parameter in enumerate(inputs[:INPUTS_MAX]):
        field_id = f"{prefix}-arg{index}"
        label = f"{parameter.type} {parameter.name}".strip()
        value = values.get(f"arg{index}", "")
        if parameter.type == "bool":
            options = "".join(
                f'<option value="{choice}"{" selected" if value == choice else ""}>{choice}</option>'
                for choice in ("true", "false")
            )
            control = f'<select id="{_e(field_id)}" name="arg{index}">{options}</select>'
        else:
            hint = _hint(parameter.type)
            control = (
                f'<input id="{_e(field_id)}" name="arg{index}" maxlength="{ARGUMENT_TEXT_LENGTH_MAX}" '
                f'placeholder="{_e(hint)}" value="{_e(value)}">'
            )
        fields.append(f'<label for="{_e(field_id)}"><code>{_e(label)}</code></label>{control}')
    return "".join(fields)


def _hint(abi_type: str) -> str:
    if abi_type.endswith("]") or abi_type.startswith("("):
        return "JSON: [..]"
    if abi_type == "address":
        return "0x + 40 hex"
    if abi_type.startswith("bytes"):
        return "0x.."
    if abi_type.startswith(("uint", "int")):
        return "123 / 0x7b"
    return ""


async def _evm_page(
    request: web.Request, error: AccessInputError | None = None, values: dict[str, str] | None = None
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    contracts = await _store(request).list_contracts(CONTRACTS_LISTED_MAX)
    rows = "".join(
        f'<tr data-address="{_e(c.address)}"><td><a href="/contracts/evm/{_e(c.address)}">{_e(c.address)}</a></td>'
        f"<td>{_e(c.name)}</td><td>{_e(message('evm.deployed_here' if c.transaction_id else 'evm.registered'))}</td>"
        "</tr>"
        for c in contracts
    )
    upload_form = ""
    if _allowed(request, "contracts.write"):
        values = values or {}
        upload_form = (
            f"<h2>{_e(message('evm.upload'))}</h2><p>{_e(message('evm.upload_intro'))}</p>"
            f'<form class="stack" id="evm-upload-form" action="/contracts/evm/upload" method="post" '
            f'enctype="multipart/form-data">{_csrf_input(viewer.session.csrf_token)}'
            f'<label for="evm-artifact">{_e(message("evm.artifact"))}</label>'
            '<input id="evm-artifact" name="artifact" type="file" accept=".json,application/json" required>'
            f'<label for="evm-register-address">{_e(message("evm.register_address"))}</label>'
            f'<input id="evm-register-address" name="address" maxlength="42" placeholder="0x…" '
            f'value="{_e(values.get("address", ""))}">'
            f'<button type="submit">{_e(message("evm.upload_submit"))}</button></form>'
        )
    content = (
        f"<h1>{_e(message('evm.title'))}</h1>{_error_html(catalogue, error)}"
        f'<p><a href="/contracts">{_e(message("contracts.title"))}</a></p>'
        f"<h2>{_e(message('evm.contracts'))}</h2>"
        + (
            f'<table id="evm-contracts"><thead><tr><th>{_e(message("evm.address"))}</th>'
            f"<th>{_e(message('evm.contract_name'))}</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
            if contracts
            else f"<p>{_e(message('common.none'))}</p>"
        )
        + upload_form
    )
    return _render(request, "contracts", content, 400 if error else 200)


@requires("contracts.read")
async def _evm_get(request: web.Request) -> web.StreamResponse:
    return await _evm_page(request)


def _parse_address_text(text: str) -> str:
    text = text.strip()
    if _ADDRESS.fullmatch(text) is None:
        raise AccessInputError("error.evm_address", "an EVM address is 0x and 40 hex digits")
    return text.lower()


@requires("contracts.write")
async def _evm_upload(request: web.Request) -> web.StreamResponse:
    """Keeps an uploaded artifact: to deploy (its page), or with an address, as that contract's ABI."""
    viewer = get_viewer(request)
    assert viewer is not None
    form: Form | None = None
    try:
        form = await read_form(request, {}, ARTIFACT_UPLOAD_BYTES_MAX)
        data = form.files.get("artifact")
        if data is None:
            raise AccessInputError("error.artifact_missing", "choose a compiled artifact (JSON)")
        artifact = parse_upload(data, "Contract")
        address = _parse_address_text(form.get("address")) if form.get("address").strip() else None
        if address is None and not artifact.bytecode:
            raise AccessInputError("error.artifact_no_bytecode", "the artifact has an ABI only; give an address")
        if address is not None:
            try:
                code = await AsyncEvmContracts(_client(request)).get_code(address)
            except (RemoteError, CodecError) as failure:
                # A chain without the `evm` contract answers contract_unknown: say so rather than fail.
                reason = str(failure)[:300]
                raise AccessInputError("error.evm_unavailable", f"the chain cannot read EVM code: {reason}",
                                       reason=reason) from None  # fmt: skip
            if not code:
                raise AccessInputError("error.evm_no_code", f"no contract code at {address}", address=address)
        code_hash = "0x" + compute_runtime_code_hash(artifact).hex() if artifact.deployed_bytecode else ""
    except AccessInputError as error:
        await record(request, "contract.deploy", None, "refused")
        return await _evm_page(request, error, dict(form.fields) if form else {})
    store = _store(request)
    artifact_id = await store.add_artifact(
        artifact.name, code_hash, compute_artifact_json(artifact), viewer.user.username, _now_ms()
    )
    if address is not None:
        await store.put_contract(address, artifact_id, None, viewer.user.username, _now_ms())
        await record(request, "contract.deploy", f"evm {address} registered", "ok")
        return web.Response(status=303, headers={"Location": f"/contracts/evm/{address}"})
    return web.Response(status=303, headers={"Location": f"/contracts/evm/artifacts/{artifact_id}"})


async def _load_artifact(request: web.Request) -> tuple[int, EvmArtifact]:
    text = request.match_info["artifact_id"]
    if not text.isdigit() or len(text) > 18:
        raise web.HTTPNotFound()
    stored = await _store(request).get_artifact(int(text))
    if stored is None:
        raise web.HTTPNotFound()
    return stored.artifact_id, get_artifact(stored)


async def _needs_approval(request: web.Request, artifact: EvmArtifact) -> str | None:
    """The code hash to approve when the chain requires approval and has not given it, else None."""
    deployer = AsyncContracts(_client(request))
    if not artifact.deployed_bytecode or not await deployer.is_approval_required():
        return None
    code_hash = compute_runtime_code_hash(artifact)
    return None if await deployer.is_code_approved(code_hash) else "0x" + code_hash.hex()


async def _artifact_page(
    request: web.Request,
    artifact_id: int,
    artifact: EvmArtifact,
    error: AccessInputError | None = None,
    values: dict[str, str] | None = None,
    approval: str | None = None,
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    values = values or {}
    keys: list[StoredKey] = (
        await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
        if _allowed(request, "contracts.write")
        else []
    )
    code_hash = "0x" + compute_runtime_code_hash(artifact).hex() if artifact.deployed_bytecode else "—"
    notice = "" if approval is None else _approval_notice(request, artifact.name, approval)
    deploy_form = ""
    if _allowed(request, "contracts.write"):
        deploy_form = (
            f"<h2>{_e(message('evm.deploy'))}</h2>"
            f'<form class="stack" id="evm-deploy-form" action="/contracts/evm/artifacts/{artifact_id}/deploy" '
            f'method="post">{_csrf_input(viewer.session.csrf_token)}'
            f"{_input_fields(request, artifact.abi.constructor_inputs, 'constructor', values)}"
            f"{key_fields_html(request, keys, 'evm-deploy')}"
            f'<button type="submit"{"" if keys else " disabled"}>{_e(message("contracts.deploy_submit"))}</button>'
            "</form>"
        )
    functions = "".join(
        f"<li><code>{_e(f.signature)}</code></li>" for f in artifact.abi.functions[:FUNCTIONS_SHOWN_MAX]
    )
    content = (
        f"<h1>{_e(message('evm.artifact_title', name=artifact.name))}</h1>{notice}{_error_html(catalogue, error)}"
        f'<dl class="fields"><dt>{_e(message("contract.code_hash"))}</dt><dd><code id="evm-code-hash">'
        f"{_e(code_hash)}</code></dd>"
        f"<dt>{_e(message('evm.constructor'))}</dt><dd><code>constructor("
        f"{_e(', '.join(f'{p.type} {p.name}'.strip() for p in artifact.abi.constructor_inputs))})</code></dd></dl>"
        f"{deploy_form}<h2>{_e(message('contract.methods'))}</h2><ul>{functions}</ul>"
    )
    return _render(request, "contracts", content, 400 if error else 200)


@requires("contracts.read")
async def _artifact_get(request: web.Request) -> web.StreamResponse:
    artifact_id, artifact = await _load_artifact(request)
    approval = await _needs_approval(request, artifact)
    return await _artifact_page(request, artifact_id, artifact, approval=approval)


@requires("contracts.write")
async def _artifact_deploy(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    artifact_id, artifact = await _load_artifact(request)
    form: Form | None = None
    try:
        form = await read_form(
            request, {f"arg{index}": ARGUMENT_TEXT_LENGTH_MAX for index in range(INPUTS_MAX)} | {"passphrase": 256}
        )
        args = parse_form_arguments(artifact.abi.constructor_inputs, form.fields)
        try:
            init_code = encode_constructor(artifact, args)
        except ClientError as error:
            raise AccessInputError("error.abi_encode", str(error), reason=str(error)[:300]) from None
        approval = await _needs_approval(request, artifact)
        if approval is not None:
            await record(request, "contract.deploy", f"evm {artifact.name}", "needs_approval")
            return await _artifact_page(request, artifact_id, artifact, None, dict(form.fields), approval)
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(
            request, key, EVM_CONTRACT, "deploy", [init_code, 0],
            history_contract=lambda receipt: _deployed_history_key(receipt, artifact),
            history_method="constructor",
            decode_receipt_events=lambda receipt: compute_logs_json(receipt, artifact, ""),
        )  # fmt: skip
        del key
        try:
            deployed = get_deployment(sent.receipt, artifact)
        except (TransactionFailedError, CodecError) as failure:
            reason = str(failure)[:300]
            raise AccessInputError("error.evm_failed", f"the deployment failed: {reason}", reason=reason) from None
    except AccessInputError as error:
        await record(request, "contract.deploy", f"evm {artifact.name}", "refused")
        return await _artifact_page(request, artifact_id, artifact, error, dict(form.fields) if form else {})
    await _store(request).put_contract(
        deployed.address, artifact_id, sent.transaction_id, viewer.user.username, _now_ms()
    )
    await record(request, "contract.deploy", f"evm {deployed.address} {sent.transaction_id}", "ok")
    query = urlencode({"transaction": sent.transaction_id})
    return web.Response(status=303, headers={"Location": f"/contracts/evm/{deployed.address}?{query}"})


def _deployed_history_key(receipt: Receipt, artifact: EvmArtifact) -> str:
    try:
        return f"evm:{get_deployment(receipt, artifact).address}"
    except (TransactionFailedError, CodecError):
        return f"evm:{artifact.name}"  # a failed deployment created no contract


# --- a contract's page -----------------------------------------------------------------------------


async def _load_contract(request: web.Request) -> tuple[str, EvmArtifact, str | None]:
    """(address, artifact, the deployment's transaction id or None for a contract registered by address)."""
    try:
        address = _parse_address_text(request.match_info["address"])
    except AccessInputError:
        raise web.HTTPNotFound() from None
    found = await _store(request).get_contract(address)
    if found is None:
        raise web.HTTPNotFound()
    return address, get_artifact(found[1]), found[0].transaction_id


def _function_form(
    request: web.Request, address: str, function: AbiFunction, index: int, keys: Sequence[StoredKey],
    values: dict[str, str], overloaded: bool,
) -> str:  # fmt: skip
    message = _catalogue(request).get_message
    viewer = get_viewer(request)
    assert viewer is not None
    chosen = values.get("function") == function.signature
    # Overloads share a name; ids stay unique with the function's position in the ABI.
    form_name = function.name if not overloaded else f"{function.name}-{index}"
    fields = _input_fields(request, function.inputs, f"f{index}", values if chosen else {})
    outputs = ", ".join(p.type for p in function.outputs)
    heading = (
        f"<h3><code>{_e(function.signature)}</code>{f' → <code>{_e(outputs)}</code>' if outputs else ''} "
        f'<span class="kind">{_e(function.state_mutability)}</span></h3>'
    )
    hidden = f'<input type="hidden" name="function" value="{_e(function.signature)}">'
    if function.is_view:
        return (
            f'<form class="stack method" id="view-{_e(form_name)}" data-signature="{_e(function.signature)}" '
            f'action="/contracts/evm/{address}" method="get">{heading}{hidden}{fields}'
            f'<button type="submit">{_e(message("contract.query"))}</button></form>'
        )
    return (
        f'<form class="stack method" id="send-{_e(form_name)}" data-signature="{_e(function.signature)}" '
        f'action="/contracts/evm/{address}/send" method="post">{heading}{_csrf_input(viewer.session.csrf_token)}'
        f"{hidden}{fields}{key_fields_html(request, keys, f'send-{form_name}')}"
        f'<button type="submit"{"" if keys else " disabled"}>{_e(message("contract.send"))}</button></form>'
    )


def _get_function(artifact: EvmArtifact, signature: str) -> AbiFunction:
    try:
        return artifact.abi.get_function(signature[:1024])
    except ClientError:
        raise AccessInputError("error.method_unknown", "the contract has no such entry point") from None


async def _view_result(request: web.Request, address: str, artifact: EvmArtifact, values: dict[str, str]) -> str:
    message = _catalogue(request).get_message
    function = _get_function(artifact, values.get("function", ""))
    if not function.is_view:
        raise AccessInputError("error.method_unknown", "the contract has no such read-only entry point")
    args = parse_form_arguments(function.inputs, values)
    try:
        value = await AsyncEvmContracts(_client(request)).call(address, artifact, function.signature, args)
    except (TransactionFailedError, RemoteError, CodecError) as error:
        return (
            f'<section class="result" id="query-result" data-success="false"><h2>{_e(message("contract.query_result"))}'
            f'</h2><p class="error" role="alert" id="query-error">{_e(str(error)[:500])}</p></section>'
        )
    except ClientError as error:
        raise AccessInputError("error.abi_encode", str(error), reason=str(error)[:300]) from None
    return (
        f'<section class="result" id="query-result" data-success="true"><h2>{_e(message("contract.query_result"))}</h2>'
        f'<p><code>{_e(function.signature)}</code> → <code id="query-value">{_e(compute_display(value))}</code>'
        "</p></section>"
    )


def _logs_html(request: web.Request, logs: list[dict[str, object]]) -> str:
    message = _catalogue(request).get_message
    if not logs:
        return f"<p>{_e(message('common.none'))}</p>"
    rows = "".join(
        f'<tr class="evm-log"><td>{_e(str(log.get("name", "")))}</td>'
        f"<td><code>{_e(json.dumps(log.get('fields'), ensure_ascii=False)[:RESULT_TEXT_LENGTH_MAX])}</code></td></tr>"
        for log in logs
    )
    return (
        f'<table class="events"><thead><tr><th>{_e(message("event.name"))}</th><th>{_e(message("event.data"))}</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


async def _transaction_result(request: web.Request, address: str, artifact: EvmArtifact, query: dict[str, str]) -> str:
    from gusu.console.chain import parse_hash

    message = _catalogue(request).get_message
    try:
        transaction_id = parse_hash(query.get("transaction", ""))
        view = await _client(request).get_receipt(transaction_id)
    except (GusuError, ValueError):
        raise AccessInputError("error.transaction_unknown", "no committed transaction has that id") from None
    receipt = view.receipt
    identifier = "0x" + bytes(transaction_id).hex()
    detail = ""
    if receipt.is_success and "function" in query:
        try:
            function = artifact.abi.get_function(query["function"][:1024])
            output = decode_result(function, _output_bytes(receipt))
            detail = (
                f'<dt>{_e(message("receipt.return_value"))}</dt><dd id="result-value"><code>'
                f"{_e(compute_display(output))}</code></dd>"
            )
        except (ClientError, CodecError):
            detail = ""
    elif not receipt.is_success:
        try:
            check_receipt(receipt, "the transaction", artifact.abi)
        except TransactionFailedError as failure:
            detail = f'<dt>{_e(message("receipt.error"))}</dt><dd id="result-error">{_e(str(failure)[:500])}</dd>'
    status_key = "receipt.status.success" if receipt.is_success else "receipt.status.failed"
    return (
        f'<section class="result" id="transaction-result" data-success="{str(receipt.is_success).lower()}">'
        f'<h2>{_e(message("contract.result"))}</h2><dl class="fields">'
        f'<dt>{_e(message("tx.id"))}</dt><dd><a id="result-transaction" href="/transactions/{identifier}">'
        f"{identifier}</a></dd>"
        f'<dt>{_e(message("tx.block"))}</dt><dd><a href="/blocks/{view.height}">{view.height}</a></dd>'
        f'<dt>{_e(message("receipt.status"))}</dt><dd id="result-status">{_e(message(status_key))}</dd>{detail}'
        f"</dl><h3>{_e(message('receipt.events'))}</h3>"
        f"{_logs_html(request, compute_logs_json(receipt, artifact, ''))}</section>"
    )


def _output_bytes(receipt: Receipt) -> bytes:
    from gusu.codec import decode

    output = decode(receipt.return_value)
    if not isinstance(output, bytes):
        raise CodecError("evm.call must return bytes")
    return output


@dataclass(frozen=True, slots=True, order=True)
class LogPosition:
    """Where a log is on the chain: its block, then its index among the block's logs (eth_getLogs' logIndex)."""

    block_height: int
    log_index: int


class PositionedLog(Protocol):
    """What the pager needs of a history entry: where it is (the Python contracts' history pages with it too)."""

    @property
    def block_height(self) -> int: ...

    @property
    def log_index(self) -> int: ...


LogT = TypeVar("LogT", bound=PositionedLog)


@dataclass(frozen=True, slots=True)
class HistoryPage(Generic[LogT]):
    """One page of a contract's event history, newest first."""

    logs: tuple[LogT, ...]
    next_before: LogPosition | None
    """The cursor of the next (older) page; None when the search reached the contract's first block."""
    searched_from_height: int
    """The lowest block this page searched: with fewer logs than a page, the older ones are below it."""
    searched_to_height: int


LogQuery = Callable[[int, int], Awaitable[list[ChainLog]]]
"""Logs of blocks (from_height, to_height), both included, oldest first: one eth_getLogs."""


def parse_history_cursor(text: str | None) -> LogPosition | None:
    """The ``?before=`` cursor, ``HEIGHT`` or ``HEIGHT-LOGINDEX``; AccessInputError if it is neither."""
    if text is None or text == "":
        return None
    height_text, separator, index_text = text.partition("-")
    if (
        not height_text.isascii() or not height_text.isdigit() or len(height_text) > 18
        or (separator and (not index_text.isascii() or not index_text.isdigit() or len(index_text) > 9))
    ):  # fmt: skip
        raise AccessInputError("error.page_invalid", "the page is a whole number")
    return LogPosition(int(height_text), int(index_text or 0))


def _cursor_text(position: LogPosition) -> str:
    return f"{position.block_height}-{position.log_index}"


async def get_history_page(
    query: Callable[[int, int], Awaitable[list[LogT]]],
    tip_height: int,
    floor_height: int,
    before: LogPosition | None,
    page_size: int = EVENTS_PAGE_SIZE,
    window_blocks: int = HISTORY_WINDOW_BLOCKS,
    scan_blocks_max: int = HISTORY_SCAN_BLOCKS_MAX,
) -> HistoryPage[LogT]:
    """The `page_size` logs before `before` (the newest when None), newest first, searched downwards from the
    tip in windows of `window_blocks` to `floor_height` (the contract's deployment, 0 if unknown).

    A page searches at most `scan_blocks_max` blocks: a contract quiet for a long stretch gets a short (or empty)
    page whose cursor continues below the blocks searched, so no page view costs more than
    ``scan_blocks_max / window_blocks`` node calls. A window the node refuses for having too many logs
    (``request_too_large``) is halved and asked again.
    """
    assert page_size >= 1 and 1 <= window_blocks <= scan_blocks_max
    high = tip_height if before is None else min(tip_height, before.block_height)
    top = high
    found: list[LogT] = []
    window = window_blocks
    lowest = high + 1
    while high >= floor_height and len(found) <= page_size and top - high < scan_blocks_max:
        low = max(floor_height, high - window + 1, top - scan_blocks_max + 1)
        try:
            logs = await query(low, high)
        except RemoteError as error:
            if error.code != "request_too_large" or high == low:
                raise
            window = max(1, (high - low + 1) // 2)
            continue
        found.extend(log for log in logs if before is None or LogPosition(log.block_height, log.log_index) < before)
        lowest = low
        high = low - 1
    found.sort(key=lambda log: (log.block_height, log.log_index), reverse=True)
    shown = tuple(found[:page_size])
    next_before: LogPosition | None = None
    if len(found) > page_size:
        next_before = LogPosition(shown[-1].block_height, shown[-1].log_index)
    elif lowest > floor_height:
        next_before = LogPosition(lowest, 0)
    return HistoryPage(shown, next_before, min(lowest, top), top)


def compute_log_row(log: ChainLog) -> tuple[str, str]:
    """(event name, decoded arguments as JSON text) of a history row; undecoded logs show their topics and data."""
    decoded = log.decoded
    if decoded.event is None:
        return "Log", compute_display({"topics": list(decoded.log.topics), "data": decoded.log.data})
    return decoded.event, compute_display(dict(decoded.args))


async def _chain_history_html(request: web.Request, address: str, artifact: EvmArtifact, deployment: str | None) -> str:
    """The contract's events from the node's eth_getLogs, a page at a time (``?before=``); '' on a chain without
    the `evm` contract (the section is absent there, not an error)."""
    message = _catalogue(request).get_message
    before = parse_history_cursor(request.query.get("before"))
    client = _client(request)
    evm = AsyncEvmContracts(client)
    heading = f'<h2 id="events">{_e(message("events.history"))}</h2><p>{_e(message("events.chain_note"))}</p>'
    try:
        await evm.get_code(address)
    except RemoteError as error:
        if error.code == CONTRACT_UNKNOWN:
            return ""
        return heading + _history_error(request, error)
    except (GusuError, aiohttp.ClientError, OSError, TimeoutError) as error:
        return heading + _history_error(request, error)
    try:
        tip = int(await client.block_number())
        floor = 0
        if deployment is not None:
            with contextlib.suppress(GusuError, ValueError):
                floor = int((await client.get_receipt(deployment)).height)

        async def query(from_height: int, to_height: int) -> list[ChainLog]:
            return await evm.query_logs(address, from_height, to_height, artifact)

        page = await get_history_page(
            query, tip, min(floor, tip), before, EVENTS_PAGE_SIZE, HISTORY_WINDOW_BLOCKS, HISTORY_SCAN_BLOCKS_MAX
        )
    except (GusuError, aiohttp.ClientError, OSError, TimeoutError) as error:
        return heading + _history_error(request, error)
    rows = []
    for log in page.logs:
        name, arguments = compute_log_row(log)
        transaction = "0x" + log.transaction_id.hex()
        rows.append(
            f'<tr class="chain-log" data-block="{log.block_height}" data-log-index="{log.log_index}" '
            f'data-transaction="{transaction}"><td><a href="/blocks/{log.block_height}">{log.block_height}</a></td>'
            f'<td><a class="log-transaction" href="/transactions/{transaction}"><code>{transaction[:18]}…</code></a>'
            f'</td><td class="log-event">{_e(name)}</td><td><code class="log-args">{_e(arguments)}</code></td></tr>'
        )
    searched = message("events.searched", low=page.searched_from_height, high=page.searched_to_height)
    older = ""
    if page.next_before is not None:
        cursor = urlencode({"before": _cursor_text(page.next_before)})
        older = (
            f'<p><a id="events-older" href="/contracts/evm/{address}?{cursor}#events">'
            f"{_e(message('events.older'))}</a></p>"
        )
    table = (
        f'<table id="event-history"><thead><tr><th>{_e(message("tx.block"))}</th><th>{_e(message("tx.id"))}</th>'
        f"<th>{_e(message('event.name'))}</th><th>{_e(message('event.arguments'))}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else f'<p id="event-history-empty">{_e(message("events.none_found"))}</p>'
    )
    return f'{heading}{table}<p class="note" id="events-searched">{_e(searched)}</p>{older}'


def _history_error(request: web.Request, error: BaseException) -> str:
    message = _catalogue(request).get_message
    reason = str(error)[:300]
    return f'<p class="error" id="events-error" role="alert">{_e(message("events.unavailable", reason=reason))}</p>'


async def _contract_page(
    request: web.Request,
    address: str,
    artifact: EvmArtifact,
    deployment: str | None,
    values: dict[str, str] | None = None,
    error: AccessInputError | None = None,
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    query = values if values is not None else dict(request.query)
    result = ""
    history = ""
    if error is None:
        try:
            if "transaction" in request.query and values is None:
                result = await _transaction_result(request, address, artifact, query)
            elif "function" in query and values is None:
                result = await _view_result(request, address, artifact, query)
        except AccessInputError as refused:
            error = refused
    try:
        history = await _chain_history_html(request, address, artifact, deployment)
    except AccessInputError as refused:
        error = error or refused
    keys = (
        await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
        if _allowed(request, "contracts.write")
        else []
    )
    functions = artifact.abi.functions[:FUNCTIONS_SHOWN_MAX]
    names = [f.name for f in functions]
    overloaded = {name for name in names if names.count(name) > 1}
    views = "".join(
        _function_form(request, address, f, index, keys, query, f.name in overloaded)
        for index, f in enumerate(functions)
        if f.is_view
    )
    sends = (
        "".join(
            _function_form(request, address, f, index, keys, query, f.name in overloaded)
            for index, f in enumerate(functions)
            if not f.is_view
        )
        if _allowed(request, "contracts.write")
        else ""
    )
    events = "".join(f"<li><code>{_e(event.signature)}</code></li>" for event in artifact.abi.events)
    content = (
        f"<h1>{_e(message('evm.contract_title', name=artifact.name))}</h1>{_error_html(catalogue, error)}{result}"
        f'<dl class="fields"><dt>{_e(message("evm.address"))}</dt><dd><a id="evm-address" '
        f'href="/accounts/{address}">{address}</a></dd></dl>'
        f"<h2>{_e(message('evm.views'))}</h2>{views or _e(message('common.none'))}"
        f"<h2>{_e(message('evm.functions'))}</h2>{sends or _e(message('common.none'))}"
        f"<h2>{_e(message('contract.declared_events'))}</h2><ul>{events}</ul>{history}"
    )
    return _render(request, "contract", content, 400 if error else 200)


@requires("contracts.read")
async def _contract_get(request: web.Request) -> web.StreamResponse:
    address, artifact, deployment = await _load_contract(request)
    return await _contract_page(request, address, artifact, deployment)


@requires("contracts.write")
async def _contract_send(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    address, artifact, deployment = await _load_contract(request)
    form: Form | None = None
    try:
        form = await read_form(
            request, {f"arg{index}": ARGUMENT_TEXT_LENGTH_MAX for index in range(INPUTS_MAX)} | {"passphrase": 256}
        )
        function = _get_function(artifact, form.get("function"))
        if function.is_view:
            raise AccessInputError("error.method_unknown", "the contract has no such entry point")
        args = parse_form_arguments(function.inputs, form.fields)
        try:
            data = encode_call(function, args)
        except ClientError as error:
            raise AccessInputError("error.abi_encode", str(error), reason=str(error)[:300]) from None
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(
            request, key, EVM_CONTRACT, "call", [parse_address(address), data, 0],
            history_contract=f"evm:{address}",
            history_method=function.signature,
            decode_receipt_events=lambda receipt: compute_logs_json(receipt, artifact, address),
        )  # fmt: skip
        del key
    except AccessInputError as error:
        await record(request, "contract.call", f"evm {address}", "refused")
        return await _contract_page(request, address, artifact, deployment, dict(form.fields) if form else {}, error)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"evm {address}.{function.name} {sent.transaction_id}", outcome)
    query = urlencode({"transaction": sent.transaction_id, "function": function.signature})
    return web.Response(status=303, headers={"Location": f"/contracts/evm/{address}?{query}"})


def add_evm_routes(app: web.Application) -> None:
    """Registered before gusu.console.contracts' routes: ``/contracts/{name}`` would take ``/contracts/evm``."""
    app.router.add_get("/contracts/evm", _evm_get)
    app.router.add_post("/contracts/evm/upload", _evm_upload)
    app.router.add_get("/contracts/evm/artifacts/{artifact_id}", _artifact_get)
    app.router.add_post("/contracts/evm/artifacts/{artifact_id}/deploy", _artifact_deploy)
    app.router.add_get("/contracts/evm/{address}", _contract_get)
    app.router.add_post("/contracts/evm/{address}/send", _contract_send)
