"""Key files: a node's or a member's Ed25519 key on disk, optionally encrypted.

A key file is one JSON object, either plain

    {"format": "scf-key/1", "kind": "ed25519", "public_key": HEX, "seed": HEX}

or, written with a passphrase,

    {"format": "scf-key/1", "kind": "ed25519", "public_key": HEX,
     "encrypted_seed": {"kdf": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": HEX,
                        "cipher": "chacha20-poly1305", "nonce": HEX, "ciphertext": HEX}}

HEX is lowercase hexadecimal. The 32-byte seed is encrypted with
ChaCha20-Poly1305 under a key derived from the passphrase by scrypt (16-byte
random salt, 12-byte random nonce), with the public key as associated data:
a file whose public key was swapped fails to decrypt. The passphrase is
NFC-normalised and UTF-8 encoded first, so the same characters typed on
different systems give the same key.

What this module guarantees:

* `write_key_file` never overwrites: it creates the file with
  O_CREAT|O_EXCL, mode 0600, and raises `FileExistsError` if anything is
  already at the path (a key is not something to lose by a mistyped path).
  It returns only once the file and its directory entry are fsynced; on a
  failed write the half-written file is removed.
* `read_key_file` refuses with `KEY_FILE_INSECURE` a file that group or
  others may access in any way, and anything that is not a regular file (a
  symbolic link is refused, not followed). Every other problem (unreadable
  file, bad JSON, unknown format or kind, bad hex or lengths, a public key
  that does not belong to the seed, a wrong passphrase, an encrypted file
  read without one) is `KEY_FILE_INVALID`, with a message naming the file.
* `public_key_of_file` reads only the public key. It does not check the
  file's permissions (the public key is not secret) and works on encrypted
  files without the passphrase; the whole document must still be well formed.

Python cannot wipe the seed from memory once read; the node keeps the one
`SigningKey` for its lifetime.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shlex
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.crypto import PUBLIC_KEY_SIZE, SEED_SIZE, SigningKey, is_valid_public_key
from ledger.errors import Code, LedgerError
from node.runtime.durable import fsync_directory, write_all

logger = logging.getLogger(__name__)

FORMAT = "scf-key/1"
KIND = "ed25519"
FILE_MODE = 0o600
#: Group and other permission bits: any of them set makes a key file insecure.
FORBIDDEN_BITS = stat.S_IRWXG | stat.S_IRWXO
#: A key file is a few hundred bytes; anything far larger is not one.
MAX_FILE_SIZE = 64 * 1024

KDF = "scrypt"
CIPHER = "chacha20-poly1305"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
#: Bounds on the scrypt parameters a file may ask for, so that a crafted
#: file cannot make reading it take gigabytes or minutes.
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16
MAX_SCRYPT_MEMORY = 2**30  # bytes; scrypt needs about 128 * n * r

_PLAIN_FIELDS = frozenset({"format", "kind", "public_key", "seed"})
_ENCRYPTED_FIELDS = frozenset({"format", "kind", "public_key", "encrypted_seed"})
_ENCRYPTION_FIELDS = frozenset({"kdf", "n", "r", "p", "salt", "cipher", "nonce", "ciphertext"})
_LOWER_HEX = re.compile(r"(?:[0-9a-f]{2})*")


@dataclass(frozen=True, slots=True)
class EncryptedSeed:
    n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class KeyDocument:
    """A parsed, well-formed key file; `secret` is the plain seed or its encryption."""

    public_key: bytes
    secret: bytes | EncryptedSeed


# -- writing ------------------------------------------------------------------


def write_key_file(
    path: Path,
    key: SigningKey,
    *,
    passphrase: str | None = None,
    _scrypt_n: int = SCRYPT_N,
) -> None:
    """Creates `path` (0600) holding `key`; encrypted if a passphrase is given.

    Raises `FileExistsError` if `path` exists (it is never overwritten),
    `ValueError` for an empty passphrase (it would protect nothing: pass None
    for a plain file), and any other `OSError` of creating or writing the
    file as is. `_scrypt_n` exists so tests can use a cheap KDF.
    """
    path = Path(path)
    data = encode_key_document(key, passphrase=passphrase, scrypt_n=_scrypt_n)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "a key file is never overwritten; remove or move it first", str(path)
        ) from None
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # the umask may have taken the owner's bits away
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)  # created by us above, with O_EXCL
        raise
    fsync_directory(path.parent)


def encode_key_document(
    key: SigningKey, *, passphrase: str | None, scrypt_n: int = SCRYPT_N
) -> bytes:
    """The bytes of a key file for `key`."""
    document: dict[str, Any] = {"format": FORMAT, "kind": KIND, "public_key": key.public_key.hex()}
    if passphrase is None:
        document["seed"] = key.seed.hex()
    else:
        if passphrase == "":
            raise ValueError("an empty passphrase protects nothing; pass None for a plain key file")
        document["encrypted_seed"] = _encrypt_seed(key, passphrase, scrypt_n)
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _encrypt_seed(key: SigningKey, passphrase: str, scrypt_n: int) -> dict[str, Any]:
    problem = find_scrypt_problem(scrypt_n, SCRYPT_R, SCRYPT_P)
    if problem is not None:
        raise ValueError(problem)  # a file this module could not read back
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(NONCE_SIZE)
    cipher_key = _derive(passphrase, salt, scrypt_n, SCRYPT_R, SCRYPT_P)
    ciphertext = ChaCha20Poly1305(cipher_key).encrypt(nonce, key.seed, key.public_key)
    return {
        "kdf": KDF, "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex(),
        "cipher": CIPHER, "nonce": nonce.hex(), "ciphertext": ciphertext.hex(),
    }


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    encoded = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(encoded)


# -- reading ------------------------------------------------------------------


def read_key_file(path: Path, *, passphrase: str | None = None) -> SigningKey:
    """The key in `path`; see the module docstring for what is refused and why.

    A passphrase given for a plain file is ignored, with a warning in the log.
    """
    path = Path(path)
    document = parse_key_document(_read_private(path), path)
    if isinstance(document.secret, EncryptedSeed):
        if passphrase is None:
            raise _invalid(path, "this key file is encrypted: give its passphrase")
        seed = _decrypt_seed(document.secret, document.public_key, passphrase, path)
    else:
        if passphrase is not None:
            logger.warning(
                "key file %s is not encrypted; the passphrase given was not needed", path
            )
        seed = document.secret
    key = SigningKey(seed)
    if key.public_key != document.public_key:
        raise _invalid(path, "its public_key does not match its seed")
    return key


def public_key_of_file(path: Path) -> bytes:
    """The public key in `path`, without the passphrase and without a permission check."""
    path = Path(path)
    public_key = parse_key_document(_read_public(path), path).public_key
    if not is_valid_public_key(public_key):
        raise _invalid(path, "its public_key is not a valid Ed25519 public key")
    return public_key


def _decrypt_seed(
    encrypted: EncryptedSeed, public_key: bytes, passphrase: str, path: Path
) -> bytes:
    cipher_key = _derive(passphrase, encrypted.salt, encrypted.n, encrypted.r, encrypted.p)
    try:
        return ChaCha20Poly1305(cipher_key).decrypt(encrypted.nonce, encrypted.ciphertext, public_key)
    except InvalidTag:
        raise _invalid(
            path, "cannot decrypt the seed: wrong passphrase or corrupted file"
        ) from None


def _read_private(path: Path) -> bytes:
    """The file's bytes, refusing links, non-regular files and loose permissions."""
    try:
        info = os.lstat(path)
    except OSError as error:
        raise _invalid(path, f"it cannot be read ({error})") from error
    _check_private(path, info)
    # O_NOFOLLOW and the second check close the race with a swap after lstat.
    return _read_bytes(path, os.O_NOFOLLOW, check=lambda opened: _check_private(path, opened))


