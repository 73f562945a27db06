"""`gusu bench --app NAME`: an application's main transaction as the benchmark load (issue 12, "Load and scale").

The load machinery is `gusu.eval.bench` (funding, pre-signing on every core, open or closed loop, one node or a
network, full accounting); an application plugs in with a small adapter (`gusu.eval.bench.AppLoad`):

* ``prepare`` deploys the application's contract with the funding key (approving its code hash first where
  governance asks, as `gusu <app> setup` does) and sets up what each funded sender needs, committing every setup
  transaction with a success receipt; it returns one context value per sender;
* ``compute_call`` builds a sender's n-th main transaction from that context, in the signing processes, so each
  must be valid in whatever order the chain commits them.

Every load transaction must commit with a success receipt: a run with failed receipts, refusals or lost
transactions is not a result (`get_app_bench_error`). With ``against_transfer`` the same settings are then run with
the built-in ``account.transfer`` on a fresh throw-away chain, and the result carries both figures and their ratios.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gusu.apps.evidence.records import (
    CONTRACT_NAME as EVIDENCE_CONTRACT,
)
from gusu.apps.evidence.records import (
    compute_content_hashes,
    compute_metadata_hash,
    load_contract_source,
)
from gusu.codec import Value
from gusu.crypto import PrivateKey
from gusu.eval.bench import (
    AppCall,
    AppLoad,
    AppSetup,
    BenchConfig,
    BenchError,
    Progress,
    SummaryRow,
    run_bench,
)

RUN_TAG_BYTES: Final = 16
"""Random bytes per sender and run that make every piece of generated content (and so every record) new."""
TRANSFER_FIGURES: Final = (
    "tps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "committed",
    "succeeded",
    "failed",
    "verify_rate_per_core",
    "tps_to_verify_ratio",
    "node_cpu_percent",
    "blocks_in_window",
    "mean_block_transactions",
)
"""What the result keeps of the `account.transfer` run it is compared with."""


@dataclass(frozen=True, slots=True)
class EvidenceLoad:
    """存证: each transaction records the hashes of a new document (`evidence_service.submit`).

    Every document is distinct (the sender's random run tag and a sequence number), so each transaction stores a
    new record with its SM3 and SHA-256 indexes, as a real submission does; a duplicate would only return the
    existing record and measure less.
    """

    contract: str = EVIDENCE_CONTRACT
    threshold: int = 1
    description: str = "gusu bench"

    @property
    def name(self) -> str:
        return "evidence"

    @property
    def load(self) -> str:
        return f"{self.contract}.submit"

    async def prepare(self, setup: AppSetup, senders: Sequence[PrivateKey], per_sender: Sequence[int]) -> list[Value]:
        # An existing deployment (e.g. on --endpoint) is used as it is: anyone may submit.
        await setup.deploy(self.contract, load_contract_source(), [self.threshold])
        return [secrets.token_bytes(RUN_TAG_BYTES) for _ in senders]

    def compute_call(self, context: Value, sequence: int) -> AppCall:
        assert isinstance(context, bytes) and len(context) == RUN_TAG_BYTES
        content = b"gusu bench evidence document " + context + sequence.to_bytes(8, "big")
        hashes = compute_content_hashes(content)
        metadata_hash = compute_metadata_hash({"title": f"bench document {sequence}", "source": "gusu bench"})
        return self.contract, "submit", [hashes.sm3, hashes.sha256, metadata_hash, self.description]

    async def get_state_summary(self, setup: AppSetup, contexts: Sequence[Value]) -> dict[str, Any]:
        # get_settings answers [admin, threshold, number of records].
        settings = await setup.view(self.contract, "get_settings")
        records = settings[2] if isinstance(settings, list) and len(settings) == 3 else None
        return {"records": records}


APP_LOADS: Final[dict[str, AppLoad]] = {"evidence": EvidenceLoad()}
"""`gusu bench --app NAME` choices."""


def get_app_load(name: str) -> AppLoad:
    load = APP_LOADS.get(name)
    if load is None:
        raise BenchError(f"there is no application load {name!r}; choose one of {', '.join(APP_LOADS)}")
    return load


def get_app_bench_error(result: dict[str, Any]) -> str | None:
    """Why an application run is not a result (None when it is): every load transaction must have succeeded."""
    if result.get("app") is None:
        return None
    faults = {
        "failed": result.get("failed", 0),
        "refused": result.get("rejected", 0),
        "lost": result.get("lost", 0),
        "without a receipt": result.get("receipts_missing", 0),
        "abandoned": result.get("abandoned", 0),
    }
    named = [f"{number} {what}" for what, number in faults.items() if number]
    if not named and not result.get("succeeded"):
        named = ["no transaction succeeded"]
    if not named:
        return None
    return f"the {result['app']} load is not a valid result: " + ", ".join(named) + " (see the warnings above)"


def run_app_bench(config: BenchConfig, progress: Progress | None = None, *, against_transfer: bool) -> dict[str, Any]:
    """`run_bench` with `config.app`; with `against_transfer` also the same run with `account.transfer`."""
    assert config.app is not None
    result = run_bench(config, progress)
    if not against_transfer or get_app_bench_error(result) is not None:
        return result
    transfer = run_bench(replace(config, app=None), progress)
    result["transfer"] = {key: transfer.get(key) for key in TRANSFER_FIGURES}
    result["tps_to_transfer_ratio"] = round(result["tps"] / transfer["tps"], 3) if transfer["tps"] else None
    # Each run measures the host's verification speed at its start: this ratio also holds when the host's speed
    # changed between the two runs.
    app_ratio, transfer_ratio = result.get("tps_to_verify_ratio"), transfer.get("tps_to_verify_ratio")
    result["verify_normalised_ratio"] = round(app_ratio / transfer_ratio, 3) if app_ratio and transfer_ratio else None
    return result


def app_summary_rows(result: dict[str, Any]) -> list[SummaryRow]:
    """The comparison with `account.transfer`, for a run that made one."""
    transfer = result.get("transfer")
    if not isinstance(transfer, dict):
        return []
    latency = " / ".join("n/a" if transfer.get(k) is None else f"{transfer[k]:,.1f} ms" for k in ("p50_ms", "p99_ms"))
    return [
        ("account.transfer, same settings", f"{transfer['tps']:,.1f} tx/s, p50 / p99 {latency}"),
        ("app / transfer TPS", f"{result.get('tps_to_transfer_ratio')}"),
        ("same, per verify rate", f"{result.get('verify_normalised_ratio')}"),
    ]
