"""`gusu bench --app`: application adapters (units) and a tiny real `--app evidence` run against a throw-away node."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from gusu.apps.evidence.records import compute_content_hashes
from gusu.cli.main import cli
from gusu.codec import Value, decode
from gusu.crypto import get_suite
from gusu.eval.appbench import (
    APP_LOADS,
    SCF_TRANSFER_FEN,
    SCF_TRANSFERS_PER_VOUCHER,
    EvidenceLoad,
    app_summary_rows,
    get_app_bench_error,
    get_app_load,
)
from gusu.eval.bench import BenchConfig, BenchError, sign_app_calls
from gusu.eval.valset_bench import ValidatorChangePlan, validate_change_config
from gusu.ledger.types import decode_transaction

APP_KEYS = {
    "tps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "load",
    "app",
    "app_state",
    "submitted",
    "committed",
    "succeeded",
    "failed",
    "rejected",
    "lost",
    "verify_rate_per_core",
    "tps_to_verify_ratio",
    "nodes",
    "hardware",
    "command",
}
TRANSFER_KEYS = {"transfer", "tps_to_transfer_ratio", "verify_normalised_ratio"}


def test_evidence_calls_are_distinct_valid_submissions() -> None:
    load = EvidenceLoad()
    context = bytes(range(16))
    calls = [load.compute_call(context, sequence) for sequence in range(50)]
    calls.append(load.compute_call(bytes(16), 0))
    assert {(contract, method) for contract, method, _ in calls} == {("evidence_service", "submit")}
    sm3_hashes = {args[0] for _, _, args in calls if isinstance(args[0], bytes)}
    assert len(sm3_hashes) == len(calls)  # a repeated document would only return the existing record
    for _, _, args in calls:
        sm3_hash, sha256_hash, metadata_hash, description = args
        assert isinstance(sm3_hash, bytes) and isinstance(sha256_hash, bytes) and isinstance(metadata_hash, bytes)
        assert len(sm3_hash) == len(sha256_hash) == len(metadata_hash) == 32
        assert description == "gusu bench"
    # The pair is what the evidence client computes for the same content.
    content = b"gusu bench evidence document " + context + (3).to_bytes(8, "big")
    hashes = compute_content_hashes(content)
    assert calls[3][2][:2] == [hashes.sm3, hashes.sha256]


def test_signed_app_calls_carry_the_adapters_call() -> None:
    suite = get_suite("sm")
    key = suite.generate_private_key()
    load = pickle.loads(pickle.dumps(get_app_load("evidence")))  # as the signing processes receive it
    [signed] = sign_app_calls(load, "sm", "chain-x", 77, [(key.secret, 3, bytes(16))])
    assert len(signed) == 3 and len({transaction_id for transaction_id, _ in signed}) == 3
    for sequence, (_, raw) in enumerate(signed):
        transaction = decode_transaction(bytes.fromhex(raw[2:]))
        assert (transaction.contract, transaction.method, transaction.chain_id) == (
            "evidence_service",
            "submit",
            "chain-x",
        )
        assert int(transaction.valid_until_height) == 77
        assert decode(transaction.args) == load.compute_call(bytes(16), sequence)[2]


def test_app_load_choices_and_options() -> None:
    assert set(APP_LOADS) >= {"evidence"}
    with pytest.raises(BenchError, match="choose one of"):
        get_app_load("nonesuch")
    with pytest.raises(BenchError, match="--app or --contract"):
        BenchConfig(app=EvidenceLoad(), contract=True)


def test_options_that_do_not_go_with_an_app_load() -> None:
    with pytest.raises(BenchError, match="drop --app"):
        validate_change_config(
            BenchConfig(nodes=4, rate=100.0, duration_s=60.0, app=EvidenceLoad()), ValidatorChangePlan()
        )
    answer = CliRunner().invoke(cli, ["bench", "--against-transfer", "--duration", "1"])
    assert answer.exit_code != 0 and "give --app" in answer.output


def test_a_run_with_failed_or_refused_transactions_is_no_result() -> None:
    good = {"app": "evidence", "succeeded": 10, "failed": 0, "rejected": 0, "lost": 0, "receipts_missing": 0}
    assert get_app_bench_error(good) is None
    assert get_app_bench_error({"app": None, "failed": 3}) is None  # not an application run
    failed = get_app_bench_error({**good, "failed": 2, "rejected": 1})
    assert failed is not None and "2 failed" in failed and "1 refused" in failed
    pending = get_app_bench_error({**good, "pending": 5})
    assert pending is not None and "5 still pending" in pending and "--drain-timeout" in pending
    assert "no transaction succeeded" in (get_app_bench_error({**good, "succeeded": 0}) or "")


def run_app_bench(app: str, *options: str) -> dict[str, Any]:
    """A tiny `gusu bench --app APP` on a throw-away node; checks that every load transaction succeeded."""
    environment = {key: value for key, value in os.environ.items() if key not in ("GUSU_ENDPOINT", "GUSU_HOME")}
    # Enough that the load outlasts the warm-up on a quiet host too (800 all committed within it).
    tiny = ["--duration", "2", "--warmup", "1", "--senders", "20", "--window", "200", "--count", "6000"]
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", "bench", "--app", app, *tiny, *options, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    assert set(result) >= APP_KEYS, APP_KEYS - set(result)
    assert result["throwaway_chain"] is True
    # Every load transaction committed with a success receipt.
    assert result["committed"] > 0 and result["tps"] > 0
    assert result["committed"] == result["succeeded"] == result["acknowledged"] == result["submitted"]
    assert result["failed"] == result["rejected"] == result["lost"] == result["receipts_missing"] == 0
    return result


@pytest.mark.e2e
def test_tiny_evidence_bench_against_transfer() -> None:
    result = run_app_bench("evidence", "--against-transfer")
    assert result["nodes"] == 1
    assert set(result) >= TRANSFER_KEYS, TRANSFER_KEYS - set(result)
    assert result["app"] == "evidence" and result["load"] == "evidence_service.submit"
    # Each submission stored a new record (a repeated document would only return the existing one).
    assert result["app_state"] == {"records": result["succeeded"]}
    # The account.transfer run with the same settings, and the ratios.
    transfer = result["transfer"]
    assert transfer["committed"] > 0 and transfer["failed"] == 0 and transfer["tps"] > 0
    assert result["tps_to_transfer_ratio"] == round(result["tps"] / transfer["tps"], 3)
    assert result["verify_normalised_ratio"] > 0


@pytest.mark.e2e
def test_tiny_evidence_bench_on_four_validators() -> None:
    # The network's governance approves contract code: the four organisations' admins approve the evidence
    # contract before the dev key deploys it, and the load is spread over every validator.
    result = run_app_bench("evidence", "--nodes", "4")
    per_node = result["acknowledged_per_node"]
    assert result["nodes"] == 4 and len(per_node) == 4 and sum(per_node) == result["acknowledged"]
    # Round-robin (a tiny window leaves time for only a few batches, so not necessarily all four).
    assert sum(1 for acknowledged in per_node if acknowledged) >= 2
    assert result["app_state"] == {"records": result["succeeded"]}


def test_trace_scans_name_each_sender_code_once_with_fresh_nonces() -> None:
    load = get_app_load("trace")
    codes = bytes(range(48))  # three 16-byte codes
    context: list[Value] = ["bench-batch-x", codes, bytes(16)]
    calls = [load.compute_call(context, sequence) for sequence in range(3)]
    assert {(contract, method) for contract, method, _ in calls} == {("trace", "scan")}
    assert [args[0] for _, _, args in calls] == [codes[0:16], codes[16:32], codes[32:48]]
    nonces = [args[2] for _, _, args in calls]
    assert len(set(nonces)) == 3 and all(isinstance(nonce, bytes) and 16 <= len(nonce) <= 32 for nonce in nonces)
    assert all(args[3] is True for _, _, args in calls)  # a consumer's first scan activates the item
    with pytest.raises(AssertionError):
        load.compute_call(context, 3)  # one code per load transaction, never a second scan of one


@pytest.mark.e2e
def test_tiny_trace_bench() -> None:
    result = run_app_bench("trace")
    assert result["app"] == "trace" and result["load"].startswith("trace.scan")
    # Each scan activated a new item of the on-sale batch; none looked suspect.
    assert result["app_state"]["activated"] == result["succeeded"] and result["app_state"]["alerts"] == 0


def test_scf_transfers_move_one_part_each_against_new_documents() -> None:
    load = get_app_load("scf")
    context: list[Value] = ["b-x-t0", [7, 9], bytes(16)]
    calls = [load.compute_call(context, sequence) for sequence in range(SCF_TRANSFERS_PER_VOUCHER + 1)]
    assert {(contract, method) for contract, method, _ in calls} == {("scf", "transfer")}
    # 250 transfers from the first voucher (its tree holds at most 256 parts), then the next one.
    assert [args[0] for _, _, args in calls].count(7) == SCF_TRANSFERS_PER_VOUCHER and calls[-1][2][0] == 9
    assert all(args[1] == "b-x-t0" and args[2] == SCF_TRANSFER_FEN for _, _, args in calls)
    invoices = {args[4] for _, _, args in calls}
    assert len(invoices) == len(calls)  # one invoice backs one voucher: each transfer has its own
    documents = [document for _, _, args in calls for document in args[3:6]]
    assert all(isinstance(document, bytes) and len(document) == 32 and document != bytes(32) for document in documents)


@pytest.mark.e2e
def test_tiny_scf_bench() -> None:
    result = run_app_bench("scf")
    assert result["app"] == "scf" and result["load"].startswith("scf.transfer")
    # What left the suppliers' vouchers is exactly what the successful transfers moved.
    assert result["app_state"]["transfers"] == result["succeeded"]
    assert result["app_state"]["transferred_fen"] == result["succeeded"] * SCF_TRANSFER_FEN


def test_summary_rows_show_the_application_state_and_the_comparison() -> None:
    assert app_summary_rows({"app": None}) == []
    rows = dict(app_summary_rows({"app": "evidence", "app_state": {"records": 12}}))
    assert rows == {"application state": "records 12"}
    transfer = {"tps": 100.0, "p50_ms": 10.0, "p99_ms": 20.0}
    compared = {"app_state": {"records": 12}, "transfer": transfer, "tps_to_transfer_ratio": 0.5}
    rows = dict(app_summary_rows({**compared, "verify_normalised_ratio": 0.4}))
    assert rows["account.transfer, same settings"].startswith("100.0 tx/s") and rows["app / transfer TPS"] == "0.5"
