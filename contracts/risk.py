"""Risk controls (domain guide §8): credit, concentration and supplier limits,
early warnings, the freeze notice.

Theory of operation (docs/risk-controls.md): the financing products call the
hooks below; the hooks check every limit BEFORE they write, so a breach
rejects the financing with a stable code and changes nothing.

* `on_funded` (factoring fund, pledge fund / open_funded, prepayment fund,
  payables fund_discount): refuses a frozen obligor or supplier
  (MEMBER_FROZEN), then CREDIT_LIMIT_EXCEEDED, CONCENTRATION_LIMIT_EXCEEDED,
  SUPPLIER_CAP_EXCEEDED; then adds the financed amount to the outstanding
  per (financier, obligor, currency), per (financier, currency) and, for
  receivables financing only (factoring, certificate discounting: the
  supplier cap is about financing out of proportion to confirmed trade),
  per (supplier, currency); and keeps the deal's record so that
* `on_closed` (settled, repaid, bought back, delivered into a pledge,
  defaulted) subtracts exactly what was added.
* `on_invoice_confirmed` (invoices confirm): the supplier's confirmed volume
  per day, the pair's amount history (outlier warning) and the bounded list
  of recent trade partners (circular trade warning).
* `on_overdue` (factoring / payables mark_overdue): the `risk.obligor_overdue`
  warning.

Methods: `set_credit_limit` / `remove_credit_limit` (a financier, for
itself); `propose_param` / `approve_param` (operators: a consortium
parameter changes when `operator_quorum` operators approved it).

State (namespace c/risk/; k = <a> 0x00 <b> ...):
    limit/<financier,obligor,currency>   -> int    credit limit
    out/<financier,obligor,currency>     -> int    outstanding
    total/<financier,currency>           -> int    financier's outstanding
    supplier/<supplier,currency>         -> int    supplier's financed outstanding
    deal/<product,deal id>               -> [financier, obligor, supplier, currency, amount]
                                            (supplier "" for inventory loans: no supplier book)
    volume/<supplier,currency>           -> [[day, confirmed amount], ...] last 90 days
    partners/<seller>                    -> [[buyer, last day], ...] at most 16, window 90 days
    pair/<seller,buyer,currency>         -> [amount, ...] the last 8 confirmed amounts
    param/<name>                         -> int
    proposal/<n>                         -> [name, value, proposer, [approvers], executed]
    next_proposal                        -> int
"""

from __future__ import annotations

from typing import Any

from contracts.calendar import block_date
from contracts.engine import Contract, MethodSpec
from contracts.stored_int import decode_int, int_or_zero
from ledger import codec
from ledger.accounts import MEMBER_ID, Role, get_member
from ledger.contract_api import CallContext, contract_prefix
from ledger.errors import Code, LedgerError
from ledger.state import Namespace, StateReader
from ledger.structure import Int, Str
from ledger.system_state import get_params

RISK = "risk"
MAX_AMOUNT = 2**63 - 1
CURRENCY = Str(max_bytes=3, pattern=r"[A-Z]{3}")
WINDOW_DAYS = 90            # trailing confirmed volume and the circular-trade window
MAX_PARTNERS = 16           # recent buyers kept per seller (bounds the cycle search)
PAIR_HISTORY = 8            # confirmed amounts kept per (seller, buyer, currency)
DEFAULTS: dict[str, int] = {
    "concentration_bps": 0,          # 0: no concentration limit
    "concentration_floor": 0,        # minor units; the limit applies above this total
    "supplier_cap_bps": 0,           # 0: no supplier financing cap
    "outlier_factor_bps": 50_000,    # warn above 5 x the pair's average
    "outlier_min_history": 3,        # confirmed invoices of the pair before warning
}
PARAM_NAME = Str(max_bytes=32, pattern="|".join(sorted(DEFAULTS)))


# -- readers -----------------------------------------------------------------------

def key(*parts: str) -> bytes:
    """A local key: parts joined by 0x00 (member ids and currencies hold no 0x00)."""
    return b"\x00".join(part.encode("utf-8") for part in parts)


def read_int(reader: StateReader, local: bytes) -> int:
    data = reader.get(contract_prefix(RISK) + local)
    return int_or_zero(data, "a risk book")


def credit_limit(reader: StateReader, financier: str, obligor: str, currency: str) -> int | None:
    data = reader.get(contract_prefix(RISK) + b"limit/" + key(financier, obligor, currency))
    return None if data is None else decode_int(data, "a credit limit")


def outstanding(reader: StateReader, financier: str, obligor: str, currency: str) -> int:
    return read_int(reader, b"out/" + key(financier, obligor, currency))


