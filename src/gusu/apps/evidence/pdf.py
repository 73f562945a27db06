"""出证: the evidence certificate as a PDF, with a QR code of the public verification page.

The PDF shows the record number, the content and metadata hashes, the block height and hash, the
transaction id, the submitter, the witnesses, the supersession links and the state proof (the Merkle path
in hex), and carries the certificate document itself (compressed, base64) in its document information, so
`gusu evidence verify-certificate CERT.pdf` checks exactly what was printed.

Chinese text needs a font: the PDF embeds (a subset of) a CJK TrueType font when the machine has one
(`CJK_FONT_PATHS`), otherwise it names Adobe's standard CID font STSong-Light, which PDF viewers supply.
"""

from __future__ import annotations

import base64
import io
import re
import textwrap
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import segno
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from gusu.apps.evidence.certificate import CERTIFICATE_BYTES_MAX, format_certificate, parse_certificate
from gusu.errors import ClientError

CJK_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
CID_FONT = "STSong-Light"
EMBEDDED_FONT = "GusuCJK"
MONO_FONT = "Courier"
CERTIFICATE_MARKER = "gusu-evidence-certificate:"
PROOF_LINES_MAX = 40
"""Lines of proof hex printed; the full proof is in the embedded certificate."""
QR_ERROR_LEVEL = "m"

_font_name: str | None = None


def get_cjk_font() -> str:
    """The registered font for Chinese text: an embedded TrueType font if found, else the CID font."""
    global _font_name
    if _font_name is None:
        for path in CJK_FONT_PATHS:
            if path.is_file():
                pdfmetrics.registerFont(TTFont(EMBEDDED_FONT, str(path), subfontIndex=0))
                _font_name = EMBEDDED_FONT
                break
        else:
            pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
            _font_name = CID_FONT
    return _font_name


def _draw_qr(canvas: Canvas, text: str, x: float, y: float, size: float) -> None:
    """The QR code of `text` as filled squares, `size` points wide, lower-left corner at (x, y)."""
    code = segno.make(text, error=QR_ERROR_LEVEL, micro=False)
    rows = [list(row) for row in code.matrix_iter(scale=1, border=4)]
    module = size / len(rows)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    for row_index, row in enumerate(rows):
        for column_index, dark in enumerate(row):
            if dark:
                top = y + size - (row_index + 1) * module
                canvas.rect(x + column_index * module, top, module, module, stroke=0, fill=1)


