"""A batch's records in the core-metadata form of GB/T 38154 (重要产品追溯 核心元数据), as JSON or CSV.

One record per event of the batch (and of the batches it came from), each carrying the three groups the
traceability standards organise a record by: the subject (who: 主体), the product (what: 产品) and the
activity (what happened, when, where on the chain: 过程/交易行为). `ELEMENTS` names each field with the
Chinese element name it stands for; docs/apps/trace.md has the mapping and what is not covered.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gusu.apps.trace.client import BatchEvent, BatchView, BrandView, ProductView

ELEMENTS: tuple[tuple[str, str], ...] = (
    ("trace_code", "追溯码"),
    ("product_name", "产品名称"),
    ("product_code", "产品编码"),
    ("batch_number", "批次号"),
    ("quantity", "数量"),
    ("production_date", "生产日期"),
    ("shelf_life_days", "保质期(天)"),
    ("subject_name", "生产经营主体名称"),
    ("subject_code", "主体代码(统一社会信用代码)"),
    ("activity", "追溯环节"),
    ("activity_name", "环节名称"),
    ("operator", "操作主体"),
    ("time", "时间"),
    ("inspection", "检验信息"),
    ("detail", "说明"),
    ("block_height", "区块高度"),
    ("transaction_id", "交易标识"),
)
"""Field name -> the GB/T 38154 element it carries, in output order."""

ACTIVITIES: dict[str, tuple[str, str]] = {
    "packed": ("production", "生产包装"),
    "qc_passed": ("inspection", "检验合格"),
    "qc_blocked": ("inspection", "检验不合格"),
    "shipped": ("transport", "发货"),
    "received": ("storage", "收货入库"),
    "on_sale": ("sale", "上架销售"),
    "sold": ("sale", "销售"),
    "split_from": ("processing", "分批自"),
    "split": ("processing", "分批"),
    "merged_from": ("processing", "合批自"),
    "merged": ("processing", "合批"),
    "recalled": ("recall", "召回"),
    "mass_balance_alert": ("supervision", "物料平衡告警"),
    "expiry_set": ("quality", "到期时间提前"),
}
"""Contract event kind -> (activity, its Chinese name)."""


@dataclass(frozen=True, slots=True)
class BatchExport:
    batch: str
    records: tuple[dict[str, str], ...]

    def to_json(self) -> str:
        document = {
            "standard": "GB/T 38154-2019",
            "batch": self.batch,
            "elements": dict(ELEMENTS),
            "records": list(self.records),
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"

    def to_csv(self) -> str:
        """CSV with a header row of the element names ("field/元素名")."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([f"{name}/{element}" for name, element in ELEMENTS])
        for record in self.records:
            writer.writerow([record[name] for name, _ in ELEMENTS])
        return buffer.getvalue()


TIME_MS_MAX = 253402300799999
"""The end of year 9999: the last time `format_time` writes as a date."""


def format_time(timestamp_ms: int) -> str:
    """UTC ISO 8601 with milliseconds; a value outside years 1970 to 9999 (only a hostile record holds one) as
    "<n> ms", so a page or an export never fails on it."""
    if not 0 <= timestamp_ms <= TIME_MS_MAX:
        return f"{timestamp_ms} ms"
    # Whole seconds plus milliseconds: dividing by 1000.0 rounds the last millisecond of large times.
    moment = datetime.fromtimestamp(timestamp_ms // 1000, UTC) + timedelta(milliseconds=timestamp_ms % 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compute_batch_export(
    batch: BatchView, lineage: Sequence[BatchView], brand: BrandView, product: ProductView, events: Sequence[BatchEvent]
) -> BatchExport:
    """The records of `batch`: `events` are those of `lineage` (the batches it came from, then itself)."""
    ranges = ";".join(f"{s.code_set}[{s.first_index}:{s.end_index}]" for s in batch.segments)
    by_batch = {view.batch: view for view in (*lineage, batch)}
    records = []
    for event in sorted(events, key=lambda e: (e.height, e.timestamp_ms)):
        source = by_batch.get(event.batch, batch)
        activity, activity_name = ACTIVITIES.get(event.kind, ("other", event.kind))
        inspection = ""
        if event.kind in ("qc_passed", "qc_blocked"):
            inspection = event.detail
        records.append(
            {
                "trace_code": ranges,
                "product_name": product.name,
                "product_code": product.gtin,
                "batch_number": event.batch,
                "quantity": str(source.quantity),
                "production_date": source.production_date,
                "shelf_life_days": str(product.shelf_life_days),
                "subject_name": brand.name,
                "subject_code": brand.credit_code,
                "activity": activity,
                "activity_name": activity_name,
                "operator": "0x" + event.actor.hex(),
                "time": format_time(event.timestamp_ms),
                "inspection": inspection,
                "detail": event.detail,
                "block_height": str(event.height),
                "transaction_id": "0x" + event.transaction_id.hex(),
            }
        )
    return BatchExport(batch.batch, tuple(records))
