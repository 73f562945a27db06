"""The EVM contract forms' input parsing (gusu.console.contracts_evm): every ABI type from a form field, and
hostile or mistaken input refused with a message naming the argument and saying what is expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gusu.console.access import AccessInputError
from gusu.console.contracts_evm import (
    ARGUMENT_TEXT_LENGTH_MAX,
    INPUTS_MAX,
    compute_artifact_json,
    compute_display,
    parse_form_argument,
    parse_form_arguments,
    parse_upload,
)
from gusu.sdk.evm import AbiParameter, compute_runtime_code_hash, parse_artifact

TOKEN = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures" / "Token.json"


def _parse(abi_type: str, text: str, name: str = "x") -> object:
    return parse_form_argument(AbiParameter(name, abi_type), text, 0)


def _refused(abi_type: str, text: str) -> AccessInputError:
    with pytest.raises(AccessInputError) as caught:
        _parse(abi_type, text)
    assert caught.value.key in ("error.abi_argument", "error.field_long")
    return caught.value


def test_values_of_each_type() -> None:
    assert _parse("uint256", " 1_000 ") == 1000
    assert _parse("uint256", "0xff") == 255
    assert _parse("uint256", str(2**256 - 1)) == 2**256 - 1
    assert _parse("int8", "-128") == -128
    assert _parse("bool", "true") is True and _parse("bool", "false") is False
    assert _parse("address", "0x" + "Ab" * 20) == bytes.fromhex("ab" * 20)
    assert _parse("bytes", "0x") == b"" and _parse("bytes4", "0x01020304") == b"\x01\x02\x03\x04"
    assert _parse("string", "  spaces kept <b>  ") == "  spaces kept <b>  "
    assert _parse("uint256[]", '[1, "2", "0x3"]') == [1, 2, 3]
    assert _parse("address[2]", json.dumps(["0x" + "11" * 20, "0x" + "22" * 20])) == [b"\x11" * 20, b"\x22" * 20]
    assert _parse("(uint256,string)", '[5, "five"]') == (5, "five")


@pytest.mark.parametrize(
    ("abi_type", "text", "says"),
    [
        ("uint256", str(2**256), "between 0 and"),
        ("uint8", "256", "between 0 and 255"),
        ("uint256", "-1", "between 0 and"),
        ("int8", "128", "between -128 and 127"),
        ("uint256", "1e18", "integer"),
        ("uint256", "", "integer"),
        ("uint256", "0x", "integer"),
        ("uint256", "١٢٣", "integer"),
        ("address", "0x12", "40 hex digits"),
        ("address", "0x" + "g" * 40, "40 hex digits"),
        ("address", "11" * 20, "40 hex digits"),
        ("bool", "yes", "true or false"),
        ("bytes", "abcd", "0x-prefixed"),
        ("bytes", "0xabc", "hex"),
        ("bytes32", "0x" + "00" * 31, "exactly 32 bytes"),
        ("uint256[]", "1, 2", "JSON"),
        ("uint256[]", '{"a": 1}', "list"),
        ("uint256[2]", "[1]", "exactly 2 items"),
        ("uint256[]", "[true]", "integer"),
        ("uint256[]", "[" * 100_000 + "]" * 100_000, ""),
        ("string[]", "[1]", "text"),
        ("(uint256,string)", "[1]", "2 items"),
    ],
)
def test_hostile_and_mistaken_input_is_refused_with_a_reason(abi_type: str, text: str, says: str) -> None:
    error = _refused(abi_type, text)
    assert error.params.get("name") in ("x", None)
    assert says in str(error)


def test_limits() -> None:
    assert _refused("string", "a" * (ARGUMENT_TEXT_LENGTH_MAX + 1)).key == "error.field_long"
    many = [AbiParameter(f"p{index}", "uint8") for index in range(INPUTS_MAX + 1)]
    with pytest.raises(AccessInputError) as caught:
        parse_form_arguments(many, {})
    assert caught.value.key == "error.abi_inputs"


def test_arguments_name_the_input_that_is_wrong() -> None:
    inputs = [AbiParameter("to", "address"), AbiParameter("", "uint256")]
    assert parse_form_arguments(inputs, {"arg0": "0x" + "0b" * 20, "arg1": "7"}) == [b"\x0b" * 20, 7]
    with pytest.raises(AccessInputError) as caught:
        parse_form_arguments(inputs, {"arg0": "0x" + "0b" * 20, "arg1": "seven"})
    assert caught.value.params["name"] == "#2" and caught.value.params["type"] == "uint256"
    with pytest.raises(AccessInputError) as missing:
        parse_form_arguments(inputs, {"arg1": "7"})
    assert missing.value.params["name"] == "to"


def test_uploads_round_trip_and_refuse_what_is_not_an_artifact() -> None:
    data = TOKEN.read_bytes()
    artifact = parse_upload(data, "Contract")
    assert artifact.name == "Token" and artifact.bytecode
    again = parse_artifact(json.loads(compute_artifact_json(artifact)))
    assert again.abi == artifact.abi and again.bytecode == artifact.bytecode
    assert compute_runtime_code_hash(again) == compute_runtime_code_hash(artifact)
    for hostile in (b"\xff\xfe", b"not json", b"[" * 100_000, b'{"bytecode": "0x00"}', b'{"abi": 5}', b"42",
                    b'{"abi": [], "bytecode": "0xzz"}'):  # fmt: skip
        with pytest.raises(AccessInputError) as caught:
            parse_upload(hostile, "Contract")
        assert caught.value.key == "error.artifact_invalid"


def test_display_of_decoded_values() -> None:
    assert compute_display((b"\x01", 2**255, "ä")) == '["0x01", ' + str(2**255) + ', "ä"]'
    assert compute_display("x" * 10_000).endswith("…")