def _read_public(path: Path) -> bytes:
    def check(info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise _invalid(path, "it is not a regular file")

    return _read_bytes(path, 0, check=check)


def _check_private(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise LedgerError(
            Code.KEY_FILE_INSECURE,
            f"key file {path} is a symbolic link; a key file must be a regular file "
            "(put the file itself at this path, mode 0600)",
        )
    if not stat.S_ISREG(info.st_mode):
        raise LedgerError(Code.KEY_FILE_INSECURE, f"key file {path} is not a regular file")
    if info.st_mode & FORBIDDEN_BITS:
        raise LedgerError(
            Code.KEY_FILE_INSECURE,
            f"key file {path} has mode {stat.S_IMODE(info.st_mode):04o}: group or others may "
            f"access it; fix with `chmod 600 {shlex.quote(str(path))}` "
            "(and consider the key exposed if others could read it)",
        )


def _read_bytes(path: Path, extra_flags: int, *, check: Callable[[os.stat_result], None]) -> bytes:
    """Opens (never blocking on a FIFO), runs `check` on fstat, reads at most the size limit."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | extra_flags)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK) and extra_flags & os.O_NOFOLLOW:
            raise LedgerError(
                Code.KEY_FILE_INSECURE,
                f"key file {path} is a symbolic link; a key file must be a regular file",
            ) from error
        raise _invalid(path, f"it cannot be read ({error})") from error
    try:
        check(os.fstat(fd))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_SIZE:
            chunk = os.read(fd, MAX_FILE_SIZE + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise _invalid(path, f"it cannot be read ({error})") from error
    finally:
        os.close(fd)
    if size > MAX_FILE_SIZE:
        raise _invalid(
            path, f"it is larger than {MAX_FILE_SIZE} bytes; a key file is a few hundred"
        )
    return b"".join(chunks)


# -- parsing ------------------------------------------------------------------


def parse_key_document(data: bytes, path: Path) -> KeyDocument:
    """The key document in `data`, checked field by field; `KEY_FILE_INVALID` if not one."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise _invalid(path, f"it is not valid UTF-8 JSON ({error})") from None
    if type(document) is not dict:
        raise _invalid(path, "it is not a JSON object")
    if document.get("format") != FORMAT:
        raise _invalid(
            path, f"unknown format {document.get('format')!r}; this node reads {FORMAT!r}"
        )
    if document.get("kind") != KIND:
        raise _invalid(path, f"unknown key kind {document.get('kind')!r}; this node reads {KIND!r}")
    fields = frozenset(document)
    if fields not in (_PLAIN_FIELDS, _ENCRYPTED_FIELDS):
        raise _invalid(
            path,
            f"it has the fields {sorted(fields)}; expected {sorted(_PLAIN_FIELDS)} "
            f"or {sorted(_ENCRYPTED_FIELDS)}",
        )
    public_key = _hex_field(document, "public_key", PUBLIC_KEY_SIZE, path)
    if "seed" in document:
        return KeyDocument(public_key, _hex_field(document, "seed", SEED_SIZE, path))
    return KeyDocument(public_key, _parse_encrypted_seed(document["encrypted_seed"], path))


def _parse_encrypted_seed(value: Any, path: Path) -> EncryptedSeed:
    if type(value) is not dict:
        raise _invalid(path, "encrypted_seed is not a JSON object")
    if frozenset(value) != _ENCRYPTION_FIELDS:
        raise _invalid(
            path,
            f"encrypted_seed has the fields {sorted(value)}; "
            f"expected {sorted(_ENCRYPTION_FIELDS)}",
        )
    if value["kdf"] != KDF:
        raise _invalid(path, f"unknown kdf {value['kdf']!r}; this node reads {KDF!r}")
    if value["cipher"] != CIPHER:
        raise _invalid(path, f"unknown cipher {value['cipher']!r}; this node reads {CIPHER!r}")
    n, r, p = (_int_field(value, name, path) for name in ("n", "r", "p"))
    problem = find_scrypt_problem(n, r, p)
    if problem is not None:
        raise _invalid(path, problem)
    return EncryptedSeed(
        n=n, r=r, p=p,
        salt=_hex_field(value, "salt", SALT_SIZE, path),
        nonce=_hex_field(value, "nonce", NONCE_SIZE, path),
        ciphertext=_hex_field(value, "ciphertext", SEED_SIZE + TAG_SIZE, path),
    )


def find_scrypt_problem(n: int, r: int, p: int) -> str | None:
    """Why these scrypt parameters are refused, or None if they are within bounds."""
    if not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0):
        return f"scrypt n = {n} is not a power of two between 2 and {MAX_SCRYPT_N}"
    if not (1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P):
        return f"scrypt r = {r}, p = {p}: r must be 1..{MAX_SCRYPT_R}, p 1..{MAX_SCRYPT_P}"
    if 128 * n * r > MAX_SCRYPT_MEMORY:
        return f"scrypt n = {n}, r = {r} would need more than {MAX_SCRYPT_MEMORY} bytes"
    return None


def _hex_field(fields: dict[str, Any], name: str, size: int, path: Path) -> bytes:
    value = fields[name]
    if type(value) is not str or not _LOWER_HEX.fullmatch(value):
        raise _invalid(path, f"{name} is not a string of lowercase hex digit pairs")
    if len(value) != 2 * size:
        raise _invalid(path, f"{name} is {len(value) // 2} bytes, expected {size}")
    return bytes.fromhex(value)


def _int_field(fields: dict[str, Any], name: str, path: Path) -> int:
    value = fields[name]
    if type(value) is not int:
        raise _invalid(path, f"scrypt {name} is {value!r}, not an integer")
    return value


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        names = [name for name, _ in pairs]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"duplicate keys {duplicated}")
    return document


def _invalid(path: Path, detail: str) -> LedgerError:
    return LedgerError(Code.KEY_FILE_INVALID, f"key file {path}: {detail}")
