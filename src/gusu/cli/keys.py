"""`gusu keys`: create, list, show, import and export keys of the local keystore."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from gusu.cli.context import CliUsageError, common_options, get_state
from gusu.cli.keystore import (
    get_key_path,
    get_passphrase,
    list_keys,
    load_key,
    read_key_metadata,
    read_passphrase_file,
    resolve_key_path,
    write_key_file,
)
from gusu.crypto import SUITE_NAMES, get_suite
from gusu.crypto.keyfile import export_pem, import_pem
from gusu.ledger.jsonview import bytes_to_hex

SUITE_CHOICE = click.Choice(list(SUITE_NAMES))

passphrase_file_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the key's passphrase from this file (else $GUSU_PASSPHRASE, else a prompt).",
)


@click.group("keys")
def keys_group() -> None:
    """Manage signing keys in the keystore (<home>/keys)."""


def _describe_new_key(name: str, path: Path, suite: str, address: bytes, public_key: bytes) -> None:
    state = get_state()
    document = {
        "name": name,
        "path": str(path),
        "suite": suite,
        "address": bytes_to_hex(address),
        "public_key": bytes_to_hex(public_key),
    }

    def render() -> None:
        state.stdout.print(f"[green]✓[/green] key [bold]{name}[/bold] saved to {path}")
        state.stdout.print(f"  suite    {suite}")
        state.stdout.print(f"  address  {document['address']}")

    state.emit(document, render)


@keys_group.command("new")
@click.argument("name")
@click.option("--suite", type=SUITE_CHOICE, default="sm", show_default=True, help="Crypto suite of the chain.")
@passphrase_file_option
@common_options
def keys_new(name: str, suite: str, passphrase_file: Path | None) -> None:
    """Create a key NAME, encrypted under a passphrase."""
    state = get_state()
    path = get_key_path(state.keys_directory, name)
    if path.exists():
        raise CliUsageError(f"a key named {name!r} already exists ({path}); choose another name")
    crypto_suite = get_suite(suite)
    passphrase = get_passphrase(
        passphrase_file=passphrase_file, key_path=None, prompt=f"New passphrase for key {name}", confirm=True
    )
    key = crypto_suite.generate_private_key()
    write_key_file(path, key, passphrase)
    _describe_new_key(name, path, suite, crypto_suite.compute_address(key.public_key), key.public_key)


@keys_group.command("list")
@common_options
def keys_list() -> None:
    """List the keystore's keys (no passphrase needed)."""
    state = get_state()
    entries = list_keys(state.keys_directory)
    document = [
        {
            "name": entry.name,
            "path": str(entry.path),
            "suite": entry.metadata.suite if entry.metadata else None,
            "address": bytes_to_hex(entry.metadata.address) if entry.metadata else None,
            **({"problem": entry.problem} if entry.problem else {}),
        }
        for entry in entries
    ]

    def render() -> None:
        if not entries:
            state.stdout.print(f"no keys in {state.keys_directory}; create one with `gusu keys new NAME`")
            return
        table = Table(title=f"keys in {state.keys_directory}")
        table.add_column("name", style="bold")
        table.add_column("suite")
        table.add_column("address")
        for entry in entries:
            if entry.metadata is None:
                table.add_row(entry.name, "?", f"[red]unreadable: {entry.problem}[/red]")
            else:
                table.add_row(entry.name, entry.metadata.suite, bytes_to_hex(entry.metadata.address))
        state.stdout.print(table)

    state.emit(document, render)


@keys_group.command("show")
@click.argument("name")
@common_options
def keys_show(name: str) -> None:
    """Show a key's suite, address and public key (NAME or a key file path; no passphrase needed)."""
    state = get_state()
    label, path = resolve_key_path(state.keys_directory, name)
    metadata = read_key_metadata(path)
    document = {
        "name": label,
        "path": str(path),
        "suite": metadata.suite,
        "address": bytes_to_hex(metadata.address),
        "public_key": bytes_to_hex(metadata.public_key),
    }

    def render() -> None:
        table = Table(show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column()
        for field_name, value in document.items():
            table.add_row(field_name, value)
        state.stdout.print(table)

    state.emit(document, render)


@keys_group.command("import")
@click.argument("name")
@click.argument("pem_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--suite", type=SUITE_CHOICE, default="sm", show_default=True, help="Suite the PEM key is for.")
@click.option(
    "--pem-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Passphrase of an encrypted PEM.",
)
@passphrase_file_option
@common_options
def keys_import(
    name: str, pem_file: Path, suite: str, pem_passphrase_file: Path | None, passphrase_file: Path | None
) -> None:
    """Import an OpenSSL private key PEM (e.g. `openssl genpkey -algorithm SM2`) as key NAME."""
    state = get_state()
    path = get_key_path(state.keys_directory, name)
    if path.exists():
        raise CliUsageError(f"a key named {name!r} already exists ({path}); choose another name")
    pem_passphrase = (
        read_passphrase_file(pem_passphrase_file).encode("utf-8") if pem_passphrase_file is not None else None
    )
    key = import_pem(pem_file.read_bytes(), suite, pem_passphrase)
    passphrase = get_passphrase(
        passphrase_file=passphrase_file, key_path=None, prompt=f"New passphrase for key {name}", confirm=True
    )
    write_key_file(path, key, passphrase)
    _describe_new_key(name, path, suite, get_suite(suite).compute_address(key.public_key), key.public_key)


@keys_group.command("export")
@click.argument("name")
@click.option("--pem", is_flag=True, help="Decrypt and print the key as an unencrypted PKCS#8 PEM for OpenSSL.")
@passphrase_file_option
@common_options
def keys_export(name: str, pem: bool, passphrase_file: Path | None) -> None:
    """Print key NAME: its encrypted key file, or with --pem the bare private key."""
    state = get_state()
    if not pem:
        label, path = resolve_key_path(state.keys_directory, name)
        text = path.read_text(encoding="utf-8")
        if state.json_output:
            state.emit({"name": label, "format": "keyfile", "key_file": text})
        else:
            click.echo(text, nl=not text.endswith("\n"))
        return
    loaded = load_key(state.keys_directory, name, passphrase_file)
    pem_text = export_pem(loaded.key).decode("ascii")
    state.warn("this PEM holds the unencrypted private key; keep it out of logs and shared storage")
    if state.json_output:
        state.emit({"name": loaded.label, "format": "pem", "pem": pem_text})
    else:
        click.echo(pem_text, nl=not pem_text.endswith("\n"))
