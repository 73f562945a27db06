"""Shortcuts for the built-in contracts: `gusu account ...` and `gusu evidence ...`.

They are `gusu tx send/call` with the arguments typed for people:
addresses may be key names, and evidence commands hash a file with the
chain's own hash function (SM3 on an "sm" chain, keccak-256 on "ecdsa").
"""

from __future__ import annotations

from pathlib import Path

import click

from gusu.cli.args import parse_position
from gusu.cli.context import CliUsageError, common_options, get_state
from gusu.cli.remote import open_client
from gusu.cli.render import format_time_ms, key_value_table, sender_history_table, sender_history_to_json
from gusu.cli.tx import key_options, resolve_address, send_and_report, wait_options
from gusu.codec import Value
from gusu.crypto import CryptoSuite, get_suite
from gusu.ledger.jsonview import bytes_to_hex
from gusu.sdk.client import SENDER_TRANSACTIONS_LIMIT

_FILE_BYTES_MAX = 1 << 30
"""Files larger than this are refused: the hash is computed in memory."""


@click.group("account")
def account_group() -> None:
    """Balances and transfers of the native token (the `account` contract)."""


@account_group.command("balance")
@click.argument("address", metavar="ADDRESS|KEY")
@common_options
def account_balance(address: str) -> None:
    """Balance of ADDRESS (0x..., or a keystore key name or key file)."""
    state = get_state()
    account = resolve_address(state, address)
    with open_client(state) as client:
        balance = client.call("account", "balance", [account])
    if not isinstance(balance, int) or isinstance(balance, bool):
        raise CliUsageError(f"the node answered account.balance with {balance!r}, not an integer")
    document = {"address": bytes_to_hex(account), "balance": balance}
    state.emit(document, lambda: state.stdout.print(f"{document['address']}  {balance:,}"))


@account_group.command("history")
@click.argument("address", metavar="ADDRESS|KEY")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=SENDER_TRANSACTIONS_LIMIT,
    show_default=True,
    help="Most transactions to list (the node allows up to its api.sender_transactions_max, 1000 by default).",
)
@click.option(
    "--before",
    default=None,
    metavar="HEIGHT:INDEX",
    help="List only transactions older than this position (the cursor a previous page printed).",
)
@common_options
def account_history(address: str, limit: int, before: str | None) -> None:
    """Committed transactions ADDRESS sent, newest first (pending ones are not listed).

    Each row is one transaction: block height, index in the block, id and
    contract.method. For its status and receipt, use `gusu tx show ID`.
    """
    state = get_state()
    account = resolve_address(state, address)
    cursor = parse_position(before) if before is not None else None
    with open_client(state) as client:
        page = client.get_transactions_by_sender(account, limit, cursor)
    document = sender_history_to_json(account, page)

    def render() -> None:
        if not page.transactions:
            older = "" if cursor is None else f" before {cursor[0]}:{cursor[1]}"
            state.stdout.print(f"no committed transactions sent by {document['address']}{older}")
            return
        state.stdout.print(sender_history_table(account, page))
        if page.next is not None:
            height, index = page.next
            state.note(
                f"older transactions exist: gusu account history {document['address']} "
                f"--limit {limit} --before {height}:{index}"
            )

    state.emit(document, render)


@account_group.command("transfer")
@click.argument("to", metavar="TO")
@click.argument("amount", type=click.IntRange(min=1))
@key_options
@wait_options
@common_options
def account_transfer(
    to: str,
    amount: int,
    key_reference: str,
    passphrase_file: Path | None,
    wait: bool,
    valid_for_blocks: int,
    timeout_s: float,
) -> None:
    """Transfer AMOUNT to TO (0x address, or a key name or key file) from --key."""
    state = get_state()
    recipient = resolve_address(state, to)
    send_and_report(
        contract="account",
        method="transfer",
        args=[recipient, amount],
        key_reference=key_reference,
        passphrase_file=passphrase_file,
        wait=wait,
        valid_for_blocks=valid_for_blocks,
        timeout_s=timeout_s,
        extra={"to": bytes_to_hex(recipient), "amount": amount},
    )


