"""Per-kind proposal forms: each governance proposal kind's arguments as typed form fields.

docs/governance.md's table of kinds gives each kind's argument list; `PROPOSAL_FIELDS` mirrors it
field by field with a type (an address, a certificate in PEM, a whole number, a choice...), so the
governance page shows a form for the chosen kind instead of a raw JSON array, and
`compute_proposal_args` turns the posted fields into the argument list ``system.propose`` takes,
refusing each bad field with a message naming it. The arguments are those the SDK's
``make_*`` helpers build (lists of admins and names sorted and without repeats).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gusu.codec.canonical import Value
from gusu.console.access import AccessInputError
from gusu.console.i18n import Catalogue
from gusu.sdk.governance import ACCOUNT_ROLES, KINDS, NODE_ROLES, POLICY_RULES

FieldType = Literal[
    "text", "address", "addresses", "hex", "hash", "certificate", "whole", "choice", "names", "parameters"
]
FIELD_PREFIX: Final = "arg_"
"""Form fields of a kind's arguments are named ``arg_<name>``, apart from the form's own fields."""
WHOLE_MAX: Final = (1 << 63) - 1
LIST_ITEMS_MAX: Final = 256
"""Most admins, names or parameters one field takes."""
LONG_FIELDS: Final = ("ca_certificate", "admins", "parameters", "public_key")
"""Fields that may exceed the console's usual field length (a PEM certificate, lists)."""
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEX = re.compile(r"0[xX](?:[0-9a-fA-F]{2})+")
_HASH = re.compile(r"0[xX][0-9a-fA-F]{64}")
_WHOLE = re.compile(r"[0-9]{1,19}")
_SEPARATORS = re.compile(r"[\s,]+")
_PARAMETER = re.compile(r"([A-Za-z_][A-Za-z0-9_.]{0,63})\s*=\s*([0-9]{1,19})")


@dataclass(frozen=True, slots=True)
class ProposalField:
    name: str
    type: FieldType
    label_key: str
    choices: tuple[str, ...] = ()


_NAME = ProposalField("name", "text", "governance.field.name")
_ORGANISATION_FIELDS = (
    _NAME,
    ProposalField("ca_certificate", "certificate", "governance.field.ca_certificate"),
    ProposalField("admins", "addresses", "governance.field.admins"),
    ProposalField("weight", "whole", "governance.field.weight"),
)
_ADDRESS_FIELD = ProposalField("address", "address", "governance.field.address")
_CONTRACT = ProposalField("contract", "text", "governance.field.contract")

PROPOSAL_FIELDS: Final[Mapping[str, tuple[ProposalField, ...]]] = {
    "add_organization": _ORGANISATION_FIELDS,
    "update_organization": _ORGANISATION_FIELDS,
    "remove_organization": (_NAME,),
    "add_node": (
        _NAME,
        _ADDRESS_FIELD,
        ProposalField("public_key", "hex", "governance.field.public_key"),
        ProposalField("organization", "text", "governance.field.organization"),
        ProposalField("role", "choice", "governance.field.role", NODE_ROLES),
        ProposalField("power", "whole", "governance.field.power"),
    ),
    "remove_node": (_ADDRESS_FIELD,),
    "set_validator_power": (_ADDRESS_FIELD, ProposalField("power", "whole", "governance.field.power")),
    "set_parameters": (ProposalField("parameters", "parameters", "governance.field.parameters"),),
    "set_consensus": (
        ProposalField("engine", "text", "governance.field.engine"),
        ProposalField("effective_height", "whole", "governance.field.effective_height"),
    ),
    "set_account": (
        _ADDRESS_FIELD,
        ProposalField("organization", "text", "governance.field.organization"),
        ProposalField("account_role", "choice", "governance.field.account_role", ACCOUNT_ROLES),
    ),
    "freeze_account": (_ADDRESS_FIELD,),
    "unfreeze_account": (_ADDRESS_FIELD,),
    "freeze_contract": (_CONTRACT,),
    "unfreeze_contract": (_CONTRACT,),
    "approve_contract": (ProposalField("code_hash", "hash", "governance.field.code_hash"),),
    "set_permission": (
        _CONTRACT,
        ProposalField("method", "text", "governance.field.method"),
        ProposalField("roles", "names", "governance.field.roles"),
        ProposalField("organizations", "names", "governance.field.organizations"),
    ),
    "revoke_certificate": (
        ProposalField("certificate_sha256", "hash", "governance.field.certificate_digest"),
        ProposalField("reason", "text", "governance.field.reason"),
    ),
    "set_policy": (
        ProposalField("policy_kind", "choice", "governance.field.policy_kind", KINDS),
        ProposalField("rule", "choice", "governance.field.rule", POLICY_RULES),
        ProposalField("threshold_a", "whole", "governance.field.threshold_a"),
        ProposalField("threshold_b", "whole", "governance.field.threshold_b"),
    ),
}
assert set(PROPOSAL_FIELDS) == set(KINDS), "every proposal kind has its form"

_HINT_KEYS: Final = {
    "addresses": "governance.field_hint.addresses",
    "certificate": "governance.field_hint.certificate",
    "names": "governance.field_hint.names",
    "parameters": "governance.field_hint.parameters",
}


