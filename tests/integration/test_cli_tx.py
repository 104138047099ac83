"""`scf tx inspect` and `make demo`'s module, run as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCF = Path(sys.executable).with_name("scf")
CASES = json.loads((ROOT / "tests" / "vectors" / "transactions.json").read_text())["cases"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCF), *args], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", CASES[:3], ids=[c["name"] for c in CASES[:3]])
def test_inspect_valid_vector(case: dict[str, str]) -> None:
    result = run("tx", "inspect", case["signed_tx_hex"], "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] and report["tx_id"] == case["tx_id_hex"]
    assert report["sender"] == case["public_key_hex"] and report["args"] == case["args"]


def test_inspect_reads_stdin_and_prints_a_verdict() -> None:
    result = run("tx", "inspect", stdin=CASES[0]["signed_tx_hex"] + "\n")
    assert result.returncode == 0
    assert "signature OK" in result.stdout and CASES[0]["tx_id_hex"] in result.stdout


def test_inspect_wrong_chain_exits_1() -> None:
    result = run("tx", "inspect", CASES[0]["signed_tx_hex"], "--chain-id", "other", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["problem"]["code"] == "WRONG_CHAIN_ID"


def test_inspect_bad_signature_exits_1() -> None:
    hexed = CASES[0]["signed_tx_hex"]
    forged = hexed[:-2] + ("00" if hexed[-2:] != "00" else "01")
    result = run("tx", "inspect", forged, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["problem"]["code"] == "INVALID_SIGNATURE"


@pytest.mark.parametrize("text,code", [("zz", "NOT_HEX"), ("9201", "CODEC_TRUNCATED"),
                                       ("93029801", "CODEC_TRUNCATED"), ("c0", "SCHEMA_MISMATCH")])
def test_inspect_undecodable_exits_3(text: str, code: str) -> None:
    result = run("tx", "inspect", text, "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["problem"]["code"] == code


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("scf, version")
    assert "Example" in run("tx", "inspect", "--help").stdout
