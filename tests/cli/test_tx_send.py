"""`scf tx send` and `scf tx status` against a real 1-validator localnet."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.tx import read_signed_transaction, tx
from ledger.errors import Code, LedgerError
from ledger.types import SignedTransaction, Transaction
from node.client import NodeClient
from node.keyfile import read_key_file
from tests.cli.conftest import Localnet, run_scf

runner = CliRunner()
#: A harmless transaction any core enterprise may sign as often as it likes.
OFFER = ("dynamic_discounting", "publish_offer", {"rate_bps": 900, "expiry_date": "2099-12-31"})


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def signed_by(localnet: Localnet, member: str, contract: str, method: str, args: dict[str, Any],
              *, chain_id: str | None = None) -> SignedTransaction:
    client = NodeClient(localnet.url)
    key = read_key_file(localnet.key(member))
    return Transaction(chain_id or client.chain_id(), key.public_key,
                       client.nonce(key.public_key), contract, method, args).sign(key)


def invoke(*args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(tx, list(args), input=input)


def committed_ok(result: Result, signed: SignedTransaction) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["ok"] is True and report["status"] == "committed"
    assert report["tx_id"] == signed.tx_id.hex() and report["code"] == "OK"
    assert isinstance(report["height"], int) and report["height"] >= 1
    return report


def test_send_a_msgpack_file(localnet: Localnet, tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    path = tmp_path / "tx.msgpack"
    path.write_bytes(signed.encode())
    report = committed_ok(invoke("send", str(path), "--node", localnet.url, "--json"), signed)
    assert report["events"][0]["kind"] == "dynamic_discounting.offer_published"


def test_send_hex_text_from_stdin(localnet: Localnet) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    result = invoke("send", "-", "--node", localnet.url, "--json",
                    input="  " + signed.encode().hex().upper() + "\n")
    committed_ok(result, signed)


def test_send_a_json_file_as_a_user_runs_it(localnet: Localnet, tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    path = tmp_path / "tx.json"
    path.write_text(json.dumps({"tx": signed.encode().hex()}))
    result = run_scf("tx", "send", str(path), "--node", localnet.url)
    assert result.returncode == 0, result.stderr
    assert f"tx_id:   {signed.tx_id.hex()}" in result.stdout
    assert "status:  committed at height" in result.stdout and "receipt: OK" in result.stdout


def test_send_without_waiting_then_follow_with_status(localnet: Localnet, tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    path = tmp_path / "tx.msgpack"
    path.write_bytes(signed.encode())
    sent = invoke("send", str(path), "--no-wait", "--node", localnet.url, "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["status"] in ("pending", "committed")
    followed = invoke("status", signed.tx_id.hex(), "--wait", "--node", localnet.url, "--json")
    committed_ok(followed, signed)
    human = invoke("status", signed.tx_id.hex(), "--node", localnet.url)
    assert human.exit_code == 0 and "receipt: OK" in human.stdout


def test_a_failed_receipt_exits_1_with_its_code(localnet: Localnet, tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", "invoices", "confirm", {"fingerprint": bytes(32)})
    path = tmp_path / "tx.msgpack"
    path.write_bytes(signed.encode())
    result = invoke("send", str(path), "--node", localnet.url)
    assert result.exit_code == 1
    assert "status:  committed at height" in result.stdout
    assert result.stderr.startswith("error: INVOICE_NOT_FOUND: no invoice 0000")
    status = invoke("status", signed.tx_id.hex(), "--node", localnet.url, "--json")
    assert status.exit_code == 1
    report = json.loads(status.stdout)
    assert report["status"] == "committed" and report["code"] == "INVOICE_NOT_FOUND"
    assert report["ok"] is False and report["ids"] == {}


def test_a_transaction_the_node_refuses_exits_1_with_its_code(localnet: Localnet,
                                                              tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER, chain_id="another-chain")
    path = tmp_path / "tx.hex"
    path.write_text(signed.encode().hex())
    result = invoke("send", str(path), "--node", localnet.url, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["code"] == "WRONG_CHAIN_ID" and report["tx_id"] == signed.tx_id.hex()


def test_a_bad_signature_is_refused_before_sending(localnet: Localnet, tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    forged = SignedTransaction(signed.tx, bytes(64))
    path = tmp_path / "tx.msgpack"
    path.write_bytes(forged.encode())
    result = invoke("send", str(path), "--node", localnet.url, "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["code"] == "INVALID_SIGNATURE"
    unknown = invoke("status", forged.tx_id.hex(), "--node", localnet.url, "--json")
    assert unknown.exit_code == 1 and json.loads(unknown.stdout)["code"] == "TX_NOT_FOUND"


@pytest.mark.parametrize("content", [b"", b"hello", b"{\"tx\": 5}", b"{not json", b"abc",
                                     b"\x92\x01"])
def test_what_is_not_a_signed_transaction_exits_3(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    result = invoke("send", str(path), "--node", closed_port_url(), "--json")
    assert result.exit_code == 3, result.output
    assert set(json.loads(result.stdout)) == {"ok", "code", "message"}


def test_the_three_forms_decode_to_the_same_transaction(localnet: Localnet) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    raw = signed.encode()
    for form in (raw, raw.hex().encode(), json.dumps({"tx": raw.hex()}).encode()):
        assert read_signed_transaction(form) == signed
    with pytest.raises(LedgerError) as refused:
        read_signed_transaction(raw + b"\x00")
    assert refused.value.code == Code.CODEC_TRAILING_BYTES


def test_an_unreachable_node_exits_5(localnet: Localnet, tmp_path: Path) -> None:
    signed = signed_by(localnet, "CORE-01", *OFFER)
    path = tmp_path / "tx.msgpack"
    path.write_bytes(signed.encode())
    url = closed_port_url()
    sent = invoke("send", str(path), "--node", url, "--json")
    assert sent.exit_code == 5 and json.loads(sent.stdout)["code"] == "NODE_UNREACHABLE"
    status = invoke("status", signed.tx_id.hex(), "--node", url)
    assert status.exit_code == 5 and status.stderr.startswith("error: NODE_UNREACHABLE:")


def test_status_refuses_what_is_not_a_transaction_id() -> None:
    result = invoke("status", "zz", "--node", closed_port_url())
    assert result.exit_code == 3


def test_help_has_examples() -> None:
    for command in ("send", "status"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout
