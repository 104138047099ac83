"""`scf keys new | show | export-public`: real files in tmp_path, no node."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from click.testing import CliRunner

from cli.keys import keys
from node.keyfile import read_key_file, write_key_file
from ledger.crypto import SigningKey
from tests.cli.conftest import run_scf

runner = CliRunner()


def test_new_writes_a_0600_key_file_and_prints_its_public_key(tmp_path: Path) -> None:
    path = tmp_path / "member.json"
    result = runner.invoke(keys, ["new", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    key = read_key_file(path)
    assert report == {"ok": True, "file": str(path), "public_key": key.public_key.hex(),
                      "encrypted": False}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.seed.hex() not in result.output


def test_new_refuses_to_overwrite_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "member.json"
    write_key_file(path, SigningKey(bytes(range(32))))
    before = path.read_bytes()
    result = runner.invoke(keys, ["new", str(path)])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: KEY_FILE_EXISTS:")
    assert path.read_bytes() == before
    result = runner.invoke(keys, ["new", str(path), "--json"])
    assert result.exit_code == 3 and json.loads(result.stdout)["code"] == "KEY_FILE_EXISTS"


def test_new_with_a_passphrase_encrypts_the_seed(tmp_path: Path) -> None:
    path = tmp_path / "member.json"
    result = runner.invoke(keys, ["new", str(path), "--passphrase-prompt", "--json"],
                           input="correct horse\ncorrect horse\n")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["encrypted"] is True
    assert read_key_file(path, passphrase="correct horse").public_key.hex() == \
        report["public_key"]
    assert "encrypted_seed" in json.loads(path.read_text())


def test_show_reports_the_public_key_format_and_encryption_never_the_seed(
        tmp_path: Path) -> None:
    key = SigningKey(bytes(range(32)))
    plain, encrypted = tmp_path / "plain.json", tmp_path / "encrypted.json"
    write_key_file(plain, key)
    write_key_file(encrypted, key, passphrase="pw", _scrypt_n=2**4)
    for path, is_encrypted in ((plain, False), (encrypted, True)):
        result = runner.invoke(keys, ["show", str(path), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {
            "file": str(path), "format": "scf-key/1", "kind": "ed25519",
            "public_key": key.public_key.hex(), "encrypted": is_encrypted, "mode": "0600",
            "secure": True}
        human = runner.invoke(keys, ["show", str(path)])
        assert human.exit_code == 0 and key.public_key.hex() in human.stdout
        assert key.seed.hex() not in human.output + result.output


def test_show_flags_a_file_others_may_read(tmp_path: Path) -> None:
    path = tmp_path / "loose.json"
    write_key_file(path, SigningKey(bytes(32)))
    os.chmod(path, 0o644)
    result = runner.invoke(keys, ["show", str(path)])
    assert result.exit_code == 0
    assert "0644 (INSECURE" in result.stdout


def test_show_and_export_refuse_what_is_not_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-key.json"
    path.write_text('{"format": "something-else"}')
    for command in ("show", "export-public"):
        result = runner.invoke(keys, [command, str(path), "--json"])
        assert result.exit_code == 3
        assert json.loads(result.stdout)["code"] == "KEY_FILE_INVALID"
    assert runner.invoke(keys, ["show", str(tmp_path / "missing.json")]).exit_code == 3


def test_export_public_prints_one_line_of_hex_from_an_encrypted_file(tmp_path: Path) -> None:
    key = SigningKey(bytes(range(1, 33)))
    path = tmp_path / "member.json"
    write_key_file(path, key, passphrase="pw", _scrypt_n=2**4)
    result = runner.invoke(keys, ["export-public", str(path)])
    assert result.exit_code == 0
    assert result.stdout == key.public_key.hex() + "\n"


def test_the_commands_as_a_user_runs_them(tmp_path: Path) -> None:
    path = tmp_path / "BANK-C.json"
    created = run_scf("keys", "new", str(path))
    assert created.returncode == 0, created.stderr
    exported = run_scf("keys", "export-public", str(path))
    assert exported.returncode == 0
    assert f"public key: {exported.stdout.strip()}" in created.stdout
    assert run_scf("keys", "new", str(path)).returncode == 3
    assert "Example" in run_scf("keys", "new", "--help").stdout
