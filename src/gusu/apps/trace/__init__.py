"""Traceability and anti-counterfeiting (溯源, GB/T 38154-38158): signed item codes, the deployable
`trace` contract (contract.py.src), its client for every actor, and the GB/T 38154 export.
Guide: docs/apps/trace.md."""

from gusu.apps.trace.client import (
    CONTRACT_NAME,
    BatchEvent,
    BatchView,
    BrandView,
    ItemReport,
    ProductView,
    ScanResult,
    ScanView,
    TraceClient,
    get_contract_source,
    plan_item_report,
    run_report_plan,
    run_report_plan_async,
)
from gusu.apps.trace.codes import (
    ForgedCodeError,
    ItemCode,
    TraceError,
    compute_leaf,
    is_code_authentic,
    issue_item_codes,
    parse_payload,
    validate_code_authentic,
)
from gusu.apps.trace.export import BatchExport, compute_batch_export

__all__ = [
    "CONTRACT_NAME",
    "BatchEvent",
    "BatchExport",
    "BatchView",
    "BrandView",
    "ForgedCodeError",
    "ItemCode",
    "ItemReport",
    "ProductView",
    "ScanResult",
    "ScanView",
    "TraceClient",
    "TraceError",
    "compute_batch_export",
    "compute_leaf",
    "get_contract_source",
    "is_code_authentic",
    "issue_item_codes",
    "parse_payload",
    "plan_item_report",
    "run_report_plan",
    "run_report_plan_async",
    "validate_code_authentic",
]