def _time_text(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_certificate_pdf(document: dict[str, Any]) -> bytes:
    """The certificate as PDF bytes."""
    encoded = format_certificate(document).encode()
    if len(encoded) > CERTIFICATE_BYTES_MAX:
        raise ClientError(f"the certificate is larger than {CERTIFICATE_BYTES_MAX} bytes")
    font = get_cjk_font()
    record = document["record"]
    output = io.BytesIO()
    canvas = Canvas(output, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"区块链存证证书 {document['record_id']}")
    canvas.setAuthor("Gusu Chain evidence service")
    canvas.setSubject(CERTIFICATE_MARKER + base64.b64encode(zlib.compress(encoded, 9)).decode("ascii"))
    width, height = A4
    margin = 48.0
    y = height - margin - 10

    canvas.setFont(font, 20)
    canvas.drawString(margin, y, "区块链存证证书  Blockchain Evidence Certificate")
    y -= 24
    canvas.setFont(font, 11)
    canvas.drawString(margin, y, f"存证编号 Record No.: {document['record_id']}    链 Chain: {document['chain_id']}")
    y -= 10
    canvas.line(margin, y, width - margin, y)
    y -= 18

    witnessed = (
        f"已见证 witnessed at height {record['witnessed_height']}"
        if record["witnessed_height"]
        else "未达见证门槛 not yet witnessed"
    )
    superseded = (
        f"已被 EV-{record['superseded_by']:08d} 更正 superseded by EV-{record['superseded_by']:08d}"
        if record["superseded_by"]
        else "现行有效 current (not superseded)"
    )
    rows: list[tuple[str, str]] = [
        ("SM3 内容哈希 content hash", record["sm3_hash"]),
        ("SHA-256 内容哈希", record["sha256_hash"]),
        ("元数据哈希 metadata hash", record["metadata_hash"]),
        ("说明 description", record["description"] or "-"),
        ("提交者 submitter", record["submitter"]),
        ("所属机构 organisation", record["organization"] or "-"),
        ("上链时间 block time", _time_text(record["timestamp_ms"])),
        ("区块高度 block height", str(document["inclusion_block"]["height"])),
        ("区块哈希 block hash", document["inclusion_block"]["hash"]),
        ("交易编号 transaction id", record["transaction_id"]),
        ("见证状态 witness status", witnessed),
        ("更正状态 supersession", superseded),
    ]
    if record["supersedes"]:
        rows.append(("更正了 supersedes", f"EV-{record['supersedes']:08d}"))
    if document.get("salt"):
        rows.append(("加盐 salt", document["salt"]))
    for label, value in rows:
        canvas.setFont(font, 9)
        canvas.drawString(margin, y, label)
        canvas.setFont(MONO_FONT if value.startswith("0x") else font, 8 if value.startswith("0x") else 9)
        canvas.drawString(margin + 150, y, value)
        y -= 14

    y -= 6
    canvas.setFont(font, 11)
    canvas.drawString(margin, y, "见证机构 Witnesses")
    y -= 14
    canvas.setFont(font, 9)
    if not record["attestations"]:
        canvas.drawString(margin + 10, y, "-")
        y -= 12
    for item in record["attestations"]:
        line = f"{item['organization']} ({item['kind']})  {item['witness']}  height {item['height']}"
        canvas.drawString(margin + 10, y, line)
        y -= 12

    proof = document["proof"]
    y -= 8
    canvas.setFont(font, 11)
    canvas.drawString(margin, y, f"状态证明 State (Merkle) proof at height {proof['height']}")
    y -= 13
    canvas.setFont(MONO_FONT, 7)
    for label, value in (
        ("block hash ", proof["block_hash"]),
        ("state root ", proof["state_root"]),
        ("key        ", proof["key"]),
    ):
        canvas.drawString(margin + 10, y, label + value)
        y -= 9
    lines = textwrap.wrap(proof["proof"], 96)
    for line in lines[:PROOF_LINES_MAX]:
        if y < 210:
            break
        canvas.drawString(margin + 10, y, line)
        y -= 8
    if len(lines) > PROOF_LINES_MAX or y < 210:
        canvas.drawString(margin + 10, y, "... (the full proof is in the certificate embedded in this PDF)")

    qr_size = 140.0
    url = document.get("verification_url") or ""
    if url:
        _draw_qr(canvas, url, margin, margin + 20, qr_size)
        canvas.setFont(font, 9)
        canvas.drawString(margin + qr_size + 16, margin + qr_size, "扫码核验 Scan to verify:")
        canvas.setFont(MONO_FONT, 7)
        for index, part in enumerate(textwrap.wrap(url, 60)):
            canvas.drawString(margin + qr_size + 16, margin + qr_size - 14 - 9 * index, part)
    canvas.setFont(font, 8)
    canvas.drawString(
        margin + qr_size + 16,
        margin + 60,
        "离线核验 Offline check: gusu evidence verify-certificate THIS.pdf --block-hash H | --genesis G",
    )
    canvas.drawString(margin + qr_size + 16, margin + 48, f"出具时间 Issued: {_time_text(document['issued_at_ms'])}")
    canvas.showPage()
    canvas.save()
    return output.getvalue()


_MARKER_PATTERN = re.compile(re.escape(CERTIFICATE_MARKER).encode() + rb"([A-Za-z0-9+/=]+)")


def extract_certificate(pdf: bytes) -> dict[str, Any]:
    """The certificate document a PDF made by `render_certificate_pdf` carries (unverified)."""
    match = _MARKER_PATTERN.search(pdf)
    if match is None:
        raise ClientError("the PDF carries no Gusu evidence certificate; give the certificate's JSON file")
    try:
        decompressor = zlib.decompressobj()
        text = decompressor.decompress(base64.b64decode(match.group(1)), CERTIFICATE_BYTES_MAX + 1)
    except (ValueError, zlib.error) as error:
        raise ClientError(f"the certificate embedded in the PDF is damaged: {error}") from error
    return parse_certificate(text)


def load_certificate_file(path: Path) -> dict[str, Any]:
    """A certificate from its JSON or PDF file."""
    size = path.stat().st_size
    if size > 8 * CERTIFICATE_BYTES_MAX:
        raise ClientError(f"{path} is too large to be an evidence certificate")
    data = path.read_bytes()
    if data.startswith(b"%PDF"):
        return extract_certificate(data)
    return parse_certificate(data)
