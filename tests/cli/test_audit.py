"""`scf audit replay|export` against real nodes: the shared localnet, a stopped one, a liar.

The module puts invoices, factoring and dynamic discounting through the
session's localnet, then replays its chain over HTTP, exports it, replays
the archive, damages the archive, and checks the refusals. The shared chain
may hold other tests' transactions too, so totals are checked as "at least".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cli.audit as cli_audit
from cli.audit import audit
from cli.exits import Exit
from contracts.fingerprint import compute_fingerprint
from ledger import codec
from ledger.types import BlockHeader, Receipt
from node.client import Member, NodeClient
from node.keyfile import read_key_file
from tests.cli.conftest import Localnet, run_scf
from tests.support.localnet import running_localnet

AMOUNT, EUR_AMOUNT = 100_000_000, 20_000_000


@dataclasses.dataclass(frozen=True)
class Financed:
    fund_height: int  # the block holding factoring.fund
    paid_out: int


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(audit, list(args))


def _json(result: Result) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _header(url: str, height: int) -> dict[str, Any]:
    header: dict[str, Any] = NodeClient(url).block(height)["header"]
    return header


def _invoice(number: str, currency: str, amount: int) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"invoice_number": number, "buyer": "CORE-01", "seller_tax_id": "91440300AUD0001",
            "buyer_tax_id": "91310000AUD0002", "issue_date": str(today - timedelta(days=2)),
            "due_date": str(today + timedelta(days=90)), "currency": currency,
            "face_amount": amount, "document_sha256": hashlib.sha256(number.encode()).digest()}


def _fingerprint(args: dict[str, Any]) -> bytes:
    return compute_fingerprint(args["seller_tax_id"], args["buyer_tax_id"],
                               args["invoice_number"], args["issue_date"], args["currency"],
                               args["face_amount"])


def _commit(*calls: tuple[Member, str, str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Signs and posts the calls, then waits for each commit; returns the statuses."""
    signed = [(member, member.sign(contract, method, args))
              for member, contract, method, args in calls]
    for member, tx in signed:
        member.client.submit(tx)
    statuses = [member.client.tx(tx.tx_id, wait=True, timeout_s=30) for member, tx in signed]
    assert {s["status"] for s in statuses} == {"committed"}, statuses
    return statuses


def _wait_past_midnight_if_close() -> None:
    """Acceptance and funding must fall on the same UTC day: never start at 23:59:50."""
    now = datetime.now(UTC)
    left = (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
            - now).total_seconds()
    if left < 15:
        time.sleep(left + 1)


@pytest.fixture(scope="module")
def financed(localnet: Localnet) -> Financed:
    client = NodeClient(localnet.url)
    supplier, core, bank = (Member(client, read_key_file(localnet.key(m)))
                            for m in ("SUPPLIER-01", "CORE-01", "BANK-A"))
    tag = time.time_ns()
    cny, eur = _invoice(f"AUD-{tag}-1", "CNY", AMOUNT), _invoice(f"AUD-{tag}-2", "EUR", EUR_AMOUNT)
    fp_cny, fp_eur = _fingerprint(cny), _fingerprint(eur)
    _wait_past_midnight_if_close()
    expiry = str(datetime.now(UTC).date() + timedelta(days=180))
    _commit((supplier, "invoices", "register", cny), (supplier, "invoices", "register", eur))
    offer = bank.sign("factoring", "offer", {
        "currency": "CNY", "advance_bps": 8000, "rate_bps": 600, "basis": 365, "fee": 0,
        "recourse": True, "grace_days": 5, "penalty_rate_bps": 1800, "expiry_date": expiry,
        "supplier": "SUPPLIER-01"})
    discount_offer = core.sign("dynamic_discounting", "publish_offer",
                               {"rate_bps": 1200, "expiry_date": expiry})
    for tx in (offer, discount_offer):
        client.submit(tx)
    _commit((core, "invoices", "confirm", {"fingerprint": fp_cny}),
            (core, "invoices", "confirm", {"fingerprint": fp_eur}))
    for tx in (offer, discount_offer):
        assert client.tx(tx.tx_id, wait=True)["receipt"]["code"] == "OK"
    accept = supplier.sign("factoring", "accept", {"offer_id": f"FO-{offer.tx_id.hex()}",
                                                   "fingerprint": fp_cny})
    client.submit(accept)
    deal = f"FD-{accept.tx_id.hex()}"
    statuses = _commit(
        (supplier, "invoices", "register", cny),  # a second time: DUPLICATE_INVOICE
        (supplier, "dynamic_discounting", "accept",
         {"offer_id": f"DO-{discount_offer.tx_id.hex()}", "fingerprint": fp_eur}))
    assert [s["receipt"]["code"] for s in statuses] == ["DUPLICATE_INVOICE", "OK"]
    assert client.tx(accept.tx_id, wait=True)["receipt"]["code"] == "OK"
    funded = _commit((bank, "factoring", "fund", {"deal_id": deal, "payment_ref": f"F-{tag}"}))
    _commit((core, "factoring", "pay", {"deal_id": deal, "amount": AMOUNT,
                                        "payment_ref": f"P-{tag}"}))
    _commit((bank, "factoring", "acknowledge_payment", {"deal_id": deal,
                                                        "payment_ref": f"P-{tag}"}))
    receipt = Receipt.decode(bytes.fromhex(funded[0]["receipt"]["raw"]))
    event = next(e for e in receipt.events if e.kind == "factoring.funded")
    return Financed(funded[0]["height"], event.attributes["paid_out"])


