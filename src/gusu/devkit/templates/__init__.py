"""Contract templates: each a directory holding ``contract.py.tmpl`` and ``test_contract.py.tmpl``.

`render_template(kind, name)` returns both files' text with ``{{name}}``
replaced by the contract's name; `gusu contract new NAME --template KIND`
writes them as NAME/contract.py and NAME/test_contract.py. The files carry a
``.tmpl`` suffix so that the package's own linters and type checker leave
contract code (which imports the sandbox's `gusu_contract`) alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gusu.errors import ConfigError

TEMPLATES_DIRECTORY = Path(__file__).resolve().parent
CONTRACT_FILE_NAME = "contract.py"
TEST_FILE_NAME = "test_contract.py"
DEFAULT_TEMPLATE = "basic"
TEMPLATES = {
    "basic": "a token: balances, transfer, an event (the default)",
    "evidence": "存证: record document digests, supersede a record with a corrected version",
    "traceability": "溯源: product batches and custody hand-overs accepted by the receiver, recalls",
    "receivables": "应收账款: issue, split, transfer and settle receivables",
    "data_sharing": "data-sharing requests: request, approve for a time, deny, revoke",
    "certificates": "certificate registry: authorised issuers issue, revoke and anyone verifies",
}
"""Template name -> what it starts you with."""
CONTRACT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class RenderedTemplate:
    contract_source: str
    test_source: str


def render_template(kind: str, name: str) -> RenderedTemplate:
    """Template `kind` for a contract deployed as `name`; ConfigError for an unknown kind or a bad name."""
    if kind not in TEMPLATES:
        raise ConfigError(f"no template {kind!r}; choose one of: {', '.join(TEMPLATES)}")
    if not CONTRACT_NAME.fullmatch(name):
        raise ConfigError(
            f"contract name {name!r} is not allowed: use lowercase letters, digits and underscores, "
            "starting with a letter (at most 64)"
        )
    directory = TEMPLATES_DIRECTORY / kind
    texts = [
        (directory / f"{file_name}.tmpl").read_text(encoding="utf-8").replace("{{name}}", name)
        for file_name in (CONTRACT_FILE_NAME, TEST_FILE_NAME)
    ]
    return RenderedTemplate(texts[0], texts[1])
