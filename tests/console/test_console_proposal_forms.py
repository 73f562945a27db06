"""Per-kind proposal forms: every kind's typed fields give the arguments the SDK's builders give; bad
fields are refused naming the field in the page's language; and against the session's node, a proposal
made from the typed fields (not JSON) is decided, in both languages."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from console_helpers import Chain
from test_console_chains import _ca_pem
from test_console_writes import Console, _main, run

from gusu.codec import encode
from gusu.console.access import AccessInputError
from gusu.console.i18n import load_catalogues
from gusu.console.proposal_forms import PROPOSAL_FIELDS, compute_fields_html, compute_proposal_args
from gusu.sdk import AsyncClient, AsyncGovernance
from gusu.sdk.governance import (
    KINDS,
    ProposalRequest,
    make_add_node,
    make_add_organization,
    make_approve_contract,
    make_freeze_account,
    make_freeze_contract,
    make_remove_node,
    make_remove_organization,
    make_revoke_certificate,
    make_set_account,
    make_set_consensus,
    make_set_parameters,
    make_set_permission,
    make_set_policy,
    make_set_validator_power,
    make_update_organization,
)

EN = load_catalogues()["en"]
ZH = load_catalogues()["zh-CN"]
A1, A2 = "0x" + "11" * 20, "0x" + "22" * 20
HASH = "0x" + "ab" * 32


def _der(pem: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(Encoding.DER)


PEM = _ca_pem()
CASES: list[tuple[str, dict[str, str], ProposalRequest]] = [
    (
        "add_organization",
        {"name": "bank", "ca_certificate": PEM, "admins": f"{A2},\n{A1}, {A2}", "weight": "2"},
        make_add_organization("bank", _der(PEM), [bytes.fromhex(A1[2:]), bytes.fromhex(A2[2:])], 2),
    ),
    (
        "update_organization",
        {"name": "bank", "ca_certificate": "0x" + _der(PEM).hex(), "admins": A1, "weight": "1"},
        make_update_organization("bank", _der(PEM), [bytes.fromhex(A1[2:])], 1),
    ),
    ("remove_organization", {"name": "bank"}, make_remove_organization("bank")),
    (
        "add_node",
        {
            "name": "n9",
            "address": A1,
            "public_key": "0x04" + "33" * 64,
            "organization": "bank",
            "role": "validator",
            "power": "3",
        },
        make_add_node("n9", bytes.fromhex(A1[2:]), bytes.fromhex("04" + "33" * 64), "bank", 3),
    ),
    ("remove_node", {"address": A1}, make_remove_node(bytes.fromhex(A1[2:]))),
    ("set_validator_power", {"address": A1, "power": "0"}, make_set_validator_power(bytes.fromhex(A1[2:]), 0)),
    (
        "set_parameters",
        {"parameters": "block_transactions_max = 500\n\ntimeout_propose_ms=3000"},
        make_set_parameters([("block_transactions_max", 500), ("timeout_propose_ms", 3000)]),
    ),
    ("set_consensus", {"engine": "tendermint", "effective_height": "900"}, make_set_consensus("tendermint", 900)),
    (
        "set_account",
        {"address": A1, "organization": "bank", "account_role": "auditor"},
        make_set_account(bytes.fromhex(A1[2:]), "bank", "auditor"),
    ),
    ("freeze_account", {"address": A1}, make_freeze_account(bytes.fromhex(A1[2:]))),
    ("unfreeze_account", {"address": A1}, make_freeze_account(bytes.fromhex(A1[2:]), frozen=False)),
    ("freeze_contract", {"contract": "token"}, make_freeze_contract("token")),
    ("unfreeze_contract", {"contract": "token"}, make_freeze_contract("token", frozen=False)),
    ("approve_contract", {"code_hash": HASH}, make_approve_contract(bytes.fromhex(HASH[2:]))),
    (
        "set_permission",
        {"contract": "token", "method": "*", "roles": "client, auditor", "organizations": ""},
        make_set_permission("token", "*", ["auditor", "client"], []),
    ),
    (
        "revoke_certificate",
        {"certificate_sha256": HASH, "reason": "key leaked"},
        make_revoke_certificate(bytes.fromhex(HASH[2:]), "key leaked"),
    ),
    (
        "set_policy",
        {"policy_kind": "add_node", "rule": "N_OF_M", "threshold_a": "2", "threshold_b": "0"},
        make_set_policy("add_node", "N_OF_M", 2, 0),
    ),
]


def test_every_kind_has_a_form_and_a_case() -> None:
    assert set(PROPOSAL_FIELDS) == set(KINDS) == {kind for kind, _, _ in CASES}


@pytest.mark.parametrize(("kind", "fields", "expected"), CASES, ids=[case[0] for case in CASES])
def test_typed_fields_give_the_sdk_builders_arguments(
    kind: str, fields: dict[str, str], expected: ProposalRequest
) -> None:
    posted = {"arg_" + name: value for name, value in fields.items()}
    assert expected.kind == kind
    assert encode(compute_proposal_args(EN, kind, posted)) == expected.args
    page = compute_fields_html(EN, kind, posted)
    for field in PROPOSAL_FIELDS[kind]:
        assert f'name="arg_{field.name}"' in page and EN.get_message(field.label_key) in page


@pytest.mark.parametrize(
    ("kind", "fields", "key"),
    [
        (
            "add_organization",
            {"name": "", "ca_certificate": PEM, "admins": A1, "weight": "1"},
            "error.proposal_field_required",
        ),
        (
            "add_organization",
            {"name": "b", "ca_certificate": "not a pem", "admins": A1, "weight": "1"},
            "error.proposal_field_certificate",
        ),
        (
            "add_organization",
            {"name": "b", "ca_certificate": PEM, "admins": "0x12, zz", "weight": "1"},
            "error.proposal_field_addresses",
        ),
        (
            "add_organization",
            {"name": "b", "ca_certificate": PEM, "admins": A1, "weight": "-1"},
            "error.proposal_field_whole",
        ),
        ("remove_node", {"address": "0x1234"}, "error.proposal_field_address"),
        (
            "add_node",
            {"name": "n", "address": A1, "public_key": "0x0", "organization": "o", "role": "validator", "power": "1"},
            "error.proposal_field_hex",
        ),
        (
            "add_node",
            {"name": "n", "address": A1, "public_key": "0x00", "organization": "o", "role": "king", "power": "1"},
            "error.proposal_field_choice",
        ),
        ("approve_contract", {"code_hash": "0x" + "ab" * 31}, "error.proposal_field_hash"),
        ("set_parameters", {"parameters": "a = b"}, "error.proposal_field_parameters"),
        (
            "set_permission",
            {
                "contract": "t",
                "method": "*",
                "roles": ",".join(["r"] * 300) + ",".join(f"x{i}" for i in range(300)),
                "organizations": "",
            },
            "error.proposal_field_list",
        ),
        ("set_consensus", {"engine": "t", "effective_height": "9" * 20}, "error.proposal_field_whole"),
    ],
)
def test_a_bad_field_is_refused_naming_it(kind: str, fields: dict[str, str], key: str) -> None:
    posted = {"arg_" + name: value for name, value in fields.items()}
    for catalogue in (EN, ZH):
        with pytest.raises(AccessInputError) as refused:
            compute_proposal_args(catalogue, kind, posted)
        assert refused.value.key == key
        label = str(refused.value.params["field"])
        assert label in {catalogue.get_message(field.label_key) for field in PROPOSAL_FIELDS[kind]}
        assert catalogue.get_message(key, **refused.value.params).startswith(label)


def test_the_escaping_of_values_in_the_form() -> None:
    page = compute_fields_html(EN, "remove_organization", {"arg_name": '"><script>x</script>'})
    assert "<script>" not in page and "&quot;&gt;&lt;script&gt;" in page


def test_a_proposal_made_from_typed_fields_is_decided(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console) -> None:
        await console.import_dev_key()
        page = _main(await (await console.client.get("/governance?kind=approve_contract")).text())
        assert 'id="kind-form"' in page and 'id="proposal-fields" data-kind="approve_contract"' in page
        assert 'name="arg_code_hash"' in page and EN.get_message("governance.field.code_hash") in page
        # A bad field is refused naming it, and the form comes back with the kind's fields and values.
        bad = {
            "kind": "approve_contract",
            "fields_kind": "approve_contract",
            "args": "",
            "arg_code_hash": "0x12",
            "expiry_blocks": "100",
            **console.signing(),
        }
        refused = await console.post("/governance/propose", bad)
        text = _main(await refused.text())
        assert refused.status == 400
        assert EN.get_message("error.proposal_field_hash", field=EN.get_message("governance.field.code_hash")) in text
        assert 'value="0x12"' in text and 'data-kind="approve_contract"' in text
        # Fields shown for one kind, another kind chosen in the propose form: refused, nothing sent.
        other = await console.post("/governance/propose", {**bad, "kind": "freeze_contract", "arg_code_hash": HASH})
        assert other.status == 400 and EN.get_message("error.proposal_fields_other_kind") in _main(await other.text())
        code_hash = "0x" + secrets.token_hex(32)
        made = await console.post("/governance/propose", {**bad, "arg_code_hash": code_hash})
        assert made.status == 303, _main(await made.text())
        result = _main(await (await console.client.get(made.headers["Location"])).text())
        assert 'data-success="true"' in result
        async with AsyncClient(chain.endpoint) as client:
            proposals = await AsyncGovernance(client).list_proposals(1, 64)
        made_here = [item for item in proposals if item.args == [bytes.fromhex(code_hash[2:])]]
        assert [(item.kind, item.status) for item in made_here] == [("approve_contract", "approved")]
        # In Chinese, the labels are Chinese.
        console.client.session.cookie_jar.update_cookies({"gusu_language": "zh-CN"})
        chinese = _main(await (await console.client.get("/governance?kind=set_policy")).text())
        assert ZH.get_message("governance.field.rule") in chinese and 'name="arg_threshold_a"' in chinese
        assert ZH.get_message("governance.kind_show") in chinese

    run(tmp_path, chain, scenario)
