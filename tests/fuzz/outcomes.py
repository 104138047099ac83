"""What a harness may see: anything not allowed here is reported as a crash.

The checks raise `UndocumentedOutcome` (an AssertionError) rather than using
`assert`, so they hold under `python -O` and read the same in atheris and pytest.
"""

from __future__ import annotations

from ledger.errors import Code, LedgerError

CODEC_CODES = frozenset(code for code in Code if code.name.startswith("CODEC_"))
#: What decoding a ledger structure may raise: the codec's codes and the layout's.
STRUCTURE_CODES = CODEC_CODES | {Code.SCHEMA_MISMATCH, Code.UNSUPPORTED_VERSION}


class UndocumentedOutcome(AssertionError):
    """A decoder or handler did something its documentation does not allow."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UndocumentedOutcome(message)


def require_code(error: LedgerError, allowed: frozenset[Code], where: str) -> None:
    require(error.code in allowed,
            f"{where} raised {error.code.value} ({error.message}); allowed: "
            + ", ".join(sorted(code.value for code in allowed)))
