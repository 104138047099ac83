"""`scf invoice verify` and `scf proof check` against the real localnet, honest and lied to.

The module's fixture registers three invoices through the node with the
localnet's member keys: FREE (confirmed), FINANCED (confirmed, then factored
by BANK-A: offer, accept, fund) and UNCONFIRMED (registered only). Most runs
go through click's runner; one runs `scf` as a subprocess. Liars are
tests/cli/lying_node.py proxies in front of the same node. Equivocating
validators (exit 7) cannot be staged on a 1-validator localnet: that case
uses two in-memory chains of tests/unit/test_proof_bundle.py.
"""

from __future__ import annotations

import datetime
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.exits import Exit
from cli.verify import proof, settle, verify
from contracts.fingerprint import compute_fingerprint
from ledger import codec
from genesis.document import load_genesis
from ledger.proof_bundle import InvoiceVerifier, ProofBundle
from ledger.types import BlockHeader, SignedTransaction
from node.client import Member, NodeClient
from node.keyfile import read_key_file
from ledger.store.chain import ChainStore
from ledger.store.memory import MemoryStore
from node.verify_invoice import NodeAnswerSource, verify_invoice
from tests.cli.conftest import Localnet, run_scf
from tests.cli.lying_node import LyingNode
from tests.unit.test_proof_bundle import GENESIS, ChainAnswerSource, build_chain, commit_block

DAY_MS = 86_400_000
UNKNOWN_FP = "ab" * 32


@dataclass(frozen=True)
class Invoices:
    free: str
    financed: str
    unconfirmed: str
    deal_id: str
    free_args: dict[str, Any]


