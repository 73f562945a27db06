"""Signing keys for the console's writes: an encrypted server keystore per console user, and sending transactions.

Each console user may keep a few signing keys. The store holds only Gusu key
files (`gusu.crypto.keyfile`: the secret sealed with SM4-GCM under a key that
PBKDF2-HMAC-SM3 or scrypt derives from the key's passphrase), exactly what
`gusu keys new` writes; the passphrase is never stored. A write (deploy,
call, propose, vote) names one of the user's keys and carries its passphrase
in the same form: the key is decrypted in a worker thread for that one
request, signs one transaction and is dropped. docs/console.md says why this
design, and what it does not protect against.

Also here: reading forms with per-field limits (uploads included), the
key-and-passphrase fields every write form shows, and `send_transaction`,
which signs, submits, waits for the receipt and records the transaction.
"""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from aiohttp.web_request import FileField

from gusu.codec import Value
from gusu.console.access import AccessInputError, LoginLimiter, LoginLimits
from gusu.console.accounts import (
    ACCESS_SETTINGS_KEY,
    STORE_KEY,
    Viewer,
    _catalogue,
    _csrf_input,
    _e,
    _error_html,
    _render,
    get_viewer,
    record,
    requires,
)
from gusu.console.settings import ConsoleSettings
from gusu.console.store import StoredKey
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file, encrypt_key_file, read_key_file_metadata
from gusu.errors import ClientError, CodecError, CryptoError, KeyFileError, RemoteError, TimeoutError_
from gusu.ledger.jsonview import bytes_to_hex, value_to_json
from gusu.ledger.types import Receipt
from gusu.sdk import AsyncClient
from gusu.sdk.contracts import ContractInterface, decode_events

