"""The financing story `make demo` tells, step by step, over the node's HTTP API.

Each member signs with its own key (the localnet's `keys/`) and sends to a
node: validators' members to their own, SUPPLIER-01 through CORE-01's. Every
step waits for the commit; amounts printed come from the receipts' events.

A bank trusts no node: `check_invoice` is `scf invoice verify`'s check
(node/verify_invoice.py): the header's certificate against the validators of
the genesis file the bank holds, then every state proof (a lien's absence
included) against that header's state root, for keys it computes itself. The auditor replays the chain
from genesis (ledger/replay.py) and compares its state root with every node's.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from contracts.calendar import block_date, format_date
from contracts.fingerprint import compute_fingerprint
from contracts.registry import default_registry
from genesis.document import Genesis, load_genesis
from ledger.einvoice import parse_einvoice, registration_args
from ledger.money import format_amount
from ledger.replay import replay
from ledger.typed_json import from_json
from ledger.proof_bundle import InvoiceFacts, Verdict
from node.client import ApiError, Member, NodeClient
from node.localnet import LocalNode, member_key
from node.verify_invoice import NodeAnswerSource, verify_invoice

#: A real Peppol BIS Billing 3.0 sample already in the repository (EN 16931 test files).
EINVOICE_FILE = (Path(__file__).resolve().parent.parent / "tests" / "vectors" / "einvoices"
                 / "en16931-ubl" / "BIS_Billing_30-Valutor_i_faktura.xml")
SUPPLIER_TAX_ID, BUYER_TAX_ID = "91440300SUP0001", "91110000CORE001"
FINGERPRINT_FIELDS = ("seller_tax_id", "buyer_tax_id", "invoice_number", "issue_date",
                      "currency", "face_amount")     # contracts/fingerprint.py's order
#: The codes by which the contracts may refuse a second financing of an invoice.
DOUBLE_FINANCING_REFUSALS = frozenset({"INVALID_STATE_TRANSITION", "ASSET_ENCUMBERED",
                                       "DEAL_ALREADY_OPEN", "INVOICE_NOT_FINANCEABLE"})
COMMIT_TIMEOUT_S = 30
MAX_HEADER_AGE_MS = 60_000
CURRENCY = "CNY"  # of every financing in the story
FACTORING_TERMS: dict[str, Any] = {
    "currency": CURRENCY, "advance_bps": 8000, "rate_bps": 600, "basis": 365, "fee": 0,
    "recourse": True, "grace_days": 5, "penalty_rate_bps": 1800}
EARLY_PAYMENT_RATE_BPS = 1200
PLEDGE_UNITS, PLEDGE_UNIT_VALUE = 1_000, 50_000    # 1,000 units at CNY 500.00
PLEDGE_TERMS: dict[str, Any] = {
    "ltv_bps": 6000, "rate_bps": 550, "basis": 365, "maintenance_bps": 8000, "cure_days": 5,
    "grace_days": 5, "penalty_rate_bps": 1800}
FACTORED, DISCOUNTED = "INV-2026-1001", "INV-2026-1002"


class DemoFailure(Exception):
    """Something the demo relies on did not happen; the message says what."""


class Narrator(Protocol):
    def step(self, title: str) -> None: ...
    def say(self, text: str) -> None: ...
    def waiting(self, what: str) -> AbstractContextManager[None]: ...


def money(amount: int, currency: str) -> str:
    """`CNY 1,000,000.00`: the currency's minor digits, thousands separated."""
    whole, _, fraction = format_amount(amount, currency).partition(".")
    return f"{currency} {int(whole):,}" + (f".{fraction}" if fraction else "")


def percent(bps: int) -> str:
    return f"{bps // 100}.{bps % 100:02d} %"


# -- the bank's check: trust the validators' signatures, not the node -----------------

