"""The `gusu` command: chains, nodes, local networks, keys, transactions, blocks and the benchmark.

Every expected failure (a `GusuError`) ends the command with one line,
``error: <what went wrong and what to do>``, on stderr and exit status 1;
with ``--json`` an ``{"error": {...}}`` document is printed on stdout too,
so that a script always has exactly one document to read. Anything else is
a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from gusu import __version__
from gusu.cli.context import CliState, endpoint_option, get_state, home_option, json_option, write_json
from gusu.errors import ClientError, ContractNotApprovedError, GusuError, RemoteError, TransactionFailedError

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def report_error(state: CliState | None, error: GusuError) -> None:
    message = str(error) or type(error).__name__
    answered = (RemoteError, TransactionFailedError, ContractNotApprovedError)  # the node was there and said no
    if isinstance(error, ClientError) and not isinstance(error, answered) and state is not None:
        # Connection trouble: say which node was tried, the usual cause being a wrong or stopped one.
        message = f"{message} (endpoint {state.endpoint}; is the node running? see `gusu node status`)"
    if state is not None and state.json_output:
        write_json({"error": {"code": error.code, "message": message, "retryable": error.retryable}})
    click.echo(f"error: {message}", err=True)


LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "account": ("gusu.cli.shortcuts", "account_group"),
    "bench": ("gusu.cli.bench", "bench_command"),
    "block": ("gusu.cli.block", "block_group"),
    "chain": ("gusu.cli.chain", "chain_group"),
    "console": ("gusu.cli.console", "console_command"),
    "contract": ("gusu.cli.contract", "contract_group"),
    "evidence": ("gusu.cli.evidence_app", "evidence_group"),  # the demo's record/verify + the evidence service
    "evm": ("gusu.cli.evm", "evm_group"),
    "gov": ("gusu.cli.gov", "gov_group"),
    "keys": ("gusu.cli.keys", "keys_group"),
    "net": ("gusu.cli.net", "net_group"),
    "node": ("gusu.cli.node", "node_group"),
    "org": ("gusu.cli.org", "org_group"),
    "scf": ("gusu.cli.scf_app", "scf_group"),
    "state": ("gusu.cli.state", "state_group"),
    "trace": ("gusu.cli.trace_app", "trace_group"),
    "tx": ("gusu.cli.tx", "tx_group"),
}
"""Command name -> (module, attribute); imported on first use, so `gusu keys list` loads no node code."""


class GusuGroup(click.Group):
    """The root group: loads commands lazily and turns expected failures into one clear line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module_name, attribute = LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module_name), attribute)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GusuError as error:
            report_error(ctx.find_object(CliState), error)
            ctx.exit(EXIT_FAILURE)


@click.group(cls=GusuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@home_option(from_environment=True)
@endpoint_option(from_environment=True)
@json_option
@click.version_option(__version__, prog_name="gusu")
def cli() -> None:
    """Gusu Chain command-line tool.

    \b
    Start a local chain:
      gusu chain init
      gusu node start --detach
      gusu account balance $(gusu keys show ~/.gusu/chains/local/keys/dev.json --json | jq -r .address)
    """
    get_state()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gusu` script."""
    try:
        cli.main(args=argv, prog_name="gusu", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except GusuError as error:
        # Raised outside a command (an option callback): no state to consult.
        report_error(None, error)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