@pytest.fixture(scope="module")
def archive(localnet: Localnet, financed: Financed,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("audit") / "chain.scfa"
    result = _invoke("export", "--node", localnet.url, "--genesis", str(localnet.genesis),
                     "--output", str(output), "--workers", "1", "--json")
    assert result.exit_code == Exit.OK, result.output
    summary = _json(result)
    assert summary["first_height"] == 1 and summary["last_height"] >= financed.fund_height
    assert output.stat().st_size == summary["bytes"]
    return output


def test_replay_over_http_verifies_every_block_and_matches_the_node(
        localnet: Localnet, financed: Financed) -> None:
    result = _invoke("replay", "--node", localnet.url, "--genesis", str(localnet.genesis),
                     "--workers", "1", "--json")
    assert result.exit_code == Exit.OK, result.output
    report = _json(result)
    assert report["ok"] and report["first_bad"] is None and report["source_fault"] is None
    assert report["height"] >= financed.fund_height
    assert report["state_root"] == _header(localnet.url, report["height"])["state_root"]
    assert [(n["url"], n["status"]) for n in report["nodes"]] == [(localnet.url, "match")]
    for kind in ("factoring.offer", "factoring.accept", "factoring.fund", "factoring.pay",
                 "factoring.acknowledge_payment", "dynamic_discounting.accept"):
        assert report["by_type"][kind]["OK"] >= 1, kind
    assert report["by_type"]["invoices.register"]["DUPLICATE_INVOICE"] >= 1
    assert report["by_code"]["DUPLICATE_INVOICE"] >= 1
    factoring = report["products"]["factoring"]["CNY"]
    assert factoring["funded"] >= 1 and factoring["paid_out"] >= financed.paid_out
    assert factoring["repaid"] >= AMOUNT and factoring["settled"] >= 1
    discounting = report["products"]["dynamic_discounting"]["EUR"]
    assert discounting["accepted"] >= 1 and discounting["accepted_amount"] >= EUR_AMOUNT
    assert report["products"]["invoices"]["EUR"]["settled_face"] >= EUR_AMOUNT


def test_replay_rebuilds_state_in_a_scratch_directory_it_deletes(
        localnet: Localnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_parent))
    seen: list[str] = []
    real_replay = cli_audit.replay

    def replay_and_look(*args: Any, **kwargs: Any) -> Any:
        seen.extend(p.name for p in scratch_parent.iterdir())
        return real_replay(*args, **kwargs)

    monkeypatch.setattr(cli_audit, "replay", replay_and_look)
    result = _invoke("replay", "--node", localnet.url, "--genesis", str(localnet.genesis),
                     "--workers", "1", "--json")
    assert result.exit_code == Exit.OK, result.output
    assert len(seen) == 1 and seen[0].startswith("scf-audit-")  # a LevelDB, during the replay
    assert list(scratch_parent.iterdir()) == []  # and nothing after it


def test_an_exported_archive_replays_to_the_nodes_state_root(localnet: Localnet,
                                                            archive: Path) -> None:
    result = _invoke("replay", "--export", str(archive), "--genesis", str(localnet.genesis),
                     "--json")
    assert result.exit_code == Exit.OK, result.output
    report = _json(result)
    assert report["source"]["kind"] == "archive" and report["nodes"] == []
    assert report["state_root"] == _header(localnet.url, report["height"])["state_root"]
    assert report["by_type"]["factoring.fund"]["OK"] >= 1


def _records(data: bytes) -> list[tuple[int, int]]:
    """(offset, payload length) of each record of an archive."""
    found, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        found.append((at, length))
        at += 4 + length
    return found