def financier_total(reader: StateReader, financier: str, currency: str) -> int:
    return read_int(reader, b"total/" + key(financier, currency))


def supplier_outstanding(reader: StateReader, supplier: str, currency: str) -> int:
    return read_int(reader, b"supplier/" + key(supplier, currency))


def param(reader: StateReader, name: str) -> int:
    data = reader.get(contract_prefix(RISK) + b"param/" + name.encode("utf-8"))
    return DEFAULTS[name] if data is None else decode_int(data, f"risk parameter {name}")


def confirmed_volume(reader: StateReader, supplier: str, currency: str, today: int) -> int:
    """The supplier's confirmed invoice amounts of the last WINDOW_DAYS days (today included)."""
    return sum(amount for day, amount in _buckets(reader, supplier, currency)
               if day > today - WINDOW_DAYS)


def supplier_cap(reader: StateReader, supplier: str, currency: str, today: int) -> int | None:
    """cap_bps x trailing volume / 10000, rounded down (against the supplier); None if off."""
    cap_bps = param(reader, "supplier_cap_bps")
    if cap_bps == 0:
        return None
    return confirmed_volume(reader, supplier, currency, today) * cap_bps // 10_000


# -- hooks for the products ----------------------------------------------------------

def on_funded(ctx: CallContext, product: str, deal_id: str, *, financier: str, obligor: str,
              supplier: str | None, currency: str, amount: int) -> None:
    """Checks every limit for a new financing of `amount`, then books it.

    `supplier` is the member whose receivables are financed (factoring,
    certificate discounting); None for inventory and purchase-order loans
    (pledge, prepayment), which neither count toward nor are held to the
    supplier cap: it compares receivables financing with confirmed trade."""
    parties = [(obligor, "obligor")] + ([(supplier, "supplier")] if supplier is not None else [])
    for member_id, role in parties:
        member = get_member(ctx.system, member_id)
        if member is not None and member.frozen:
            raise LedgerError(Code.MEMBER_FROZEN,
                              f"{role} {member_id} is frozen: it can obtain no financing")
    reader = ctx.scratch
    exposure = outstanding(reader, financier, obligor, currency) + amount
    limit = credit_limit(reader, financier, obligor, currency)
    if limit is not None and exposure > limit:
        raise LedgerError(Code.CREDIT_LIMIT_EXCEEDED,
                          f"{financier} on {obligor} in {currency}: outstanding would be "
                          f"{exposure}, above the credit limit {limit}")
    total = financier_total(reader, financier, currency) + amount
    bps = param(reader, "concentration_bps")
    if bps and total > param(reader, "concentration_floor") and exposure * 10_000 > bps * total:
        raise LedgerError(Code.CONCENTRATION_LIMIT_EXCEEDED,
                          f"{financier} in {currency}: {exposure} of {total} on {obligor} "
                          f"would exceed {bps} bp")
    if supplier is not None:
        _check_supplier_cap(ctx, supplier, currency, amount)
    risk = ctx.namespace(RISK)
    risk.put(b"deal/" + key(product, deal_id),
             codec.encode([financier, obligor, supplier or "", currency, amount]))
    _book(risk, financier, obligor, supplier or "", currency, amount)


def _check_supplier_cap(ctx: CallContext, supplier: str, currency: str, amount: int) -> None:
    reader = ctx.scratch
    financed = supplier_outstanding(reader, supplier, currency) + amount
    cap = supplier_cap(reader, supplier, currency, block_date(ctx.time_ms))
    if cap is not None and financed > cap:
        raise LedgerError(Code.SUPPLIER_CAP_EXCEEDED,
                          f"{supplier} in {currency}: financed outstanding would be {financed}, "
                          f"above its cap {cap} ({param(reader, 'supplier_cap_bps')} bp of "
                          f"{WINDOW_DAYS}-day confirmed volume)")


def on_closed(ctx: CallContext, product: str, deal_id: str) -> None:
    """The deal no longer counts (repaid, settled, defaulted, ...): subtracts what
    `on_funded` added. A deal funded before risk controls existed has no record."""
    risk = ctx.namespace(RISK)
    local = b"deal/" + key(product, deal_id)
    data = risk.get(local)
    if data is None:
        return
    financier, obligor, supplier, currency, amount = codec.decode(data)  # type: ignore[misc]
    risk.delete(local)
    _book(risk, financier, obligor, supplier, currency, -amount)


def on_overdue(ctx: CallContext, product: str, deal_id: str, *, obligor: str, financier: str,
               asset: str = "") -> None:
    """Early warning: a deal on `obligor` is overdue."""
    ctx.emit("risk.obligor_overdue", {
        "product": product, "deal_id": deal_id, "obligor": obligor, "financier": financier,
        "subjects": _subjects("member:" + obligor, "member:" + financier, asset)})


