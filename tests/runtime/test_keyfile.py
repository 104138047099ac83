"""node/keyfile.py: key files round-trip, are never overwritten, and bad ones are refused."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genesis.demo_keys import demo_key
from ledger.crypto import SMALL_ORDER_POINTS
from ledger.errors import Code, LedgerError
from node.keyfile import public_key_of_file, read_key_file, write_key_file

KEY = demo_key("SUPPLIER-01")
OTHER = demo_key("BUYER-01")
FAST_N = 2**10  # the default 2**15 is for real keys; tests need speed, not strength
PASSPHRASE = "correct horse battery staple"


def _write(path: Path, passphrase: str | None = None) -> Path:
    write_key_file(path, KEY, passphrase=passphrase, _scrypt_n=FAST_N)
    return path


def _write_raw(path: Path, data: bytes, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)
    return path


def _error(read: Callable[[], object]) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        read()
    return caught.value


# -- round trips ----------------------------------------------------------------


def test_plain_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "node.key")
    assert read_key_file(path).seed == KEY.seed
    assert public_key_of_file(path) == KEY.public_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "format": "scf-key/1",
        "kind": "ed25519",
        "public_key": KEY.public_key.hex(),
        "seed": KEY.seed.hex(),
    }


def test_encrypted_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "node.key", PASSPHRASE)
    assert read_key_file(path, passphrase=PASSPHRASE).seed == KEY.seed
    text = path.read_text()
    assert KEY.seed.hex() not in text
    document = json.loads(text)
    assert set(document) == {"format", "kind", "public_key", "encrypted_seed"}
    encrypted = document["encrypted_seed"]
    assert {name: encrypted[name] for name in ("kdf", "n", "r", "p", "cipher")} == {
        "kdf": "scrypt", "n": FAST_N, "r": 8, "p": 1, "cipher": "chacha20-poly1305",
    }
    sizes = {name: len(bytes.fromhex(encrypted[name])) for name in ("salt", "nonce", "ciphertext")}
    assert sizes == {"salt": 16, "nonce": 12, "ciphertext": 32 + 16}


def test_encryption_is_fresh_each_time(tmp_path: Path) -> None:
    first = json.loads(_write(tmp_path / "a.key", PASSPHRASE).read_text())["encrypted_seed"]
    second = json.loads(_write(tmp_path / "b.key", PASSPHRASE).read_text())["encrypted_seed"]
    assert first["salt"] != second["salt"] and first["nonce"] != second["nonce"]


def test_default_scrypt_cost_is_2_to_the_15(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    write_key_file(path, KEY, passphrase=PASSPHRASE)
    assert json.loads(path.read_text())["encrypted_seed"]["n"] == 2**15
    assert read_key_file(path, passphrase=PASSPHRASE).seed == KEY.seed


def test_passphrase_is_unicode_normalised(tmp_path: Path) -> None:
    path = _write(tmp_path / "node.key", "caf\u00e9")  # é as one code point
    assert read_key_file(path, passphrase="cafe\u0301").seed == KEY.seed  # e + combining acute


def test_public_key_of_an_encrypted_file_needs_no_passphrase(tmp_path: Path) -> None:
    assert public_key_of_file(_write(tmp_path / "node.key", PASSPHRASE)) == KEY.public_key


def test_public_key_is_readable_whatever_the_permissions(tmp_path: Path) -> None:
    path = _write(tmp_path / "node.key")
    path.chmod(0o644)
    assert public_key_of_file(path) == KEY.public_key


def test_a_passphrase_for_a_plain_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "node.key")
    assert read_key_file(path, passphrase=PASSPHRASE).seed == KEY.seed
    assert "not encrypted" in caplog.text


# -- writing --------------------------------------------------------------------


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "node.key", b"precious")
    with pytest.raises(FileExistsError):
        _write(path)
    with pytest.raises(FileExistsError):
        _write(path, PASSPHRASE)
    assert path.read_bytes() == b"precious"


def test_a_dangling_symlink_is_not_followed_on_write(tmp_path: Path) -> None:
    link = tmp_path / "node.key"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        _write(link)
    assert not (tmp_path / "elsewhere").exists()


def test_mode_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o277)
    try:
        path = _write(tmp_path / "node.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize(
    ("passphrase", "n"), [("", FAST_N), (PASSPHRASE, 1000), (PASSPHRASE, 2**21)]
)
def test_unusable_encryption_settings_refused_before_creating_anything(
    tmp_path: Path, passphrase: str, n: int
) -> None:
    path = tmp_path / "node.key"
    with pytest.raises(ValueError):
        write_key_file(path, KEY, passphrase=passphrase, _scrypt_n=n)
    assert not path.exists()


# -- permissions and file types -------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_accepted(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "node.key")
    path.chmod(mode)
    assert read_key_file(path).seed == KEY.seed


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610, 0o601, 0o602, 0o620, 0o666])
def test_modes_open_to_group_or_others_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "node.key")
    path.chmod(mode)
    error = _error(lambda: read_key_file(path))
    assert error.code == Code.KEY_FILE_INSECURE
    assert f"{mode:04o}" in error.message
    assert f"chmod 600 {path}" in error.message


def test_a_symlink_is_refused_even_to_a_good_file(tmp_path: Path) -> None:
    target = _write(tmp_path / "real.key")
    link = tmp_path / "node.key"
    link.symlink_to(target)
    error = _error(lambda: read_key_file(link))
    assert error.code == Code.KEY_FILE_INSECURE
    assert "symbolic link" in error.message
    assert public_key_of_file(link) == KEY.public_key  # the public part is not secret


@pytest.mark.parametrize("make", [os.mkdir, os.mkfifo])
def test_not_a_regular_file_refused(tmp_path: Path, make: Callable[[Path], None]) -> None:
    path = tmp_path / "node.key"
    make(path)
    path.chmod(0o600)
    error = _error(lambda: read_key_file(path))
    assert error.code == Code.KEY_FILE_INSECURE
    assert "not a regular file" in error.message
    assert _error(lambda: public_key_of_file(path)).code == Code.KEY_FILE_INVALID


def test_a_missing_file_is_invalid(tmp_path: Path) -> None:
    error = _error(lambda: read_key_file(tmp_path / "absent.key"))
    assert error.code == Code.KEY_FILE_INVALID
    assert "absent.key" in error.message


# -- invalid contents -----------------------------------------------------------


def _plain() -> dict[str, Any]:
    return {
        "format": "scf-key/1",
        "kind": "ed25519",
        "public_key": KEY.public_key.hex(),
        "seed": KEY.seed.hex(),
    }


def _with(**changes: Any) -> bytes:
    document = _plain()
    for name, value in changes.items():
        if value is None:
            del document[name]
        else:
            document[name] = value
    return json.dumps(document).encode()


NOT_HEX = "seed is not a string of lowercase hex"

INVALID_DOCUMENTS: list[tuple[str, bytes, str]] = [
    ("empty", b"", "not valid UTF-8 JSON"),
    ("not json", b"{", "not valid UTF-8 JSON"),
    ("not utf-8", b'{"format": "\xff"}', "not valid UTF-8 JSON"),
    ("deeply nested", b"[" * 60_000, "not valid UTF-8 JSON"),
    ("too large", b" " * 70_000 + json.dumps(_plain()).encode(), "larger than"),
    ("array", b"[]", "not a JSON object"),
    ("duplicate field", b'{"format": "scf-key/1", "format": "scf-key/1"}', "duplicate keys"),
    ("unknown format", _with(format="scf-key/2"), "unknown format 'scf-key/2'"),
    ("no format", _with(format=None), "unknown format None"),
    ("unknown kind", _with(kind="secp256k1"), "unknown key kind 'secp256k1'"),
    ("no seed", _with(seed=None), "expected"),
    ("extra field", _with(comment="mine"), "expected"),
    ("both seeds", _with(encrypted_seed={}), "expected"),
    ("seed not hex", _with(seed="zz" * 32), NOT_HEX),
    ("seed uppercase", _with(seed=KEY.seed.hex().upper()), NOT_HEX),
    ("seed odd length", _with(seed=KEY.seed.hex()[:-1]), NOT_HEX),
    ("seed with spaces", _with(seed=" " + KEY.seed.hex()[2:] + " "), NOT_HEX),
    ("seed a number", _with(seed=12), NOT_HEX),
    ("seed too short", _with(seed=KEY.seed.hex()[:-2]), "seed is 31 bytes, expected 32"),
    ("public key too long", _with(public_key=KEY.public_key.hex() + "00"), "public_key is 33"),
]


@pytest.mark.parametrize(("data", "detail"), [(d, m) for _, d, m in INVALID_DOCUMENTS],
                         ids=[name for name, _, _ in INVALID_DOCUMENTS])
def test_invalid_documents_refused(tmp_path: Path, data: bytes, detail: str) -> None:
    path = _write_raw(tmp_path / "node.key", data)
    for read in (lambda: read_key_file(path), lambda: read_key_file(path, passphrase="x"),
                 lambda: public_key_of_file(path)):
        error = _error(read)
        assert error.code == Code.KEY_FILE_INVALID
        assert detail in error.message and str(path) in error.message


def test_a_public_key_that_is_not_the_seeds_refused(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "node.key", _with(public_key=OTHER.public_key.hex()))
    error = _error(lambda: read_key_file(path))
    assert error.code == Code.KEY_FILE_INVALID
    assert "does not match its seed" in error.message


def test_an_invalid_public_key_refused_by_public_key_of_file(tmp_path: Path) -> None:
    small_order = sorted(SMALL_ORDER_POINTS)[0]
    path = _write_raw(tmp_path / "node.key", _with(public_key=small_order.hex()))
    error = _error(lambda: public_key_of_file(path))
    assert error.code == Code.KEY_FILE_INVALID
    assert "not a valid Ed25519 public key" in error.message


# -- invalid encrypted files ----------------------------------------------------


def test_wrong_passphrase_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "node.key", PASSPHRASE)
    error = _error(lambda: read_key_file(path, passphrase=PASSPHRASE + "!"))
    assert error.code == Code.KEY_FILE_INVALID
    assert "wrong passphrase or corrupted file" in error.message


def test_encrypted_file_without_passphrase_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "node.key", PASSPHRASE)
    error = _error(lambda: read_key_file(path))
    assert error.code == Code.KEY_FILE_INVALID
    assert "this key file is encrypted: give its passphrase" in error.message


def _encrypted_with(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    path = _write(tmp_path / "node.key", PASSPHRASE)
    document = json.loads(path.read_text())
    change(document)
    path.unlink()
    return _write_raw(path, json.dumps(document).encode())


def _flip_first_byte(field: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        encrypted = document["encrypted_seed"]
        encrypted[field] = f"{int(encrypted[field][:2], 16) ^ 1:02x}" + encrypted[field][2:]
    return change


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        if value is None:
            del document["encrypted_seed"][field]
        else:
            document["encrypted_seed"][field] = value
    return change


def _set_many(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["encrypted_seed"].update(values)
    return change


def _replace_encrypted_seed_by_a_list(document: dict[str, Any]) -> None:
    document["encrypted_seed"] = []


def _swap_public_key(document: dict[str, Any]) -> None:
    document["public_key"] = OTHER.public_key.hex()


TAMPERED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("ciphertext flipped", _flip_first_byte("ciphertext"), "wrong passphrase or corrupted file"),
    ("nonce flipped", _flip_first_byte("nonce"), "wrong passphrase or corrupted file"),
    ("salt flipped", _flip_first_byte("salt"), "wrong passphrase or corrupted file"),
    ("public key swapped", _swap_public_key, "wrong passphrase or corrupted file"),
    ("n changed", _set("n", FAST_N * 2), "wrong passphrase or corrupted file"),
]

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown kdf", _set("kdf", "argon2id"), "unknown kdf 'argon2id'"),
    ("unknown cipher", _set("cipher", "aes-256-gcm"), "unknown cipher 'aes-256-gcm'"),
    ("missing salt", _set("salt", None), "encrypted_seed has the fields"),
    ("extra field", _set("hint", "my dog"), "encrypted_seed has the fields"),
    ("n not a power of two", _set("n", 1000), "not a power of two"),
    ("n too large", _set("n", 2**21), "not a power of two between 2 and 1048576"),
    ("n a string", _set("n", "1024"), "not an integer"),
    ("n a boolean", _set("n", True), "not an integer"),
    ("n a float", _set("n", 1024.0), "not an integer"),
    ("r zero", _set("r", 0), "r must be"),
    ("p too large", _set("p", 17), "p 1..16"),
    ("short salt", _set("salt", "00" * 8), "salt is 8 bytes, expected 16"),
    ("short nonce", _set("nonce", "00" * 8), "nonce is 8 bytes, expected 12"),
    ("short ciphertext", _set("ciphertext", "00" * 32), "ciphertext is 32 bytes, expected 48"),
    ("too much memory", _set_many(n=2**20, r=16), "would need more than"),
    ("not an object", _replace_encrypted_seed_by_a_list, "encrypted_seed is not a JSON object"),
]


@pytest.mark.parametrize(("change", "detail"), [(c, m) for _, c, m in TAMPERED],
                         ids=[name for name, _, _ in TAMPERED])
def test_tampered_encrypted_files_fail_authentication(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], detail: str
) -> None:
    path = _encrypted_with(tmp_path, change)
    error = _error(lambda: read_key_file(path, passphrase=PASSPHRASE))
    assert error.code == Code.KEY_FILE_INVALID
    assert detail in error.message


@pytest.mark.parametrize(("change", "detail"), [(c, m) for _, c, m in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_malformed_encrypted_files_refused_before_any_kdf(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], detail: str
) -> None:
    path = _encrypted_with(tmp_path, change)
    for read in (
        lambda: read_key_file(path, passphrase=PASSPHRASE),
        lambda: public_key_of_file(path),
    ):
        error = _error(read)
        assert error.code == Code.KEY_FILE_INVALID
        assert detail in error.message
