"""A node's home directory: what `scf node init` creates and `scf node start` opens.

    HOME/config.json           node configuration (node/config.py)
    HOME/genesis.json          the consortium's genesis document (a copy)
    HOME/keys/member.json      the member's key: signs peer handshakes (0600)
    HOME/keys/validator.json   the validator key, validators only (0600)
    HOME/data/chain/           LevelDB: blocks, certificates, receipts, state
    HOME/data/wal/             the consensus write-ahead log
    HOME/data/sign-state       the guarded signer's last signature record
    HOME/data/reset-<time>/    what `scf node reset-data` moved aside (chain, wal)
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genesis.document import Genesis, load_genesis
from ledger.accounts import Member
from ledger.crypto import SigningKey
from ledger.errors import Code, LedgerError
from node.config import CONFIG_FILE, NodeConfig, load_config
from node.runtime.durable import fsync_directory
from node.keyfile import read_key_file, write_key_file


@dataclass(frozen=True)
class NodeHome:
    path: Path
    config: NodeConfig
    genesis: Genesis
    member_key: SigningKey
    validator_key: SigningKey | None

    @property
    def data(self) -> Path:
        return self.path / self.config.data_dir

    @property
    def chain_dir(self) -> Path:
        return self.data / "chain"

    @property
    def wal_dir(self) -> Path:
        return self.data / "wal"

    @property
    def sign_state(self) -> Path:
        return self.data / "sign-state"


def init_home(home: Path, *, config: NodeConfig, genesis_file: Path, member_key: SigningKey,
              validator_key: SigningKey | None) -> None:
    """Creates a node's home; refuses (HOME_EXISTS) to touch one that exists."""
    genesis = load_genesis(genesis_file)
    _validate_identity(genesis, config.member_id, member_key, validator_key)
    if (home / CONFIG_FILE).exists():
        raise LedgerError(Code.HOME_EXISTS, f"{home} already holds a node; nothing was changed")
    (home / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
    write_key_file(home / config.member_key_file, member_key)
    if validator_key is not None:
        write_key_file(home / config.validator_key_file, validator_key)
    shutil.copyfile(genesis_file, home / config.genesis_file)
    (home / config.data_dir).mkdir(exist_ok=True, mode=0o700)
    (home / CONFIG_FILE).write_text(config.to_json(), encoding="utf-8")


def open_home(home: Path) -> NodeHome:
    """Loads and checks config, genesis and keys (KEY_FILE_INSECURE if a key is exposed)."""
    config = load_config(home)
    genesis = load_genesis(home / config.genesis_file)
    member_key = read_key_file(home / config.member_key_file)
    validator_key = read_key_file(home / config.validator_key_file) if config.validator else None
    _validate_identity(genesis, config.member_id, member_key, validator_key)
    return NodeHome(home, config, genesis, member_key, validator_key)


def _validate_identity(genesis: Genesis, member_id: str, member_key: SigningKey,
                       validator_key: SigningKey | None) -> None:
    member = _member(genesis, member_id)
    if member_key.public_key not in member.keys:
        raise LedgerError(Code.CONFIG_INVALID, f"the member key is not one of {member_id}'s "
                          "keys in genesis")
    if validator_key is not None and validator_key.public_key not in genesis.validator_members:
        raise LedgerError(Code.CONFIG_INVALID, f"the validator key of {member_id} is not a "
                          "genesis validator (set \"validator\": false for a follower node)")


def _member(genesis: Genesis, member_id: str) -> Member:
    for member in genesis.members:
        if member.member_id == member_id:
            return member
    raise LedgerError(Code.CONFIG_INVALID, f"member_id {member_id!r} is not a member in genesis")


@dataclass(frozen=True, slots=True)
class DataReset:
    """What `reset_data` did: the directory it moved the data into, and what it moved."""

    backup: Path
    moved: tuple[str, ...]          # of "chain", "wal"
    sign_state_kept: bool           # False: there was none (a follower, or never signed)


def reset_data(home: Path, *, stamp: str) -> DataReset:
    """Moves `data/chain` and `data/wal` into `data/reset-<stamp>/`; keeps `data/sign-state`.

    The recovery of a validator whose store or WAL is damaged: started again,
    the node initialises its store from genesis and fetches every block from
    its peers. The last-signed record stays, because it is what keeps the
    validator from signing again at a height it already signed; the keys stay
    too. Nothing is deleted. Refuses while a process holds the store or the
    WAL (STORE_LOCKED, WAL_LOCKED), holding both locks while it moves them.
    """
    data = home / load_config(home).data_dir
    chain, wal = data / "chain", data / "wal"
    with _held(chain / "LOCK", Code.STORE_LOCKED, posix=True), \
            _held(wal / "LOCK", Code.WAL_LOCKED, posix=False):
        present = tuple(d for d in (chain, wal) if d.exists())
        backup = _fresh_directory(data / f"reset-{stamp}")
        for directory in present:
            os.rename(directory, backup / directory.name)
        fsync_directory(backup)
        fsync_directory(data)
    return DataReset(backup, tuple(d.name for d in present), (data / "sign-state").exists())


def _fresh_directory(path: Path) -> Path:
    for suffix in ("", *(f"-{n}" for n in range(1, 100))):
        candidate = path.with_name(path.name + suffix)
        try:
            candidate.mkdir(mode=0o700)
            return candidate
        except FileExistsError:
            continue
    raise LedgerError(Code.CONFIG_INVALID, f"{path}: too many reset directories with this name")


@contextmanager
def _held(path: Path, code: Code, *, posix: bool) -> Iterator[None]:
    """Holds a lock file the way its owner takes it (LevelDB: a POSIX record
    lock; the WAL: flock), or raises `code` if another process holds it."""
    if not path.exists():
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            if posix:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise LedgerError(code, f"{path} is locked: a node (or another process) is "
                              "using this home; stop it first") from error
        yield
    finally:
        os.close(fd)
