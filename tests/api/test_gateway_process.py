"""RPC gateway processes end to end: a real node process (`python -m gusu.api.process`) on an `ecdsa` chain
running the EVM, with ``[api] gateway_workers`` set, driven over HTTP through its gateway URL."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from gusu.eval.bench import BenchConfig, BenchError, ThrowawayNode, launch_throwaway_node, stop_throwaway_node
from gusu.eval.evmbench import rewrite_gateway_settings, rewrite_genesis_files, sign_legacy_transaction
from gusu.ledger.ethtx import compute_eth_address
from gusu.node.chain import ChainLayout

pytestmark = pytest.mark.e2e

GATEWAY_WORKERS = 2
GATEWAY_MODULE = "gusu.api.gateway"
BLOCK_INTERVAL_MS = 100
RECEIPT_TIMEOUT_S = 20.0
RESTART_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
TRANSFER_GAS = 21_000


# --- helpers ------------------------------------------------------------------------------------


def post(url: str, document: Any, timeout_s: float = HTTP_TIMEOUT_S) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body) if body else None


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body) if body else None


def call(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call's answer object (result or error)."""
    status, answer = post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    assert status == 200, (status, answer)
    assert isinstance(answer, dict) and answer["id"] == 1, answer
    return answer


def result(url: str, method: str, params: list[Any] | None = None) -> Any:
    answer = call(url, method, params)
    assert "error" not in answer, answer
    return answer["result"]


def own_rpc(node: ThrowawayNode) -> str:
    return node.endpoint + "/rpc"


def sign_transfer(
    url: str, secret: bytes, *, nonce: int | None = None, value: int = 1, chain_id: int | None = None
) -> str:
    address = "0x" + compute_eth_address(secret).hex()
    if nonce is None:
        nonce = int(result(url, "eth_getTransactionCount", [address, "pending"]), 16)
    signed = sign_legacy_transaction(
        secret,
        chain_id=int(result(url, "eth_chainId"), 16) if chain_id is None else chain_id,
        nonce=nonce,
        gas_price=int(result(url, "eth_gasPrice"), 16),
        gas_limit=TRANSFER_GAS,
        to=secrets.token_bytes(20),
        value=value,
        data=b"",
    )
    return signed.raw_hex


def wait_receipt(url: str, transaction_hash: str) -> dict[str, Any]:
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S
    while True:
        receipt = result(url, "eth_getTransactionReceipt", [transaction_hash])
        if receipt is not None:
            assert isinstance(receipt, dict)
            return receipt
        assert time.monotonic() < deadline, f"no receipt for {transaction_hash} within {RECEIPT_TIMEOUT_S:g} s"
        time.sleep(0.1)


def gateway_processes(node: ThrowawayNode) -> dict[int, psutil.Process]:
    """The node's live gateway processes, by pid."""
    assert node.process is not None
    found: dict[int, psutil.Process] = {}
    for child in psutil.Process(node.process.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and GATEWAY_MODULE in child.cmdline():
                found[child.pid] = child
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def has_exited(process: psutil.Process) -> bool:
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_exited(processes: list[psutil.Process]) -> list[int]:
    """The pids still running after EXIT_TIMEOUT_S (none, normally)."""
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while time.monotonic() < deadline and not all(has_exited(process) for process in processes):
        time.sleep(0.05)
    return [process.pid for process in processes if not has_exited(process)]


def is_serving(url: str) -> bool:
    try:
        status, answer = post(url, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout_s=2.0)
    except (OSError, ValueError):
        return False
    return status == 200 and isinstance(answer, dict) and "result" in answer


def prepare_chain(layout: ChainLayout, gateway_port: int = 0, restarts_max: int | None = None) -> None:
    """The EVM on, GATEWAY_WORKERS gateways on `gateway_port` (0: a free one)."""
    rewrite_genesis_files(layout.directory, BLOCK_INTERVAL_MS)
    rewrite_gateway_settings(layout.directory, GATEWAY_WORKERS)
    if restarts_max is not None:
        (config,) = layout.directory.rglob("config.toml")
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("gateway_port = 0\n", f"gateway_port = 0\ngateway_restarts_max = {restarts_max}\n"),
            encoding="utf-8",
        )
    if gateway_port:
        (config,) = layout.directory.rglob("config.toml")
        text = config.read_text(encoding="utf-8")
        assert text.count("gateway_port = 0\n") == 1
        config.write_text(text.replace("gateway_port = 0\n", f"gateway_port = {gateway_port}\n"), encoding="utf-8")