KEY_FILE_BYTES_MAX: Final = 8 * 1024
"""Largest key file accepted: a Gusu key file is under 1 KiB (and the request stays within `body_bytes_max`)."""
KEY_PASSPHRASE_LENGTH_MIN: Final = 12
"""A key generated in the console gets a passphrase at least this long."""
PASSPHRASE_LENGTH_MAX: Final = 256
IMPORT_SCRYPT_N_MAX: Final = 2**16
"""Largest scrypt N of an imported key file: 64 MiB per unlock (the key-file reader itself allows 2^18)."""
IMPORT_PBKDF2_ITERATIONS_MAX: Final = 2**21
"""Largest PBKDF2-HMAC-SM3 count of an imported key file: about 2 s per unlock here."""
UNLOCKS_CONCURRENT_MAX: Final = 2
"""Keys decrypted at the same time (each may take 64 MiB and a core for a moment)."""
UNLOCK_LIMITER_KEY: Final = web.AppKey("unlock_limiter", LoginLimiter)
UNLOCK_SLOTS_KEY: Final = web.AppKey("unlock_slots", asyncio.Semaphore)
AUDIT_ACTIONS: Final = frozenset(
    {
        "key.generate",
        "key.import",
        "key.delete",
        "key.export",
        "key.unlock",
        "contract.deploy",
        "contract.call",
        "contract.upgrade",
        "governance.propose",
        "governance.vote",
        "governance.cancel",
    }
)
"""What the writes append to the audit log (action names, not catalogue keys)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- forms ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Form:
    """Posted text fields and at most one uploaded file per name (bytes), each within its limit."""

    fields: dict[str, str]
    files: dict[str, bytes]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


async def read_form(request: web.Request, long_fields: dict[str, int], file_bytes_max: int = 0) -> Form:
    """The request's fields: each at most `form_field_length_max` characters, except those `long_fields` names
    (their own limit); uploads up to `file_bytes_max` bytes (0: none). Refuses with a message naming the limit.

    The whole body is bounded before this runs (the server's body limits); the access check has parsed it
    already (for the CSRF token), and aiohttp keeps that parse.
    """
    limit = request.app[ACCESS_SETTINGS_KEY].form_field_length_max
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    try:
        posted = await request.post()
    except ValueError:
        raise AccessInputError("error.form_invalid", "the form is malformed") from None
    for name, value in posted.items():
        if isinstance(value, str):
            _check_length(name, value, long_fields.get(name, limit))
            fields[name] = value
            continue
        if isinstance(value, (bytes, bytearray)) and not value:
            continue  # a file input left empty: browsers send a part without a file name
        if not isinstance(value, FileField) or file_bytes_max == 0:
            raise AccessInputError("error.form_invalid", "this form takes no file")
        data = value.file.read(file_bytes_max + 1)
        if len(data) > file_bytes_max:
            raise AccessInputError(
                "error.file_large", f"the file is larger than {file_bytes_max} bytes", count=file_bytes_max
            )
        if data:
            files[name] = data
    return Form(fields, files)


def _check_length(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise AccessInputError("error.field_long", f"the field {name} is longer than {limit} characters", count=limit)


def parse_key_address(text: str) -> str:
    """A signing key's address field: 0x and 40 hex digits, returned in lower case."""
    text = text.strip()
    if len(text) != 42 or not text.startswith(("0x", "0X")):
        raise AccessInputError("error.key_missing", "choose one of your signing keys")
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise AccessInputError("error.key_missing", "choose one of your signing keys") from None
    return "0x" + text[2:].lower()


def key_fields_html(request: web.Request, keys: Sequence[StoredKey], prefix: str) -> str:
    """The "sign with" select and the passphrase field of a write form (ids prefixed for several forms a page)."""
    message = _catalogue(request).get_message
    if not keys:
        return (
            f'<p class="notice" id="{prefix}-no-key">{_e(message("keys.none"))} '
            f'<a href="/keys">{_e(message("keys.manage"))}</a></p>'
        )
    options = "".join(f'<option value="{_e(key.address)}">{_e(key.address)}</option>' for key in keys)
    return (
        f'<label for="{prefix}-key">{_e(message("sign.key"))}</label>'
        f'<select id="{prefix}-key" name="key">{options}</select>'
        f'<label for="{prefix}-passphrase">{_e(message("sign.passphrase"))}</label>'
        f'<input id="{prefix}-passphrase" name="passphrase" type="password" maxlength="{PASSPHRASE_LENGTH_MAX}" '
        'autocomplete="off" required>'
    )


# --- the keystore -----------------------------------------------------------------------------------


async def unlock_key(request: web.Request, viewer: Viewer, form: Form) -> PrivateKey:
    """The key the form names, decrypted with the form's passphrase for this request only."""
    address = parse_key_address(form.get("key"))
    stored = await request.app[STORE_KEY].get_signing_key(viewer.user.user_id, address)
    if stored is None:
        raise AccessInputError("error.key_missing", "choose one of your signing keys")
    passphrase = form.get("passphrase")
    if not passphrase:
        raise AccessInputError("error.passphrase_missing", "type the passphrase of the signing key")
    limiter = request.app[UNLOCK_LIMITER_KEY]
    settings = request.app[ACCESS_SETTINGS_KEY]
    username = viewer.user.username
    if limiter.is_locked(username, address, time.monotonic()):
        # A stolen session must not turn the console into a passphrase-guessing machine for the user's keys.
        await record(request, "key.unlock", address, "limited")
        minutes = max(1, round(settings.login_window_s / 60))
        raise AccessInputError(
            "error.unlock_locked", f"too many wrong passphrases; try again in {minutes} minutes", minutes=minutes
        )
    try:
        # PBKDF2/scrypt costs a fraction of a second and up to 64 MiB: off the event loop, a few at a time.
        async with request.app[UNLOCK_SLOTS_KEY]:
            key = await asyncio.to_thread(decrypt_key_file, stored.key_file.encode("utf-8"), passphrase)
    except KeyFileError:
        limiter.on_failure(username, address, time.monotonic())
        await record(request, "key.unlock", address, "failed")
        raise AccessInputError("error.passphrase_wrong", "the passphrase does not open this key") from None
    limiter.on_success(username)
    return key


def validate_key_file_cost(data: bytes) -> None:
    """Refuses a key file whose KDF would cost the server more than it accepts (memory or time per unlock)."""
    try:
        document = json.loads(data)
        kdf = document["kdf"]
        parameters = document["kdf_params"]
        cost = parameters["n"] if kdf == "scrypt" else parameters["c"]
    except (ValueError, KeyError, TypeError):
        return  # the key-file reader refuses it with its own message
    ceiling = IMPORT_SCRYPT_N_MAX if kdf == "scrypt" else IMPORT_PBKDF2_ITERATIONS_MAX
    if not isinstance(cost, int) or cost > ceiling:
        raise AccessInputError(
            "error.key_cost",
            f"the key file's {kdf} cost {cost} is above the console's limit {ceiling}",
            limit=ceiling,
        )


@dataclass(frozen=True, slots=True)
class Sent:
    """A transaction sent through the console and its committed receipt."""

    transaction_id: str
    receipt: Receipt
    height: int


class SendRefusedError(AccessInputError):
    """The node refused the transaction before it committed (admission), or it did not commit in time."""


async def send_transaction(
    request: web.Request,
    key: PrivateKey,
    contract: str,
    method: str,
    args: Sequence[Value],
    interface: ContractInterface | None = None,
    *,
    history_contract: str | Callable[[Receipt], str] | None = None,
    history_method: str | None = None,
    decode_receipt_events: Callable[[Receipt], list[dict[str, object]]] | None = None,
) -> Sent:
    """Signs `contract.method(*args)`, submits it, waits for the receipt and records it for the contract's page."""
    client: AsyncClient = _get_client(request)
    settings = request.app[ACCESS_SETTINGS_KEY]
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        transaction_id = await client.send_transaction(key, contract, method, args)
    except RemoteError as error:
        raise SendRefusedError("error.node_refused", str(error), reason=str(error)[:300]) from error
    except CodecError as error:
        raise SendRefusedError("error.node_refused", str(error), reason=str(error)[:300]) from error
    finally:
        del key  # the decrypted key lives no longer than this request's signing
    identifier = bytes_to_hex(transaction_id)
    try:
        await client.wait_for_receipt(transaction_id, timeout_s=settings.transaction_timeout_s)
        view = await client.get_receipt(transaction_id)
    except (TimeoutError_, ClientError) as error:
        raise SendRefusedError(
            "error.not_committed", f"{identifier} did not commit in time: {error}", transaction_id=identifier
        ) from error
    # An EVM contract's history is kept under its address, its events decoded with its ABI (contracts_evm).
    events = (
        decode_receipt_events(view.receipt)
        if decode_receipt_events is not None
        else compute_events_json(view.receipt, interface)
    )
    await request.app[STORE_KEY].append_contract_transaction(
        _now_ms(),
        viewer.user.username,
        _history_key(history_contract, view.receipt) or _history_contract(contract, method, args),
        history_method or method,
        identifier,
        int(view.height),
        view.receipt.is_success,
        json.dumps(events, ensure_ascii=False),
    )
    return Sent(identifier, view.receipt, int(view.height))


def _history_key(history_contract: str | Callable[[Receipt], str] | None, receipt: Receipt) -> str | None:
    # A callable names it from the receipt (an EVM deployment is listed under the address it created).
    return history_contract(receipt) if callable(history_contract) else history_contract


def _history_contract(contract: str, method: str, args: Sequence[Value]) -> str:
    # A deployment is listed on the deployed contract's page, not the deployer's.
    if contract == "contracts" and method in ("deploy", "upgrade") and args and isinstance(args[0], str):
        return args[0]
    return contract


def compute_events_json(receipt: Receipt, interface: ContractInterface | None) -> list[dict[str, object]]:
    try:
        decoded = decode_events(receipt, interface)
    except CodecError:
        decoded = decode_events(receipt, None)
    return [
        {
            "contract": event.contract,
            "name": event.name,
            "fields": {name: value_to_json(value) for name, value in event.fields.items()},
            "data": value_to_json(event.data),
        }
        for event in decoded
    ]


def _get_client(request: web.Request) -> AsyncClient:
    """The client of the chain the viewer chose (gusu.console.chains), else the console's own endpoint."""
    from gusu.console.chains import get_client

    return get_client(request)


# --- the keys page ----------------------------------------------------------------------------------


async def _keys_page(
    request: web.Request, error: AccessInputError | None = None, notice_key: str | None = None
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    keys = await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
    token = _csrf_input(viewer.session.csrf_token)
    rows = "".join(
        f'<tr data-address="{_e(key.address)}"><td><a href="/accounts/{_e(key.address)}">{_e(key.address)}</a></td>'
        f"<td>{_e(key.suite)}</td><td>{_e(time.strftime('%Y-%m-%d %H:%M', time.gmtime(key.created_ms / 1000)))}</td>"
        f'<td><a class="export" href="/keys/{_e(key.address)}/file">{_e(message("keys.export"))}</a> '
        f'<form action="/keys/{_e(key.address)}/delete" method="post">{token}'
        f'<button type="submit">{_e(message("keys.delete"))}</button></form></td></tr>'
        for key in keys
    )
    notice = f'<p class="notice" role="status">{_e(message(notice_key))}</p>' if notice_key else ""
    content = (
        f"<h1>{_e(message('keys.title'))}</h1>{notice}{_error_html(catalogue, error)}"
        f"<p>{_e(message('keys.intro'))}</p>"
        f'<table id="keys"><thead><tr><th>{_e(message("keys.address"))}</th><th>{_e(message("keys.suite"))}</th>'
        f"<th>{_e(message('keys.created'))}</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h2>{_e(message('keys.generate'))}</h2>"
        f'<form class="stack" id="generate-key-form" action="/keys/generate" method="post">{token}'
        f'<label for="generate-passphrase">{_e(message("keys.new_passphrase"))}</label>'
        f'<input id="generate-passphrase" name="passphrase" type="password" maxlength="{PASSPHRASE_LENGTH_MAX}" '
        'autocomplete="new-password" required>'
        f'<label for="generate-confirm">{_e(message("keys.confirm_passphrase"))}</label>'
        f'<input id="generate-confirm" name="confirm" type="password" maxlength="{PASSPHRASE_LENGTH_MAX}" '
        'autocomplete="new-password" required>'
        f'<button type="submit">{_e(message("keys.generate_submit"))}</button></form>'
        f"<h2>{_e(message('keys.import'))}</h2>"
        f'<form class="stack" id="import-key-form" action="/keys/import" method="post" '
        f'enctype="multipart/form-data">{token}'
        f'<label for="import-file">{_e(message("keys.import_file"))}</label>'
        '<input id="import-file" name="key_file" type="file" accept=".json,application/json" required>'
        f'<button type="submit">{_e(message("keys.import_submit"))}</button></form>'
    )
    return _render(request, "keys", content, 400 if error else 200)


@requires("keys.own")
async def _keys_get(request: web.Request) -> web.StreamResponse:
    return await _keys_page(request)


async def _chain_suite(request: web.Request) -> str:
    client: AsyncClient = _get_client(request)
    return (await client.status()).suite


async def _check_room(request: web.Request, viewer: Viewer) -> None:
    limit = request.app[ACCESS_SETTINGS_KEY].keys_per_user_max
    if len(await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)) >= limit:
        raise AccessInputError("error.keys_full", f"you already keep {limit} keys; delete one first", count=limit)


@requires("keys.own")
async def _keys_generate(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    try:
        form = await read_form(request, {"passphrase": PASSPHRASE_LENGTH_MAX, "confirm": PASSPHRASE_LENGTH_MAX})
        passphrase = form.get("passphrase")
        if len(passphrase) < KEY_PASSPHRASE_LENGTH_MIN:
            raise AccessInputError(
                "error.passphrase_short",
                f"the passphrase must have at least {KEY_PASSPHRASE_LENGTH_MIN} characters",
                count=KEY_PASSPHRASE_LENGTH_MIN,
            )
        if any(unicodedata.category(character) == "Cc" for character in passphrase):
            raise AccessInputError("error.password_control", "the passphrase must not contain control characters")
        if passphrase != form.get("confirm"):
            raise AccessInputError("error.passphrase_mismatch", "the passphrase and its confirmation differ")
        await _check_room(request, viewer)
        suite_name = await _chain_suite(request)
        suite = get_suite(suite_name)
        key = suite.generate_private_key()
        key_file = await asyncio.to_thread(encrypt_key_file, key, passphrase, scrypt_n=settings.keystore_scrypt_n)
        del key
    except AccessInputError as error:
        await record(request, "key.generate", None, "refused")
        return await _keys_page(request, error=error)
    metadata = read_key_file_metadata(key_file)
    address = bytes_to_hex(metadata.address)
    await request.app[STORE_KEY].add_signing_key(
        StoredKey(viewer.user.user_id, address, metadata.suite, key_file.decode("utf-8"), _now_ms())
    )
    await record(request, "key.generate", address, "ok")
    return web.Response(status=303, headers={"Location": "/keys"})


@requires("keys.own")
async def _keys_import(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        form = await read_form(request, {}, KEY_FILE_BYTES_MAX)
        data = form.files.get("key_file")
        if data is None:
            raise AccessInputError("error.key_file_missing", "choose a key file (JSON, as `gusu keys new` writes)")
        validate_key_file_cost(data)
        try:
            metadata = read_key_file_metadata(data)
            text = data.decode("utf-8")
        except (CryptoError, UnicodeDecodeError, ValueError) as error:
            raise AccessInputError(
                "error.key_file_invalid", f"this is not a Gusu key file: {error}", reason=str(error)[:200]
            ) from None
        suite = await _chain_suite(request)
        if metadata.suite != suite:
            raise AccessInputError(
                "error.key_suite", f"the key is for the {metadata.suite} suite, the chain uses {suite}", suite=suite
            )
        address = bytes_to_hex(metadata.address)
        if await request.app[STORE_KEY].get_signing_key(viewer.user.user_id, address) is not None:
            raise AccessInputError("error.key_exists", "you keep this key already")
        await _check_room(request, viewer)
    except AccessInputError as error:
        await record(request, "key.import", None, "refused")
        return await _keys_page(request, error=error)
    await request.app[STORE_KEY].add_signing_key(
        StoredKey(viewer.user.user_id, address, metadata.suite, text, _now_ms())
    )
    await record(request, "key.import", address, "ok")
    return web.Response(status=303, headers={"Location": "/keys"})


@requires("keys.own")
async def _keys_export(request: web.Request) -> web.StreamResponse:
    """The user's own key file as stored (encrypted; its passphrase opens it anywhere `gusu` reads key files)."""
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        address = parse_key_address(request.match_info["address"])
    except AccessInputError:
        raise web.HTTPNotFound() from None
    stored = await request.app[STORE_KEY].get_signing_key(viewer.user.user_id, address)
    if stored is None:
        raise web.HTTPNotFound()
    await record(request, "key.export", address, "ok")
    return web.Response(
        text=stored.key_file,
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{address}.json"'},
    )


@requires("keys.own")
async def _keys_delete(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        address = parse_key_address(request.match_info["address"])
    except AccessInputError:
        raise web.HTTPNotFound() from None
    if await request.app[STORE_KEY].delete_signing_key(viewer.user.user_id, address) == 0:
        raise web.HTTPNotFound()
    await record(request, "key.delete", address, "ok")
    return web.Response(status=303, headers={"Location": "/keys"})


def add_routes(app: web.Application, settings: ConsoleSettings) -> None:
    # Wrong passphrases are limited as failed logins are: per user name and per key, in the same window.
    app[UNLOCK_LIMITER_KEY] = LoginLimiter(
        LoginLimits(
            failures_per_account_max=settings.login_failures_per_account_max,
            failures_per_address_max=settings.login_failures_per_account_max,
            window_s=settings.login_window_s,
            entries_max=settings.login_table_entries_max,
        )
    )
    app[UNLOCK_SLOTS_KEY] = asyncio.Semaphore(UNLOCKS_CONCURRENT_MAX)
    app.router.add_get("/keys", _keys_get)
    app.router.add_post("/keys/generate", _keys_generate)
    app.router.add_post("/keys/import", _keys_import)
    app.router.add_post("/keys/{address}/delete", _keys_delete)
    app.router.add_get("/keys/{address}/file", _keys_export)
