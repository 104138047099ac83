"""`FileSignStore`: the guarded signer's last-signed record, on disk.

The guarded signer (node/consensus/safety.py) refuses to sign backwards or to
sign two things at one (height, round, step), but only as long as it
remembers what it signed last. This module is that memory across crashes and
restarts. What it guarantees:

* `save(record)` returns only once the record is durable: the bytes go to
  `<path>.tmp` in the same directory (created 0600), are fsynced, renamed
  over `<path>` with `os.replace` (atomic on POSIX) and the directory is
  fsynced so the rename itself survives a power cut. A crash at any moment
  leaves either the previous record or the new one, never a mix and never
  nothing (where there was a record before). The signer releases a
  signature only after `save` returned, so the record on disk is never
  behind a signature that left the process.
* A failed write is `LedgerError(SIGN_STATE_IO_ERROR)`: the signer then
  raises too, and no signature leaves.
* `load()` returns None only when the file does not exist (the validator's
  first start). A file that cannot be read or does not hold a valid record is
  `SIGN_STATE_CORRUPTED`, never "no record": starting from nothing could let
  the validator sign twice. A file that group or others may access is
  `SIGN_STATE_INSECURE` (whoever can write it can make the validator
  equivocate; whoever can read it learns what it signed last).

The record has no checksum of its own, and a flipped bit could still decode
as a valid record of an EARLIER position, which would let the validator sign
twice. `load_checked` (what `scf node start` calls before the node opens)
closes that hole without changing the format: the signature must be the
validator's over `sign_bytes`, and `sign_bytes` must be the proposal or vote
of the record's own (height, round, step); any damage breaks one of the two.

The file is the canonical msgpack encoding (ledger/codec.py) of the array

    [1, height, round, step, sign_bytes, signature]

version 1; height and round non-negative int64; step 1 (propose),
2 (prevote) or 3 (precommit); sign_bytes bytes; signature 64 bytes.
The file is written with raw `os.write`, so there is no user-space buffer to
flush before the fsync. See docs/wal.md ("The last-signed file") for what an
operator sees and does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, cast

from ledger import codec
from ledger.crypto import Tag, verify_signature
from ledger.errors import Code, LedgerError
from ledger.types import Vote, VoteType
from node.consensus.messages import Proposal
from node.consensus.safety import LastSigned, Step
from node.runtime.durable import fsync_directory, write_all

RECORD_VERSION = 1
SIGNATURE_SIZE = 64
FILE_MODE = 0o600
#: Group and other permission bits: any of them set makes the file insecure.
FORBIDDEN_BITS = stat.S_IRWXG | stat.S_IRWXO
#: Far above any record (sign bytes are a vote or proposal body, not a block).
MAX_FILE_SIZE = codec.DEFAULT_MAX_SIZE

_DO_NOT_DELETE = (
    "do NOT delete it blindly: this validator could then sign twice at a height it "
    "already signed (double-signing). Recover by restoring a copy of the file taken "
    "after this validator's last signature, or by waiting until the chain has committed "
    "heights beyond any this validator may have signed (see its last votes in the chain "
    "or the node's log) and only then moving the file aside; see docs/wal.md"
)


def encode_record(record: LastSigned) -> bytes:
    """The file's bytes for `record`; `SCHEMA_MISMATCH` if it could not load back."""
    fields = [RECORD_VERSION, record.height, record.round, _step_value(record.step),
              record.sign_bytes, record.signature]
    problem = find_record_problem(fields)
    if problem is not None:
        raise LedgerError(Code.SCHEMA_MISMATCH, f"LastSigned: {problem}")
    return codec.encode(fields)


def decode_record(data: bytes) -> LastSigned:
    """The record in `data`; a `LedgerError` (CODEC_* or SCHEMA_MISMATCH) if none."""
    value = codec.decode(data, max_size=MAX_FILE_SIZE)
    problem = find_record_problem(value)
    if problem is not None:
        raise LedgerError(Code.SCHEMA_MISMATCH, problem)
    fields = cast(list[Any], value)
    return LastSigned(fields[1], fields[2], Step(fields[3]), fields[4], fields[5])


def find_record_problem(value: Any) -> str | None:
    """What is wrong with `value` as a record array, or None if nothing."""
    if type(value) is not list or len(value) != 6:
        return "not an array of 6 items [version, height, round, step, sign_bytes, signature]"
    version, height, round_, step, sign_bytes, signature = value
    if version != RECORD_VERSION or type(version) is not int:
        return f"version {version!r}, this node reads version {RECORD_VERSION}"
    for name, number in (("height", height), ("round", round_)):
        if type(number) is not int or not 0 <= number <= codec.INT_MAX:
            return f"{name} {number!r} is not a non-negative int64"
    if type(step) is not int or step not in {int(s) for s in Step}:
        return f"step {step!r} is not 1 (propose), 2 (prevote) or 3 (precommit)"
    if type(sign_bytes) is not bytes:
        return f"sign_bytes of type {type(sign_bytes).__name__}, expected bytes"
    if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE:
        return f"signature is not {SIGNATURE_SIZE} bytes"
    return None