@contextmanager
def running_node(gateway_port: int = 0, restarts_max: int | None = None) -> Iterator[ThrowawayNode]:
    """A node with GATEWAY_WORKERS gateway processes; stopped at the end, its gateways too."""
    started = ThrowawayNode(directory=Path(tempfile.mkdtemp(prefix="gusu-test-gateway-")))
    try:
        launch_throwaway_node(
            BenchConfig(suite="ecdsa", workers=0),
            started,
            prepare=lambda layout: prepare_chain(layout, gateway_port, restarts_max),
        )
        yield started
    finally:
        leftovers = (
            list(gateway_processes(started).values())
            if started.process is not None and started.process.poll() is None
            else []
        )
        stop_throwaway_node(started)
        for process in leftovers:  # only if stopping the node failed to stop them
            if not has_exited(process):
                process.kill()
        shutil.rmtree(started.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def node() -> Iterator[ThrowawayNode]:
    """One node for the tests that leave it running."""
    with running_node() as started:
        yield started


# --- tests --------------------------------------------------------------------------------------


def test_the_ready_record_names_a_gateway_on_a_port_of_its_own_served_by_its_processes(node: ThrowawayNode) -> None:
    assert node.rpc_gateway.startswith("http://127.0.0.1:") and node.rpc_gateway.endswith("/rpc")
    gateway = node.rpc_gateway.removesuffix("/rpc")
    assert gateway != node.endpoint
    assert len(gateway_processes(node)) == GATEWAY_WORKERS
    assert get(gateway + "/health") == (200, {"healthy": True, "gateway": True})
    status, answer = get(gateway + "/v1/status")
    assert status == 404 and "api.port" in answer["error"]["message"]
    assert get(node.endpoint + "/v1/status")[0] == 200


def test_eth_chain_id_through_the_gateway_is_the_nodes_own(node: ThrowawayNode) -> None:
    chain_id = result(own_rpc(node), "eth_chainId")
    assert int(chain_id, 16) > 0
    assert result(node.rpc_gateway, "eth_chainId") == chain_id


def test_a_transfer_sent_through_the_gateway_commits_from_the_signing_key(node: ThrowawayNode) -> None:
    assert node.dev_key is not None
    secret = node.dev_key.secret
    raw_hex = sign_transfer(node.rpc_gateway, secret, value=7)

    transaction_hash = result(node.rpc_gateway, "eth_sendRawTransaction", [raw_hex])

    receipt = wait_receipt(node.rpc_gateway, transaction_hash)
    assert receipt["status"] == "0x1" and receipt["transactionHash"] == transaction_hash
    sender = "0x" + compute_eth_address(secret).hex()
    assert receipt["from"] == sender
    shown = result(own_rpc(node), "eth_getTransactionByHash", [transaction_hash])
    assert shown["from"] == sender
    assert result(own_rpc(node), "eth_getBalance", [shown["to"], "latest"]) == "0x7"


def test_a_batch_through_the_gateway(node: ThrowawayNode) -> None:
    assert node.dev_key is not None
    funded, fresh = node.dev_key.secret, secrets.token_bytes(32)
    # Gas price 0 on this chain: a fresh account may send value 0.
    raws = [sign_transfer(node.rpc_gateway, funded), sign_transfer(node.rpc_gateway, fresh, value=0)]
    batch = [
        {"jsonrpc": "2.0", "id": "chain", "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 10, "method": "eth_sendRawTransaction", "params": [raws[0]]},
        {"jsonrpc": "2.0", "id": 11, "method": "eth_sendRawTransaction", "params": [raws[1]]},
        {"jsonrpc": "2.0", "id": 12, "method": "no_such_method", "params": []},
        {"jsonrpc": "2.0", "method": "eth_chainId", "params": []},  # a notification: no answer
    ]

    status, answers = post(node.rpc_gateway, batch)

    assert status == 200 and isinstance(answers, list)
    by_id = {answer["id"]: answer for answer in answers}
    assert sorted(by_id, key=str) == sorted(["chain", 10, 11, 12], key=str)
    assert by_id["chain"]["result"] == result(own_rpc(node), "eth_chainId")
    assert by_id[12]["error"]["code"] == -32601
    for request_id, secret in ((10, funded), (11, fresh)):
        receipt = wait_receipt(node.rpc_gateway, by_id[request_id]["result"])
        assert receipt["status"] == "0x1"
        assert receipt["from"] == "0x" + compute_eth_address(secret).hex()


@pytest.mark.parametrize("raw_hex", ["0xdeadbeef", "0xc0", "0x", "0xzz", "0x" + "ab" * 300_000])
def test_an_invalid_raw_transaction_gets_the_nodes_own_error(node: ThrowawayNode, raw_hex: str) -> None:
    through_gateway = call(node.rpc_gateway, "eth_sendRawTransaction", [raw_hex])
    own = call(own_rpc(node), "eth_sendRawTransaction", [raw_hex])
    assert "error" in own, own
    assert through_gateway == own


def test_another_chains_transaction_is_refused_through_the_gateway_as_on_the_node(node: ThrowawayNode) -> None:
    """The gateway recovers the sender whatever the chain; the node still checks the chain id."""
    secret = secrets.token_bytes(32)
    other_chain = int(result(own_rpc(node), "eth_chainId"), 16) + 1
    through_gateway = call(
        node.rpc_gateway,
        "eth_sendRawTransaction",
        [sign_transfer(node.rpc_gateway, secret, nonce=0, value=0, chain_id=other_chain)],
    )
    own = call(
        own_rpc(node),
        "eth_sendRawTransaction",
        [sign_transfer(own_rpc(node), secret, nonce=1, value=0, chain_id=other_chain)],
    )
    assert "error" in own and own["error"]["data"]["code"] == "tx_wrong_chain", own
    assert through_gateway["error"]["code"] == own["error"]["code"]
    assert through_gateway["error"]["data"] == own["error"]["data"]


def test_a_killed_gateway_is_started_again(node: ThrowawayNode) -> None:
    killed = gateway_processes(node)
    assert len(killed) == GATEWAY_WORKERS
    for process in killed.values():
        process.send_signal(signal.SIGKILL)
    assert wait_exited(list(killed.values())) == []

    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while True:
        started = gateway_processes(node)
        if len(started) == GATEWAY_WORKERS and is_serving(node.rpc_gateway):
            break
        assert time.monotonic() < deadline, f"gateways {sorted(started)} not serving within {RESTART_TIMEOUT_S:g} s"
        time.sleep(0.1)

    assert not set(started) & set(killed)
    assert result(node.rpc_gateway, "eth_chainId") == result(own_rpc(node), "eth_chainId")
    assert node.process is not None and node.process.poll() is None


def test_stopping_the_node_stops_its_gateway_processes() -> None:
    with running_node() as stopped:
        assert stopped.process is not None
        gateways = list(gateway_processes(stopped).values())
        assert len(gateways) == GATEWAY_WORKERS
        # The node is ready once its gateways are started; each then imports and serves (seconds on a busy host).
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while not is_serving(stopped.rpc_gateway):
            assert time.monotonic() < deadline, f"the gateways did not serve within {RESTART_TIMEOUT_S:g} s"
            time.sleep(0.1)

        assert stop_throwaway_node(stopped) is False  # stopped by SIGTERM, no SIGKILL needed
        assert stopped.process.returncode == 0

        assert wait_exited(gateways) == []
        assert not is_serving(stopped.rpc_gateway)


def test_gateways_exit_when_their_node_is_killed() -> None:
    with running_node() as killed:
        assert killed.process is not None
        gateways = list(gateway_processes(killed).values())
        assert len(gateways) == GATEWAY_WORKERS

        killed.process.kill()
        killed.process.wait(timeout=EXIT_TIMEOUT_S)

        try:
            assert wait_exited(gateways) == []  # their channel closed: nothing left serving a dead node
        finally:
            for process in gateways:
                if not has_exited(process):
                    process.kill()


def test_a_gateway_port_in_use_stops_the_node_with_an_error_naming_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused = rf"RPC gateway cannot listen on 127\.0\.0\.1:{port}.*api\.gateway_port"
        with pytest.raises(BenchError, match=refused), running_node(gateway_port=port):
            pass


def test_once_no_gateway_is_left_its_port_refuses_connections() -> None:
    with running_node(restarts_max=0) as node:
        gateways = list(gateway_processes(node).values())
        port = int(node.rpc_gateway.rsplit(":", 1)[1].split("/")[0])
        for process in gateways:
            process.send_signal(signal.SIGKILL)
        assert wait_exited(gateways) == []
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2.0):
                    pass
            except ConnectionRefusedError:
                break  # refused at once, not accepted and left unanswered
            assert time.monotonic() < deadline, "the gateway port still accepts connections nobody serves"
            time.sleep(0.1)
        assert gateway_processes(node) == {}
        assert result(own_rpc(node), "eth_chainId")  # the node's own port still serves
