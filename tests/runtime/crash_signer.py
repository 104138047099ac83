"""A validator's signer to be killed: signs ever higher (height, round, step) forever.

    python -m tests.runtime.crash_signer SIGN_STATE_PATH

Used by tests/runtime/test_sign_store.py, which SIGKILLs it at random moments.
It prints to stdout, one line each, flushed at once:

    ready                      the store is loaded, signing starts
    H R S SIGNATURE_HEX        sign(H, R, S, sign_bytes_at(H, R, S)) returned

It resumes after the position stored in the file, so every run signs new
positions. It stops by itself if its parent dies.
"""

from __future__ import annotations

import os
import sys

from genesis.demo_keys import demo_key
from node.consensus.safety import GuardedSigner, Step
from node.runtime.sign_store import FileSignStore

KEY_NAME = "crash-signer"
ROUNDS_PER_HEIGHT = 2


def sign_bytes_at(height: int, round: int, step: int) -> bytes:
    return f"vote h={height} r={round} s={step}".encode()


def next_position(height: int, round: int, step: int) -> tuple[int, int, int]:
    """The position after (height, round, step): steps, then rounds, then heights."""
    if step < Step.PRECOMMIT:
        return height, round, step + 1
    if round + 1 < ROUNDS_PER_HEIGHT:
        return height, round + 1, int(Step.PROPOSE)
    return height + 1, 0, int(Step.PROPOSE)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.runtime.crash_signer SIGN_STATE_PATH", file=sys.stderr)
        return 2
    parent = os.getppid()
    store = FileSignStore(argv[0])
    signer = GuardedSigner(demo_key(KEY_NAME), store)
    last = store.load()
    position = (1, 0, int(Step.PROPOSE)) if last is None else next_position(*last.position)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while os.getppid() == parent:
        height, round, step = position
        signature = signer.sign(height, round, Step(step), sign_bytes_at(*position))
        sys.stdout.write(f"{height} {round} {step} {signature.hex()}\n")
        sys.stdout.flush()
        position = next_position(*position)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
