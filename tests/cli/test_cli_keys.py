"""`gusu keys`: the keystore through the real command line (click's CliRunner)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gusu.cli.main import cli
from gusu.crypto import get_suite
from gusu.crypto.keyfile import decrypt_key_file, encrypt_key_file, read_key_file_metadata


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False)


def json_of(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_new_list_show(runner: CliRunner, home: Path, passphrase_file: Path) -> None:
    created = json_of(invoke(runner, "keys", "new", "alice", "--passphrase-file", str(passphrase_file), "--json"))
    assert isinstance(created, dict)
    assert created["name"] == "alice" and created["suite"] == "sm"
    path = home / "keys" / "alice.json"
    assert Path(created["path"]) == path
    assert path.stat().st_mode & 0o777 == 0o600
    # The file opens with the passphrase (without its trailing newline) and matches what was printed.
    key = decrypt_key_file(path.read_bytes(), "correct horse battery staple")
    assert "0x" + get_suite("sm").compute_address(key.public_key).hex() == created["address"]

    invoke(runner, "keys", "new", "bob", "--suite", "ecdsa", "--passphrase-file", str(passphrase_file))
    listed = json_of(invoke(runner, "keys", "list", "--json"))
    assert isinstance(listed, list)
    assert [(item["name"], item["suite"]) for item in listed] == [("alice", "sm"), ("bob", "ecdsa")]
    assert listed[0]["address"] == created["address"]

    shown = json_of(invoke(runner, "keys", "show", "alice", "--json"))
    assert isinstance(shown, dict)
    assert shown["address"] == created["address"] and shown["public_key"] == created["public_key"]

    # People get a table naming every key.
    table = invoke(runner, "keys", "list")
    assert "alice" in table.stdout and "bob" in table.stdout and created["address"] in table.stdout


def test_new_prompts_for_a_confirmed_passphrase(runner: CliRunner, home: Path) -> None:
    result = invoke(runner, "keys", "new", "carol", "--json", input="s3cret\ns3cret\n")
    document = json.loads(result.stdout)  # the prompts went to stderr
    assert result.exit_code == 0
    assert decrypt_key_file((home / "keys" / "carol.json").read_bytes(), "s3cret").suite == "sm"
    assert document["name"] == "carol"


def test_passphrase_from_environment(runner: CliRunner, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUSU_PASSPHRASE", "from-env")
    json_of(invoke(runner, "keys", "new", "dave", "--json"))
    assert decrypt_key_file((home / "keys" / "dave.json").read_bytes(), "from-env").suite == "sm"


def test_expected_failures_are_one_line(runner: CliRunner, passphrase_file: Path) -> None:
    invoke(runner, "keys", "new", "alice", "--passphrase-file", str(passphrase_file))
    again = invoke(runner, "keys", "new", "alice", "--passphrase-file", str(passphrase_file))
    assert again.exit_code == 1
    assert again.stderr.startswith("error: ") and "already exists" in again.stderr
    assert "Traceback" not in again.output

    missing = invoke(runner, "keys", "show", "nobody")
    assert missing.exit_code == 1 and "no key named 'nobody'" in missing.stderr

    bad_name = invoke(runner, "keys", "new", "../evil", "--passphrase-file", str(passphrase_file))
    assert bad_name.exit_code == 1 and "invalid key name" in bad_name.stderr

    wrong = runner.invoke(cli, ["keys", "export", "alice", "--pem", "--json"], env={"GUSU_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1
    assert "wrong passphrase" in wrong.stderr
    # With --json, scripts get one error document on stdout.
    assert json.loads(wrong.stdout)["error"]["code"] == "key_file_invalid"


def test_export_and_import_round_trip(runner: CliRunner, home: Path, passphrase_file: Path, tmp_path: Path) -> None:
    created = json_of(invoke(runner, "keys", "new", "alice", "--passphrase-file", str(passphrase_file), "--json"))
    assert isinstance(created, dict)

    key_file = invoke(runner, "keys", "export", "alice")
    assert read_key_file_metadata(key_file.stdout.encode()).address.hex() == created["address"][2:]

    exported = json_of(
        invoke(runner, "keys", "export", "alice", "--pem", "--passphrase-file", str(passphrase_file), "--json")
    )
    assert isinstance(exported, dict)
    assert exported["pem"].startswith("-----BEGIN PRIVATE KEY-----")
    pem_path = tmp_path / "alice.pem"
    pem_path.write_text(exported["pem"], encoding="utf-8")

    imported = json_of(
        invoke(runner, "keys", "import", "alice2", str(pem_path), "--passphrase-file", str(passphrase_file), "--json")
    )
    assert isinstance(imported, dict)
    assert imported["address"] == created["address"]


def test_key_file_path_with_sibling_passphrase(runner: CliRunner, tmp_path: Path) -> None:
    """A key file path works wherever a name does; KEY.pass beside it is its passphrase (chain init's dev key)."""
    key = get_suite("sm").generate_private_key()
    key_path = tmp_path / "chain" / "keys" / "dev.json"
    key_path.parent.mkdir(parents=True)
    key_path.write_bytes(encrypt_key_file(key, "dev-secret", scrypt_n=1024))
    key_path.with_suffix(".pass").write_text("dev-secret\n", encoding="utf-8")
    exported = json_of(invoke(runner, "keys", "export", str(key_path), "--pem", "--json"))
    assert isinstance(exported, dict)
    assert exported["name"] == str(key_path)
    shown = json_of(invoke(runner, "keys", "show", str(key_path), "--json"))
    assert isinstance(shown, dict)
    assert shown["address"] == "0x" + get_suite("sm").compute_address(key.public_key).hex()


def test_list_reports_unreadable_files(runner: CliRunner, home: Path) -> None:
    (home / "keys").mkdir(parents=True)
    (home / "keys" / "broken.json").write_text("{not a key", encoding="utf-8")
    listed = json_of(invoke(runner, "keys", "list", "--json"))
    assert isinstance(listed, list)
    assert listed[0]["name"] == "broken" and listed[0]["address"] is None and listed[0]["problem"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_import_openssl_sm2_pem(runner: CliRunner, tmp_path: Path, passphrase_file: Path) -> None:
    pem_path = tmp_path / "sm2.pem"
    generated = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "SM2", "-out", str(pem_path)], capture_output=True, check=False
    )
    if generated.returncode != 0:
        pytest.skip(f"this openssl cannot generate SM2 keys: {generated.stderr.decode(errors='replace')}")
    imported = json_of(
        invoke(runner, "keys", "import", "gm", str(pem_path), "--passphrase-file", str(passphrase_file), "--json")
    )
    assert isinstance(imported, dict)
    assert imported["suite"] == "sm"
    # The same key comes back out as a PEM that openssl reads.
    exported = json_of(
        invoke(runner, "keys", "export", "gm", "--pem", "--passphrase-file", str(passphrase_file), "--json")
    )
    assert isinstance(exported, dict)
    out_path = tmp_path / "back.pem"
    out_path.write_text(exported["pem"], encoding="utf-8")
    check = subprocess.run(["openssl", "pkey", "-in", str(out_path), "-noout"], capture_output=True, check=False)
    assert check.returncode == 0, check.stderr

    # A secp256k1 key is refused for the "sm" suite with the reason.
    wrong_curve = tmp_path / "k1.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", str(wrong_curve)], check=True
    )
    refused = invoke(runner, "keys", "import", "k1", str(wrong_curve), "--passphrase-file", str(passphrase_file))
    assert refused.exit_code == 1 and "secp256k1" in refused.stderr
