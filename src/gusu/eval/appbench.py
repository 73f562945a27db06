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

import hashlib
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gusu.apps.evidence.records import CONTRACT_NAME as EVIDENCE_CONTRACT
from gusu.apps.evidence.records import compute_content_hashes, compute_metadata_hash, load_contract_source
from gusu.apps.scf.contract import CONTRACT_NAME as SCF_CONTRACT
from gusu.apps.scf.contract import DAY_MS as SCF_DAY_MS
from gusu.apps.scf.contract import get_contract_source as get_scf_source
from gusu.apps.trace.client import CONTRACT_NAME as TRACE_CONTRACT
from gusu.apps.trace.client import get_contract_source as get_trace_source
from gusu.apps.trace.codes import CODE_BYTES, compute_leaf
from gusu.codec import Value
from gusu.crypto import PrivateKey, get_suite
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
TRACE_CODES_PER_ISSUE: Final = 250
"""Leaves per issue_codes setup transaction (the contract takes up to 500)."""
TRACE_BATCH_ACTIVATED: Final = 13
"""Position of the activated-items count in the trace contract's batch record (B_ACTIVATED)."""
SCF_TRANSFER_FEN: Final = 100
SCF_TRANSFERS_PER_VOUCHER: Final = 250
"""Transfers from one voucher: its tree (the root and every part made from it) holds at most 256 vouchers."""
SCF_HOLDINGS_MAX: Final = 4000
"""Vouchers one enterprise may hold or issue in a run: the contract's indexes hold at most 4,096 entries."""
SCF_TERM_DAYS: Final = 90
SCF_CHECKER_FUNDING: Final = 1_000
SCF_PAGE: Final = 100
"""Entries per page of the scf contract's list views (its maximum)."""
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

    def get_sources(self) -> list[str]:
        return [load_contract_source()]

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


def get_address(key: PrivateKey) -> bytes:
    return bytes(get_suite(key.suite).compute_address(key.public_key))


@dataclass(frozen=True, slots=True)
class TraceLoad:
    """溯源: each transaction is a consumer's first scan of a new item, activating it (`trace.scan`).

    Setup follows the product's real path, with the funding key as regulator, brand owner, packer and QC, and the
    first sender as the retailer: brand and product registered, one random 128-bit code per load transaction issued
    (`issue_codes`), all bound to one batch, QC passed, shipped to the retailer, received and put on sale. Each scan
    then names a code no one scanned before and a fresh nonce, so it stores the item's first query, its scan record
    and its activation, and counts the sale against the batch; none is a suspect scan.
    """

    contract: str = TRACE_CONTRACT
    location: str = "Suzhou, bench store"

    @property
    def name(self) -> str:
        return "trace"

    @property
    def load(self) -> str:
        return f"{self.contract}.scan (first scan, activates)"

    def get_sources(self) -> list[str]:
        return [get_trace_source()]

    async def prepare(self, setup: AppSetup, senders: Sequence[PrivateKey], per_sender: Sequence[int]) -> list[Value]:
        owner = setup.funding_key
        retailer = senders[0]
        # Fresh names each run, so that a chain that already ran the bench (--endpoint) takes the new ones.
        tag = secrets.token_hex(4)
        brand, product, code_set, batch = (f"bench-{what}-{tag}" for what in ("brand", "product", "codes", "batch"))
        codes = [[secrets.token_bytes(CODE_BYTES) for _ in range(calls)] for calls in per_sender]
        leaves = [compute_leaf(code) for group in codes for code in group]
        await setup.deploy(self.contract, get_trace_source(), [[]])
        call = self.contract
        await setup.commit(
            [(owner, (call, "register_brand", [brand, "Bench brand", get_address(owner), owner.public_key, ""]))],
            "registering the benchmark brand",
        )
        grants: list[tuple[PrivateKey, AppCall]] = [
            (owner, (call, "grant_role", [brand, role, get_address(owner), True])) for role in ("packer", "qc")
        ]
        await setup.commit(
            [
                (owner, (call, "register_product", [brand, product, "Bench product", "06901234567892", 1, 365])),
                *grants,
                (owner, (call, "grant_role", [brand, "retailer", get_address(retailer), True])),
            ],
            "registering the benchmark product and granting roles",
        )
        issues: list[tuple[PrivateKey, AppCall]] = []
        for start in range(0, len(leaves), TRACE_CODES_PER_ISSUE):
            chunk: list[Value] = list(leaves[start : start + TRACE_CODES_PER_ISSUE])
            issues.append((owner, (call, "issue_codes", [brand, code_set, chunk])))
        await setup.commit(issues, f"issuing {len(leaves):,} item codes")
        steps: list[tuple[PrivateKey, str, list[Value]]] = [
            (owner, "pack", [batch, product, code_set, len(leaves), "2026-12-03"]),
            (owner, "inspect", [batch, 1, True, hashlib.sha256(b"bench QC report").digest()]),
            (owner, "ship", [batch, get_address(retailer)]),
            (retailer, "receive", [batch]),
            (retailer, "put_on_sale", [batch]),
        ]
        for key, method, args in steps:
            await setup.commit([(key, (call, method, args))], f"trace setup: {method} of the benchmark batch")
        return [[batch, b"".join(group), secrets.token_bytes(RUN_TAG_BYTES)] for group in codes]

    def compute_call(self, context: Value, sequence: int) -> AppCall:
        match context:
            case [str(), bytes() as codes, bytes() as tag]:
                code = codes[sequence * CODE_BYTES : (sequence + 1) * CODE_BYTES]
                assert len(code) == CODE_BYTES, "a sender has one code per load transaction"
                nonce = hashlib.sha256(tag + sequence.to_bytes(8, "big")).digest()
                return self.contract, "scan", [code, self.location, nonce, True]
        raise AssertionError(f"not a trace load context: {context!r}")

    async def get_state_summary(self, setup: AppSetup, contexts: Sequence[Value]) -> dict[str, Any]:
        batch = contexts[0][0] if contexts and isinstance(contexts[0], list) else None
        record = await setup.view(self.contract, "get_batch", [batch]) if isinstance(batch, str) else None
        activated = record[TRACE_BATCH_ACTIVATED] if isinstance(record, list) else None
        alerts = await setup.view(self.contract, "get_alerts", [0, 100])
        return {"batch": batch, "activated": activated, "alerts": len(alerts) if isinstance(alerts, list) else None}


