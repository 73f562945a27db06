"""The pure parts of `gusu bench --evm erc20` (gusu.eval.evmbench): pacing, accounting, signing, the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from gusu.eval import evmbench
from gusu.eval.evmbench import (
    EvmBenchError,
    EvmRunSettings,
    SendRecord,
    compute_comparison,
    compute_due_offset_s,
    compute_open_loop_rate,
    compute_phase_result,
    count_due,
    derive_sender_secret,
    enable_evm,
    encode_transfer_call,
    get_evm_bench_error,
    sign_legacy_transaction,
)
from gusu.ledger.ethtx import EthTransactionType, compute_eth_address, decode_eth_transaction
from gusu.node.chain import initialize_chain
from gusu.node.config import load_config

SECRET = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


def test_open_loop_pacing_spreads_sends_evenly() -> None:
    assert [compute_due_offset_s(index, 4.0) for index in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert count_due(-0.1, 10.0) == 0
    assert count_due(0.0, 10.0) == 1  # the first is due at once
    assert count_due(0.099, 10.0) == 1
    assert count_due(0.1, 10.0) == 2
    assert count_due(2.0, 250.0) == 501
    # The two agree: the n-th send is due exactly when count_due reaches n + 1.
    for index in range(1, 200):
        assert count_due(compute_due_offset_s(index, 33.0) + 1e-9, 33.0) == index + 1


def test_open_loop_rate_is_half_the_sustained_unless_given() -> None:
    assert compute_open_loop_rate(640.0, None) == 320.0
    assert compute_open_loop_rate(640.0, 100.0) == 100.0
    assert compute_open_loop_rate(0.0, None) is None


def test_accounting_puts_every_transfer_in_one_bucket_and_windows_the_figures() -> None:
    records = [
        SendRecord(0.5, 0.5, 0.6, True),  # due in the warm-up, committed in it: in neither figure
        SendRecord(0.9, 0.9, 1.2, True),  # due in the warm-up, committed in the window: throughput only
        SendRecord(1.0, 1.0, 1.1, True),
        SendRecord(1.5, 1.5, 1.7, True),
        SendRecord(2.0, 2.0, 2.3, False),  # committed with status 0: failed
        SendRecord(2.5, 2.6, refusal="nonce too low (code -32000)"),
        SendRecord(2.8, 2.8),  # accepted, never committed: lost
        SendRecord(2.9, 2.9, 3.4, True),  # due in the window, committed after it: latency only
    ]
    result = compute_phase_result(records, 1.0, 3.0, mode="closed", in_flight=4)
    assert result.sent == 8
    assert result.committed == 6
    assert (result.succeeded, result.failed, result.refused, result.lost) == (5, 1, 1, 1)
    assert result.succeeded + result.failed + result.refused + result.lost == result.sent
    assert result.committed_in_window == 4  # 1.2, 1.1, 1.7, 2.3
    assert result.tps == pytest.approx(2.0)
    # Latencies of those due in [1, 3): 100, 200, 300, 500 ms (nearest rank).
    assert result.p50_ms == pytest.approx(200.0)
    assert result.p99_ms == pytest.approx(500.0)
    assert result.max_ms == pytest.approx(500.0)
    assert result.refusals == ("nonce too low (code -32000)",)
    document = result.to_json()
    assert document["lost"] == 1 and document["in_flight"] == 4 and document["tps"] == 2.0


def test_the_send_answer_is_timed_for_transfers_due_in_the_window() -> None:
    records = [
        SendRecord(0.5, 0.5, 0.9, True, answered_at_s=0.9),  # due in the warm-up: not counted
        SendRecord(1.0, 1.0, 1.3, True, answered_at_s=1.01),
        SendRecord(1.5, 1.5, 1.8, True, answered_at_s=1.53),
        SendRecord(2.0, 2.0, refusal="the request failed: timeout"),  # no answer: not counted
        SendRecord(2.5, 2.5, refusal="nonce too low", answered_at_s=2.6),  # a refusal is an answer too
    ]
    result = compute_phase_result(records, 1.0, 3.0, mode="closed", in_flight=2)
    # Answers of those due in [1, 3): 10, 30, 100 ms (nearest rank).
    assert result.send_p50_ms == pytest.approx(30.0)
    assert result.send_p99_ms == pytest.approx(100.0)
    document = result.to_json()
    assert document["send_p50_ms"] == 30.0 and document["send_p99_ms"] == 100.0
    assert compute_phase_result([], 0.0, 1.0, mode="closed").send_p50_ms is None


def test_open_loop_latency_counts_from_when_a_transfer_was_due() -> None:
    # Sent 0.3 s late (no idle sender): the wait is latency, as a user would see it.
    result = compute_phase_result([SendRecord(1.0, 1.3, 1.4, True)], 0.0, 2.0, mode="open", rate=1.0, late=1)
    assert result.p50_ms == pytest.approx(400.0)
    assert result.late == 1 and result.rate == 1.0


def test_an_empty_phase_has_no_percentiles() -> None:
    result = compute_phase_result([], 0.0, 1.0, mode="closed")
    assert result.tps == 0 and result.p99_ms is None and result.sent == 0


def test_the_verdict_names_refused_failed_and_lost_transfers_and_broken_targets() -> None:
    clean = {"refused": 0, "failed": 0, "lost": 0, "refusals": []}
    assert get_evm_bench_error({"targets": [{"name": "gusu", "closed": clean, "open": clean}]}) is None
    lost = clean | {"lost": 2}
    error = get_evm_bench_error({"targets": [{"name": "gusu", "closed": clean, "open": lost}]})
    assert error == "gusu, open loop: 2 lost"
    refused = clean | {"refused": 1, "failed": 3, "refusals": ["pool full"]}
    error = get_evm_bench_error({"targets": [{"name": "hardhat", "closed": refused}]})
    assert error == "hardhat, closed loop: 1 refused, 3 failed (first: pool full)"
    error = get_evm_bench_error({"targets": [{"name": "hardhat", "error": "Hardhat is not installed"}]})
    assert error == "hardhat: Hardhat is not installed"


def test_comparison_needs_both_targets() -> None:
    gusu = {"name": "gusu", "closed": {"tps": 900.0}}
    hardhat = {"name": "hardhat", "closed": {"tps": 600.0}}
    assert compute_comparison([hardhat, gusu]) == {"gusu_tps": 900.0, "hardhat_tps": 600.0, "tps_ratio": 1.5}
    assert compute_comparison([gusu]) is None
    assert compute_comparison([hardhat | {"error": "x"}, gusu]) is None


def test_rounds_compare_within_a_round_and_report_medians() -> None:
    def run(name: str, round_: int, tps: float) -> dict[str, object]:
        return {"name": name, "round": round_, "closed": {"tps": tps}}

    targets = [
        run("hardhat", 1, 600.0),
        run("gusu", 1, 900.0),  # 1.5
        run("hardhat", 2, 700.0),
        run("gusu", 2, 700.0),  # 1.0
        run("hardhat", 3, 500.0),
        run("gusu", 3, 1000.0),  # 2.0
        run("hardhat", 4, 650.0) | {"error": "did not start"},
        run("gusu", 4, 5000.0),  # no Hardhat in this round: counts in no median
    ]
    comparison = compute_comparison(targets)
    assert comparison is not None
    assert [item["round"] for item in comparison["rounds"]] == [1, 2, 3]
    assert [item["tps_ratio"] for item in comparison["rounds"]] == [1.5, 1.0, 2.0]
    assert comparison["tps_ratio"] == 1.5
    assert comparison["gusu_tps"] == 900.0
    assert comparison["hardhat_tps"] == 600.0


def test_signed_transfers_decode_as_eip155_transactions_from_the_right_sender() -> None:
    token = bytes(range(20))
    data = encode_transfer_call(b"\x11" * 20, 7)
    signed = sign_legacy_transaction(
        SECRET, chain_id=31337, nonce=5, gas_price=2_000_000_000, gas_limit=100_000, to=token, value=0, data=data
    )
    decoded = decode_eth_transaction(bytes.fromhex(signed.raw_hex[2:]), chain_id=31337)
    assert decoded.transaction_type == EthTransactionType.LEGACY
    assert (decoded.chain_id, decoded.nonce, decoded.gas_limit, decoded.max_fee_per_gas) == (
        31337,
        5,
        100_000,
        2_000_000_000,
    )
    assert decoded.to == token and decoded.data == data and decoded.value == 0
    assert decoded.sender == compute_eth_address(SECRET)
    assert "0x" + decoded.transaction_hash.hex() == signed.transaction_hash
    # The well-known test key of the Ethereum documentation and its address.
    assert compute_eth_address(SECRET).hex() == "2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    creation = sign_legacy_transaction(
        SECRET, chain_id=7, nonce=0, gas_price=0, gas_limit=3_000_000, to=None, value=0, data=b"\x60\x00"
    )
    assert decode_eth_transaction(bytes.fromhex(creation.raw_hex[2:]), chain_id=7).is_create


def test_sender_keys_are_distinct_and_valid() -> None:
    secrets = {derive_sender_secret(b"run", index) for index in range(50)}
    assert len(secrets) == 50
    assert derive_sender_secret(b"run", 3) == derive_sender_secret(b"run", 3)
    assert derive_sender_secret(b"other", 3) != derive_sender_secret(b"run", 3)


def test_settings_have_named_bounds() -> None:
    EvmRunSettings(in_flight=64, senders=64)
    with pytest.raises(EvmBenchError, match="--senders"):
        EvmRunSettings(in_flight=64, senders=63)
    with pytest.raises(EvmBenchError, match="--in-flight"):
        EvmRunSettings(in_flight=0)
    with pytest.raises(EvmBenchError, match="--rate"):
        EvmRunSettings(rate=float("inf"))
    with pytest.raises(EvmBenchError, match="--duration"):
        EvmRunSettings(duration_s=0)


def test_enable_evm_adds_the_contract_without_code_approval(tmp_path: Path) -> None:
    layout = initialize_chain(tmp_path / "chain", suite_name="ecdsa", api_port=0, scrypt_n=2**10)
    changed = enable_evm(layout.genesis)
    assert "evm" in changed.contracts and changed.get_parameter("contract_deploy_approval_required") == 0
    assert enable_evm(changed) == changed


def test_a_missing_hardhat_is_named_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(evmbench, "HARDHAT_PROJECT", tmp_path)
    with pytest.raises(EvmBenchError, match=r"Hardhat is not installed: .* run `npm ci` in"):
        evmbench.find_hardhat()


def test_enable_evm_sets_the_block_interval_only_when_asked(tmp_path: Path) -> None:
    layout = initialize_chain(tmp_path / "chain", suite_name="ecdsa", api_port=0, scrypt_n=2**10)
    assert enable_evm(layout.genesis).get_parameter("block_interval_ms") == 200
    assert enable_evm(layout.genesis, 0).get_parameter("block_interval_ms") == 0


def test_the_gather_is_set_in_every_node_config_only_when_asked(tmp_path: Path) -> None:
    layout = initialize_chain(tmp_path / "chain", suite_name="ecdsa", api_port=0, scrypt_n=2**10)
    config = layout.node_directories[0] / "config.toml"
    before = config.read_text(encoding="utf-8")
    evmbench.rewrite_config_files(layout.directory, None)
    assert config.read_text(encoding="utf-8") == before
    evmbench.rewrite_config_files(layout.directory, 20)
    assert load_config(layout.node_directories[0]).consensus.block_gather_ms == 20
    with pytest.raises(AssertionError, match="render_config"):
        evmbench.rewrite_config_files(layout.directory, 5)  # no longer the line render_config writes


def test_the_gateway_setting_gives_the_node_gateways_on_a_free_port(tmp_path: Path) -> None:
    layout = initialize_chain(tmp_path / "chain", suite_name="ecdsa", api_port=0, scrypt_n=2**10)
    evmbench.rewrite_gateway_settings(layout.directory, 2)
    api = load_config(layout.node_directories[0]).api
    assert api["gateway_workers"] == 2 and api["gateway_port"] == 0


def test_gateways_go_with_one_node_only() -> None:
    with pytest.raises(evmbench.EvmBenchError, match="one node"), evmbench.gusu_target(4, 0, 20, None, 1):
        pass
