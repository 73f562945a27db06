"""/metrics: the node's metrics in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from gusu.node.service import Histogram, NodeMetrics

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metric_name(key: str) -> str:
    """A valid Prometheus name in the gusu_ namespace for a free-form key."""
    name = _NAME_INVALID.sub("_", key)
    if not name.startswith("gusu_"):
        name = "gusu_" + name
    return name


class _Exposition:
    def __init__(self) -> None:
        self._lines: list[str] = []
        self._names: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self._names

    def _header(self, name: str, kind: str, help_text: str) -> None:
        self._names.add(name)
        self._lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")

    def scalar(self, name: str, kind: str, help_text: str, value: float) -> None:
        self._header(name, kind, help_text)
        self._lines.append(f"{name} {format_number(value)}")

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        self._header(name, "histogram", help_text)
        for bound, count in zip(histogram.bucket_bounds, histogram.bucket_counts, strict=False):
            if math.isinf(bound):
                continue  # the +Inf bucket is written below from the total count
            le = _escape_label(format_number(float(bound)))
            self._lines.append(f'{name}_bucket{{le="{le}"}} {format_number(count)}')
        self._lines.append(f'{name}_bucket{{le="+Inf"}} {format_number(histogram.count)}')
        self._lines.append(f"{name}_sum {format_number(histogram.total)}")
        self._lines.append(f"{name}_count {format_number(histogram.count)}")

    def labeled(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self._header(name, kind, help_text)
        for labels, value in samples:
            rendered = ",".join(f'{key}="{_escape_label(text)}"' for key, text in labels.items())
            self._lines.append(f"{name}{{{rendered}}} {format_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def render_metrics(
    metrics: NodeMetrics, api_gauges: Mapping[str, tuple[str, float]], api_counters: Mapping[str, tuple[str, float]]
) -> str:
    """The exposition text: node metrics, then the API server's own (name -> (help, value))."""
    out = _Exposition()
    out.scalar("gusu_height", "gauge", "Height of the latest committed block.", metrics.height)
    out.scalar("gusu_mempool_transactions", "gauge", "Transactions waiting in the pool.", metrics.mempool_transactions)
    out.scalar(
        "gusu_mempool_bytes", "gauge", "Encoded bytes of the transactions waiting in the pool.", metrics.mempool_bytes
    )
    out.scalar(
        "gusu_blocks_committed_total",
        "counter",
        "Blocks committed since the node started.",
        metrics.blocks_committed_total,
    )
    out.scalar(
        "gusu_transactions_committed_total",
        "counter",
        "Transactions committed (successful or failed) since the node started.",
        metrics.transactions_committed_total,
    )
    out.scalar(
        "gusu_transactions_failed_total",
        "counter",
        "Committed transactions whose execution failed.",
        metrics.transactions_failed_total,
    )
    out.scalar(
        "gusu_transactions_rejected_total",
        "counter",
        "Transactions refused admission to the pool.",
        metrics.transactions_rejected_total,
    )
    out.scalar(
        "gusu_transactions_dropped_total",
        "counter",
        "Transactions dropped from the pool without committing (expired or evicted).",
        metrics.transactions_dropped_total,
    )
    out.histogram(
        "gusu_block_commit_seconds",
        "Time to build, execute and durably write one block.",
        metrics.block_commit_seconds,
    )
    out.histogram(
        "gusu_transaction_commit_seconds",
        "Time from a transaction's admission to the pool to its durable commit.",
        metrics.transaction_commit_seconds,
    )
    out.labeled(
        "gusu_certificate_expiry_seconds",
        "gauge",
        "Seconds until a certificate the node depends on expires (negative once expired); "
        "kind is node (its TLS certificate), ca (a trusted organisation CA) or peer.",
        [
            ({"kind": kind, "subject": subject}, remaining)
            for kind, subject, remaining in metrics.certificate_expiry_seconds
        ],
    )
    for key, (help_text, value) in api_gauges.items():
        out.scalar(key, "gauge", help_text, value)
    for key, (help_text, value) in api_counters.items():
        out.scalar(key, "counter", help_text, value)
    for key, value in sorted(metrics.extra.items()):
        name = metric_name(key)
        if not out.has(name):
            # The node's kind for an extra is unknown here, hence untyped.
            out.scalar(name, "untyped", f"Node metric {key}.", value)
    return out.text()