def on_invoice_confirmed(ctx: CallContext, *, seller: str, buyer: str, currency: str,
                         amount: int, fingerprint: bytes) -> None:
    """Counts the confirmed amount in the seller's volume; warns on an outlier amount
    and on a short trade cycle (seller -> buyer -> ... -> seller)."""
    risk = ctx.namespace(RISK)
    today = block_date(ctx.time_ms)
    invoice = "invoice:" + fingerprint.hex()
    _add_volume(risk, seller, currency, today, amount)
    _check_outlier(ctx, risk, seller, buyer, currency, amount, invoice)
    _check_cycle(ctx, risk, seller, buyer, today, invoice)


def freeze_notice(ctx: CallContext, member_id: str, exposed: list[str]) -> None:
    """The notice to the financiers `exposed` to a member just frozen (governance calls
    it with the product exposure lists of contracts/repayment.py)."""
    ctx.emit("risk.member_frozen", {
        "member_id": member_id, "exposed": exposed,
        "subjects": _subjects("member:" + member_id, *("member:" + m for m in exposed))})


# -- methods -----------------------------------------------------------------------

def _set_credit_limit(ctx: CallContext, args: dict[str, Any]) -> None:
    me, obligor, currency, limit = (ctx.sender.member_id, args["obligor"], args["currency"],
                                    args["limit"])
    current = outstanding(ctx.scratch, me, obligor, currency)
    if limit < current:
        raise LedgerError(Code.CREDIT_LIMIT_BELOW_OUTSTANDING,
                          f"{me} on {obligor} in {currency}: outstanding {current} is above "
                          f"{limit}; lower the limit after repayments")
    ctx.state.put(b"limit/" + key(me, obligor, currency), codec.encode(limit))
    ctx.emit("risk.credit_limit_set", {"financier": me, "obligor": obligor,
                                       "currency": currency, "limit": limit,
                                       "subjects": ["member:" + me, "member:" + obligor]})


def _remove_credit_limit(ctx: CallContext, args: dict[str, Any]) -> None:
    me, obligor, currency = ctx.sender.member_id, args["obligor"], args["currency"]
    ctx.state.delete(b"limit/" + key(me, obligor, currency))
    ctx.emit("risk.credit_limit_removed", {"financier": me, "obligor": obligor,
                                           "currency": currency,
                                           "subjects": ["member:" + me, "member:" + obligor]})


def _propose_param(ctx: CallContext, args: dict[str, Any]) -> None:
    number = read_int(ctx.scratch, b"next_proposal") + 1
    ctx.state.put(b"next_proposal", codec.encode(number))
    proposal = [args["name"], args["value"], ctx.sender.member_id, [], False]
    ctx.emit("risk.param_proposed", {"proposal_id": number, "name": args["name"],
                                     "value": args["value"],
                                     "subjects": ["member:" + ctx.sender.member_id]})
    _approve(ctx, number, proposal)


def _approve_param(ctx: CallContext, args: dict[str, Any]) -> None:
    number = args["proposal_id"]
    data = ctx.state.get(b"proposal/" + str(number).encode())
    if data is None:
        raise LedgerError(Code.PROPOSAL_NOT_FOUND, f"no risk parameter proposal {number}")
    proposal: list[Any] = codec.decode(data)  # type: ignore[assignment]
    if proposal[4]:
        raise LedgerError(Code.PROPOSAL_CLOSED, f"risk parameter proposal {number} is executed")
    if ctx.sender.member_id in proposal[3]:
        raise LedgerError(Code.ALREADY_APPROVED,
                          f"{ctx.sender.member_id} already approved proposal {number}")
    _approve(ctx, number, proposal)


def _approve(ctx: CallContext, number: int, proposal: list[Any]) -> None:
    approvers = sorted([*proposal[3], ctx.sender.member_id])
    counted = [m for m in approvers if _counts(ctx.system, m)]
    executed = len(counted) >= get_params(ctx.system).operator_quorum
    ctx.state.put(b"proposal/" + str(number).encode(),
                  codec.encode([proposal[0], proposal[1], proposal[2], approvers, executed]))
    if executed:
        ctx.state.put(b"param/" + proposal[0].encode("utf-8"), codec.encode(proposal[1]))
        ctx.emit("risk.param_set", {"proposal_id": number, "name": proposal[0],
                                    "value": proposal[1],
                                    "subjects": ["member:" + m for m in approvers]})


def _counts(state: StateReader, member_id: str) -> bool:
    member = get_member(state, member_id)
    return member is not None and not member.frozen and member.has_role(Role.OPERATOR)


# -- helpers -----------------------------------------------------------------------

