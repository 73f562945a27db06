"""`gusu contract`: write, test, deploy, upgrade, call and describe sandboxed Python contracts.

``new`` and ``test`` work offline (a template, and pytest against the
devkit's in-memory chain); the others talk to a node through the SDK's
`Contracts`. On a chain whose governance approves code (`contracts`'
``is_approval_required``), ``deploy`` and ``upgrade`` check the code hash
first and, if it is not approved, say which `gusu gov propose
approve-contract` command to run instead of spending a transaction.
Guide: docs/contracts.md ("Deploying and the developer kit").
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.table import Table

from gusu.cli.args import parse_arguments
from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import load_key
from gusu.cli.remote import RECEIPT_TIMEOUT_S, VALID_FOR_BLOCKS, open_client, sign_and_send, wait_for_receipt
from gusu.cli.render import format_value, key_value_table, receipt_table, receipt_view_to_json, value_document
from gusu.cli.tx import key_options, resolve_address
from gusu.codec import Value, encode
from gusu.devkit.harness import read_source
from gusu.devkit.templates import CONTRACT_FILE_NAME, DEFAULT_TEMPLATE, TEMPLATES, TEST_FILE_NAME, render_template
from gusu.errors import ContractNotApprovedError, NotFoundError, RemoteError
from gusu.ledger.contractcode import compute_code_hash
from gusu.ledger.jsonview import JSONObject, bytes_to_hex, value_from_json
from gusu.sdk import Client, ContractEventView
from gusu.sdk.contracts import (
    DEPLOYER_CONTRACT,
    DEPLOYER_INTERFACE,
    ContractInterface,
    Contracts,
    DecodedEvent,
    InstanceView,
    decode_events,
    generate_client,
)

EXIT_FAILED = 1
TEST_TIMEOUT_S = 600
"""The longest `gusu contract test` lets pytest run."""
ARGS_JSON_BYTES_MAX = 1024 * 1024


def _timeout_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=0.1),
        default=RECEIPT_TIMEOUT_S,
        show_default=True,
        help="Seconds to wait for the receipt.",
    )(function)


def parse_args_json(text: str | None) -> list[Value]:
    """``--args`` of deploy and upgrade: a JSON array; "0x..." strings are bytes (addresses), as on `tx send`."""
    if text is None:
        return []
    if len(text) > ARGS_JSON_BYTES_MAX:
        raise CliUsageError(f"--args is larger than {ARGS_JSON_BYTES_MAX} bytes")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CliUsageError(f"--args must be a JSON array such as '[1000, \"0xabc...\"]': {error}") from None
    if not isinstance(document, list):
        raise CliUsageError("--args must be a JSON array of the migration's arguments, e.g. '[1000]'")
    values: list[Value] = []
    for item in document:
        if isinstance(item, str) and item.startswith(("0x", "0X")):
            values.extend(parse_arguments([item]))
        else:
            values.append(value_from_json(item))
    return values


@click.group("contract")
def contract_group() -> None:
    """Write, test, deploy and call sandboxed Python contracts (docs/contracts.md)."""


# --- offline: templates and tests ------------------------------------------------------------------


@contract_group.command("new")
@click.argument("name")
@click.option("--template", "kind", type=click.Choice(sorted(TEMPLATES)), default=DEFAULT_TEMPLATE,
              show_default=True, help="What to start from (gusu contract templates).")  # fmt: skip
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Where to create the NAME directory.")  # fmt: skip
@common_options
def contract_new(name: str, kind: str, parent: Path) -> None:
    """Create NAME/contract.py and NAME/test_contract.py from a template; the test passes as it is."""
    state = get_state()
    rendered = render_template(kind, name)
    directory = parent / name
    if directory.exists() and any(directory.iterdir()):
        raise CliUsageError(f"{directory} exists and is not empty; choose another NAME or --dir")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONTRACT_FILE_NAME).write_text(rendered.contract_source, encoding="utf-8")
    (directory / TEST_FILE_NAME).write_text(rendered.test_source, encoding="utf-8")
    document: JSONObject = {
        "name": name,
        "template": kind,
        "directory": str(directory),
        "files": [str(directory / CONTRACT_FILE_NAME), str(directory / TEST_FILE_NAME)],
    }

    def render() -> None:
        state.stdout.print(f"created [bold]{directory}[/bold] from the {kind} template")
        state.stdout.print(f"  test it:   gusu contract test {directory}")
        state.stdout.print(f"  deploy it: gusu contract deploy {name} {directory / CONTRACT_FILE_NAME} --key KEY")

    state.emit(document, render)


@contract_group.command("templates")
@common_options
def contract_templates() -> None:
    """List the contract templates `gusu contract new --template` offers."""
    state = get_state()

    def render() -> None:
        table = key_value_table("templates")
        for kind, description in TEMPLATES.items():
            table.add_row(kind, description)
        state.stdout.print(table)

    state.emit({"templates": dict(TEMPLATES)}, render)


@contract_group.command("test", context_settings={"ignore_unknown_options": True})
@click.argument("path", type=click.Path(exists=True, path_type=Path), default=Path("."))
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@common_options
def contract_test(path: Path, pytest_args: tuple[str, ...]) -> None:
    """Run the contract's tests (pytest on PATH, default .) against the devkit's in-memory chain.

    Extra arguments go to pytest, e.g. `gusu contract test mytoken -k transfer`.
    """
    state = get_state()
    command = [sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider", *pytest_args]
    try:
        completed = subprocess.run(
            command, capture_output=state.json_output, text=True, timeout=TEST_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise CliUsageError(
            f"the tests in {path} ran longer than {TEST_TIMEOUT_S} s; look for a test that hangs"
        ) from None
    if state.json_output:
        state.emit({"path": str(path), "passed": completed.returncode == 0, "exit_code": completed.returncode,
                    "output": completed.stdout})  # fmt: skip
    if completed.returncode != 0:
        click.get_current_context().exit(completed.returncode)


@contract_group.command("hash")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--suite", type=click.Choice(["sm", "ecdsa"]), default=None,
              help="The chain's suite; without it the node at the endpoint is asked.")  # fmt: skip
@common_options
def contract_hash(file: Path, suite: str | None) -> None:
    """The code hash of FILE: what `gusu gov propose approve-contract --code-hash` names."""
    state = get_state()
    source = read_source(file)
    if suite is None:
        with open_client(state) as client:
            suite = client.status().suite
    code_hash = compute_code_hash(suite, source)
    document: JSONObject = {"file": str(file), "suite": suite, "code_hash": bytes_to_hex(code_hash),
                            "bytes": len(source.encode())}  # fmt: skip

    def render() -> None:
        state.stdout.print(bytes_to_hex(code_hash))
        state.note(
            f"approve it with: gusu gov propose approve-contract --code-hash {bytes_to_hex(code_hash)} --key KEY"
        )

    state.emit(document, render)


# --- on a node -------------------------------------------------------------------------------------


def _check_approved(state: CliState, client: Client, source: str, file: Path, verb: str) -> bytes:
    """The code hash; ContractNotApprovedError naming the proposal to make when the chain requires approval."""
    contracts = Contracts(client)
    code_hash = contracts.compute_code_hash(source)
    if contracts.is_approval_required() and not contracts.is_code_approved(code_hash):
        raise ContractNotApprovedError(
            f"this chain {verb}s only code its governance approved, and {file} (code hash "
            f"{bytes_to_hex(code_hash)}) is not approved yet; an organisation admin proposes it with\n"
            f"  gusu gov propose approve-contract --code-hash {bytes_to_hex(code_hash)} --key ADMIN_KEY\n"
            f"and once the proposal is approved (gusu gov show ID), run this command again"
        )
    return code_hash


def _get_interface(client: Client, name: str) -> ContractInterface | None:
    return Contracts(client).get_interface(name)


def _send(
    *,
    contract: str,
    method: str,
    args: Sequence[Value],
    key_reference: str,
    passphrase_file: Path | None,
    timeout_s: float,
    interface: ContractInterface | None,
    extra: JSONObject,
    client: Client,
) -> None:
    """Sign, send, wait, and print the receipt with its return value and events decoded; exit 1 if it failed."""
    state = get_state()
    key = load_key(state.keys_directory, key_reference, passphrase_file)
    submitted = sign_and_send(client, key, contract, method, args, VALID_FOR_BLOCKS)
    transaction_id = submitted.signed.transaction_id
    with state.busy("waiting for the block that commits it..."):
        view = wait_for_receipt(client, transaction_id, timeout_s)
    receipt = view.receipt
    events = decode_events(receipt, interface)
    document: JSONObject = {
        "id": bytes_to_hex(transaction_id),
        "sender": bytes_to_hex(submitted.signed.sender),
        "contract": contract,
        "method": method,
        **extra,
        "success": receipt.is_success,
        "events": [_event_to_json(event) for event in events],
        "receipt": receipt_view_to_json(view),
    }

    def render() -> None:
        state.stdout.print(receipt_table(receipt, view))
        for event in events:
            if event.fields:
                fields = ", ".join(f"{k}={format_value(value_document(v))}" for k, v in event.fields.items())
                state.stdout.print(f"  event {event.contract}.{event.name}({fields})")

    state.emit(document, render)
    if not receipt.is_success:
        click.echo(f"error: the transaction failed: {receipt.error_code}: {receipt.error_message}", err=True)
        click.get_current_context().exit(EXIT_FAILED)


def _event_to_json(event: DecodedEvent) -> JSONObject:
    fields: JSONObject = {name: value_document(value) for name, value in event.fields.items()}
    return {"contract": event.contract, "name": event.name, "fields": fields, "data": value_document(event.data)}


def _deploy_or_upgrade(
    verb: str,
    name: str,
    file: Path,
    args_json: str | None,
    key_reference: str,
    passphrase_file: Path | None,
    timeout_s: float,
) -> None:
    state = get_state()
    source = read_source(file)
    migration_args = parse_args_json(args_json)
    with open_client(state) as client:
        code_hash = _check_approved(state, client, source, file, verb)
        _send(
            contract=DEPLOYER_CONTRACT,
            method=verb,
            args=[name, source, encode(migration_args)],
            interface=DEPLOYER_INTERFACE,
            extra={"name": name, "file": str(file), "code_hash": bytes_to_hex(code_hash)},
            client=client,
            key_reference=key_reference,
            passphrase_file=passphrase_file,
            timeout_s=timeout_s,
        )


@contract_group.command("deploy")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--args", "args_json", default=None, metavar="JSON",
              help="The @migration's arguments as a JSON array, e.g. '[1000]'.")  # fmt: skip
@key_options
@_timeout_option
@common_options
def contract_deploy(
    name: str, file: Path, args_json: str | None, key_reference: str, passphrase_file: Path | None, timeout_s: float
) -> None:
    """Deploy the contract in FILE at NAME (the key that signs becomes its owner)."""
    _deploy_or_upgrade("deploy", name, file, args_json, key_reference, passphrase_file, timeout_s)


@contract_group.command("upgrade")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--args", "args_json", default=None, metavar="JSON",
              help="The new code's @migration arguments as a JSON array.")  # fmt: skip
@key_options
@_timeout_option
@common_options
def contract_upgrade(
    name: str, file: Path, args_json: str | None, key_reference: str, passphrase_file: Path | None, timeout_s: float
) -> None:
    """Point NAME at the code in FILE, keeping its state and running the new migration (owner only)."""
    _deploy_or_upgrade("upgrade", name, file, args_json, key_reference, passphrase_file, timeout_s)


@contract_group.command("call", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("method")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@key_options
@_timeout_option
@common_options
def contract_call(
    name: str, method: str, args: tuple[str, ...], key_reference: str, passphrase_file: Path | None, timeout_s: float
) -> None:
    """Send NAME.METHOD(ARGS...) as a transaction; events are shown by their declared fields.

    ARGS are read as by `gusu tx send` (0x.. addresses and bytes, JSON, else text).
    """
    state = get_state()
    values = parse_arguments(args)
    with open_client(state) as client:
        interface = _get_interface(client, name)
        if interface is None:
            raise NotFoundError(f"no contract named {name!r} is deployed; deploy it with `gusu contract deploy`")
        _send(
            contract=name,
            method=method,
            args=values,
            key_reference=key_reference,
            passphrase_file=passphrase_file,
            timeout_s=timeout_s,
            interface=interface,
            extra={},
            client=client,
        )


@contract_group.command("view", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("method")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--sender", default=None, metavar="ADDRESS|KEY", help="Caller address the view sees.")
@common_options
def contract_view(name: str, method: str, args: tuple[str, ...], sender: str | None) -> None:
    """Call the view NAME.METHOD(ARGS...) against the latest state (no transaction)."""
    state = get_state()
    values = parse_arguments(args)
    sender_address = resolve_address(state, sender) if sender is not None else None
    with open_client(state) as client:
        result = Contracts(client).view(name, method, values, sender_address)
    document: JSONObject = {"contract": name, "method": method, "return_value": value_document(result)}
    state.emit(document, lambda: state.stdout.print(format_value(document["return_value"])))


def _instance_to_json(instance: InstanceView) -> JSONObject:
    return {
        "name": instance.name,
        "code_hash": bytes_to_hex(instance.code_hash),
        "owner": bytes_to_hex(instance.owner),
        "version": instance.version,
        "deployed_height": instance.deployed_height,
        "upgraded_height": instance.upgraded_height,
        "code_bytes": instance.code_bytes,
    }


def _interface_to_json(interface: ContractInterface) -> JSONObject:
    return {
        "methods": [
            {
                "name": m.name,
                "kind": m.kind,
                "parameters": [{"name": p.name, "type": p.annotation} for p in m.parameters],
            }
            for m in interface.methods
        ],
        "events": [{"name": e.name, "fields": list(e.fields)} for e in interface.events],
        "migration": interface.migration,
    }


@contract_group.command("show")
@click.argument("name")
@common_options
def contract_show(name: str) -> None:
    """Show the contract deployed at NAME: owner, version, code hash, methods and events."""
    state = get_state()
    with open_client(state) as client:
        contracts = Contracts(client)
        instance = contracts.get_instance(name)
        interface = contracts.get_interface(name) if instance is not None else None
    if instance is None or interface is None:
        raise NotFoundError(f"no contract named {name!r} is deployed; deploy it with `gusu contract deploy`")
    document = {**_instance_to_json(instance), "interface": _interface_to_json(interface)}

    def render() -> None:
        table = key_value_table(f"contract {name}")
        table.add_row("code hash", bytes_to_hex(instance.code_hash))
        table.add_row("owner", bytes_to_hex(instance.owner))
        table.add_row("version", f"{instance.version} (deployed at {instance.deployed_height}, "
                      f"upgraded at {instance.upgraded_height})")  # fmt: skip
        table.add_row("code", f"{instance.code_bytes:,} bytes")
        for method in interface.methods:
            table.add_row(method.kind, method.get_signature())
        for event in interface.events:
            table.add_row("event", f"{event.name}({', '.join(event.fields)})")
        state.stdout.print(table)

    state.emit(document, render)


def _contract_event_to_json(event: ContractEventView, interface: ContractInterface | None) -> JSONObject:
    """An event of the history, its fields named when the contract's interface declares it (as `call` shows)."""
    schema = None if interface is None else interface.get_event(event.name)
    fields: JSONObject = {}
    if schema is not None and isinstance(event.data, list) and len(event.data) == len(schema.fields):
        fields = {name: value_document(value) for name, value in zip(schema.fields, event.data, strict=True)}
    return {
        "height": event.height,
        "block_hash": bytes_to_hex(event.block_hash),
        "transaction_id": bytes_to_hex(event.transaction_id),
        "index": event.index,
        "event_index": event.event_index,
        "contract": event.contract,
        "name": event.name,
        "fields": fields,
        "data": value_document(event.data),
    }