def check_invoice(client: NodeClient, fingerprint: bytes, genesis: Genesis) -> InvoiceFacts:
    """What `scf invoice verify` proves (node/verify_invoice.py), asking one node."""
    verification = verify_invoice(genesis, fingerprint, [NodeAnswerSource(client)],
                                  max_age_ms=MAX_HEADER_AGE_MS)
    report = verification.reports[0]
    if verification.facts is None or verification.liars:
        raise DemoFailure(f"the bank's check of {client.url} failed: {report.code}: "
                          f"{report.message}")
    return verification.facts


@dataclass
class Book:
    """What the summary shows: each member's deeds, the payments acknowledged on the
    ledger (all in CURRENCY), and facts about the chain."""

    deeds: dict[str, list[str]] = field(default_factory=dict)
    payments: list[tuple[str, str, int]] = field(default_factory=list)  # payer, payee, amount
    financed_face: int = 0        # face of the invoices SUPPLIER-01 was paid early for
    early_discount: int = 0       # what CORE-01 kept for paying early
    pledge_loan: int = 0          # lent to SUPPLIER-01 against its goods (repaid the same day)
    last_height: int = 0          # the block of the latest transaction
    chain_height: int = 0
    transactions: int = 0
    chain_seconds: float = 0.0    # from genesis to the last block replayed

    def did(self, member: str, deed: str) -> None:
        self.deeds.setdefault(member, []).append(deed)

    def flows(self, member: str) -> tuple[int, int]:
        """(received, paid) by `member`."""
        return (sum(amount for _, payee, amount in self.payments if payee == member),
                sum(amount for payer, _, amount in self.payments if payer == member))


# -- the story ---------------------------------------------------------------------------