@dataclass(frozen=True, slots=True)
class ScfLoad:
    """应收账款电子凭证: each transaction is a supplier paying its own supplier with part of a voucher
    (`scf.transfer`, 1 yuan against that tier's trade documents, a new invoice each time).

    Setup follows the issuance path, with the funding key as platform operator and the core enterprise's maker, and
    a fresh key as its checker: a core enterprise, one supplier per sender (the sender is its user) and one
    tier-2 supplier per sender admitted; vouchers drafted by the maker, approved by the checker (maker-checker) and
    accepted by each supplier, enough for its transfers (a voucher's tree holds at most 256 parts). Each transfer
    then creates a child voucher held by the tier-2 supplier, with conservation checked by the contract.
    """

    contract: str = SCF_CONTRACT

    @property
    def name(self) -> str:
        return "scf"

    @property
    def load(self) -> str:
        return f"{self.contract}.transfer ({SCF_TRANSFER_FEN} fen to the next tier)"

    def get_sources(self) -> list[str]:
        return [get_scf_source()]

    async def prepare(self, setup: AppSetup, senders: Sequence[PrivateKey], per_sender: Sequence[int]) -> list[Value]:
        vouchers_per_sender = [math.ceil(calls / SCF_TRANSFERS_PER_VOUCHER) for calls in per_sender]
        if max(per_sender) > SCF_HOLDINGS_MAX or sum(vouchers_per_sender) > SCF_HOLDINGS_MAX:
            raise BenchError(
                f"the scf load keeps each enterprise's holdings and the issuer's vouchers under {SCF_HOLDINGS_MAX}: "
                "spread it over more --senders or sign fewer (--count)"
            )
        operator = setup.funding_key
        checker = get_suite(operator.suite).generate_private_key()
        tag = secrets.token_hex(4)
        core = f"b-{tag}-core"
        suppliers = [f"b-{tag}-s{index}" for index in range(len(senders))]
        tier_two = [f"b-{tag}-t{index}" for index in range(len(senders))]
        await setup.deploy(self.contract, get_scf_source(), [0])
        call = self.contract
        members: list[tuple[PrivateKey, AppCall]] = [
            (operator, ("account", "transfer", [get_address(checker), SCF_CHECKER_FUNDING])),
            (operator, (call, "admit_enterprise", [core, "core", "Bench core enterprise"])),
        ]
        for supplier, second in zip(suppliers, tier_two, strict=True):
            members.append((operator, (call, "admit_enterprise", [supplier, "supplier", "Bench supplier"])))
            members.append((operator, (call, "admit_enterprise", [second, "supplier", "Bench tier-2 supplier"])))
        await setup.commit(members, "admitting the benchmark enterprises")
        accounts: list[tuple[PrivateKey, AppCall]] = [
            (operator, (call, "set_account", [get_address(operator), core, "maker"])),
            (operator, (call, "set_account", [get_address(checker), core, "checker"])),
        ]
        for key, supplier in zip(senders, suppliers, strict=True):
            accounts.append((operator, (call, "set_account", [get_address(key), supplier, "user"])))
        await setup.commit(accounts, "registering the benchmark accounts")
        face = SCF_TRANSFERS_PER_VOUCHER * SCF_TRANSFER_FEN
        maturity_ms = int(time.time() * 1000) + SCF_TERM_DAYS * SCF_DAY_MS
        drafts: list[tuple[PrivateKey, AppCall]] = []
        for index, (supplier, vouchers) in enumerate(zip(suppliers, vouchers_per_sender, strict=True)):
            for number in range(vouchers):
                documents = compute_trade_documents(f"{tag}/issue/{index}/{number}".encode())
                drafts.append((operator, (call, "draft", [supplier, face, maturity_ms, face, *documents])))
        await setup.commit(drafts, f"drafting {len(drafts):,} vouchers")
        drafted: dict[str, list[int]] = {supplier: [] for supplier in suppliers}
        for start in range(0, len(drafts) + SCF_PAGE, SCF_PAGE):
            page = await setup.view(call, "list_review_queue", [core, start, SCF_PAGE])
            for record in page if isinstance(page, list) else []:
                if isinstance(record, list) and record[4] in drafted:
                    drafted[record[4]].append(int(record[0]))
            if not isinstance(page, list) or len(page) < SCF_PAGE:
                break
        if sum(len(ids) for ids in drafted.values()) != len(drafts):
            raise BenchError("the scf review queue does not list every drafted benchmark voucher")
        await setup.commit(
            [(checker, (call, "approve", [voucher])) for ids in drafted.values() for voucher in ids],
            "approving the benchmark vouchers (checker)",
        )
        await setup.commit(
            [(key, (call, "accept", [voucher])) for key, supplier in zip(senders, suppliers, strict=True)
             for voucher in drafted[supplier]],
            "accepting the benchmark vouchers (suppliers)",
        )  # fmt: skip
        return [
            [second, [int(voucher) for voucher in sorted(drafted[supplier])], secrets.token_bytes(RUN_TAG_BYTES)]
            for supplier, second in zip(suppliers, tier_two, strict=True)
        ]

    def compute_call(self, context: Value, sequence: int) -> AppCall:
        match context:
            case [str() as receiver, list() as vouchers, bytes() as tag]:
                voucher = vouchers[sequence // SCF_TRANSFERS_PER_VOUCHER]
                documents = compute_trade_documents(tag + sequence.to_bytes(8, "big"))
                return self.contract, "transfer", [voucher, receiver, SCF_TRANSFER_FEN, *documents]
        raise AssertionError(f"not an scf load context: {context!r}")

    async def get_state_summary(self, setup: AppSetup, contexts: Sequence[Value]) -> dict[str, Any]:
        # A voucher record is [id, root, parent, issuer, holder, face, available, ...]: what left it, left by transfers.
        transferred = 0
        for context in contexts:
            vouchers = context[1] if isinstance(context, list) and isinstance(context[1], list) else []
            for voucher in vouchers:
                record = await setup.view(self.contract, "get_voucher_record", [voucher])
                if isinstance(record, list):
                    transferred += int(record[5]) - int(record[6])
        return {"transferred_fen": transferred, "transfers": transferred // SCF_TRANSFER_FEN}


def compute_trade_documents(seed: bytes) -> list[Value]:
    """Stand-ins for a trade's contract, invoice and delivery hashes: distinct for each seed, never all-zero."""
    return [hashlib.sha256(what + seed).digest() for what in (b"contract/", b"invoice/", b"delivery/")]


APP_LOADS: Final[dict[str, AppLoad]] = {"evidence": EvidenceLoad(), "trace": TraceLoad(), "scf": ScfLoad()}
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
        "dropped": result.get("dropped", 0),
        "still pending after the drain (a longer --drain-timeout lets them commit)": result.get("pending", 0),
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
    """What the application's state shows after the run, and the comparison with `account.transfer` if made."""
    state = result.get("app_state")
    rows: list[SummaryRow] = []
    if isinstance(state, dict):
        rows.append(("application state", ", ".join(f"{key} {value}" for key, value in state.items())))
    transfer = result.get("transfer")
    if not isinstance(transfer, dict):
        return rows
    latency = " / ".join("n/a" if transfer.get(k) is None else f"{transfer[k]:,.1f} ms" for k in ("p50_ms", "p99_ms"))
    return [
        *rows,
        ("account.transfer, same settings", f"{transfer['tps']:,.1f} tx/s, p50 / p99 {latency}"),
        ("app / transfer TPS", f"{result.get('tps_to_transfer_ratio')}"),
        ("same, per verify rate", f"{result.get('verify_normalised_ratio')}"),
    ]
