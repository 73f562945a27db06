"""`gusu evm`: deploy, call and send to Solidity (EVM) contracts from a compiled artifact.

Transactions are ordinary Gusu transactions to the native `evm` contract,
signed with a Gusu key (`--key`, as `gusu contract` takes it), so the same
commands work on `sm` chains (SM2) and `ecdsa` chains. Arguments are read by
the ABI's types (`gusu.sdk.evm.parse_abi_argument`), results, logs and
reverts decoded with the artifact's ABI. Guide: docs/evm.md ("Solidity
through the SDK and CLI") and docs/cli.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from gusu.cli.context import CliUsageError, common_options, get_state
from gusu.cli.keystore import load_key
from gusu.cli.remote import RECEIPT_TIMEOUT_S, VALID_FOR_BLOCKS, open_client, sign_and_send, wait_for_receipt
from gusu.cli.render import receipt_table, receipt_view_to_json
from gusu.cli.tx import key_options, resolve_address
from gusu.errors import ClientError, TransactionFailedError
from gusu.ledger.jsonview import JSON, JSONObject, bytes_to_hex
from gusu.ledger.types import Receipt
from gusu.sdk import Client
from gusu.sdk.evm import (
    EVM_CONTRACT,
    DecodedLog,
    EvmAbi,
    EvmArtifact,
    EvmContracts,
    EvmRevertError,
    compute_runtime_code_hash,
    decode_logs,
    encode_call,
    encode_constructor,
    get_deployment,
    get_send_outcome,
    load_artifact,
    parse_abi_arguments,
    parse_address,
    to_json_value,
)
from gusu.sdk.views import ReceiptView

EXIT_FAILED = 1
ABI_FILES_MAX = 16
"""Artifacts `gusu evm logs --abi` reads at most."""

_ARGS = {"ignore_unknown_options": True}
"""So that negative numbers (-5) reach the argument list instead of being read as options."""


def _timeout_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=RECEIPT_TIMEOUT_S,
                        show_default=True, help="Seconds to wait for the receipt.")(function)  # fmt: skip


def _value_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option("--value", type=click.IntRange(min=0), default=0, show_default=True,
                        help="Native tokens sent with the call (msg.value).")(function)  # fmt: skip


def _load(path: Path) -> EvmArtifact:
    try:
        return load_artifact(path)
    except ClientError as error:
        raise CliUsageError(str(error)) from None


def _arguments(parameters: Sequence[Any], texts: Sequence[str], what: str) -> list[Any]:
    try:
        return parse_abi_arguments(parameters, texts, what)
    except ClientError as error:
        raise CliUsageError(str(error)) from None


def _address(text: str) -> bytes:
    try:
        return parse_address(text)
    except ClientError as error:
        raise CliUsageError(str(error)) from None


def log_to_json(log: DecodedLog) -> JSONObject:
    return {
        "address": log.log.address,
        "event": log.event,
        "args": to_json_value(dict(log.args)),
        "topics": [bytes_to_hex(topic) for topic in log.log.topics],
        "data": bytes_to_hex(log.log.data),
    }


def format_log(log: DecodedLog) -> str:
    if log.event is None:
        topics = ", ".join(bytes_to_hex(topic) for topic in log.log.topics)
        return f"log of {log.log.address}: topics [{topics}] data {bytes_to_hex(log.log.data)}"
    shown = ", ".join(f"{name}={_format(value)}" for name, value in log.args.items())
    return f"{log.event}({shown}) from {log.log.address}"


def _format(value: Any) -> str:
    converted = to_json_value(value)
    return str(converted) if not isinstance(converted, str) else converted


def _revert_to_json(error: TransactionFailedError) -> JSONObject:
    if not isinstance(error, EvmRevertError):
        return {"code": error.receipt_code, "message": str(error)}
    return {
        "code": "reverted",
        "reason": error.reason,
        "error_name": error.error_name,
        "error_args": to_json_value(dict(error.error_args)),
        "data": bytes_to_hex(error.data),
        "message": str(error),
    }


def _transact(
    client: Client,
    *,
    method: str,
    args: list[Any],
    key_reference: str,
    passphrase_file: Path | None,
    timeout_s: float,
    outcome: Callable[[Receipt], tuple[JSONObject, tuple[DecodedLog, ...]]],
    extra: JSONObject,
) -> None:
    """Sign `evm.METHOD(args)`, wait, and print the decoded outcome; on failure the reason, and exit 1."""
    state = get_state()
    key = load_key(state.keys_directory, key_reference, passphrase_file)
    submitted = sign_and_send(client, key, EVM_CONTRACT, method, args, VALID_FOR_BLOCKS)
    transaction_id = submitted.signed.transaction_id
    with state.busy("waiting for the block that commits it..."):
        view: ReceiptView = wait_for_receipt(client, transaction_id, timeout_s)
    document: JSONObject = {"id": bytes_to_hex(transaction_id), "sender": bytes_to_hex(submitted.signed.sender),
                            **extra}  # fmt: skip
    failure: TransactionFailedError | None = None
    logs: tuple[DecodedLog, ...] = ()
    try:
        result, logs = outcome(view.receipt)
        document.update(result)
        document["success"] = True
    except TransactionFailedError as error:
        failure = error
        document["success"] = False
        document["error"] = _revert_to_json(error)
    document["logs"] = [log_to_json(log) for log in logs]
    document["receipt"] = receipt_view_to_json(view)

    def render() -> None:
        state.stdout.print(receipt_table(view.receipt, view))
        for key_name in ("address", "return_value"):
            if key_name in document:
                state.stdout.print(f"  {key_name.replace('_', ' ')}: {_format(document[key_name])}")
        for log in logs:
            state.stdout.print(f"  log {format_log(log)}")

    state.emit(document, render)
    if failure is not None:
        click.echo(f"error: {failure}", err=True)
        click.get_current_context().exit(EXIT_FAILED)


@click.group("evm")
def evm_group() -> None:
    """Deploy and call Solidity (EVM) contracts with Gusu transactions (docs/evm.md)."""


@evm_group.command("deploy", context_settings=_ARGS)
@click.argument("artifact_file", metavar="ARTIFACT", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@_value_option
@key_options
@_timeout_option
@common_options
def evm_deploy(
    artifact_file: Path,
    args: tuple[str, ...],
    value: int,
    key_reference: str,
    passphrase_file: Path | None,
    timeout_s: float,
) -> None:
    """Deploy the contract compiled in ARTIFACT (Hardhat or solc JSON), constructor ARGS by the ABI's types.

    Integers in decimal or 0x hex, addresses and bytes as 0x hex, bool as true/false, strings as they
    are, arrays and tuples as JSON. The new contract's address is printed (and "address" in --json).
    """
    state = get_state()
    artifact = _load(artifact_file)
    values = _arguments(artifact.abi.constructor_inputs, args, f"the constructor of {artifact.name}")
    try:
        init_code = encode_constructor(artifact, values)
    except ClientError as error:
        raise CliUsageError(str(error)) from None

    def outcome(receipt: Receipt) -> tuple[JSONObject, tuple[DecodedLog, ...]]:
        deployed = get_deployment(receipt, artifact)
        return {"address": deployed.address}, deployed.logs

    with open_client(state) as client:
        _transact(client, method="deploy", args=[init_code, value], key_reference=key_reference,
                  passphrase_file=passphrase_file, timeout_s=timeout_s, outcome=outcome,
                  extra={"artifact": str(artifact_file), "contract": artifact.name})  # fmt: skip


@evm_group.command("send", context_settings=_ARGS)
@click.argument("address")
@click.argument("artifact_file", metavar="ARTIFACT", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("function")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@_value_option
@key_options
@_timeout_option
@common_options
def evm_send(
    address: str,
    artifact_file: Path,
    function: str,
    args: tuple[str, ...],
    value: int,
    key_reference: str,
    passphrase_file: Path | None,
    timeout_s: float,
) -> None:
    """Send FUNCTION(ARGS...) to the contract at ADDRESS in a transaction; its return value and logs, decoded.

    FUNCTION is a name, or a signature such as 'transfer(address,uint256)' when it is overloaded.
    """
    state = get_state()
    artifact = _load(artifact_file)
    contract_address = _address(address)
    entry = _get_function(artifact.abi, function, len(args))
    data = encode_call(entry, _arguments(entry.inputs, args, entry.signature))

    def outcome(receipt: Receipt) -> tuple[JSONObject, tuple[DecodedLog, ...]]:
        sent = get_send_outcome(receipt, entry, artifact.abi, entry.signature)
        return {"return_value": to_json_value(sent.value)}, sent.logs

    with open_client(state) as client:
        _transact(client, method="call", args=[contract_address, data, value], key_reference=key_reference,
                  passphrase_file=passphrase_file, timeout_s=timeout_s, outcome=outcome,
                  extra={"address": bytes_to_hex(contract_address), "function": entry.signature})  # fmt: skip


def _get_function(abi: EvmAbi, function: str, argument_count: int) -> Any:
    try:
        return abi.get_function(function, argument_count)
    except ClientError as error:
        raise CliUsageError(str(error)) from None


@evm_group.command("call", context_settings=_ARGS)
@click.argument("address")
@click.argument("artifact_file", metavar="ARTIFACT", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("function")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--sender", default=None, metavar="ADDRESS|KEY", help="msg.sender the call sees.")
@common_options
def evm_call(address: str, artifact_file: Path, function: str, args: tuple[str, ...], sender: str | None) -> None:
    """Run FUNCTION(ARGS...) of the contract at ADDRESS against the latest state (no transaction)."""
    state = get_state()
    artifact = _load(artifact_file)
    contract_address = _address(address)
    entry = _get_function(artifact.abi, function, len(args))
    values = _arguments(entry.inputs, args, entry.signature)
    sender_address = resolve_address(state, sender) if sender is not None else None
    document: JSONObject = {"address": bytes_to_hex(contract_address), "function": entry.signature}
    with open_client(state) as client:
        try:
            result = EvmContracts(client).call(contract_address, artifact.abi, entry.signature, values,
                                               sender=sender_address)  # fmt: skip
        except EvmRevertError as error:
            # The node answered: a revert is the contract's word, not a connection problem.
            if state.json_output:
                state.emit({**document, "success": False, "error": _revert_to_json(error)})
            click.echo(f"error: {error}", err=True)
            click.get_current_context().exit(EXIT_FAILED)
    document["return_value"] = to_json_value(result)
    state.emit(document, lambda: state.stdout.print(_format(document["return_value"])))


@evm_group.command("logs")
@click.argument("transaction_id")
@click.option("--abi", "abi_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="An artifact whose events decode the logs (repeat for several contracts).")  # fmt: skip
@common_options
def evm_logs(transaction_id: str, abi_files: tuple[Path, ...]) -> None:
    """The EVM logs of a committed transaction, decoded by the events of the --abi artifacts."""
    state = get_state()
    events_abi = _get_events_abi(abi_files)
    with open_client(state) as client:
        view = client.get_receipt(transaction_id)
    logs = decode_logs(view.receipt, events_abi)
    document: JSONObject = {"id": bytes_to_hex(view.receipt.transaction_id), "height": view.height,
                            "logs": [log_to_json(log) for log in logs]}  # fmt: skip

    def render() -> None:
        if not logs:
            state.stdout.print("no EVM logs")
        for log in logs:
            state.stdout.print(format_log(log))

    state.emit(document, render)


def _get_events_abi(abi_files: Sequence[Path]) -> EvmAbi:
    """The events of every artifact in `abi_files`, as one ABI (a transaction's logs may come from several)."""
    if len(abi_files) > ABI_FILES_MAX:
        raise CliUsageError(f"give at most {ABI_FILES_MAX} --abi artifacts")
    artifacts = [_load(path) for path in abi_files]
    return EvmAbi((), False, (), tuple(e for a in artifacts for e in a.abi.events), ())


def decode_receipt_logs(receipt: Receipt, abi_files: Sequence[Path]) -> tuple[list[JSON], list[str]]:
    """A receipt's EVM logs for `gusu tx show`: as JSON and as lines for people, decoded by `abi_files`."""
    logs = decode_logs(receipt, _get_events_abi(abi_files))
    return [log_to_json(log) for log in logs], [format_log(log) for log in logs]


@evm_group.command("hash")
@click.argument("artifact_file", metavar="ARTIFACT", type=click.Path(dir_okay=False, path_type=Path))
@common_options
def evm_hash(artifact_file: Path) -> None:
    """The code hash of ARTIFACT's deployed code: what `gusu gov propose approve-contract` names.

    keccak-256 of deployedBytecode, as a governed chain checks it. A contract with immutable variables
    embeds constructor values in its code: deploy it once, and the refusal names the hash to approve.
    """
    state = get_state()
    artifact = _load(artifact_file)
    try:
        code_hash = compute_runtime_code_hash(artifact)
    except ClientError as error:
        raise CliUsageError(str(error)) from None
    document: JSONObject = {"artifact": str(artifact_file), "contract": artifact.name,
                            "code_hash": bytes_to_hex(code_hash)}  # fmt: skip

    def render() -> None:
        state.stdout.print(bytes_to_hex(code_hash))
        state.note(
            f"approve it with: gusu gov propose approve-contract --code-hash {bytes_to_hex(code_hash)} --key KEY"
        )

    state.emit(document, render)