@contract_group.command("events")
@click.argument("name")
@click.option(
    "--from",
    "from_height",
    type=click.IntRange(min=0),
    default=None,
    help="First block to search [default: the widest range the node allows, ending at --to].",
)
@click.option(
    "--to", "to_height", type=click.IntRange(min=0), default=None, help="Last block to search [default: the latest]."
)
@click.option("--event", "event_name", default=None, metavar="EVENT", help="List only events of this name.")
@common_options
def contract_events(name: str, from_height: int | None, to_height: int | None, event_name: str | None) -> None:
    """List the events contract NAME emitted in blocks --from to --to, oldest first (gusu_getEvents).

    Every transaction counts, whoever sent it. A node searches a bounded range at once (1,000 blocks by
    default, [api] events_block_range_max): for a longer history, ask range by range.
    """
    state = get_state()
    with open_client(state) as client:
        found = client.get_events(name, from_height, to_height, event_name)
        try:
            interface = _get_interface(client, name)
        except RemoteError:  # a chain without the deployer: built-in contracts only, no interfaces to read
            interface = None
    rows = [_contract_event_to_json(event, interface) for event in found.events]
    document: JSONObject = {
        "contract": name,
        "name": event_name,
        "from_height": found.from_height,
        "to_height": found.to_height,
        "events": [*rows],
    }

    def render() -> None:
        table = Table(
            title=f"events of {name}, blocks {found.from_height} to {found.to_height}, oldest first",
            title_justify="left",
        )
        for column in ("height", "#", "transaction", "event", "fields"):
            table.add_column(column, justify="right" if column in ("height", "#") else "left")
        for event, entry in zip(found.events, rows, strict=True):
            shown = entry["fields"] or entry["data"]
            table.add_row(
                str(event.height),
                f"{event.index}.{event.event_index}",
                bytes_to_hex(event.transaction_id),
                event.name,
                format_value(shown),
            )
        state.stdout.print(table)

    state.emit(document, render)


@contract_group.command("client")
@click.argument("name")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the module to this file instead of printing it.")  # fmt: skip
@common_options
def contract_client(name: str, output: Path | None) -> None:
    """Print a typed Python client of the contract deployed at NAME (one method per entry point)."""
    state = get_state()
    with open_client(state) as client:
        interface = Contracts(client).get_interface(name)
    if interface is None:
        raise NotFoundError(f"no contract named {name!r} is deployed; deploy it with `gusu contract deploy`")
    source = generate_client(interface, name)
    if output is not None:
        output.write_text(source, encoding="utf-8")
    document: JSONObject = {"name": name, "source": source, "output": None if output is None else str(output)}

    def render() -> None:
        if output is None:
            click.echo(source, nl=False)
        else:
            state.stdout.print(f"wrote the client of {name} to {output}")

    state.emit(document, render)
