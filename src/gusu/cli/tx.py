"""`gusu tx`: send and inspect transactions, call read-only methods, check inclusion proofs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from gusu.cli.args import parse_address_hex, parse_arguments, parse_hash
from gusu.cli.context import CliState, CliUsageError, common_options, get_state
from gusu.cli.keystore import load_key, read_key_metadata, resolve_key_path
from gusu.cli.remote import RECEIPT_TIMEOUT_S, VALID_FOR_BLOCKS, open_client, sign_and_send, wait_for_receipt
from gusu.cli.render import (
    format_value,
    receipt_table,
    receipt_view_to_json,
    transaction_table,
    transaction_view_to_json,
    value_document,
)
from gusu.codec import Value
from gusu.crypto import get_suite
from gusu.errors import NotFoundError, RemoteError
from gusu.ledger.jsonview import JSONObject, bytes_to_hex, header_to_json
from gusu.ledger.types import Hash
from gusu.sdk import Client, ReceiptView, verify_block_hash, verify_transaction_proof

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILED_TRANSACTION = 1


def key_options(function: F) -> F:
    """--key and --passphrase-file, for every command that signs."""
    function = click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="File holding the key's passphrase (else KEY.pass beside a key file, $GUSU_PASSPHRASE, or a prompt).",
    )(function)
    return click.option(
        "--key",
        "key_reference",
        required=True,
        metavar="NAME|PATH",
        help="Signing key: a keystore name or a key file (e.g. <chain>/keys/dev.json).",
    )(function)


def wait_options(function: F) -> F:
    function = click.option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=0.1),
        default=RECEIPT_TIMEOUT_S,
        show_default=True,
        help="Seconds to wait for the receipt.",
    )(function)
    function = click.option(
        "--valid-for",
        "valid_for_blocks",
        type=click.IntRange(min=1),
        default=VALID_FOR_BLOCKS,
        show_default=True,
        help="Blocks past the current height during which the transaction may commit.",
    )(function)
    return click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the receipt and show it.")(
        function
    )


def resolve_address(state: CliState, text: str) -> bytes:
    """A 0x address, or the address of a keystore key or key file (no passphrase needed)."""
    address = parse_address_hex(text)
    if address is not None:
        return address
    try:
        _, path = resolve_key_path(state.keys_directory, text)
    except CliUsageError:
        raise CliUsageError(
            f"{text!r} is neither an address (0x followed by 40 hex digits) nor a key in {state.keys_directory}"
        ) from None
    return read_key_metadata(path).address


def send_and_report(
    *,
    contract: str,
    method: str,
    args: Sequence[Value],
    key_reference: str,
    passphrase_file: Path | None,
    wait: bool,
    valid_for_blocks: int,
    timeout_s: float,
    extra: JSONObject | None = None,
    describe: Callable[[], None] | None = None,
) -> ReceiptView | None:
    """Sign, send, optionally wait, and print the outcome; exits 1 if the transaction failed."""
    state = get_state()
    key = load_key(state.keys_directory, key_reference, passphrase_file)
    with open_client(state) as client:
        submitted = sign_and_send(client, key, contract, method, args, valid_for_blocks)
        transaction_id = submitted.signed.transaction_id
        document: JSONObject = {
            "id": bytes_to_hex(transaction_id),
            "sender": bytes_to_hex(submitted.signed.sender),
            "contract": contract,
            "method": method,
            "valid_until_height": submitted.signed.transaction.valid_until_height,
            **(extra or {}),
        }
        if not state.json_output:
            if describe is not None:
                describe()
            state.stdout.print(f"transaction [bold]{document['id']}[/bold] accepted by the node")
        view: ReceiptView | None = None
        if wait:
            with state.busy("waiting for the block that commits it..."):
                view = wait_for_receipt(client, transaction_id, timeout_s)
            document["receipt"] = receipt_view_to_json(view)
    if state.json_output:
        state.emit(document)
    elif view is not None:
        state.stdout.print(receipt_table(view.receipt, view))
    else:
        state.stdout.print(f"follow it with: gusu tx show {document['id']}")
    if view is not None and not view.receipt.is_success:
        click.echo(f"error: the transaction failed: {view.receipt.error_code}: {view.receipt.error_message}", err=True)
        click.get_current_context().exit(EXIT_FAILED_TRANSACTION)
    return view


@click.group("tx")
def tx_group() -> None:
    """Send transactions and read them back."""


@tx_group.command("send", context_settings={"ignore_unknown_options": True})
@click.argument("contract")
@click.argument("method")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@key_options
@wait_options
@common_options
def tx_send(
    contract: str,
    method: str,
    args: tuple[str, ...],
    key_reference: str,
    passphrase_file: Path | None,
    wait: bool,
    valid_for_blocks: int,
    timeout_s: float,
) -> None:
    """Sign and send CONTRACT.METHOD(ARGS...), e.g. `gusu tx send account transfer 0xADDR 10 --key dev.json`.

    \b
    ARGS: 0x + 40 hex digits is an address, other 0x hex is bytes, JSON is
    JSON (numbers, "strings", true, null, [arrays], {"hex": "0x.."}), and
    anything else is a plain string.
    """
    send_and_report(
        contract=contract,
        method=method,
        args=parse_arguments(args),
        key_reference=key_reference,
        passphrase_file=passphrase_file,
        wait=wait,
        valid_for_blocks=valid_for_blocks,
        timeout_s=timeout_s,
    )


@tx_group.command("call", context_settings={"ignore_unknown_options": True})
@click.argument("contract")
@click.argument("method")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--sender", default=None, metavar="ADDRESS|KEY", help="Caller address the method sees.")
@common_options
def tx_call(contract: str, method: str, args: tuple[str, ...], sender: str | None) -> None:
    """Run a read-only method against the latest state (nothing is stored)."""
    state = get_state()
    values = parse_arguments(args)
    sender_address = resolve_address(state, sender) if sender is not None else None
    with open_client(state) as client:
        result = client.call(contract, method, values, sender_address)
    document = {"contract": contract, "method": method, "return_value": value_document(result)}
    state.emit(document, lambda: state.stdout.print(format_value(document["return_value"])))


def _fetch_transaction(
    client: Client, transaction_id: Hash, abi_files: Sequence[Path] = ()
) -> tuple[JSONObject, Callable[[], None]]:
    state = get_state()
    view = client.get_transaction(transaction_id)
    document = transaction_view_to_json(view)
    receipt: ReceiptView | None = None
    evm_lines: list[str] = []
    if view.is_committed:
        receipt = client.get_receipt(transaction_id)
        document["receipt"] = receipt_view_to_json(receipt)
        if abi_files or any(event.contract == "evm" and event.name == "Log" for event in receipt.receipt.events):
            # Imported here: the ABI decoder (eth-abi) is loaded only for receipts with EVM logs.
            from gusu.cli.evm import decode_receipt_logs

            document["evm_logs"], evm_lines = decode_receipt_logs(receipt.receipt, abi_files)

    def render() -> None:
        state.stdout.print(transaction_table(view))
        if receipt is not None:
            state.stdout.print(receipt_table(receipt.receipt, receipt))
        for line in evm_lines:
            state.stdout.print(f"  log {line}")

    return document, render


@tx_group.command("show")
@click.argument("transaction_id")
@click.option("--abi", "abi_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A compiled Solidity artifact whose events decode the receipt's EVM logs (repeatable).")  # fmt: skip
@common_options
def tx_show(transaction_id: str, abi_files: tuple[Path, ...]) -> None:
    """Show a transaction, its status and (once committed) its receipt; EVM logs decoded by --abi."""
    state = get_state()
    tid = Hash(parse_hash(transaction_id, "a transaction id"))
    with open_client(state) as client:
        try:
            document, render = _fetch_transaction(client, tid, abi_files)
        except RemoteError as error:
            if error.code == NotFoundError.code:
                raise NotFoundError(f"the node has never seen transaction {bytes_to_hex(tid)}") from error
            raise
    state.emit(document, render)


@tx_group.command("proof")
@click.argument("transaction_id")
@common_options
def tx_proof(transaction_id: str) -> None:
    """Fetch a transaction's inclusion proof and check it locally against the block header.

    The header is checked against the block hash and the proof against the
    header's transactions root, with the chain's own hash function; exits 1
    when the check fails.
    """
    state = get_state()
    tid = Hash(parse_hash(transaction_id, "a transaction id"))
    with open_client(state) as client:
        suite = get_suite(client.status().suite)
        proof = client.get_transaction_proof(tid)
    header_ok = verify_block_hash(suite, proof.header, proof.block_hash)
    inclusion_ok = verify_transaction_proof(suite, proof.header, tid, proof.proof)
    valid = header_ok and inclusion_ok
    document: JSONObject = {
        "transaction_id": bytes_to_hex(tid),
        "valid": valid,
        "header_matches_block_hash": header_ok,
        "included_in_transactions_root": inclusion_ok,
        "height": proof.height,
        "block_hash": bytes_to_hex(proof.block_hash),
        "index": proof.proof.leaf_index,
        "leaf_count": proof.proof.leaf_count,
        "path": [bytes_to_hex(node) for node in proof.proof.path],
        "header": header_to_json(proof.header),
        "suite": suite.name,
    }

    def render() -> None:
        mark = "[green]✓[/green]" if valid else "[red]✗[/red]"
        state.stdout.print(
            f"{mark} transaction {bytes_to_hex(tid)} is leaf {proof.proof.leaf_index} of "
            f"{proof.proof.leaf_count} in block {proof.height}"
        )
        state.stdout.print(
            f"  {'✓' if header_ok else '✗'} header hashes ({suite.hash_name}) to block {bytes_to_hex(proof.block_hash)}"
        )
        state.stdout.print(
            f"  {'✓' if inclusion_ok else '✗'} Merkle path of {len(proof.proof.path)} node(s) leads to the "
            f"transactions root {bytes_to_hex(proof.header.transactions_root)}"
        )

    state.emit(document, render)
    if not valid:
        click.echo("error: the proof does not check out; do not trust this node's answer", err=True)
        click.get_current_context().exit(1)
