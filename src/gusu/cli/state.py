"""`gusu state`: read a contract's stored value with a state proof and check it locally.

The node's answer is checked with the chain's own hash function against what
the user trusts: a block hash given with --block-hash (from another
organisation's node, a court record, a light client), and, with --genesis,
the commit certificate against the genesis validators (valid while the
validator set is the genesis one). Without either, the proof is checked
against the block hash the node itself reports, which shows the answer is
self-consistent but not that the block is the chain's.
"""

from __future__ import annotations

from pathlib import Path

import click

from gusu.cli.args import parse_hash
from gusu.cli.context import CliUsageError, common_options, get_state
from gusu.cli.remote import open_client
from gusu.crypto import get_suite
from gusu.errors import CodecError, ConfigError, InvalidStateProofError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.jsonview import JSONObject, bytes_to_hex, hex_to_bytes, state_proof_to_json
from gusu.ledger.stateproof import validate_certified_state_proof, validate_state_proof_in_block


@click.group("state")
def state_group() -> None:
    """Contract state with proofs (docs/state.md)."""


@state_group.command("proof")
@click.argument("contract")
@click.argument("key", metavar="KEY")
@click.option("--height", type=click.IntRange(min=0), default=None, help="Block height (default: the latest).")
@click.option(
    "--block-hash", "trusted_block_hash", default=None, metavar="HASH", help="Check against this trusted block hash."
)
@click.option(
    "--genesis",
    "genesis_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Check the block's certificate against this genesis file's validators.",
)
@common_options
def state_proof(
    contract: str, key: str, height: int | None, trusted_block_hash: str | None, genesis_path: Path | None
) -> None:
    """Fetch CONTRACT's KEY (0x hex, or text with a "text:" prefix) with its state proof and check it.

    Exits 1 when a check fails.
    """
    state = get_state()
    key_bytes = _parse_key(key)
    trusted = None if trusted_block_hash is None else parse_hash(trusted_block_hash, "--block-hash")
    validators = None
    if genesis_path is not None:
        try:
            validators = load_genesis(genesis_path).validators
        except ConfigError as error:
            raise CliUsageError(f"--genesis: {error}") from error
    with open_client(state) as client:
        suite = get_suite(client.status().suite)
        answer = client.get_state_proof(contract, key_bytes, height)
    checks: list[tuple[str, str | None]] = []
    anchor = answer.block_hash if trusted is None else trusted
    checks.append((f"against block {bytes_to_hex(anchor)}" + ("" if trusted else " (as the node reports it)"), None))
    try:
        validate_state_proof_in_block(suite, answer, anchor)
    except InvalidStateProofError as error:
        checks[-1] = (checks[-1][0], str(error))
    if validators is not None:
        checks.append(("certificate signed by the genesis validators", None))
        try:
            validate_certified_state_proof(suite, answer, validators)
        except InvalidStateProofError as error:
            checks[-1] = (checks[-1][0], str(error))
    valid = all(problem is None for _, problem in checks)
    answer_json = state_proof_to_json(answer)
    document: JSONObject = {
        "valid": valid,
        "trusted_block_hash": None if trusted is None else bytes_to_hex(trusted),
        "checks": [{"check": name, "problem": problem} for name, problem in checks],
        "answer": answer_json,
    }

    def render() -> None:
        mark = "[green]✓[/green]" if valid else "[red]✗[/red]"
        shown = "absent" if answer.value is None else bytes_to_hex(answer.value)
        state.stdout.print(f"{mark} {contract} {bytes_to_hex(key_bytes)} at height {answer.height}: {shown}")
        decoded = answer_json["value_decoded"]
        if decoded is not None:
            state.stdout.print(f"  value: {decoded}")
        for name, problem in checks:
            state.stdout.print(
                f"  {'✓' if problem is None else '✗'} {name}" + ("" if problem is None else f": {problem}")
            )
        if trusted is None and validators is None:
            state.stdout.print("  (give --block-hash or --genesis to check against something you trust)")

    state.emit(document, render)
    if not valid:
        click.echo("error: the proof does not check out; do not trust this node's answer", err=True)
        click.get_current_context().exit(1)


def _parse_key(text: str) -> bytes:
    if text.startswith("text:"):
        return text[len("text:") :].encode("utf-8")
    try:
        return hex_to_bytes(text, what="KEY")
    except CodecError as error:
        raise CliUsageError(f'{error}; give 0x hex, or "text:" followed by the key as text') from error