def _date(time_ms: int, days: int = 0) -> str:
    moment = datetime.datetime.fromtimestamp(time_ms // 1000 + days * 86_400, datetime.UTC)
    return moment.strftime("%Y-%m-%d")


def _commit_all(client: NodeClient, signed: list[SignedTransaction], *,
                allowed: frozenset[str] = frozenset({"OK"})) -> list[str]:
    """Posts, waits for every commit; returns the receipt codes (each must be allowed)."""
    for tx in signed:
        client.submit(tx)
    codes = []
    for tx in signed:
        status = client.tx(tx.tx_id, wait=True, timeout_s=30)
        assert status["status"] == "committed", status
        assert status["receipt"]["code"] in allowed, status["receipt"]
        codes.append(str(status["receipt"]["code"]))
    return codes


@pytest.fixture(scope="module")
def invoices(localnet: Localnet) -> Invoices:
    client = NodeClient(localnet.url)
    chain_id = client.chain_id()

    def member(member_id: str) -> Member:
        return Member(client, read_key_file(localnet.key(member_id)), chain_id=chain_id)

    supplier, buyer, bank = member("SUPPLIER-01"), member("CORE-01"), member("BANK-A")
    now_ms = client.status()["time_ms"]
    run = secrets.token_hex(3).upper()
    args: list[dict[str, Any]] = [
        {"invoice_number": f"VER-{run}-{name}", "seller_tax_id": "91440300SUP0001",
         "buyer_tax_id": "91110000CORE001", "buyer": "CORE-01", "issue_date": _date(now_ms),
         "due_date": _date(now_ms, 90), "currency": "CNY", "face_amount": 100_000_000,
         "document_sha256": secrets.token_bytes(32)}
        for name in ("FREE", "FIN", "UNCONF")]
    fps = [compute_fingerprint(a["seller_tax_id"], a["buyer_tax_id"], a["invoice_number"],
                               a["issue_date"], a["currency"], a["face_amount"]) for a in args]
    _commit_all(client, [supplier.sign("invoices", "register", a) for a in args])
    offer = bank.sign("factoring", "offer", {
        "currency": "CNY", "advance_bps": 8000, "rate_bps": 600, "basis": 365, "fee": 0,
        "recourse": True, "grace_days": 5, "penalty_rate_bps": 1800,
        "expiry_date": _date(now_ms, 30), "supplier": "SUPPLIER-01"})
    _commit_all(client, [buyer.sign("invoices", "confirm", {"fingerprint": fp})
                         for fp in fps[:2]] + [offer])
    for _ in range(2):  # an acceptance holds for its UTC day: near midnight, accept again
        accept = supplier.sign("factoring", "accept", {"offer_id": "FO-" + offer.tx_id.hex(),
                                                       "fingerprint": fps[1]})
        _commit_all(client, [accept])
        deal_id = "FD-" + accept.tx_id.hex()
        fund = bank.sign("factoring", "fund", {"deal_id": deal_id, "payment_ref": f"TT-{run}"})
        if _commit_all(client, [fund], allowed=frozenset({"OK", "ACCEPTANCE_LAPSED"})) == ["OK"]:
            break
    else:
        raise AssertionError("the deal could not be funded on its acceptance day")
    return Invoices(fps[0].hex(), fps[1].hex(), fps[2].hex(), deal_id, args[0])


def scf_verify(localnet: Localnet, fingerprint: str, *nodes: str, extra: tuple[str, ...] = ()
               ) -> Result:
    node_args = [arg for url in (nodes or (localnet.url,)) for arg in ("--node", url)]
    return CliRunner().invoke(verify, ["--fingerprint", fingerprint, "--genesis",
                                       str(localnet.genesis), *node_args, *extra])


def scf_check(localnet: Localnet, bundle: Path, *extra: str) -> Result:
    return CliRunner().invoke(proof, ["check", str(bundle), "--genesis", str(localnet.genesis),
                                      *extra])


def last_line(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


# -- verdicts from an honest node ----------------------------------------------------


def test_a_confirmed_invoice_without_lien_is_free_to_finance(localnet: Localnet,
                                                             invoices: Invoices) -> None:
    result = scf_verify(localnet, invoices.free)
    assert result.exit_code == Exit.OK, result.output
    assert last_line(result) == "verdict      FREE TO FINANCE"
    assert "no lien (proved absent)" in result.stdout
    assert "certified    by 1 of 1 validators (power 1/1)" in result.stdout
    assert "1000000.00 CNY" in result.stdout
    assert "SUPPLIER-01  register -> registered" in result.stdout
    assert "CORE-01  confirm -> confirmed" in result.stdout


def test_the_invoice_fields_give_the_same_fingerprint(localnet: Localnet,
                                                      invoices: Invoices) -> None:
    args = invoices.free_args
    result = CliRunner().invoke(verify, [
        "--seller-tax-id", args["seller_tax_id"], "--buyer-tax-id", args["buyer_tax_id"],
        "--number", args["invoice_number"].lower(), "--issue-date", args["issue_date"],
        "--currency", args["currency"], "--amount", str(args["face_amount"]),
        "--genesis", str(localnet.genesis), "--node", localnet.url, "--json"])
    assert result.exit_code == Exit.OK, result.output
    answer = json.loads(result.stdout)
    assert answer["fingerprint"] == invoices.free
    assert answer["verdict"] == "FREE_TO_FINANCE" and answer["lien"] is None
    assert answer["nodes"] == [{"url": localnet.url, "outcome": "verified", "code": None,
                                "message": "", "height": answer["header"]["height"]}]


def test_a_factored_invoice_is_already_financed(localnet: Localnet, invoices: Invoices) -> None:
    result = scf_verify(localnet, invoices.financed)
    assert result.exit_code == Exit.ALREADY_FINANCED, result.output
    assert last_line(result) == f"verdict      ALREADY FINANCED by BANK-A (deal {invoices.deal_id})"
    assert "BANK-A  factoring.fund -> assigned" in result.stdout


def test_an_unconfirmed_invoice_is_not_confirmed(localnet: Localnet, invoices: Invoices) -> None:
    result = scf_verify(localnet, invoices.unconfirmed)
    assert result.exit_code == Exit.NOT_CONFIRMED, result.output
    assert last_line(result) == "verdict      NOT CONFIRMED (status registered)"


def test_an_unknown_fingerprint_is_proved_absent(localnet: Localnet) -> None:
    result = scf_verify(localnet, UNKNOWN_FP, extra=("--json",))
    assert result.exit_code == Exit.UNKNOWN_INVOICE, result.output
    answer = json.loads(result.stdout)
    assert answer["verdict"] == "UNKNOWN" and answer["invoice"] is None
    assert "proved absent" in answer["verdict_text"]


def test_bad_input_is_a_usage_error(localnet: Localnet) -> None:
    assert scf_verify(localnet, "12ab").exit_code == Exit.USAGE
    result = CliRunner().invoke(verify, ["--number", "X", "--genesis", str(localnet.genesis)])
    assert result.exit_code == Exit.USAGE and "--seller-tax-id" in result.output


def test_no_node_answering_exits_5(localnet: Localnet) -> None:
    result = scf_verify(localnet, UNKNOWN_FP, "http://127.0.0.1:9")
    assert result.exit_code == Exit.NODE_UNREACHABLE, result.output
    assert "NODE_UNREACHABLE" in result.stderr


def test_the_node_source_serves_headers_and_validator_set_proofs(localnet: Localnet) -> None:
    """What following a validator-set change asks (a 1-validator localnet never changes
    its set, so verify itself does not get there)."""
    source = NodeAnswerSource(NodeClient(localnet.url))
    assert BlockHeader.decode(source.header_at(1)).height == 1
    genesis = load_genesis(localnet.genesis)
    verifier = InvoiceVerifier(genesis)
    assert verifier.learn(source.validator_change_at(1)) == genesis.validators
    assert verifier.changes == ()             # nothing new learned: nothing to bundle


# -- offline bundles -----------------------------------------------------------------


def test_a_bundle_checks_offline_and_a_tampered_copy_does_not(
        localnet: Localnet, invoices: Invoices, tmp_path: Path) -> None:
    bundle = tmp_path / "financed.scfproof"
    result = scf_verify(localnet, invoices.financed, extra=("--bundle", str(bundle)))
    assert result.exit_code == Exit.ALREADY_FINANCED, result.output
    # offline: no --node exists for `proof check`, and a dead $SCF_NODE changes nothing
    checked = CliRunner(env={"SCF_NODE": "http://127.0.0.1:9"}).invoke(
        proof, ["check", str(bundle), "--genesis", str(localnet.genesis)])
    assert checked.exit_code == Exit.ALREADY_FINANCED, checked.output
    assert last_line(checked) == last_line(result)
    assert "freshness not checked" in checked.stdout
    # a byte changed: the checksum says so
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    corrupted = tmp_path / "corrupted.scfproof"
    corrupted.write_bytes(bytes(data))
    refused = scf_check(localnet, corrupted)
    assert refused.exit_code == Exit.NODE_LIED
    assert refused.stderr.startswith("error: ")
    # a careful forger who fixes the checksum: the proofs say no
    forged = tmp_path / "forged.scfproof"
    original = ProofBundle.decode(bundle.read_bytes())
    lien = original.answer.lien
    assert lien is not None
    forged.write_bytes(ProofBundle(
        original.genesis_hash, original.fingerprint, original.changes,
        type(original.answer)(original.answer.certified, original.answer.invoice,
                              type(lien)(None, lien.proof), original.answer.provenance_count,
                              original.answer.provenance),
        original.verdict, original.checked_at_ms, original.nodes).encode())
    refused = scf_check(localnet, forged, "--json")
    assert refused.exit_code == Exit.NODE_LIED
    assert json.loads(refused.stdout)["code"] == "STATE_PROOF_INVALID"


def test_a_bundle_under_another_genesis_is_refused(localnet: Localnet, tmp_path: Path) -> None:
    bundle = tmp_path / "unknown.scfproof"
    assert scf_verify(localnet, UNKNOWN_FP, extra=("--bundle", str(bundle))).exit_code == \
        Exit.UNKNOWN_INVOICE
    assert scf_check(localnet, bundle).exit_code == Exit.UNKNOWN_INVOICE
    other = Path(__file__).resolve().parents[2] / "genesis" / "examples" / "consortium.json"
    refused = CliRunner().invoke(proof, ["check", str(bundle), "--genesis", str(other)])
    assert refused.exit_code == Exit.NODE_LIED and "CHAIN_MISMATCH" in refused.stderr
    document = codec.decode(bundle.read_bytes())
    assert isinstance(document, dict) and document["format"] == "scf-proof-bundle/1"


# -- lying nodes ---------------------------------------------------------------------


def _stale_max_age(localnet: Localnet) -> int:
    """A --max-age (s) that block 1 exceeds twice over while the head (a block a
    second) stays well within it: at least 4 s."""
    client = NodeClient(localnet.url)
    first = int(client.block(1)["header"]["time_ms"])
    deadline = time.monotonic() + 10
    while time.time_ns() // 1_000_000 - first < 8_000 and time.monotonic() < deadline:
        time.sleep(0.25)
    return max(4, (time.time_ns() // 1_000_000 - first) // 2000)


LIES = {  # mode: (invoice, the code the report must name)
    "wrong_value": ("free", "STATE_PROOF_INVALID"),
    "wrong_readable": ("free", "ANSWER_MISMATCH"),
    "stale": ("free", "STALE_HEADER"),
    "forged_signature": ("free", "UNTRUSTED_HEADER"),
    "too_few_signatures": ("unconfirmed", "UNTRUSTED_HEADER"),
    "other_key": ("free", "STATE_PROOF_INVALID"),
    "hide_lien": ("financed", "STATE_PROOF_INVALID"),
}
HONEST = {"free": (Exit.OK, "FREE TO FINANCE"),
          "financed": (Exit.ALREADY_FINANCED, "ALREADY FINANCED by BANK-A"),
          "unconfirmed": (Exit.NOT_CONFIRMED, "NOT CONFIRMED (status registered)")}


def _liar(localnet: Localnet, invoices: Invoices, mode: str) -> LyingNode:
    return LyingNode(localnet.url, mode, other_fingerprint=bytes.fromhex(invoices.unconfirmed))


def _max_age(localnet: Localnet, mode: str) -> tuple[str, ...]:
    return ("--max-age", str(_stale_max_age(localnet))) if mode == "stale" else ()


@pytest.mark.parametrize("mode", list(LIES))
def test_each_lie_is_caught_and_named(localnet: Localnet, invoices: Invoices, mode: str) -> None:
    which, code = LIES[mode]
    with _liar(localnet, invoices, mode) as liar:
        result = scf_verify(localnet, getattr(invoices, which), liar.url,
                            extra=_max_age(localnet, mode))
    assert result.exit_code == Exit.NODE_LIED, result.output
    assert f"error: NODE_LIED: node {liar.url} lied or is broken: {code}:" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("mode", list(LIES))
def test_one_liar_among_honest_nodes_is_reported_by_url(localnet: Localnet,
                                                        invoices: Invoices, mode: str) -> None:
    which, code = LIES[mode]
    honest_exit, honest_verdict = HONEST[which]
    fingerprint = getattr(invoices, which)
    max_age = _max_age(localnet, mode)
    with _liar(localnet, invoices, mode) as liar:
        strict = scf_verify(localnet, fingerprint, localnet.url, liar.url,
                            extra=("--json", *max_age))
        tolerant = scf_verify(localnet, fingerprint, liar.url, localnet.url,
                              extra=("--tolerate-liars", *max_age))
    assert strict.exit_code == Exit.NODE_LIED, strict.output
    answer = json.loads(strict.stdout)
    assert answer["code"] == "NODE_LIED" and liar.url in answer["message"]
    reports = {node["url"]: (node["outcome"], node["code"]) for node in answer["nodes"]}
    assert reports == {localnet.url: ("verified", None), liar.url: ("lied", code)}
    # tolerated: the honest answer wins, and the liar is still named
    assert tolerant.exit_code == honest_exit, tolerant.output
    assert f"warning: node {liar.url} failed verification" in tolerant.stderr
    assert honest_verdict in last_line(tolerant)


def test_an_honest_proxy_changes_nothing(localnet: Localnet, invoices: Invoices) -> None:
    with LyingNode(localnet.url, "honest") as proxy:
        result = scf_verify(localnet, invoices.financed, proxy.url, localnet.url)
    assert result.exit_code == Exit.ALREADY_FINANCED, result.output


def test_two_certified_blocks_at_one_height_exit_7(capsys: pytest.CaptureFixture[str]) -> None:
    """Equivocating validators cannot be staged on the localnet: two in-memory chains of
    one genesis, each with its own certified block 1, stand for two nodes."""
    fork = ChainStore(MemoryStore(), GENESIS)
    commit_block(fork, [], round_=1)
    verification = verify_invoice(
        GENESIS, bytes(32), [ChainAnswerSource(build_chain(), "http://node-a", height=1),
                             ChainAnswerSource(fork, "http://node-b", height=1)],
        max_age_ms=60_000, clock=lambda: fork.block(1).header.time_ms)
    with pytest.raises(SystemExit) as exited:
        settle(verification, tolerate_liars=False, as_json=False)
    assert exited.value.code == Exit.NODES_DISAGREE
    error = capsys.readouterr().err
    assert error.startswith("error: NODES_DISAGREE: http://node-a and http://node-b")


# -- the installed command -----------------------------------------------------------


def _wired() -> bool:
    from cli.main import cli

    group = cli.commands.get("invoice")
    return "proof" in cli.commands and group is not None and "verify" in getattr(
        group, "commands", {})


@pytest.mark.skipif(not _wired(), reason="cli/main.py does not register verify / proof yet")
def test_scf_runs_both_commands_as_a_process(localnet: Localnet, invoices: Invoices,
                                             tmp_path: Path) -> None:
    bundle = tmp_path / "free.scfproof"
    verified = run_scf("invoice", "verify", "--fingerprint", invoices.free, "--genesis",
                       str(localnet.genesis), "--node", localnet.url, "--bundle", str(bundle))
    assert verified.returncode == Exit.OK, verified.stderr
    checked = run_scf("proof", "check", str(bundle), "--genesis", str(localnet.genesis),
                      "--json")
    assert checked.returncode == Exit.OK, checked.stderr
    assert json.loads(checked.stdout)["verdict"] == "FREE_TO_FINANCE"