@click.group("evidence")
def evidence_group() -> None:
    """Record and verify document hashes (the `evidence` contract, 存证)."""


def hash_file(suite: CryptoSuite, path: Path) -> bytes:
    size = path.stat().st_size
    if size > _FILE_BYTES_MAX:
        raise CliUsageError(f"{path} is {size:,} bytes; files up to {_FILE_BYTES_MAX:,} bytes can be hashed")
    return suite.hash(path.read_bytes())


@evidence_group.command("record")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metadata", default="", help="Short text stored with the hash (title, reference...).")
@key_options
@wait_options
@common_options
def evidence_record(
    file: Path,
    metadata: str,
    key_reference: str,
    passphrase_file: Path | None,
    wait: bool,
    valid_for_blocks: int,
    timeout_s: float,
) -> None:
    """Record the hash of FILE on the chain (the file itself never leaves this machine)."""
    state = get_state()
    with open_client(state) as client:
        suite = get_suite(client.status().suite)
    document_hash = hash_file(suite, file)
    hash_hex = bytes_to_hex(document_hash)
    send_and_report(
        contract="evidence",
        method="record",
        args=[document_hash, metadata],
        key_reference=key_reference,
        passphrase_file=passphrase_file,
        wait=wait,
        valid_for_blocks=valid_for_blocks,
        timeout_s=timeout_s,
        extra={"file": str(file), "document_hash": hash_hex, "hash": suite.hash_name},
        describe=lambda: state.stdout.print(f"{file}: {suite.hash_name} {hash_hex}"),
    )


@evidence_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--submitter", default=None, metavar="ADDRESS|KEY", help="Also check that this account recorded it.")
@common_options
def evidence_verify(file: Path, submitter: str | None) -> None:
    """Show who recorded FILE's hash, when, and at which height; exits 1 if it was never recorded."""
    state = get_state()
    expected = resolve_address(state, submitter) if submitter is not None else None
    with open_client(state) as client:
        suite = get_suite(client.status().suite)
        document_hash = hash_file(suite, file)
        record = client.call("evidence", "get", [document_hash])
    hash_hex = bytes_to_hex(document_hash)
    document: dict[str, Value | dict[str, Value]] = {
        "file": str(file),
        "document_hash": hash_hex,
        "hash": suite.hash_name,
        "recorded": record is not None,
    }
    if record is None:
        state.emit(document, lambda: state.stdout.print(f"[red]✗[/red] {file} ({hash_hex}) was never recorded"))
        click.get_current_context().exit(1)
    if not isinstance(record, list) or len(record) < 4 or not isinstance(record[0], bytes):
        raise CliUsageError(f"the node answered evidence.get with an unexpected record: {record!r}")
    submitter_address, height, timestamp_ms, metadata = record[0], record[1], record[2], record[3]
    document.update(
        {
            "submitter": bytes_to_hex(submitter_address),
            "height": height,
            "timestamp_ms": timestamp_ms,
            "metadata": metadata,
        }
    )
    matches = expected is None or expected == submitter_address
    if expected is not None:
        document["expected_submitter"] = bytes_to_hex(expected)
        document["submitter_matches"] = matches

    def render() -> None:
        mark = "[green]✓[/green]" if matches else "[red]✗[/red]"
        state.stdout.print(f"{mark} {file} is recorded on the chain")
        table = key_value_table()
        table.add_row(suite.hash_name, hash_hex)
        table.add_row("recorded by", bytes_to_hex(submitter_address))
        table.add_row("height", str(height))
        when = format_time_ms(timestamp_ms) if isinstance(timestamp_ms, int) else str(timestamp_ms)
        table.add_row("time", when)
        table.add_row("metadata", str(metadata))
        if expected is not None and not matches:
            table.add_row("expected", f"[red]{bytes_to_hex(expected)}[/red] (a different account)")
        state.stdout.print(table)

    state.emit(document, render)
    if not matches:
        click.get_current_context().exit(1)
