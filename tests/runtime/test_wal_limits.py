"""The largest consensus input must fit one WAL record."""

from __future__ import annotations

from ledger.types import MAX_BLOCK_SIZE, MAX_VALIDATORS
from node.runtime.wal_format import MAX_RECORD_SIZE

# A commit signature is [version, validator key, signature] with bin8 headers:
# at most 1 + 1 + (2 + 32) + (2 + 64) bytes, plus the array headers.
_COMMIT_SIGNATURE_BYTES = 110
_ENVELOPE_BYTES = 64 * 1024  # proposal fields, signature, input framing


def test_a_maximal_block_inside_any_input_fits_one_wal_record() -> None:
    largest_commit = MAX_VALIDATORS * _COMMIT_SIGNATURE_BYTES + 1024
    assert MAX_BLOCK_SIZE + largest_commit + _ENVELOPE_BYTES <= MAX_RECORD_SIZE
