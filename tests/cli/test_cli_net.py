"""`gusu chain init --organizations`, `gusu net` and `gusu bench --nodes` options, without running nodes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner

from gusu.cli.main import cli
from gusu.eval.network import P2P_PORT_OFFSET, find_free_base_port


def test_chain_init_organizations(runner: CliRunner, tmp_path: Path) -> None:
    base = find_free_base_port(4, seed=21)
    directory = tmp_path / "net"
    result = runner.invoke(
        cli,
        [
            "chain",
            "init",
            "--organizations",
            "2",
            "--nodes-per-organization",
            "2",
            "--suite",
            "ecdsa",
            "--base-port",
            str(base),
            "--dir",
            str(directory),
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["validators"] == 4 and document["organizations"] == ["org0", "org1"]
    assert document["suite"] == "ecdsa" and Path(document["dev_key"]).is_file()
    nodes = document["nodes"]
    assert [node["organization"] for node in nodes] == ["org0", "org0", "org1", "org1"]
    assert [node["api_url"] for node in nodes] == [f"http://127.0.0.1:{base + index}" for index in range(4)]
    assert [node["p2p_endpoint"] for node in nodes] == [
        f"127.0.0.1:{base + P2P_PORT_OFFSET + index}" for index in range(4)
    ]
    assert all((Path(node["directory"]) / "tls" / "node.crt").is_file() for node in nodes)
    assert document["next"][0] == f"gusu net up --dir {directory}"

    table = runner.invoke(
        cli, ["chain", "init", "--organizations", "acme,bank", "--base-port", str(base), "--dir", str(tmp_path / "b")]
    )
    assert table.exit_code == 0, table.output
    assert (
        "acme" in table.stdout and "bank" in table.stdout and f"127.0.0.1:{base + P2P_PORT_OFFSET + 1}" in table.stdout
    )
    assert "gusu net up" in table.stdout


def test_chain_init_default_network_directory(runner: CliRunner, home: Path) -> None:
    base = find_free_base_port(2, seed=23)
    result = runner.invoke(cli, ["chain", "init", "--organizations", "2", "--base-port", str(base), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["directory"] == str((home / "chains" / "net").resolve())
    # The default directory needs no --dir in the printed commands.
    assert document["next"][0] == "gusu net up"


def test_chain_init_option_conflicts(runner: CliRunner, tmp_path: Path) -> None:
    port_with_organizations = runner.invoke(cli, ["chain", "init", "--organizations", "2", "--port", "9000"])
    assert port_with_organizations.exit_code == 1 and "use --base-port" in port_with_organizations.stderr
    base_without = runner.invoke(cli, ["chain", "init", "--base-port", "9000", "--dir", str(tmp_path / "x")])
    assert base_without.exit_code == 1 and "go with --organizations" in base_without.stderr
    bad_names = runner.invoke(cli, ["chain", "init", "--organizations", "acme,,bank"])
    assert bad_names.exit_code == 2 and "comma-separated names" in bad_names.stderr
    assert not (tmp_path / "x").exists()


def test_chain_init_names_the_taken_port(runner: CliRunner, tmp_path: Path) -> None:
    base = find_free_base_port(2, seed=25)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", base + 1))
        listener.listen()
        result = runner.invoke(
            cli, ["chain", "init", "--organizations", "2", "--base-port", str(base), "--dir", str(tmp_path / "n")]
        )
    assert result.exit_code == 1
    assert f"{base + 1} (API of node1)" in result.stderr and "choose another --base-port" in result.stderr
    assert not (tmp_path / "n").exists()


def test_net_commands_need_a_network(runner: CliRunner, tmp_path: Path) -> None:
    for command in ("status", "down"):
        result = runner.invoke(cli, ["net", command, "--dir", str(tmp_path / "nothing")])
        assert result.exit_code == 1, command
        assert "no network in" in result.stderr and "gusu net up --dir" in result.stderr


def test_net_status_and_down_of_a_stopped_network(runner: CliRunner, tmp_path: Path) -> None:
    base = find_free_base_port(2, seed=27)
    directory = tmp_path / "net"
    created = runner.invoke(
        cli, ["chain", "init", "--organizations", "2", "--base-port", str(base), "--dir", str(directory)]
    )
    assert created.exit_code == 0, created.output
    status = runner.invoke(cli, ["net", "status", "--dir", str(directory), "--json"])
    assert status.exit_code == 1
    document = json.loads(status.stdout)
    assert document["alive"] == 0 and document["healthy"] is False
    assert [node["process"] for node in document["nodes"]] == ["not running", "not running"]
    assert status.stderr.startswith("error: no node answers")
    down = runner.invoke(cli, ["net", "down", "--dir", str(directory), "--json"])
    assert down.exit_code == 0 and json.loads(down.stdout)["not_running"] == 2


def test_net_up_options(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["net", "up", "--nodes", "0"]).exit_code == 2
    assert runner.invoke(cli, ["net", "up", "--suite", "rsa"]).exit_code == 2
    helped = runner.invoke(cli, ["net", "--help"])
    assert helped.exit_code == 0 and all(name in helped.stdout for name in ("up", "down", "status"))


def test_bench_network_option_conflicts(runner: CliRunner, tmp_path: Path) -> None:
    endpoint = runner.invoke(cli, ["bench", "--nodes", "4", "--endpoint", "http://127.0.0.1:1"])
    assert endpoint.exit_code == 1 and "--endpoint benchmarks one node" in endpoint.stderr
    single = runner.invoke(cli, ["bench", "--down-node", "0"])
    assert single.exit_code == 1 and "--down-node needs a network" in single.stderr
    too_few = runner.invoke(cli, ["bench", "--nodes", "3", "--down-node", "1"])
    assert too_few.exit_code == 1 and "cannot commit" in too_few.stderr
    outside = runner.invoke(cli, ["bench", "--nodes", "4", "--down-node", "4"])
    assert outside.exit_code == 1 and "0 to 3" in outside.stderr
    missing = runner.invoke(cli, ["bench", "--dir", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "no network in" in missing.stderr


def test_chain_init_consensus_raft(runner: CliRunner, tmp_path: Path) -> None:
    base = find_free_base_port(3, seed=29)
    directory = tmp_path / "raft"
    result = runner.invoke(
        cli,
        [
            *("chain", "init", "--organizations", "3", "--consensus", "raft"),
            *("--base-port", str(base), "--dir", str(directory), "--json"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads((directory / "genesis.json").read_text())["consensus"] == "raft"
    solo = runner.invoke(cli, ["chain", "init", "--consensus", "raft", "--dir", str(tmp_path / "one")])
    assert solo.exit_code == 1 and "--consensus goes with --organizations" in solo.stderr
    assert runner.invoke(cli, ["net", "up", "--consensus", "paxos"]).exit_code == 2
    bench = runner.invoke(cli, ["bench", "--consensus", "raft"])
    assert bench.exit_code != 0 and "throw-away network" in bench.output + bench.stderr