def test_a_flipped_byte_in_a_block_record_names_the_first_bad_height(
        localnet: Localnet, financed: Financed, archive: Path, tmp_path: Path) -> None:
    data = bytearray(archive.read_bytes())
    offset, length = _records(bytes(data))[financed.fund_height]  # record h holds block h
    record = codec.decode(bytes(data[offset + 4:offset + 4 + length]))
    assert record[0] == financed.fund_height
    block_at = bytes(data).index(record[1], offset)
    data[block_at + len(record[1]) // 2] ^= 0x01  # inside the block's transactions
    damaged = tmp_path / "damaged.scfa"
    damaged.write_bytes(bytes(data))
    result = _invoke("replay", "--export", str(damaged), "--genesis", str(localnet.genesis))
    # The block record still frames (its length and the outer msgpack are intact): the
    # import's verification of block h refuses it, so the chain is bad from height h.
    assert result.exit_code == Exit.FAILED, result.output
    assert f"first bad height {financed.fund_height}: " in result.stdout
    assert f"replayed {financed.fund_height - 1} blocks" in result.stdout


def test_damage_to_the_trailer_is_an_unreadable_archive(localnet: Localnet, archive: Path,
                                                        tmp_path: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[-3] ^= 0x01  # inside the trailer's digest: every block verifies, the file does not
    damaged = tmp_path / "trailer.scfa"
    damaged.write_bytes(bytes(data))
    result = _invoke("replay", "--export", str(damaged), "--genesis", str(localnet.genesis),
                     "--json")
    assert result.exit_code == Exit.REFUSED, result.output
    assert _json(result)["code"] == "ARCHIVE_CORRUPTED"


def test_home_of_a_running_node_is_locked(localnet: Localnet) -> None:
    result = _invoke("replay", "--home", str(localnet.node.home), "--json")
    assert result.exit_code == Exit.REFUSED, result.output
    answer = _json(result)
    assert answer["code"] == "STORE_LOCKED" and "STOPPED" in answer["message"]


@pytest.mark.parametrize("args, code", [
    (["replay", "--genesis", "{genesis}"], Exit.USAGE),                      # no source
    (["replay", "--node", "{url}", "--export", "x.scfa"], Exit.USAGE),       # two sources
    (["replay", "--node", "{url}"], Exit.USAGE),                             # no genesis
    (["replay", "--export", "x.scfa"], Exit.USAGE),                          # no genesis
    (["replay", "--node", "http://127.0.0.1:9", "--genesis", "{genesis}"],
     Exit.NODE_UNREACHABLE),
    (["export", "--node", "{url}", "--output", "{genesis}", "--genesis", "{genesis}"],
     Exit.REFUSED),                                                          # output exists
])
def test_refusals(localnet: Localnet, args: list[str], code: Exit) -> None:
    filled = [a.format(url=localnet.url, genesis=localnet.genesis) for a in args]
    result = _invoke(*filled)
    assert result.exit_code == code, result.output
    if code is Exit.USAGE and "--node" in filled and "--genesis" not in filled \
            and "--export" not in filled:
        assert "genesis they trust" in result.output


class _LyingNode(BaseHTTPRequestHandler):
    """Answers as `upstream` does, except that every block header it shows carries
    another state root, the raw entry of height `forged_receipt_at` another
    receipt code (its first receipt), and that of `missing_at` is not found."""

    upstream = ""
    forged_receipt_at = 0
    missing_at = 0

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        with urllib.request.urlopen(self.upstream + self.path, timeout=10) as upstream:
            body, content_type = upstream.read(), upstream.headers["Content-Type"]
        status = 200
        if self.path == f"/v1/blocks/{self.missing_at}/raw":
            status, content_type = 404, "application/json"
            body = json.dumps({"code": "BLOCK_NOT_FOUND", "message": "lost it"}).encode()
        elif self.path == f"/v1/blocks/{self.forged_receipt_at}/raw":
            block, commit, receipts = codec.decode(body)
            first = Receipt.decode(receipts[0])
            receipts[0] = dataclasses.replace(first, code="FORBIDDEN").encode()
            body = codec.encode([block, commit, receipts])
        elif self.path.startswith("/v1/blocks/") and not self.path.endswith("/raw"):
            answer = json.loads(body)
            header = BlockHeader.decode(bytes.fromhex(answer["header"]["raw"]))
            forged = dataclasses.replace(header, state_root=bytes(32))
            answer["header"]["raw"] = forged.encode().hex()
            body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def _lying_node(upstream: str, forged_receipt_at: int = 0, missing_at: int = 0
                ) -> Iterator[str]:
    handler = type("Liar", (_LyingNode,), {"upstream": upstream, "missing_at": missing_at,
                                           "forged_receipt_at": forged_receipt_at})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_node_with_another_state_root_disagrees(localnet: Localnet) -> None:
    with _lying_node(localnet.url) as liar:
        result = _invoke("replay", "--node", localnet.url, "--genesis", str(localnet.genesis),
                         "--compare-node", liar, "--workers", "1", "--json")
    assert result.exit_code == Exit.NODES_DISAGREE, result.output
    nodes = {n["url"]: n["status"] for n in _json(result)["nodes"]}
    assert nodes == {localnet.url: "match", liar: "differs"}


def test_a_forged_receipt_is_the_first_bad_height(localnet: Localnet,
                                                  financed: Financed) -> None:
    height = financed.fund_height
    with _lying_node(localnet.url, forged_receipt_at=height) as liar:
        result = _invoke("replay", "--node", liar, "--genesis", str(localnet.genesis),
                         "--workers", "1", "--json")
        text = _invoke("replay", "--node", liar, "--genesis", str(localnet.genesis),
                       "--workers", "1")
    assert result.exit_code == Exit.FAILED, result.output
    report = _json(result)
    assert report["first_bad"]["height"] == height
    assert report["first_bad"]["field"] == "receipts"
    assert report["nodes"] == []  # nothing is compared after a bad block
    # the report covers exactly the blocks before it
    assert (report["height"], report["blocks"]) == (height - 1, height - 1)
    assert report["state_root"] == _header(localnet.url, height - 1)["state_root"]
    assert text.exit_code == Exit.FAILED
    assert f"first bad height {height}: receipts: " in text.stdout


def test_a_block_the_node_cannot_serve_ends_the_replay_after_verifying_the_rest(
        localnet: Localnet, financed: Financed) -> None:
    height = financed.fund_height
    with _lying_node(localnet.url, missing_at=height) as liar:
        result = _invoke("replay", "--node", liar, "--genesis", str(localnet.genesis),
                         "--workers", "1", "--json")
    assert result.exit_code == Exit.REFUSED, result.output
    report = _json(result)
    assert report["first_bad"] is None
    assert report["source_fault"] == {"height": height, "kind": "refused",
                                      "code": "BLOCK_NOT_FOUND", "message": "lost it"}
    assert (report["height"], report["blocks"]) == (height - 1, height - 1)
    assert report["state_root"] == _header(localnet.url, height - 1)["state_root"]


def test_a_stopped_node_replays_from_its_home(localnet: Localnet, tmp_path: Path) -> None:
    directory = tmp_path / "net"
    with running_localnet(directory, validators=1) as nodes:
        node = nodes[0]
        supplier = Member(NodeClient(node.url), read_key_file(directory / "keys" /
                                                               "SUPPLIER-01.json"))
        _commit((supplier, "invoices", "register", _invoice("HOME-1", "CNY", 5_000_000)))
        # the shared localnet's replay, compared with a node of another chain
        other = _invoke("replay", "--node", localnet.url, "--genesis", str(localnet.genesis),
                        "--compare-node", node.url, "--workers", "1", "--json")
        assert other.exit_code == Exit.NODES_DISAGREE, other.output
        assert _json(other)["nodes"][1]["status"] == "other_chain"
        # the other chain's genesis against the shared node: refused before any block
        wrong = _invoke("replay", "--node", localnet.url, "--genesis",
                        str(directory / "genesis.json"), "--json")
        assert wrong.exit_code == Exit.REFUSED and _json(wrong)["code"] == "CHAIN_MISMATCH"
    result = _invoke("replay", "--home", str(node.home), "--workers", "1", "--json")
    assert result.exit_code == Exit.OK, result.output
    report = _json(result)
    assert report["by_type"]["invoices.register"] == {"OK": 1}
    assert report["products"]["invoices"]["CNY"]["registered_face"] == 5_000_000
    output = tmp_path / "home.scfa"
    exported = _invoke("export", "--home", str(node.home), "--output", str(output), "--json")
    assert exported.exit_code == Exit.OK, exported.output
    assert _json(exported)["last_height"] == report["height"]
    again = _invoke("replay", "--export", str(output), "--genesis",
                    str(directory / "genesis.json"), "--json")
    assert again.exit_code == Exit.OK, again.output
    assert (_json(again)["height"], _json(again)["state_root"]) == (report["height"],
                                                                   report["state_root"])


def test_scf_audit_replay_in_a_process_with_a_worker_pool(localnet: Localnet,
                                                          financed: Financed) -> None:
    done = run_scf("audit", "replay", "--node", localnet.url, "--genesis", str(localnet.genesis),
                   "--workers", "2")
    assert done.returncode == Exit.OK, done.stdout + done.stderr
    assert "OK: every block verified" in done.stdout
    assert "2 worker(s)" in done.stdout