class Scenario:
    def __init__(self, home: Path, nodes: list[LocalNode], out: Narrator) -> None:
        self.out = out
        self.genesis = load_genesis(home / "genesis.json")
        self.clients = {node.member_id: NodeClient(node.url) for node in nodes}
        self.members = {m.member_id: Member(self.clients.get(m.member_id, self.clients["CORE-01"]),
                                            member_key(home, m.member_id),
                                            chain_id=self.genesis.chain_id)
                        for m in self.genesis.members}
        self.book = Book()
        self.invoices: dict[str, bytes] = {}
        self.deal_id = ""
        self.today = block_date(time.time_ns() // 1_000_000)

    def run(self) -> Book:
        for step in (self.register, self.confirm, self.bank_checks, self.factoring,
                     self.double_financing, self.dynamic_discounting, self.pledge,
                     self.repayment, self.audit):
            step()
        return self.book

    def do(self, member: str, contract: str, method: str, args: dict[str, Any],
           *, expect_ok: bool = True) -> tuple[str, dict[str, dict[str, Any]]]:
        """Signs and sends one transaction and waits for its block: (code, the first event
        of each kind). DemoFailure if `expect_ok` and it was refused."""
        with self.out.waiting(f"{member}: {contract}.{method}"):
            try:
                status = self.members[member].call(contract, method, args,
                                                   timeout_s=COMMIT_TIMEOUT_S)
            except ApiError as error:
                if expect_ok:
                    raise DemoFailure(f"{member} {contract}.{method}: {error}") from None
                return error.code, {}
        if status.get("status") != "committed":
            raise DemoFailure(f"{member} {contract}.{method}: not committed: {status}")
        receipt = status["receipt"]
        if expect_ok and receipt["code"] != "OK":
            raise DemoFailure(f"{member} {contract}.{method} refused: {receipt['code']}: "
                              f"{receipt['message']}")
        self.book.last_height = status["height"]
        events: dict[str, dict[str, Any]] = {}
        for event in receipt["events"]:
            attributes = from_json(event["attributes"])
            events.setdefault(event["kind"], attributes)
            if event["kind"].endswith("payment_acknowledged"):
                self.book.payments.append((attributes["payer"], attributes["payee"],
                                           attributes["amount"]))
        return receipt["code"], events

    def caught_up(self, member_id: str) -> NodeClient:
        """The member's node once it has the latest block the demo saw committed."""
        client, height = self.clients[member_id], self.book.last_height
        with self.out.waiting(f"{member_id}'s node to reach block {height}"):
            deadline = time.monotonic() + COMMIT_TIMEOUT_S
            while client.status()["height"] < height:
                if time.monotonic() > deadline:
                    raise DemoFailure(f"{member_id}'s node did not reach block {height}")
                time.sleep(0.05)
        return client

    # -- 2 to 4: invoices, and the bank's check ---------------------------------------------

    def register(self) -> None:
        self.out.step("SUPPLIER-01 registers three invoices owed by CORE-01")
        parsed = parse_einvoice(EINVOICE_FILE.read_bytes())
        real = registration_args(parsed, "CORE-01")  # the seller is the signer, SUPPLIER-01
        self.do("SUPPLIER-01", "invoices", "register", real)
        self.invoices[parsed.invoice_number] = _fingerprint(real)
        self.out.say(f"from a real {parsed.syntax} e-invoice ({EINVOICE_FILE.name}): "
                     f"No. {parsed.invoice_number},")
        self.out.say(f"   {money(parsed.amount_minor, parsed.currency)}, due {parsed.due_date}; "
                     f"seller {parsed.seller_id} = SUPPLIER-01, buyer {parsed.buyer_id} = CORE-01")
        for number, amount, due_in in ((FACTORED, 100_000_000, 90), (DISCOUNTED, 50_000_000, 60)):
            args = {"invoice_number": number, "seller_tax_id": SUPPLIER_TAX_ID,
                    "buyer_tax_id": BUYER_TAX_ID, "buyer": "CORE-01",
                    "issue_date": format_date(self.today - 2),
                    "due_date": format_date(self.today + due_in), "currency": CURRENCY,
                    "face_amount": amount,
                    "document_sha256": hashlib.sha256(f"invoice {number}".encode()).digest()}
            self.do("SUPPLIER-01", "invoices", "register", args)
            self.invoices[number] = _fingerprint(args)
            self.out.say(f"No. {number}: {_cny(amount)}, due {args['due_date']}")
        self.book.did("SUPPLIER-01", "registered 3 invoices")

    def confirm(self) -> None:
        self.out.step("CORE-01, the buyer, confirms all three: it owes them, on those dates")
        for fingerprint in self.invoices.values():
            self.do("CORE-01", "invoices", "confirm", {"fingerprint": fingerprint})
        real = next(iter(self.invoices))
        self.out.say(f"No. {real} (a sample) fell due long ago: kept as a record; financing "
                     f"needs a due date ahead")
        self.book.did("CORE-01", "confirmed 3")

    def bank_checks(self) -> None:
        self.out.step(f"BANK-A checks No. {FACTORED} on CORE-01's node, trusting nothing "
                      f"the node says")
        check = check_invoice(self.caught_up("CORE-01"), self.invoices[FACTORED], self.genesis)
        invoice, total = check.invoice, len(self.genesis.validators.validators)
        if invoice is None:
            raise DemoFailure(f"BANK-A's check: No. {FACTORED} is proved absent")
        proofs = 3 + len(check.provenance)   # invoice, lien, history count, each entry
        self.out.say(f"block {check.height}: header certified by "
                     f"{check.certification.signers} of {total} validators, {proofs} state "
                     f"proofs checked against its root")
        self.out.say(f"invoice {invoice.status}: {money(invoice.amount_due, invoice.currency)} "
                     f"owed by {invoice.buyer} to {invoice.seller}, due {invoice.due_date}")
        history = ", ".join(f"{e.action} by {e.signer}" for e in check.provenance)
        self.out.say(f"history: {history}; lien: {check.lien or 'none (proof of absence)'}")
        if check.verdict != Verdict.FREE_TO_FINANCE:
            raise DemoFailure(f"BANK-A's check: status {invoice.status}, lien {check.lien}")
        self.out.say("=>  FREE TO FINANCE")
        self.book.did("BANK-A", "checked 1")

    # -- 5 and 6: factoring, and the same invoice again ------------------------------------

    def factoring(self) -> None:
        terms = FACTORING_TERMS
        self.out.step(f"Factoring of No. {FACTORED} by BANK-A: {percent(terms['advance_bps'])} "
                      f"advance, {percent(terms['rate_bps'])} a year, with recourse")
        _, events = self.do("BANK-A", "factoring", "offer", self._offer())
        offer_id = events["factoring.offered"]["offer_id"]
        _, events = self.do("SUPPLIER-01", "factoring", "accept",
                            {"offer_id": offer_id, "fingerprint": self.invoices[FACTORED]})
        accepted = events["factoring.accepted"]
        self.deal_id = accepted["deal_id"]
        funding = {"deal_id": self.deal_id, "payment_ref": "BANKA-TT-0001"}
        _, events = self.do("BANK-A", "factoring", "fund", funding)
        funded = events["factoring.funded"]
        self.do("SUPPLIER-01", "factoring", "acknowledge_payment", funding)
        self.out.say(f"BANK-A offers, SUPPLIER-01 accepts {accepted['tenor_days']} days before "
                     f"the due date, BANK-A funds:")
        self.out.say(f"advance {_cny(funded['advance'])} - interest {_cny(funded['discount'])} "
                     f"= {_cny(funded['paid_out'])} paid to SUPPLIER-01")
        self.out.say(f"reserve {_cny(funded['reserve'])}: SUPPLIER-01's once CORE-01 has paid")
        self.out.say(f"invoice assigned to BANK-A (lien placed), CORE-01 told to pay "
                     f"{funded['pay_to']}; funds acknowledged")
        self.book.financed_face += funded["amount"]
        self.book.did("BANK-A", "financed 1")
        self.book.did("SUPPLIER-01", "sold 1")

    def double_financing(self) -> None:
        fingerprint = self.invoices[FACTORED]
        self.out.step(f"SUPPLIER-01 tries to finance No. {FACTORED} again, with BANK-B")
        check = check_invoice(self.caught_up("BANK-B"), fingerprint, self.genesis)
        if check.lien is None or check.invoice is None:
            raise DemoFailure("BANK-B's check does not show BANK-A's lien")
        self.out.say(f"BANK-B's own check (block {check.height}): ENCUMBERED, invoice "
                     f"{check.invoice.status}, lien held by {check.lien.holder}")
        _, events = self.do("BANK-B", "factoring", "offer", self._offer())
        offer_id = events["factoring.offered"]["offer_id"]
        code, _ = self.do("SUPPLIER-01", "factoring", "accept",
                          {"offer_id": offer_id, "fingerprint": fingerprint}, expect_ok=False)
        if code not in DOUBLE_FINANCING_REFUSALS:
            raise DemoFailure(f"the second financing was not refused: {code}")
        self.out.say(f"BANK-B offers anyway, SUPPLIER-01 accepts  =>  REFUSED {code}:")
        self.out.say(f"   the invoice already belongs to {check.lien.holder}; the ledger "
                     f"never lets it be financed twice")
        self.book.did("BANK-B", f"refused: {code}")

    def _offer(self) -> dict[str, Any]:
        return {**FACTORING_TERMS, "expiry_date": format_date(self.today + 30),
                "supplier": "SUPPLIER-01"}

    # -- 7 to 10: dynamic discounting, pledges, repayment, audit ---------------------------

    def dynamic_discounting(self) -> None:
        self.out.step(f"Dynamic discounting of No. {DISCOUNTED}: CORE-01 pays early, for "
                      f"{percent(EARLY_PAYMENT_RATE_BPS)} a year")
        _, events = self.do("CORE-01", "dynamic_discounting", "publish_offer",
                            {"rate_bps": EARLY_PAYMENT_RATE_BPS, "min_days_early": 10,
                             "currency": CURRENCY, "expiry_date": format_date(self.today + 30)})
        offer_id = events["dynamic_discounting.offer_published"]["offer_id"]
        _, events = self.do("SUPPLIER-01", "dynamic_discounting", "accept",
                            {"offer_id": offer_id, "fingerprint": self.invoices[DISCOUNTED]})
        accepted = events["dynamic_discounting.accepted"]
        payment = {"acceptance_id": accepted["acceptance_id"], "payment_ref": "CORE-EP-1"}
        self.do("CORE-01", "dynamic_discounting", "record_payment", payment)
        self.do("SUPPLIER-01", "dynamic_discounting", "acknowledge_payment", payment)
        self.out.say(f"SUPPLIER-01 accepts {accepted['days_early']} days early: discount "
                     f"{_cny(accepted['discount'])}, CORE-01 pays {_cny(accepted['paid'])} now")
        self.out.say("invoice settled; SUPPLIER-01 acknowledges the payment")
        self.book.financed_face += accepted["amount"]
        self.book.early_discount += accepted["discount"]
        self.book.did("CORE-01", "paid 1 early")
        self.book.did("SUPPLIER-01", "discounted 1")

    def pledge(self) -> None:
        units, unit_value, ltv = PLEDGE_UNITS, PLEDGE_UNIT_VALUE, PLEDGE_TERMS["ltv_bps"]
        principal = units * unit_value * ltv // 10_000
        self.out.step(f"Pledge financing: SUPPLIER-01 borrows from BANK-B against goods in "
                      f"WAREHOUSE-01, {percent(ltv)} LTV")
        _, events = self.do("WAREHOUSE-01", "warehouse_receipts", "issue",
                            {"owner": "SUPPLIER-01", "goods": "steel coil", "quantity": units,
                             "unit_value": unit_value, "currency": CURRENCY})
        receipt_id = events["receipt.issued"]["receipt_id"]
        _, events = self.do("SUPPLIER-01", "pledge", "apply",
                            {"receipt_id": receipt_id, "financier": "BANK-B",
                             "principal": principal, "tenor_days": 90, **PLEDGE_TERMS})
        deal = events["pledge.applied"]["deal_id"]
        funding = {"deal_id": deal, "payment_ref": "BANKB-PL-1"}
        self.do("BANK-B", "pledge", "fund", funding)
        self.do("SUPPLIER-01", "pledge", "acknowledge_payment", funding)
        self.out.say(f"WAREHOUSE-01 issues a receipt: {units:,} units of steel coil at "
                     f"{_cny(unit_value)} = {_cny(units * unit_value)}")
        self.out.say(f"SUPPLIER-01 pledges it (BANK-B's lien); BANK-B lends {_cny(principal)}")
        self.out.say(f"   = {units:,} x {_cny(unit_value)} x {percent(ltv)}")
        part = principal // 2
        self._repay_pledge(deal, part, "SUP-PL-1")
        _, events = self.do("SUPPLIER-01", "pledge", "request_release",
                            {"deal_id": deal, "quantity": units * part // principal})
        self.do("BANK-B", "pledge", "approve_release", {"deal_id": deal})
        _, events = self.do("WAREHOUSE-01", "pledge", "confirm_release", {"deal_id": deal})
        released = events["pledge.released"]
        self.out.say(f"SUPPLIER-01 repays {_cny(part)}; BANK-B approves, WAREHOUSE-01 "
                     f"confirms {released['quantity']:,} units left")
        self.out.say(f"   = {units:,} x {_cny(part)} repaid // {_cny(principal)} lent; "
                     f"{released['remaining']:,} stay pledged")
        events = self._repay_pledge(deal, principal - part, "SUP-PL-2")
        repaid = events.get("pledge.repaid")
        if repaid is None or "lien.released" not in events:
            raise DemoFailure(f"the full repayment did not end the pledge: {sorted(events)}")
        self.out.say(f"SUPPLIER-01 repays the other {_cny(principal - part)}")
        self.out.say(f"=>  LOAN REPAID, BANK-B's lien released, {repaid['freed']:,} units free")
        self.book.pledge_loan += principal
        self.book.did("WAREHOUSE-01", f"issued 1 receipt, released {released['quantity']:,} units")
        self.book.did("BANK-B", "lent 1 against goods")
        self.book.did("SUPPLIER-01", "pledged 1 receipt")

    def _repay_pledge(self, deal: str, amount: int, reference: str
                      ) -> dict[str, dict[str, Any]]:
        payment = {"deal_id": deal, "payment_ref": reference}
        self.do("SUPPLIER-01", "pledge", "repay", {**payment, "amount": amount})
        _, events = self.do("BANK-B", "pledge", "acknowledge_payment", payment)
        return events

    def repayment(self) -> None:
        self.out.step(f"CORE-01 pays No. {FACTORED} to BANK-A, in two parts")
        deal, events = self.deal_id, dict[str, dict[str, Any]]()
        for part, reference in ((60_000_000, "CORE-P-1"), (40_000_000, "CORE-P-2")):
            payment = {"deal_id": deal, "payment_ref": reference}
            self.do("CORE-01", "factoring", "pay", {**payment, "amount": part})
            _, events = self.do("BANK-A", "factoring", "acknowledge_payment", payment)
        if "factoring.settled" not in events or "lien.released" not in events:
            raise DemoFailure(f"the full payment did not settle the deal: {sorted(events)}")
        self.out.say(f"{_cny(60_000_000)}, then {_cny(40_000_000)}; BANK-A acknowledges both")
        self.out.say("=>  invoice settled, BANK-A's lien released")
        release = {"deal_id": deal, "payment_ref": "BANKA-REL-1"}
        _, events = self.do("BANK-A", "factoring", "release_reserve", release)
        self.do("SUPPLIER-01", "factoring", "acknowledge_payment", release)
        self.out.say(f"BANK-A releases the reserve, "
                     f"{_cny(events['factoring.payment_recorded']['amount'])}, to SUPPLIER-01, "
                     f"which acknowledges it")
        self.book.did("CORE-01", "paid 1 to BANK-A")
        self.book.did("BANK-A", "collected 1")

    def audit(self) -> None:
        auditor = self.caught_up("AUDITOR-01")
        height = auditor.status()["height"]
        self.out.step(f"AUDITOR-01 replays the chain from genesis: blocks 1-{height}, over "
                      f"HTTP from its node")
        with self.out.waiting(f"AUDITOR-01: replaying {height} blocks"):
            entries = [auditor.raw_entry(h) for h in range(1, height + 1)]
            report = replay(self.genesis, entries, default_registry())
        if not report.ok or report.final_height != height:
            raise DemoFailure(f"the replay failed: {report.mismatch}")
        self.out.say(f"{report.blocks} blocks, {report.transactions} transactions re-executed; "
                     f"every signature, certificate and root checked")
        self.book.last_height = height
        roots = {member_id: self.caught_up(member_id).block(height)["header"]["state_root"]
                 for member_id in self.clients}
        mine = report.final_state_root.hex()
        if any(root != mine for root in roots.values()):
            raise DemoFailure(f"state roots differ at block {height}: replay {mine}, {roots}")
        self.out.say(f"its state root at block {height}, against the headers of "
                     f"{', '.join(roots)}:")
        self.out.say(f"=>  STATE ROOTS EQUAL {mine}")
        last_ms = auditor.block(height)["header"]["time_ms"]
        self.book.chain_height, self.book.transactions = height, report.transactions
        self.book.chain_seconds = (last_ms - self.genesis.genesis_time_ms) / 1000
        self.book.did("AUDITOR-01", f"replayed {height} blocks, roots equal")


def _fingerprint(args: dict[str, Any]) -> bytes:
    return compute_fingerprint(*(args[name] for name in FINGERPRINT_FIELDS))


def _cny(amount: int) -> str:
    return money(amount, CURRENCY)
