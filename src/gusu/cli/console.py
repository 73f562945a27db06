"""`gusu console`: serve the web console for a node."""

from __future__ import annotations

import asyncio
import json

import click

from gusu.cli.context import common_options, get_state
from gusu.cli.keystore import get_scrypt_n
from gusu.console.settings import DEFAULT_HOST, DEFAULT_PORT, ConsoleSettings
from gusu.errors import ConfigError


@click.command("console")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--database",
    default=None,
    metavar="URL",
    help="Console metadata store: a postgresql://user@host/db URL (default: SQLite in $GUSU_HOME/console).",
)
@click.option(
    "--alert-interval",
    "alert_interval_s",
    type=click.FloatRange(1, 3600),
    default=10.0,
    show_default=True,
    help="Seconds between two checks of the node by the alert rules.",
)
@click.option(
    "--scf-verify-lookups",
    "scf_verify_lookups",
    type=click.IntRange(1, 1_000_000),
    default=20,
    show_default=True,
    help="Public voucher checks (/scf/verify) one client address may make in 10 minutes.",
)
@common_options
def console_command(
    host: str, port: int, database: str | None, alert_interval_s: float, scf_verify_lookups: int
) -> None:
    """Serve the web console (dashboard, explorer, public verification) for the node at --endpoint."""
    state = get_state()
    endpoint = state.endpoint.rstrip("/")
    if endpoint.endswith("/rpc"):
        endpoint = endpoint[: -len("/rpc")]
    settings = ConsoleSettings(
        endpoint=endpoint,
        host=host,
        port=port,
        database=database,
        data_directory=str(state.home / "console"),
        alert_interval_s=alert_interval_s,
        scf_verify_lookups_per_address_max=scf_verify_lookups,
        # The chains wizard writes key files as `gusu net up` does (GUSU_KEYFILE_SCRYPT_N lowers their cost).
        chain_scrypt_n=get_scrypt_n(),
    )
    try:
        asyncio.run(_serve(settings, state.json_output))
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}; choose another --port") from error


async def _serve(settings: ConsoleSettings, json_output: bool) -> None:
    # Imported here so that `gusu --help` does not load the web server.
    from gusu.console.server import start_console

    runner, url, first_run = await start_console(settings)
    if json_output:
        # One line, printed at once, so that a script reading the running console's stdout gets it whole.
        document: dict[str, object] = {"url": url, "endpoint": settings.endpoint}
        if first_run is not None:
            document["first_run"] = {"username": first_run[0], "password": first_run[1]}
        click.echo(json.dumps(document))
    else:
        click.echo(f"Gusu console: {url}  (node {settings.endpoint}; Ctrl-C stops it)")
        if first_run is not None:
            # Shown this once, on stdout only: the store keeps its scrypt hash, no log ever has it.
            click.echo(
                f"First run: operator {first_run[0]!r} created with password {first_run[1]}\n"
                "It is not shown again and not stored in plain text: log in and change it under My account."
            )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
