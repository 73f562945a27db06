"""`gusu console`: serve the web console for a node."""

from __future__ import annotations

import asyncio
import json

import click

from gusu.cli.context import common_options, get_state
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
@common_options
def console_command(host: str, port: int) -> None:
    """Serve the web console (dashboard, explorer, public verification) for the node at --endpoint."""
    state = get_state()
    endpoint = state.endpoint.rstrip("/")
    if endpoint.endswith("/rpc"):
        endpoint = endpoint[: -len("/rpc")]
    settings = ConsoleSettings(endpoint=endpoint, host=host, port=port)
    try:
        asyncio.run(_serve(settings, state.json_output))
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}; choose another --port") from error


async def _serve(settings: ConsoleSettings, json_output: bool) -> None:
    # Imported here so that `gusu --help` does not load the web server.
    from gusu.console.server import start_console

    runner, url = await start_console(settings)
    if json_output:
        # One line, printed at once, so that a script reading the running console's stdout gets it whole.
        click.echo(json.dumps({"url": url, "endpoint": settings.endpoint}))
    else:
        click.echo(f"Gusu console: {url}  (node {settings.endpoint}; Ctrl-C stops it)")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
