"""Crash safety: a writer SIGKILLed at random moments never loses an acknowledged block.

A child process (tests/support/crash_writer.py) commits blocks to one LevelDB
directory like a validator would, printing each height once `append` has
returned. The test kills it with SIGKILL at a random moment (during start-up,
while the store is being opened or recovered, or while committing), reopens
the store and checks:

(a) the head is at least the highest height the child acknowledged, and no
    block seen in an earlier cycle is gone;
(b) the store holds exactly the blocks 1..head, each decodes, links to its
    parent and so to genesis, carries a commit certificate of its own
    validator set, and has one receipt per transaction, all indexed;
(c) the state root at the head is the head block's state root, and the
    notes and nonces at the head are what the deterministic blocks write;
(d) replay: every block re-executes on a replica in memory to the same
    receipts and state roots (incrementally each cycle, and from genesis on
    a fresh replica every REPLAY_EVERY cycles and on the last);
(e) this process can commit one more block on top.

All cycles use the same directory, so damage would accumulate. The schedule
is drawn from `random.Random(seed)`: SCF_CRASH_SEED picks the seed (default
DEFAULT_SEED, printed either way), SCF_CRASH_CYCLES raises the number of
cycles above MIN_CYCLES. Where exactly a kill lands also depends on the
machine's timing, so a seed reproduces the schedule, not the exact moment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ledger import codec
from ledger.accounts import next_nonce
from ledger.certificates import validate_commit
from ledger.contract_api import contract_prefix
from ledger.store import LevelDBStore, MemoryStore, schema
from ledger.store.chain import ChainStore
from ledger.system_state import get_validator_set
from ledger.transition import apply_block
from ledger.types import Block, Commit, Receipt
from tests.support.chain import REGISTRY, commit_block, example_genesis, member_key
from tests.support.crash_writer import (
    MEMBERS,
    TXS_PER_BLOCK,
    all_note_keys,
    block_txs,
    expected_nonces,
    expected_notes,
)

GENESIS = example_genesis()
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SEED = 20_251_123
MIN_CYCLES = 50
REPLAY_EVERY = 10
CHILD_TIMEOUT_S = 30.0

# Where to aim a kill: (weight, marker to wait for first, delay after it in s)
KILL_PLANS = {
    "start-up": (1, None, (0.0, 0.15)),     # from spawn: mostly the interpreter/imports
    "open": (2, "opening", (0.0, 0.01)),    # LevelDB open / log recovery / ChainStore open
    "commit": (7, "opened", (0.02, 0.4)),   # blocks being committed
}


@dataclass
class Kill:
    """One run of the child: what was planned and what it printed before it died."""

    plan: str
    delay: float
    lines: list[str]

    @property
    def reached(self) -> str:
        """How far the child got: before-open, in-open or committing."""
        if "opening" not in self.lines:
            return "before-open"
        if not any(line.startswith("opened ") for line in self.lines):
            return "in-open"
        return "committing"

    @property
    def acknowledged(self) -> list[int]:
        return [int(line) for line in self.lines if line.isdigit()]


def _wait_for(lines: list[str], marker: str, proc: subprocess.Popen[bytes], where: str) -> None:
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not any(line.split(" ")[0] == marker for line in lines):
        assert proc.poll() is None, f"{where}: the writer exited ({proc.returncode}) before {marker!r}"
        assert time.monotonic() < deadline, f"{where}: no {marker!r} from the writer in {CHILD_TIMEOUT_S}s"
        time.sleep(0.0005)


def run_and_kill(db: Path, rng: random.Random, stderr_path: Path, where: str) -> Kill:
    """Starts the writer on `db`, SIGKILLs it as planned by `rng`; never leaves it running."""
    plans = list(KILL_PLANS)
    plan = rng.choices(plans, weights=[KILL_PLANS[p][0] for p in plans])[0]
    _, marker, (low, high) = KILL_PLANS[plan]
    delay = rng.uniform(low, high)
    lines: list[str] = []
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.crash_writer", str(db)],
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr)
    assert proc.stdout is not None

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if raw.endswith(b"\n"):  # a line cut by the kill was never acknowledged
                lines.append(raw.decode().rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if marker is not None:
            _wait_for(lines, marker, proc, where)
        time.sleep(delay)
        assert proc.poll() is None, (
            f"{where}: the writer exited by itself ({proc.returncode}) before the kill: "
            f"{stderr_path.read_text(errors='replace')[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(timeout=CHILD_TIMEOUT_S)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, f"{where}: the writer ended with {proc.returncode}"
    return Kill(plan, delay, lines)


@dataclass
class Verified:
    """The blocks checked so far, byte for byte, and a replica that replayed them."""

    blocks: list[bytes] = field(default_factory=list)          # index h-1
    commits: list[bytes] = field(default_factory=list)
    receipts: list[list[bytes]] = field(default_factory=list)
    replica: ChainStore = field(default_factory=lambda: ChainStore(MemoryStore(), GENESIS))

    @property
    def height(self) -> int:
        return len(self.blocks)


def _by_height(kv: LevelDBStore, prefix: bytes) -> dict[int, bytes]:
    return {schema.read_u64(key[len(prefix):]): value for key, value in kv.iterate(prefix)}


def _receipts_by_height(kv: LevelDBStore) -> dict[int, list[bytes]]:
    grouped: dict[int, list[tuple[int, bytes]]] = {}
    for key, value in kv.iterate(schema.RECEIPT):
        rest = key[len(schema.RECEIPT):]
        grouped.setdefault(schema.read_u64(rest[:8]), []).append(
            (int.from_bytes(rest[8:], "big"), value))
    return {h: [v for _, v in sorted(pairs)] for h, pairs in grouped.items()}


def check_blocks(chain: ChainStore, kv: LevelDBStore, verified: Verified, where: str) -> None:
    """(b) and (d): blocks 1..head intact, linked, certified, with receipts; replayed."""
    head = chain.height
    blocks = _by_height(kv, schema.BLOCK)
    commits = _by_height(kv, schema.COMMIT)
    receipts = _receipts_by_height(kv)
    expected = set(range(1, head + 1))
    assert set(blocks) == expected, (
        f"{where}: stored blocks {_span(blocks)} are not exactly 1..{head}")
    assert set(commits) == expected, (
        f"{where}: stored commits {_span(commits)} are not exactly 1..{head}")
    assert set(receipts) <= expected, f"{where}: receipts stored above the head {head}"
    # Blocks checked in earlier cycles must be byte-for-byte what they were.
    for h in range(1, verified.height + 1):
        assert blocks[h] == verified.blocks[h - 1], f"{where}: block {h} changed since verified"
        assert commits[h] == verified.commits[h - 1], f"{where}: commit {h} changed since verified"
        assert receipts.get(h, []) == verified.receipts[h - 1], (
            f"{where}: receipts of block {h} changed since verified")
    previous_hash = chain.block_hash(verified.height)
    for h in range(verified.height + 1, head + 1):
        block = Block.decode(blocks[h])
        commit = Commit.decode(commits[h])
        stored_receipts = [Receipt.decode(r) for r in receipts.get(h, [])]
        header = block.header
        assert header.height == h, f"{where}: block stored at {h} says height {header.height}"
        assert header.previous_hash == previous_hash, (
            f"{where}: block {h} does not link to block {h - 1}")
        validate_commit(commit, chain_id=GENESIS.chain_id, height=h, block_hash=block.hash,
                        validators=get_validator_set(chain.state_at(h - 1)))
        assert header.tx_count == len(block.txs) == TXS_PER_BLOCK, (
            f"{where}: block {h} has {header.tx_count} txs, expected {TXS_PER_BLOCK}")
        assert len(stored_receipts) == header.tx_count, (
            f"{where}: block {h} has {len(stored_receipts)} receipts for {header.tx_count} txs")
        assert all(r.code == "OK" for r in stored_receipts), (
            f"{where}: block {h} receipts {[r.code for r in stored_receipts]}")
        for index, tx in enumerate(block.txs):
            assert chain.tx_location(tx.tx_id) == (h, index), (
                f"{where}: tx {index} of block {h} is not indexed at ({h}, {index})")
        assert kv.get(schema.block_height_by_hash(block.hash)) == schema.u64(h), (
            f"{where}: block {h} is not indexed by its hash")
        assert chain.state_at(h).root == header.state_root, (
            f"{where}: the stored state root at {h} is not block {h}'s state_root")
        # replay: re-execute on the replica, which has replayed 1..h-1 already
        replica = verified.replica
        execution = apply_block(replica, replica.tip(), block, REGISTRY)
        assert list(execution.receipts) == stored_receipts, (
            f"{where}: replaying block {h} gives other receipts than stored")
        replica.append(execution, commit)
        assert replica.state_at(h).root == header.state_root, (
            f"{where}: replaying block {h} gives another state root")
        verified.blocks.append(blocks[h])
        verified.commits.append(commits[h])
        verified.receipts.append(receipts.get(h, []))
        previous_hash = block.hash


def replay_from_genesis(chain: ChainStore, where: str) -> None:
    """(d) on a fresh replica: every stored block re-executes to its state root."""
    replica = ChainStore(MemoryStore(), GENESIS)
    for h in range(1, chain.height + 1):
        block = chain.block(h)
        execution = apply_block(replica, replica.tip(), block, REGISTRY)
        assert list(execution.receipts) == chain.receipts(h), (
            f"{where}: fresh replay of block {h} gives other receipts than stored")
        replica.append(execution, chain.commit(h))
    assert replica.height == chain.height
    assert replica.state_at(chain.height).root == chain.state_at(chain.height).root, (
        f"{where}: fresh replay ends on another state root")


def check_head_state(chain: ChainStore, where: str) -> None:
    """(c): the state at the head is the head block's, and what its blocks wrote."""
    head = chain.height
    root = chain.state_at(head).root
    if head > 0:
        assert root == chain.block(head).header.state_root, (
            f"{where}: state root at head {head} is not the head block's state_root")
    notes = expected_notes(head)
    at_head = chain.state_at(head)
    for key in all_note_keys():
        state_key = contract_prefix("notes") + key.encode()
        for name, reader in (("latest index", chain.state()), ("tree", at_head)):
            data = reader.get(state_key)
            value = None if data is None else codec.decode(data)
            assert value == notes.get(key), (
                f"{where}: notes[{key!r}] at head {head} is {value!r} in the {name}, "
                f"expected {notes.get(key)!r}")
    for member, nonce in expected_nonces(head).items():
        public_key = member_key(member).public_key
        assert next_nonce(chain.state(), public_key) == nonce, (
            f"{where}: {member}'s next nonce at head {head} is not {nonce}")
        assert next_nonce(at_head, public_key) == nonce, (
            f"{where}: {member}'s next nonce in the tree at head {head} is not {nonce}")
    assert set(MEMBERS) == set(expected_nonces(head))


