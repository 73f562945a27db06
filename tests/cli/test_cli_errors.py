"""Expected failures end in one `error:` line and exit status 1, never a traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from gusu.cli.context import CliState
from gusu.cli.main import cli, report_error
from gusu.errors import ClientError, ContractNotApprovedError, GusuError, RemoteError, TransactionFailedError


def closed_endpoint() -> str:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_unreachable_node(runner: CliRunner) -> None:
    endpoint = closed_endpoint()
    result = runner.invoke(cli, ["--endpoint", endpoint, "block", "show"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and endpoint in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)

    as_json = runner.invoke(cli, ["block", "show", "--endpoint", endpoint, "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "client_error"


def test_node_status_of_a_stopped_node(runner: CliRunner) -> None:
    endpoint = closed_endpoint()
    result = runner.invoke(cli, ["node", "status", "--endpoint", endpoint, "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["reachable"] is False and document["healthy"] is False and document["endpoint"] == endpoint
    assert result.stderr.startswith("error: no node answers")


def test_node_commands_need_a_node_directory(runner: CliRunner, tmp_path: Path) -> None:
    for command in (["node", "start", "--detach"], ["node", "stop"], ["node", "status"]):
        result = runner.invoke(cli, [*command, "--dir", str(tmp_path / "nothing")])
        assert result.exit_code == 1, command
        assert "not a node directory" in result.stderr


def test_bad_arguments_are_refused_before_signing(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["--endpoint", closed_endpoint(), "tx", "call", "account", "balance", "0x123"], catch_exceptions=False
    )
    assert result.exit_code == 1 and "odd number of digits" in result.stderr


def test_send_needs_an_existing_key(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["tx", "send", "account", "transfer", "0x" + "11" * 20, "1", "--key", "ghost"])
    assert result.exit_code == 1 and "no key named 'ghost'" in result.stderr


def test_bench_option_conflicts(runner: CliRunner) -> None:
    both = runner.invoke(cli, ["bench", "--rate", "10", "--window", "10"])
    assert both.exit_code == 1 and "choose one of --rate" in both.stderr
    no_key = runner.invoke(cli, ["bench", "--endpoint", closed_endpoint()])
    assert no_key.exit_code == 1 and "pass --key" in no_key.stderr
    gather = runner.invoke(cli, ["bench", "--block-gather-ms", "20"])
    assert gather.exit_code != 0 and "go with --evm erc20" in gather.stderr
    gateway = runner.invoke(cli, ["bench", "--gateway-workers", "1"])
    assert gateway.exit_code != 0 and "go with --evm erc20" in gateway.stderr


def test_chain_init_refuses_an_existing_chain(runner: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "chain"
    first = runner.invoke(cli, ["chain", "init", "--dir", str(directory), "--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    layout = json.loads(first.stdout)
    assert Path(layout["dev_key"]).is_file() and layout["dev_address"].startswith("0x")
    assert layout["endpoints"]["rpc"] == "http://127.0.0.1:8545/rpc"
    again = runner.invoke(cli, ["chain", "init", "--dir", str(directory)])
    assert again.exit_code == 1 and "already holds a chain" in again.stderr


def _state() -> CliState:
    return CliState(endpoint="http://127.0.0.1:1")


@pytest.mark.parametrize(
    "error",
    [
        RemoteError("invalid_params", "bad"),
        TransactionFailedError("the contract refused: not a witness", "contract_error"),
        ContractNotApprovedError("approve it first"),
    ],
)
def test_an_answer_from_the_node_is_not_blamed_on_the_connection(
    error: GusuError, capsys: pytest.CaptureFixture[str]
) -> None:
    report_error(_state(), error)
    assert "is the node running" not in capsys.readouterr().err


def test_connection_trouble_names_the_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    report_error(_state(), ClientError("connection refused"))
    err = capsys.readouterr().err
    assert "http://127.0.0.1:1" in err and "is the node running" in err
