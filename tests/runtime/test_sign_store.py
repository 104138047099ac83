"""FileSignStore: the last-signed record survives restarts and crashes, and refuses bad files."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from genesis.demo_keys import demo_key
from ledger import codec
from ledger.crypto import verify_signature
from ledger.errors import Code, LedgerError
from node.consensus.safety import GuardedSigner, LastSigned, Step
from node.runtime.sign_store import FileSignStore, encode_record
from tests.runtime.crash_signer import KEY_NAME, sign_bytes_at
from tests.runtime.kill import KillPlan, run_and_kill

KEY = demo_key("v")
SEED = int(os.environ.get("SCF_CRASH_SEED", "20251207"))  # the printed seed replays a schedule
KILLS = 20


def _signer(path: Path) -> GuardedSigner:
    return GuardedSigner(KEY, FileSignStore(path))


def _signed_file(tmp_path: Path) -> Path:
    path = tmp_path / "last_signed"
    _signer(path).sign(5, 1, Step.PREVOTE, b"vote-a")
    return path


def _load_error(path: Path) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        FileSignStore(path).load()
    return caught.value


# --- round trip through the guarded signer ----------------------------------------------

def test_a_restarted_signer_re_serves_its_signature_and_refuses_to_equivocate(
        tmp_path: Path) -> None:
    path = tmp_path / "last_signed"
    first = _signer(path).sign(5, 1, Step.PREVOTE, b"vote-a")

    restarted = _signer(path)  # a new store object on the same file: a restart
    assert restarted.sign(5, 1, Step.PREVOTE, b"vote-a") == first
    for height, round, step, data in [(5, 1, Step.PREVOTE, b"vote-b"),
                                      (5, 1, Step.PROPOSE, b"p"),
                                      (5, 0, Step.PRECOMMIT, b"c"),
                                      (4, 9, Step.PRECOMMIT, b"c")]:
        with pytest.raises(LedgerError) as caught:
            restarted.sign(height, round, step, data)
        assert caught.value.code is Code.DOUBLE_SIGN_REFUSED
    assert FileSignStore(path).load() == LastSigned(5, 1, Step.PREVOTE, b"vote-a", first)


def test_forward_signatures_replace_the_record(tmp_path: Path) -> None:
    path = tmp_path / "last_signed"
    signer = _signer(path)
    for position in [(1, 0, Step.PROPOSE), (1, 0, Step.PRECOMMIT), (1, 3, Step.PREVOTE),
                     (2, 0, Step.PROPOSE)]:
        signature = signer.sign(*position, repr(position).encode())
        record = FileSignStore(path).load()
        assert record is not None
        assert (record.position, record.signature) == (
            (position[0], position[1], int(position[2])), signature)
        assert verify_signature(KEY.public_key, record.sign_bytes, signature)


def test_the_file_is_the_canonical_record_array(tmp_path: Path) -> None:
    path = _signed_file(tmp_path)
    signature = KEY.sign(b"vote-a")
    assert path.read_bytes() == codec.encode([1, 5, 1, 2, b"vote-a", signature])
    assert path.read_bytes() == encode_record(LastSigned(5, 1, Step.PREVOTE, b"vote-a", signature))


def test_a_missing_file_is_a_first_start(tmp_path: Path) -> None:
    assert FileSignStore(tmp_path / "absent").load() is None


def test_a_failed_save_releases_no_signature(tmp_path: Path) -> None:
    path = tmp_path / "no-such-directory" / "last_signed"
    with pytest.raises(LedgerError) as caught:
        _signer(path).sign(1, 0, Step.PREVOTE, b"x")
    assert caught.value.code is Code.SIGN_STATE_IO_ERROR
    assert str(path) in caught.value.message
    assert not path.exists()


def test_a_record_that_would_not_load_back_is_not_written(tmp_path: Path) -> None:
    path = _signed_file(tmp_path)
    before = path.read_bytes()
    for bad in [LastSigned(-1, 0, Step.PREVOTE, b"x", bytes(64)),
                LastSigned(1, 0, Step.PREVOTE, b"x", bytes(63)),
                LastSigned(1, 0, 7, b"x", bytes(64))]:  # type: ignore[arg-type]
        with pytest.raises(LedgerError) as caught:
            FileSignStore(path).save(bad)
        assert caught.value.code is Code.SCHEMA_MISMATCH
    assert path.read_bytes() == before


# --- permissions --------------------------------------------------------------------------

def test_the_file_is_written_0600_whatever_the_umask_or_a_leftover_temp_file(
        tmp_path: Path) -> None:
    path = tmp_path / "last_signed"
    store = FileSignStore(path)
    store.temp_path.write_bytes(b"leftover of a crash")
    store.temp_path.chmod(0o666)
    old_umask = os.umask(0)
    try:
        _signer(path).sign(1, 0, Step.PREVOTE, b"x")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not store.temp_path.exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666, 0o610])
def test_a_file_others_may_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = _signed_file(tmp_path)
    path.chmod(mode)
    error = _load_error(path)
    assert error.code is Code.SIGN_STATE_INSECURE
    assert str(path) in error.message and f"chmod 600 {path}" in error.message
    path.chmod(0o600)
    assert FileSignStore(path).load() is not None


def test_an_owner_read_only_file_loads(tmp_path: Path) -> None:
    path = _signed_file(tmp_path)
    path.chmod(0o400)
    assert FileSignStore(path).load() is not None


# --- corruption ---------------------------------------------------------------------------

def _valid_bytes() -> bytes:
    return encode_record(LastSigned(5, 1, Step.PREVOTE, b"vote-a", KEY.sign(b"vote-a")))


CORRUPTIONS = {
    "empty": b"",
    "garbage": b"\xc1 this is not msgpack",
    "wrong version": codec.encode([2, 5, 1, 2, b"vote-a", bytes(64)]),
    "version as bool": codec.encode([True, 5, 1, 2, b"vote-a", bytes(64)]),
    "five fields": codec.encode([1, 5, 1, 2, b"vote-a"]),
    "not an array": codec.encode({"height": 5}),
    "step 0": codec.encode([1, 5, 1, 0, b"vote-a", bytes(64)]),
    "negative round": codec.encode([1, 5, -1, 2, b"vote-a", bytes(64)]),
    "sign_bytes as str": codec.encode([1, 5, 1, 2, "vote-a", bytes(64)]),
    "short signature": codec.encode([1, 5, 1, 2, b"vote-a", bytes(63)]),
    "trailing bytes": _valid_bytes() + b"\x00",
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupted_file_is_refused_with_a_warning_not_to_delete_it(
        tmp_path: Path, name: str) -> None:
    path = tmp_path / "last_signed"
    path.write_bytes(CORRUPTIONS[name])
    path.chmod(0o600)
    error = _load_error(path)
    assert error.code is Code.SIGN_STATE_CORRUPTED
    assert str(path) in error.message and "do NOT delete it blindly" in error.message
    assert path.read_bytes() == CORRUPTIONS[name]  # nothing was "repaired"


def test_every_truncation_of_a_valid_file_is_refused(tmp_path: Path) -> None:
    data = _valid_bytes()
    path = tmp_path / "last_signed"
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        path.chmod(0o600)
        assert _load_error(path).code is Code.SIGN_STATE_CORRUPTED, f"cut at {cut}"


def test_a_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "last_signed"
    path.mkdir(mode=0o700)
    assert _load_error(path).code is Code.SIGN_STATE_CORRUPTED


# --- crash: SIGKILL at random moments -----------------------------------------------------

def test_a_signer_killed_at_random_moments_never_has_a_record_behind_its_signatures(
        tmp_path: Path) -> None:
    """The child prints each signature after sign() returned; the file is never behind it.

    SIGKILL tests process crashes (the atomic rename, the order of save and
    release), not power loss: the kernel keeps what was written.
    """
    rng = random.Random(SEED)
    path = tmp_path / "last_signed"
    key = demo_key(KEY_NAME)
    printed: list[tuple[tuple[int, int, int], str]] = []
    ahead = in_save = 0
    print(f"\ncrash test seed {SEED}")
    for cycle in range(KILLS):
        where = f"seed {SEED} cycle {cycle}"
        lines = run_and_kill("tests.runtime.crash_signer", path, KillPlan.draw(rng),
                             tmp_path / "stderr.txt")
        printed += [_parse_signed(line) for line in lines if line != "ready"]
        store = FileSignStore(path)
        in_save += store.temp_path.exists()  # killed between the temp write and the rename
        record = store.load()  # must parse
        if not printed:
            continue
        assert record is not None, f"{where}: signatures were printed but no record is stored"
        last_position, last_signature = printed[-1]
        # Never behind a released signature. It may be ahead: a child can save and be
        # killed before printing, and the next child starts from that record, so saved
        # but unreleased steps can accumulate over several cycles.
        assert record.position >= last_position, (
            f"{where}: stored {record.position} is behind the last printed {last_position}")
        assert verify_signature(key.public_key, sign_bytes_at(*record.position), record.signature)
        if record.position == last_position:
            assert record.signature.hex() == last_signature, f"{where}: another signature"
        else:
            ahead += 1  # saved, killed before it printed: never released, harmless
        restarted = GuardedSigner(key, FileSignStore(path))
        assert restarted.sign(*_step(record.position), sign_bytes_at(*record.position)) == (
            record.signature)
    positions = [position for position, _ in printed]
    assert positions == sorted(set(positions)), "a position was signed twice or backwards"
    assert len(positions) > KILLS, "the children hardly signed: the test proved little"
    print(f"{len(positions)} signatures over {KILLS} kills; record one step ahead of the "
          f"last printed signature after {ahead} kills; a temp file left by {in_save}")


def _parse_signed(line: str) -> tuple[tuple[int, int, int], str]:
    height, round, step, signature = line.split()
    return (int(height), int(round), int(step)), signature


def _step(position: tuple[int, int, int]) -> tuple[int, int, Step]:
    return position[0], position[1], Step(position[2])
