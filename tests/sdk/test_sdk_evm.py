"""`gusu.sdk.evm` against a real in-process node with the `evm` contract, on an `sm` and an `ecdsa` chain.

The committed ERC-20 fixture (tests/execution/evm/fixtures/Token.json) is deployed with SM2- (or
secp256k1-) signed Gusu transactions; transfers, balances, Transfer logs, a revert with a reason and
a custom error are checked through `AsyncEvmContracts`, and the blocking `EvmContracts` (in a worker
thread, so the node keeps committing on the event loop). Without a node: the artifact loader's and the
argument parser's refusals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode

from gusu.api.server import ApiServer, start_api
from gusu.api.settings import ApiSettings
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import ClientError, RemoteError, TransactionFailedError
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis
from gusu.node.chain import initialize_chain, load_node
from gusu.sdk import AsyncClient, Client
from gusu.sdk.evm import (
    PANIC_SELECTOR,
    AsyncEvmContracts,
    EvmContracts,
    EvmRevertError,
    describe_revert,
    get_revert_data,
    load_artifact,
    parse_abi_argument,
    parse_abi_arguments,
    parse_artifact,
)

FIXTURES = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures"
SUPPLY = 10**24
BOB = "0x" + "0b" * 20


def make_evm_chain(directory: Path, suite_name: str) -> Path:
    """A one-node chain of `suite_name` whose genesis enables the `evm` contract without code approval."""
    layout = initialize_chain(directory, suite_name=suite_name, api_port=0, verifier_workers=0, scrypt_n=2**10)
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0)))),
    )
    for path in (directory / "genesis.json", layout.node_directories[0] / "genesis.json"):
        assert load_genesis(path) == layout.genesis
        save_genesis(path, genesis)
    return directory


@asynccontextmanager
async def running_evm_node(directory: Path, suite_name: str) -> AsyncIterator[tuple[ApiServer, PrivateKey]]:
    make_evm_chain(directory, suite_name)
    keys = directory / "keys"
    key = decrypt_key_file((keys / "dev.json").read_bytes(), (keys / "dev.pass").read_text().strip())
    node = load_node(directory / "node0")
    await node.start()
    try:
        server = await start_api(node, ApiSettings(port=0))
        try:
            yield server, key
        finally:
            await server.close()
    finally:
        await node.stop()


def _address_of(key: PrivateKey) -> str:
    return "0x" + get_suite(key.suite).compute_address(key.public_key).hex()


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_an_erc20_deploys_moves_and_reverts_through_the_sdk(tmp_path: Path, suite_name: str) -> None:
    token = load_artifact(FIXTURES / "Token.json")
    reverter = load_artifact(FIXTURES / "Reverter.json")

    async def main() -> None:
        async with running_evm_node(tmp_path / "chain", suite_name) as (server, key):
            assert key.suite == suite_name
            me = _address_of(key)
            async with AsyncClient(server.url) as client:
                evm = AsyncEvmContracts(client)
                deployed = await evm.deploy(key, token, ["Gusu", "GSU", SUPPLY])
                address = deployed.address
                assert len(await evm.get_code(address)) > 0
                [minted] = deployed.logs
                assert minted.event == "Transfer"
                assert dict(minted.args) == {"from": "0x" + "00" * 20, "to": me, "value": SUPPLY}
                assert minted.log.address == address

                assert await evm.call(address, token, "name") == "Gusu"
                assert await evm.call(address, token, "balanceOf", [me]) == SUPPLY

                sent = await evm.send(key, address, token, "transfer", [BOB, 250])
                assert sent.value is True and sent.receipt.is_success
                [moved] = sent.logs
                assert moved.event == "Transfer" and dict(moved.args) == {"from": me, "to": BOB, "value": 250}
                assert await evm.call(address, token, "balanceOf", [BOB]) == 250
                assert [log.event for log in await evm.get_logs(sent.receipt.transaction_id, token)] == ["Transfer"]

                # A custom error, decoded by the ABI: in a transaction and in a call.
                with pytest.raises(EvmRevertError) as caught:
                    await evm.send(key, address, token, "transfer", [BOB, SUPPLY])
                assert caught.value.error_name == "InsufficientBalance"
                assert dict(caught.value.error_args) == {"account": me, "balance": SUPPLY - 250, "needed": SUPPLY}
                assert caught.value.receipt is not None and not caught.value.receipt.is_success
                assert "InsufficientBalance(account=" in str(caught.value)
                with pytest.raises(EvmRevertError) as called:
                    await evm.call(address, token, "transfer", [BOB, SUPPLY], sender=me)
                assert called.value.error_name == "InsufficientBalance" and called.value.receipt is None

                # A revert with a reason: require(...) in the token, revert(reason) in the Reverter.
                with pytest.raises(EvmRevertError) as refused:
                    await evm.send(key, address, token, "transferFrom", [BOB, me, 1])
                assert refused.value.reason == "Token: allowance exceeded" and refused.value.error_name is None
                failing = await evm.deploy(key, reverter)
                with pytest.raises(EvmRevertError, match="reverted: no luck"):
                    await evm.send(key, failing.address, reverter, "fail", ["no luck"])
                assert await evm.call(failing.address, reverter, "counter") == 0, "the reverted write is gone"

            def blocking() -> None:
                with Client(server.url) as client:
                    evm = EvmContracts(client)
                    evm.send(key, address, token, "approve", [BOB, 7])
                    assert evm.call(address, token, "allowance", [me, BOB]) == 7
                    with pytest.raises(EvmRevertError, match="InsufficientBalance"):
                        evm.send(key, address, token, "transfer", [BOB, 2 * SUPPLY])

            await asyncio.to_thread(blocking)

    asyncio.run(main())


def test_a_failure_that_is_not_a_revert_is_a_transaction_failure(tmp_path: Path) -> None:
    reverter = load_artifact(FIXTURES / "Reverter.json")

    async def main() -> None:
        async with running_evm_node(tmp_path / "chain", "sm") as (server, key), AsyncClient(server.url) as client:
            evm = AsyncEvmContracts(client)
            deployed = await evm.deploy(key, reverter)
            with pytest.raises(TransactionFailedError) as caught:
                await evm.send(key, deployed.address, reverter, "spin")
            assert not isinstance(caught.value, EvmRevertError)
            assert caught.value.receipt_code == "out_of_gas"
            # Value sent to a constructor that is not payable: Solidity reverts without data.
            with pytest.raises(EvmRevertError, match="reverted: no reason given") as unpaid:
                await evm.deploy(key, reverter, value=1)
            assert unpaid.value.data == b"" and unpaid.value.error_name is None
            with pytest.raises(ClientError, match="non-negative integer"):
                await evm.deploy(key, reverter, value=-1)

    asyncio.run(main())


def test_a_chain_without_the_evm_contract_says_how_to_get_one(tmp_path: Path) -> None:
    token = load_artifact(FIXTURES / "Token.json")

    async def main() -> None:
        initialize_chain(tmp_path / "plain", suite_name="sm", api_port=0, verifier_workers=0, scrypt_n=2**10)
        keys = tmp_path / "plain" / "keys"
        key = decrypt_key_file((keys / "dev.json").read_bytes(), (keys / "dev.pass").read_text().strip())
        node = load_node(tmp_path / "plain" / "node0")
        await node.start()
        try:
            server = await start_api(node, ApiSettings(port=0))
            try:
                async with AsyncClient(server.url) as client:
                    evm = AsyncEvmContracts(client)
                    with pytest.raises(TransactionFailedError, match=r"genesis lists \"evm\".*gusu chain init --evm"):
                        await evm.deploy(key, token, ["a", "b", 1])
                    with pytest.raises(RemoteError, match=r"does not run the `evm` contract") as caught:
                        await evm.call(BOB, token, "name")
                    assert caught.value.code == "contract_unknown"
            finally:
                await server.close()
        finally:
            await node.stop()

    asyncio.run(main())


# --- without a node --------------------------------------------------------------------------------


def _token_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / "Token.json").read_text())
    return document


def test_solc_standard_json_and_bare_abi_artifacts_load() -> None:
    document = _token_document()
    solc = {"abi": document["abi"], "evm": {"bytecode": {"object": document["bytecode"][2:]}}}
    assert parse_artifact(solc, "Token").bytecode == parse_artifact(document).bytecode
    abi_only = parse_artifact(document["abi"])
    assert abi_only.bytecode == b"" and abi_only.abi.get_function("transfer").signature == "transfer(address,uint256)"
    with pytest.raises(ClientError, match="no bytecode; it can call"):
        EvmContracts(Client("http://127.0.0.1:9")).deploy(get_suite("sm").generate_private_key(), abi_only)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("abi"), 'has no "abi"'),
        (lambda d: d.update(abi={"not": "a list"}), "must be a JSON list"),
        (lambda d: d.update(bytecode="0x60zz"), "not hex bytes"),
        (lambda d: d.update(bytecode="0x6080__$abcdef$__00"), "unlinked library"),
        (
            lambda d: d["abi"].append({"type": "function", "name": "f", "inputs": [{"type": "uint7"}]}),
            "invalid ABI type",
        ),
        (lambda d: d["abi"].append({"type": "thing", "name": "f"}), "unknown type 'thing'"),
    ],
)
def test_a_bad_artifact_is_refused_with_a_clear_message(tmp_path: Path, mutate: Any, message: str) -> None:
    document = _token_document()
    mutate(document)
    path = tmp_path / "Bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ClientError, match=message) as caught:
        load_artifact(path)
    assert str(path) in str(caught.value)


def test_hostile_nesting_is_refused_without_a_crash(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ClientError, match="nests JSON too deeply"):
        load_artifact(tmp_path / "deep.json")
    nested: dict[str, Any] = {"name": "x", "type": "uint256"}
    for _ in range(40):
        nested = {"name": "x", "type": "tuple", "components": [nested]}
    with pytest.raises(ClientError, match="nests tuples more than 16 deep"):
        parse_artifact([{"type": "function", "name": "f", "inputs": [nested], "outputs": []}])
    with pytest.raises(ClientError, match="is JSON"):
        parse_abi_argument("uint256[]", "[" * 100_000)


def test_a_missing_or_non_json_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="cannot read the artifact"):
        load_artifact(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("not json")
    with pytest.raises(ClientError, match="is not JSON"):
        load_artifact(tmp_path / "x.json")


def test_arguments_are_read_from_text_by_their_abi_types() -> None:
    assert parse_abi_argument("uint256", "1_000") == 1000
    assert parse_abi_argument("int8", "-5") == -5
    assert parse_abi_argument("uint256", "0xff") == 255
    assert parse_abi_argument("bool", "true") is True and parse_abi_argument("bool", "0") is False
    assert parse_abi_argument("address", BOB) == bytes.fromhex("0b" * 20)
    assert parse_abi_argument("bytes", "0x0102") == b"\x01\x02"
    assert parse_abi_argument("string", "hello world") == "hello world"
    assert parse_abi_argument("uint256[]", '[1, "2", "0x3"]') == [1, 2, 3]
    assert parse_abi_argument("(address,uint256)[1]", f'[["{BOB}", 5]]') == [(bytes.fromhex("0b" * 20), 5)]
    token = parse_artifact(_token_document())
    transfer = token.abi.get_function("transfer")
    assert parse_abi_arguments(transfer.inputs, [BOB, "5"], "transfer") == [bytes.fromhex("0b" * 20), 5]


@pytest.mark.parametrize(
    ("abi_type", "text", "message"),
    [
        ("uint256", "ten", "is an integer"),
        ("uint8", "256", "between 0 and 255, not 256"),
        ("int8", "-129", "between -128 and 127"),
        ("uint256", "-1", "between 0 and"),
        ("address", "0x1234", "0x and 40 hex digits"),
        ("bool", "yes", "true or false"),
        ("bytes4", "0x01", "exactly 4 bytes"),
        ("bytes", "0102", "0x-prefixed hex"),
        ("uint256[]", "1,2", "is JSON"),
        ("uint256[2]", "[1]", "exactly 2 items"),
    ],
)
def test_a_bad_argument_text_says_what_is_expected(abi_type: str, text: str, message: str) -> None:
    with pytest.raises(ClientError, match=message):
        parse_abi_argument(abi_type, text)


def test_argument_counts_and_unknown_functions_are_refused() -> None:
    token = parse_artifact(_token_document())
    transfer = token.abi.get_function("transfer")
    with pytest.raises(ClientError, match=r"takes 2 argument\(s\) \(address to, uint256 value\), not 1"):
        parse_abi_arguments(transfer.inputs, [BOB], "transfer")
    with pytest.raises(ClientError, match=r"argument 2 \(value\) of transfer: a uint256 argument is an integer"):
        parse_abi_arguments(transfer.inputs, [BOB, "x"], "transfer")
    with pytest.raises(ClientError, match="has no function 'mint'"):
        token.abi.get_function("mint")


def test_revert_data_decodes_to_reasons_panics_and_custom_errors() -> None:
    token = parse_artifact(_token_document())
    insufficient = token.abi.errors[0]
    data = insufficient.selector + abi_encode(["address", "uint256", "uint256"], [BOB, 1, 2])
    assert describe_revert(data, token.abi) == (
        f"InsufficientBalance(account={BOB}, balance=1, needed=2)",
        "InsufficientBalance",
        {"account": BOB, "balance": 1, "needed": 2},
    )
    assert describe_revert(data) == (f"custom error 0x{insufficient.selector.hex()} (not in the ABI)", None, {})
    assert describe_revert(PANIC_SELECTOR + (0x11).to_bytes(32, "big"))[0] == "panic 0x11"
    assert describe_revert(b"")[0] == "no reason given"
    message = f"execution reverted (data=0x{data.hex()}): custom error 0x{data[:4].hex()}"
    assert get_revert_data(message) == data
    assert get_revert_data("the EVM call failed: InvalidInstruction") is None


def test_overloaded_functions_are_chosen_by_count_or_signature() -> None:
    abi = parse_artifact(
        [
            {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}], "outputs": []},
            {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "address"}], "outputs": []},
            {"type": "function", "name": "f", "inputs": [], "outputs": []},
        ]
    ).abi
    assert abi.get_function("f", 0).signature == "f()"
    assert abi.get_function("f(address)").signature == "f(address)"
    with pytest.raises(ClientError, match=r"'f' is overloaded \(f\(uint256\), f\(address\)\); name one by its"):
        abi.get_function("f", 1)


# --- logs on the chain: query_logs (eth_getLogs) ------------------------------------------------------

CAROL = "0x" + "0c" * 20


def _topic_of(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def test_query_logs_finds_a_contracts_logs_by_range_and_topic(tmp_path: Path) -> None:
    token = load_artifact(FIXTURES / "Token.json")
    transfer = next(event for event in token.abi.events if event.name == "Transfer")
    approval = next(event for event in token.abi.events if event.name == "Approval")

    async def main() -> None:
        async with running_evm_node(tmp_path / "chain", "sm") as (server, key), AsyncClient(server.url) as client:
            me = _address_of(key)
            evm = AsyncEvmContracts(client)
            deployed = await evm.deploy(key, token, ["Gusu", "GSU", SUPPLY])
            address = deployed.address
            to_bob = await evm.send(key, address, token, "transfer", [BOB, 250])
            to_carol = await evm.send(key, address, token, "transfer", [CAROL, 5])
            approved = await evm.send(key, address, token, "approve", [BOB, 7])
            other = await evm.deploy(key, token, ["Other", "OTH", 1])  # another contract's Transfer: not listed
            tip = int(await client.block_number())

            found = await evm.query_logs(address, 0, tip, token)
            assert [log.decoded.event for log in found] == ["Transfer", "Transfer", "Transfer", "Approval"]
            assert dict(found[1].decoded.args) == {"from": me, "to": BOB, "value": 250}
            assert dict(found[3].decoded.args) == {"owner": me, "spender": BOB, "value": 7}
            sent = [deployed.receipt, to_bob.receipt, to_carol.receipt, approved.receipt]
            assert [log.transaction_id for log in found] == [receipt.transaction_id for receipt in sent]
            for log, receipt in zip(found, sent, strict=True):
                view = await client.get_receipt(receipt.transaction_id)
                assert log.block_height == view.height and log.decoded.log.address == address
                block = await client.get_block(view.height)
                assert log.block_hash == block.block_hash
            assert all(log.decoded.log.address != other.address for log in found)

            # By range: only the blocks asked for.
            bob_height = found[1].block_height
            assert [log.transaction_id for log in await evm.query_logs(address, bob_height, bob_height, token)] == [
                to_bob.receipt.transaction_id
            ]
            # By topic: Transfer to Bob only; then either event (alternatives at one position); hex topics too.
            to_bob_only = await evm.query_logs(address, 0, tip, token, topics=[transfer.topic, None, _topic_of(BOB)])
            assert [log.transaction_id for log in to_bob_only] == [to_bob.receipt.transaction_id]
            either = await evm.query_logs(address, 0, tip, token, topics=[[transfer.topic, approval.topic]])
            assert len(either) == 4
            approvals = await evm.query_logs(address, 0, tip, topics=["0x" + approval.topic.hex()])
            assert [log.decoded.event for log in approvals] == [None], "no ABI given: kept undecoded"
            assert approvals[0].decoded.log.topics[0] == approval.topic

            # Outside the node's limits: refused before anything is sent.
            with pytest.raises(ClientError, match="spans at most 1000"):
                await evm.query_logs(address, 0, 1000, token)
            with pytest.raises(ClientError, match="spans at most 2"):
                await evm.query_logs(address, 0, 2, token, block_range_max=2)

            def blocking() -> None:
                with Client(server.url) as sync_client:
                    logs = EvmContracts(sync_client).query_logs(address, 0, tip, token, topics=[approval.topic])
                    assert [log.transaction_id for log in logs] == [approved.receipt.transaction_id]

            await asyncio.to_thread(blocking)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        (("0x12", 0, 1), {}, "0x and 40 hex digits"),
        (("0x" + "ab" * 20, 5, 4), {}, "after to_height"),
        (("0x" + "ab" * 20, -1, 4), {}, "from_height must be a block height"),
        (("0x" + "ab" * 20, 0, 10), {"block_range_max": 0}, "block_range_max must be"),
        (("0x" + "ab" * 20, 0, 1), {"topics": [None] * 5}, "at most 4 positions"),
        (("0x" + "ab" * 20, 0, 1), {"topics": ["0x1234"]}, "0x and 64 hex digits"),
        (("0x" + "ab" * 20, 0, 1), {"topics": [b"\x01" * 31]}, "must be 32 bytes"),
        (("0x" + "ab" * 20, 0, 1), {"topics": [[]]}, "1 to 256 alternatives"),
        (("0x" + "ab" * 20, 0, 1), {"topics": [[b"\x01" * 32] * 257]}, "1 to 256 alternatives"),
    ],
)
def test_a_log_query_outside_the_limits_is_refused(arguments: Any, options: Any, message: str) -> None:
    from gusu.sdk.evm import compute_log_filter

    with pytest.raises(ClientError, match=message):
        compute_log_filter(*arguments, **options)


def test_a_log_filter_is_what_eth_get_logs_reads() -> None:
    from gusu.sdk.evm import compute_log_filter

    topic = b"\x11" * 32
    assert compute_log_filter("0x" + "AB" * 20, 10, 1009, [topic, None, [topic, "0x" + "22" * 32], None]) == {
        "address": "0x" + "ab" * 20,
        "fromBlock": "0xa",
        "toBlock": "0x3f1",
        "topics": ["0x" + "11" * 32, None, ["0x" + "11" * 32, "0x" + "22" * 32]],
    }
    assert "topics" not in compute_log_filter("0x" + "ab" * 20, 0, 0, [None, None])


def test_a_malformed_eth_get_logs_answer_is_a_codec_error() -> None:
    from gusu.errors import CodecError
    from gusu.sdk.evm import parse_chain_log

    good = {
        "address": "0x" + "ab" * 20, "topics": ["0x" + "11" * 32], "data": "0x", "blockNumber": "0x5",
        "blockHash": "0x" + "22" * 32, "transactionHash": "0x" + "33" * 32, "transactionIndex": "0x0",
        "logIndex": "0x2", "removed": False,
    }  # fmt: skip
    log = parse_chain_log(good)
    assert (log.block_height, log.log_index, log.transaction_id) == (5, 2, b"\x33" * 32)
    assert log.decoded.event is None and log.decoded.log.topics == (b"\x11" * 32,)
    for key, bad in (
        ("address", "0x12"), ("topics", ["0x11"]), ("topics", ["0x" + "11" * 32] * 5), ("data", "0x1"),
        ("blockNumber", "5"), ("blockNumber", "0x" + "f" * 17), ("blockHash", None), ("logIndex", "0xzz"),
    ):  # fmt: skip
        with pytest.raises(CodecError):
            parse_chain_log({**good, key: bad})
    with pytest.raises(CodecError):
        parse_chain_log(["not", "an", "object"])