def _span(heights: dict[int, bytes]) -> str:
    return f"{min(heights)}..{max(heights)} ({len(heights)})" if heights else "none"


def _guarded(where: str, check: Callable[[], None]) -> None:
    """Runs `check`, so that any error (a LedgerError on reopen, say) names seed and cycle."""
    try:
        check()
    except AssertionError:
        raise
    except Exception as error:
        raise AssertionError(f"{where}: {type(error).__name__}: {error}") from error


def test_sigkill_at_random_moments_never_loses_an_acknowledged_block(tmp_path: Path) -> None:
    seed = int(os.environ.get("SCF_CRASH_SEED", DEFAULT_SEED))
    cycles = max(MIN_CYCLES, int(os.environ.get("SCF_CRASH_CYCLES", MIN_CYCLES)))
    print(f"\ncrash safety: seed={seed} cycles={cycles} (rerun with SCF_CRASH_SEED={seed})")
    rng = random.Random(seed)
    db = tmp_path / "db"
    verified = Verified()
    durable = 0          # the height no later cycle may fall below
    reached: Counter[str] = Counter()
    unacknowledged_kept = 0
    for i in range(cycles):
        where = f"seed={seed} cycle={i}"
        kill = run_and_kill(db, rng, tmp_path / "writer.stderr", where)
        reached[kill.reached] += 1
        acks = kill.acknowledged
        opened = [int(line.split()[1]) for line in kill.lines if line.startswith("opened ")]
        assert not opened or opened[0] >= durable, (
            f"{where}: the writer opened the store at {opened[0]}, below {durable}")
        first = opened[0] + 1 if opened else None
        assert acks == ([] if first is None else list(range(first, first + len(acks)))), (
            f"{where}: the writer acknowledged {acks[:3]}… after opening at {opened}")

        def check(kill: Kill = kill, where: str = where) -> None:
            nonlocal durable, unacknowledged_kept
            with LevelDBStore(db) as kv:
                chain = ChainStore(kv, GENESIS)
                head = chain.height
                highest_ack = max(kill.acknowledged, default=durable)
                assert head >= highest_ack, (
                    f"{where}: head {head} after the kill, but the writer acknowledged "
                    f"block {highest_ack} (killed in {kill.reached}, plan {kill.plan})")
                assert head >= durable, f"{where}: head {head} fell below the verified {durable}"
                unacknowledged_kept += head > highest_ack
                check_blocks(chain, kv, verified, where)
                check_head_state(chain, where)
                if i % REPLAY_EVERY == REPLAY_EVERY - 1 or i == cycles - 1:
                    replay_from_genesis(chain, where)
                commit_block(chain, block_txs(chain))
                assert chain.height == head + 1, f"{where}: committing on top of {head} failed"
                durable = chain.height

        _guarded(where, check)
    print(f"crash safety: seed={seed} final height {durable}; the kill came "
          + ", ".join(f"{name} {count}x" for name, count in sorted(reached.items()))
          + f"; {unacknowledged_kept} kills kept a block committed but not yet acknowledged")
    assert durable >= cycles