def _book(risk: Namespace, financier: str, obligor: str, supplier: str, currency: str,
          delta: int) -> None:
    """Adds `delta` to the deal's books; supplier "" has no supplier book."""
    books = [b"out/" + key(financier, obligor, currency), b"total/" + key(financier, currency)]
    if supplier:
        books.append(b"supplier/" + key(supplier, currency))
    for local in books:
        data = risk.get(local)
        value = int_or_zero(data, "a risk book") + delta
        if value:
            risk.put(local, codec.encode(value))
        else:
            risk.delete(local)


def _buckets(reader: StateReader, supplier: str, currency: str) -> list[list[int]]:
    data = reader.get(contract_prefix(RISK) + b"volume/" + key(supplier, currency))
    return [] if data is None else codec.decode(data)  # type: ignore[return-value]


def _add_volume(risk: Namespace, supplier: str, currency: str, today: int, amount: int) -> None:
    local = b"volume/" + key(supplier, currency)
    data = risk.get(local)
    buckets: list[list[int]] = [] if data is None else codec.decode(data)  # type: ignore[assignment]
    kept = [b for b in buckets if b[0] > today - WINDOW_DAYS]
    if kept and kept[-1][0] == today:
        kept[-1] = [today, kept[-1][1] + amount]
    else:
        kept.append([today, amount])
    risk.put(local, codec.encode(kept))


def _check_outlier(ctx: CallContext, risk: Namespace, seller: str, buyer: str, currency: str,
                   amount: int, invoice: str) -> None:
    local = b"pair/" + key(seller, buyer, currency)
    data = risk.get(local)
    history: list[int] = [] if data is None else codec.decode(data)  # type: ignore[assignment]
    factor = param(ctx.scratch, "outlier_factor_bps")
    # amount > factor/10000 x sum/len  <=>  amount x len x 10000 > factor x sum (exact)
    if (len(history) >= param(ctx.scratch, "outlier_min_history")
            and amount * len(history) * 10_000 > factor * sum(history)):
        ctx.emit("risk.outlier_amount", {
            "seller": seller, "buyer": buyer, "currency": currency, "amount": amount,
            "history": history, "factor_bps": factor,
            "subjects": ["member:" + seller, "member:" + buyer, invoice]})
    risk.put(local, codec.encode([*history, amount][-PAIR_HISTORY:]))


def _check_cycle(ctx: CallContext, risk: Namespace, seller: str, buyer: str, today: int,
                 invoice: str) -> None:
    """Looks for buyer -> seller and buyer -> middle -> seller among recent partners."""
    recent = _partners(risk, buyer, today)
    if seller in recent:
        path = [seller, buyer, seller]
    else:
        path = next(([seller, buyer, middle, seller] for middle in recent
                     if middle != seller and seller in _partners(risk, middle, today)), [])
    if path:
        ctx.emit("risk.circular_trade", {
            "cycle": path, "window_days": WINDOW_DAYS,
            "subjects": _subjects(*("member:" + m for m in path), invoice)})
    local = b"partners/" + seller.encode("utf-8")
    entries = [[m, d] for m, d in _partner_entries(risk, seller, today) if m != buyer]
    entries.append([buyer, today])
    risk.put(local, codec.encode(entries[-MAX_PARTNERS:]))


def _partner_entries(risk: Namespace, member: str, today: int) -> list[list[Any]]:
    data = risk.get(b"partners/" + member.encode("utf-8"))
    entries: list[list[Any]] = [] if data is None else codec.decode(data)  # type: ignore[assignment]
    return [e for e in entries if e[1] > today - WINDOW_DAYS]


def _partners(risk: Namespace, member: str, today: int) -> list[str]:
    return [e[0] for e in _partner_entries(risk, member, today)]


def _subjects(*items: str) -> list[str]:
    found: list[str] = []
    for item in items:
        if item and item not in found:
            found.append(item)
    return found


_LIMIT_ARGS = (("obligor", MEMBER_ID), ("currency", CURRENCY))
CONTRACT = Contract(RISK, 1, (
    MethodSpec("set_credit_limit", _set_credit_limit,
               (*_LIMIT_ARGS, ("limit", Int(0, MAX_AMOUNT))), roles=frozenset({Role.FINANCIER})),
    MethodSpec("remove_credit_limit", _remove_credit_limit, _LIMIT_ARGS,
               roles=frozenset({Role.FINANCIER})),
    MethodSpec("propose_param", _propose_param,
               (("name", PARAM_NAME), ("value", Int(0, MAX_AMOUNT))),
               roles=frozenset({Role.OPERATOR})),
    MethodSpec("approve_param", _approve_param, (("proposal_id", Int(1)),),
               roles=frozenset({Role.OPERATOR})),
))
