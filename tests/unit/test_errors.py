"""The error code list in docs/errors.md and the Code enum agree."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from ledger.errors import Code, LedgerError

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_code_is_documented_and_every_documented_code_exists() -> None:
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", DOC.read_text(), re.MULTILINE))
    assert documented == {code.value for code in Code}


def test_codes_are_screaming_snake_and_equal_their_names() -> None:
    for code in Code:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", code.value)
        assert code.name == code.value


def test_error_carries_code_and_message_across_pickling() -> None:
    error = LedgerError(Code.INVALID_KEY, "bad key")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.code, clone.message) == (Code.INVALID_KEY, "bad key")
    assert clone.to_dict() == {"code": "INVALID_KEY", "message": "bad key"}
    assert str(error) == "INVALID_KEY: bad key"