def find_signature_problem(record: LastSigned, public_key: bytes, chain_id: str) -> str | None:
    """What makes `record` contradict itself, or None: the signature must be
    `public_key`'s over `sign_bytes`, which must be the proposal or vote of
    the record's (height, round, step) on `chain_id`."""
    if not verify_signature(public_key, record.sign_bytes, record.signature):
        return "its signature is not this validator's signature over its sign_bytes"
    signed = _signed_position(chain_id, record.sign_bytes)
    if signed is None:
        return f"its sign_bytes are not a proposal or vote of chain {chain_id!r}"
    if signed != record.position:
        return (f"it says (height, round, step) {record.position} but its sign_bytes "
                f"are for {signed}")
    return None


def _signed_position(chain_id: str, sign_bytes: bytes) -> tuple[int, int, int] | None:
    """The (height, round, step) that `sign_bytes` sign, None if not a proposal's or vote's."""
    envelope = codec.encode(chain_id)
    try:
        if sign_bytes.startswith(Tag.PROPOSAL_SIGN.value + envelope):
            proposal = Proposal.decode(sign_bytes[len(Tag.PROPOSAL_SIGN.value + envelope):])
            if proposal.chain_id == chain_id:
                return (proposal.height, proposal.round, int(Step.PROPOSE))
        elif sign_bytes.startswith(Tag.VOTE_SIGN.value + envelope):
            vote = Vote.decode(sign_bytes[len(Tag.VOTE_SIGN.value + envelope):])
            step = Step.PREVOTE if vote.vote_type == VoteType.PREVOTE else Step.PRECOMMIT
            if vote.chain_id == chain_id:
                return (vote.height, vote.round, int(step))
    except LedgerError:
        return None
    return None


def _step_value(step: Any) -> Any:
    return int(step) if isinstance(step, Step) else step


class FileSignStore:
    """A `SignStore` (node/consensus/safety.py) in one file; see the module docstring."""

    __slots__ = ("_path",)

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def temp_path(self) -> Path:
        """Where `save` writes before the rename; a leftover one is harmless."""
        return self._path.with_name(self._path.name + ".tmp")

    def load(self) -> LastSigned | None:
        data = self._read()
        if data is None:
            return None
        try:
            return decode_record(data)
        except LedgerError as error:
            raise self._corrupted(f"it does not hold a valid record ({error})") from None

    def load_checked(self, public_key: bytes, chain_id: str) -> LastSigned | None:
        """`load`, and SIGN_STATE_CORRUPTED if the record contradicts itself
        (find_signature_problem): a check for start, not for every signature."""
        record = self.load()
        if record is not None:
            problem = find_signature_problem(record, public_key, chain_id)
            if problem is not None:
                raise self._corrupted(problem)
        return record

    def save(self, record: LastSigned) -> None:
        data = encode_record(record)
        try:
            _write_durably(self.temp_path, self._path, data)
        except OSError as error:
            _remove_quietly(self.temp_path)
            raise LedgerError(
                Code.SIGN_STATE_IO_ERROR,
                f"cannot save the last-signed record to {self._path}: {error}; "
                "the signature was not released",
            ) from error

    def _read(self) -> bytes | None:
        """The file's bytes, None if it does not exist; checks its permissions."""
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._corrupted(f"it cannot be opened ({error})") from error
        try:
            self._validate_file(os.fstat(fd))
            return _read_at_most(fd, MAX_FILE_SIZE + 1)
        except OSError as error:
            raise self._corrupted(f"it cannot be read ({error})") from error
        finally:
            os.close(fd)

    def _validate_file(self, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise self._corrupted("it is not a regular file")
        if info.st_mode & FORBIDDEN_BITS:
            raise LedgerError(
                Code.SIGN_STATE_INSECURE,
                f"the last-signed file {self._path} has mode "
                f"{stat.S_IMODE(info.st_mode):04o}: group or others may access it; "
                f"fix with `chmod 600 {self._path}` (and check who changed it)",
            )
        if info.st_size > MAX_FILE_SIZE:
            raise self._corrupted(f"it is {info.st_size} bytes, a record is at most {MAX_FILE_SIZE}")

    def _corrupted(self, detail: str) -> LedgerError:
        return LedgerError(
            Code.SIGN_STATE_CORRUPTED,
            f"the last-signed file {self._path} is unusable: {detail}; {_DO_NOT_DELETE}",
        )


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _write_durably(temp: Path, target: Path, data: bytes) -> None:
    """temp file, write, fsync, rename over target, fsync the directory."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a leftover temp file may have another mode
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, target)
    fsync_directory(target.parent)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
