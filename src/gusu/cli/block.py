"""`gusu block`: read blocks."""

from __future__ import annotations

import click

from gusu.cli.args import parse_block_reference
from gusu.cli.context import common_options, get_state
from gusu.cli.remote import open_client
from gusu.cli.render import block_table, block_transactions_table, block_view_to_json


@click.group("block")
def block_group() -> None:
    """Read blocks."""


@block_group.command("show")
@click.argument("block", default="latest", metavar="[HEIGHT|HASH|latest]")
@click.option("--full", is_flag=True, help="Include the full transactions, not only their ids.")
@common_options
def block_show(block: str, full: bool) -> None:
    """Show a block's header, certificate and transactions (default: the latest block)."""
    state = get_state()
    reference = parse_block_reference(block)
    with open_client(state) as client:
        target = client.block_number() if reference is None else reference
        view = client.get_block(target, full_transactions=full)
    document = block_view_to_json(view)

    def render() -> None:
        state.stdout.print(block_table(view))
        if view.transaction_ids:
            state.stdout.print(block_transactions_table(view))

    state.emit(document, render)