def _refuse(catalogue: Catalogue, field: ProposalField, key: str, english: str) -> AccessInputError:
    return AccessInputError(key, f"{field.name}: {english}", field=catalogue.get_message(field.label_key))


def _parse_certificate(text: str) -> bytes | None:
    """DER of a PEM certificate, or the bytes of 0x hex DER; None when it is neither."""
    if _HEX.fullmatch(text):
        return bytes.fromhex(text[2:])
    try:
        return x509.load_pem_x509_certificate(text.encode("ascii")).public_bytes(Encoding.DER)
    except (ValueError, UnicodeEncodeError):
        return None


def compute_field_value(catalogue: Catalogue, field: ProposalField, raw: str) -> Value:
    """One field's argument, or AccessInputError naming the field (in the page's language)."""
    text = raw.strip().replace("\r\n", "\n")
    if field.type == "names":
        names = [name for name in _SEPARATORS.split(text) if name]
        if len(names) > LIST_ITEMS_MAX:
            raise _refuse(catalogue, field, "error.proposal_field_list", f"at most {LIST_ITEMS_MAX} items")
        return list(sorted(set(names)))
    if not text:
        raise _refuse(catalogue, field, "error.proposal_field_required", "fill it in")
    if field.type == "text":
        return text
    if field.type == "choice":
        if text not in field.choices:
            raise _refuse(catalogue, field, "error.proposal_field_choice", "choose one from the list")
        return text
    if field.type == "whole":
        if not _WHOLE.fullmatch(text) or int(text) > WHOLE_MAX:
            raise _refuse(catalogue, field, "error.proposal_field_whole", "a whole number is expected")
        return int(text)
    if field.type == "address":
        if not _ADDRESS.fullmatch(text):
            raise _refuse(catalogue, field, "error.proposal_field_address", "an address is 0x and 40 hex digits")
        return bytes.fromhex(text[2:])
    if field.type == "addresses":
        items = [item for item in _SEPARATORS.split(text) if item]
        if len(items) > LIST_ITEMS_MAX or not all(_ADDRESS.fullmatch(item) for item in items):
            raise _refuse(
                catalogue, field, "error.proposal_field_addresses", "addresses of 0x and 40 hex digits, comma-separated"
            )
        addresses: list[Value] = list(sorted({bytes.fromhex(item[2:]) for item in items}))
        return addresses
    if field.type == "hex":
        if not _HEX.fullmatch(text):
            raise _refuse(catalogue, field, "error.proposal_field_hex", "0x and an even number of hex digits")
        return bytes.fromhex(text[2:])
    if field.type == "hash":
        if not _HASH.fullmatch(text):
            raise _refuse(catalogue, field, "error.proposal_field_hash", "a hash is 0x and 64 hex digits")
        return bytes.fromhex(text[2:])
    if field.type == "certificate":
        der = _parse_certificate(text)
        if der is None:
            raise _refuse(catalogue, field, "error.proposal_field_certificate", "one certificate in PEM form")
        return der
    assert field.type == "parameters", field.type
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    matches = [_PARAMETER.fullmatch(line) for line in lines]
    if len(lines) > LIST_ITEMS_MAX or not all(matches):
        raise _refuse(catalogue, field, "error.proposal_field_parameters", "one name = whole number a line")
    parameters: list[Value] = [[match.group(1), int(match.group(2))] for match in matches if match is not None]
    return parameters


def compute_proposal_args(catalogue: Catalogue, kind: str, fields: Mapping[str, str]) -> list[Value]:
    """The argument list of a `kind` proposal from its form's ``arg_*`` fields."""
    assert kind in PROPOSAL_FIELDS, kind
    return [
        compute_field_value(catalogue, field, fields.get(FIELD_PREFIX + field.name, ""))
        for field in PROPOSAL_FIELDS[kind]
    ]


def compute_fields_html(catalogue: Catalogue, kind: str, values: Mapping[str, str]) -> str:
    """The inputs of `kind`'s arguments (values escaped), each labelled in the page's language."""
    assert kind in PROPOSAL_FIELDS, kind
    message = catalogue.get_message
    escape = html.escape
    parts = [f'<fieldset id="proposal-fields" data-kind="{escape(kind)}"><legend>{escape(kind)}</legend>']
    for field in PROPOSAL_FIELDS[kind]:
        name = FIELD_PREFIX + field.name
        value = values.get(name, "")
        parts.append(f'<label for="field-{name}">{escape(message(field.label_key))}</label>')
        if field.type == "choice":
            options = "".join(
                f'<option value="{escape(choice)}"{" selected" if choice == value else ""}>{escape(choice)}</option>'
                for choice in field.choices
            )
            parts.append(f'<select id="field-{name}" name="{name}">{options}</select>')
        elif field.type in ("certificate", "parameters", "addresses"):
            parts.append(f'<textarea id="field-{name}" name="{name}" rows="4">{escape(value)}</textarea>')
        else:
            numeric = ' inputmode="numeric"' if field.type == "whole" else ""
            parts.append(f'<input id="field-{name}" name="{name}" value="{escape(value)}"{numeric}>')
        if field.type in _HINT_KEYS:
            parts.append(f'<span class="hint">{escape(message(_HINT_KEYS[field.type]))}</span>')
    parts.append("</fieldset>")
    return "".join(parts)
