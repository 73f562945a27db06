"""`gusu org`: an organisation's own keys (its CA and admin account), its public bundle, its certificates' expiry."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from gusu.cli.context import common_options, get_state
from gusu.cli.keystore import get_scrypt_n
from gusu.cli.render import key_value_table
from gusu.crypto import SUITE_NAMES
from gusu.network.trust import EXPIRY_WARNING_DAYS, CertificateExpiry, format_remaining, now_s
from gusu.node.orgdir import get_organization_expiries, initialize_organization, load_organization


@click.group("org")
def org_group() -> None:
    """An organisation's own keys: create them on its machine, export the public parts, watch expiry."""


def _directory_option(function: Any) -> Any:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="The organisation directory (its CA and admin keys stay there).",
    )(function)


@org_group.command("init")
@click.argument("name")
@_directory_option
@click.option("--suite", type=click.Choice(list(SUITE_NAMES)), default="sm", show_default=True, help="Crypto suite.")
@click.option("--weight", type=click.IntRange(1), default=1, show_default=True, help="Weight in weighted votes.")
@common_options
def org_init(name: str, directory: Path, suite: str, weight: int) -> None:
    """Create organisation NAME's CA (its own root) and admin account in --dir; prints the public parts."""
    state = get_state()
    info = initialize_organization(
        directory.expanduser().resolve(), name, suite_name=suite, weight=weight, scrypt_n=get_scrypt_n()
    )
    bundle = info.to_bundle()
    document = {**bundle, "directory": str(info.directory)}

    def render() -> None:
        table = key_value_table(f"organisation {info.name} created in {info.directory}")
        table.add_row("suite", info.suite)
        table.add_row("weight", str(info.weight))
        table.add_row("admins", ", ".join(bundle["admins"]))
        table.add_row("CA certificate", f"{info.directory / 'ca.crt'} (private key ca.key stays here)")
        state.stdout.print(table)
        state.stdout.print("\nnext:")
        state.stdout.print(f"  gusu org export --dir {info.directory} > {info.name}.org.json")
        state.stdout.print(f"  gusu node init --org {info.directory} --name <node> --dir <node directory>")

    state.emit(document, render)


@org_group.command("export")
@_directory_option
@common_options
def org_export(directory: Path) -> None:
    """Print the public bundle (name, CA certificate, admins, weight) that genesis is assembled from."""
    info = load_organization(directory.expanduser().resolve())
    click.echo(json.dumps(info.to_bundle(), indent=2))


def _expiry_to_json(expiry: CertificateExpiry, now: float) -> dict[str, Any]:
    remaining = expiry.get_remaining_s(now)
    return {
        "kind": expiry.kind,
        "subject": expiry.subject,
        "not_after": datetime.datetime.fromtimestamp(expiry.not_after_s, datetime.UTC).isoformat(),
        "remaining_s": int(remaining),
        "sha256": expiry.sha256.hex(),
        "warning": _warning(remaining),
    }


def _warning(remaining_s: float) -> str | None:
    if remaining_s <= 0:
        return "expired"
    reached = [days for days in EXPIRY_WARNING_DAYS if remaining_s <= days * 86_400]
    return f"under {min(reached)} days" if reached else None


@org_group.command("status")
@_directory_option
@common_options
def org_status(directory: Path) -> None:
    """Every certificate of the organisation (its CA, each node's newest) and when it expires."""
    state = get_state()
    resolved = directory.expanduser().resolve()
    info = load_organization(resolved)
    now = now_s()
    rows = [_expiry_to_json(expiry, now) for expiry in get_organization_expiries(resolved)]
    document = {"organization": info.name, "directory": str(resolved), "certificates": rows}

    def render() -> None:
        table = Table(title=f"organisation {info.name}: certificates")
        for column in ("kind", "subject", "expires (UTC)", "left", "warning"):
            table.add_column(column)
        for row, expiry in zip(rows, get_organization_expiries(resolved), strict=True):
            table.add_row(
                row["kind"],
                row["subject"],
                row["not_after"][:16].replace("T", " "),
                format_remaining(expiry.get_remaining_s(now)),
                row["warning"] or "",
            )
        state.stdout.print(table)

    state.emit(document, render)


@org_group.command("list")
@common_options
def org_list() -> None:
    """The member organisations the chain's registry lists, from the node at --endpoint."""
    from gusu.cli.gov import list_organizations

    list_organizations(get_state())
