"""State shared by every command, the options that set it, and how results are printed.

Each command serves two readers: a person at a terminal (rich tables on
stdout, notes on stderr) and a script (`--json`: exactly one JSON document
on stdout and nothing else). Commands build the JSON document first and
render it for people second, so both readers always get the same facts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from gusu.errors import GusuError

DEFAULT_ENDPOINT = "http://127.0.0.1:8545"
HOME_ENVIRONMENT_VARIABLE = "GUSU_HOME"
ENDPOINT_ENVIRONMENT_VARIABLE = "GUSU_ENDPOINT"

F = TypeVar("F", bound=Callable[..., Any])
JsonDocument = Any
"""What `json.dumps` accepts: the documents commands print with --json."""


class CliUsageError(GusuError):
    """The command line asks for something impossible (a bad argument, a missing key...)."""

    code = "usage_invalid"


PIPE_WIDTH = 200
"""Columns for tables written to a pipe or file: wide enough that 32-byte hashes stay on one line."""


def _make_console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def default_home() -> Path:
    return Path(os.path.expanduser("~")) / ".gusu"


@dataclass(slots=True)
class CliState:
    """Global settings, filled by the group's options and overridable on each command."""

    home: Path = field(default_factory=default_home)
    endpoint: str = DEFAULT_ENDPOINT
    endpoint_explicit: bool = False
    """True when the user named an endpoint on the command line (not a default or the environment)."""
    endpoint_from_environment: bool = False
    json_output: bool = False
    stdout: Console = field(default_factory=lambda: _make_console(stderr=False))
    stderr: Console = field(default_factory=lambda: _make_console(stderr=True))

    @property
    def keys_directory(self) -> Path:
        return self.home / "keys"

    @property
    def default_chain_directory(self) -> Path:
        return self.home / "chains" / "local"

    @property
    def default_node_directory(self) -> Path:
        return self.default_chain_directory / "node0"

    @property
    def default_network_directory(self) -> Path:
        """Where `chain init --organizations` and `net up` put a multi-node network."""
        return self.home / "chains" / "net"

    def emit(self, document: JsonDocument, render: Callable[[], None] | None = None) -> None:
        """Print a command's result: `document` as JSON, or through `render` for people."""
        if self.json_output or render is None:
            write_json(document)
        else:
            render()

    def note(self, text: str) -> None:
        """Extra information for people; never on stdout in JSON mode, so scripts see one document."""
        if self.json_output:
            return
        self.stderr.print(text)

    def busy(self, text: str) -> AbstractContextManager[object]:
        """A spinner on stderr while something slow happens, for people at a terminal only."""
        if self.json_output or not self.stderr.is_terminal:
            return nullcontext()
        return self.stderr.status(text, spinner="dots")

    def warn(self, text: str) -> None:
        """A warning that scripts should see too: always on stderr."""
        self.stderr.print(f"[yellow]warning:[/yellow] {text}")


def write_json(document: JsonDocument) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def get_state() -> CliState:
    context = click.get_current_context()
    state = context.find_object(CliState)
    if state is None:
        state = context.ensure_object(CliState)
    return state


# --- options every command accepts ---------------------------------------------------
# The group takes them too; given after the command name they override it, so
# `gusu node status --endpoint URL` works as people expect it to.


def _set_home(context: click.Context, _parameter: click.Parameter, value: str | None) -> None:
    if value is not None:
        context.ensure_object(CliState).home = Path(value).expanduser()


def _set_endpoint(context: click.Context, parameter: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    state = context.ensure_object(CliState)
    state.endpoint = value
    source = context.get_parameter_source(parameter.name or "")
    if source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.PROMPT):
        state.endpoint_explicit = True
    elif source is click.core.ParameterSource.ENVIRONMENT:
        state.endpoint_from_environment = True


def _set_json(context: click.Context, _parameter: click.Parameter, value: bool) -> None:
    if value:
        context.ensure_object(CliState).json_output = True


def home_option(*, from_environment: bool) -> Callable[[F], F]:
    return click.option(
        "--home",
        envvar=HOME_ENVIRONMENT_VARIABLE if from_environment else None,
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_set_home,
        metavar="DIR",
        help="Gusu home: the keystore is DIR/keys (default ~/.gusu, or $GUSU_HOME).",
    )


def endpoint_option(*, from_environment: bool) -> Callable[[F], F]:
    return click.option(
        "--endpoint",
        envvar=ENDPOINT_ENVIRONMENT_VARIABLE if from_environment else None,
        default=None,
        expose_value=False,
        callback=_set_endpoint,
        metavar="URL",
        help=f"Node to talk to (default {DEFAULT_ENDPOINT}, or $GUSU_ENDPOINT).",
    )


def json_option(function: F) -> F:
    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_set_json,
        help="Print exactly one JSON document on stdout (for scripts).",
    )(function)


def common_options(function: F) -> F:
    """--home, --endpoint and --json, accepted after any command name."""
    function = json_option(function)
    function = endpoint_option(from_environment=False)(function)
    return home_option(from_environment=False)(function)
