"""The exit codes of `scf`, the same meaning in every command (docs/cli.md).

Scripts branch on these, so they never change meaning. Click itself exits 2
on a usage error (a missing option, a bad value).
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    #: the command ran and its answer is "no": a failed transaction, a bad signature
    FAILED = 1
    USAGE = 2
    #: the input was refused before anything was sent (undecodable, not importable)
    REFUSED = 3
    #: the command needs a node (`--node URL`)
    NODE_REQUIRED = 4
    #: no node answered
    NODE_UNREACHABLE = 5
    #: a node's answer failed verification against genesis: it lied or is broken
    NODE_LIED = 6
    #: the nodes asked gave different certified answers
    NODES_DISAGREE = 7
    #: `scf invoice verify` verdicts (FREE TO FINANCE is OK)
    ALREADY_FINANCED = 10
    NOT_CONFIRMED = 11
    UNKNOWN_INVOICE = 12
