"""Warehouse receipts through real blocks: issue, transfer, appraisal, delivery of goods
from an unpledged receipt, and every refusal (which changes nothing but the nonce)."""

from __future__ import annotations

from contracts import warehouse_receipts as wr
from contracts.liens import active_lien
from tests.contracts.test_factoring_support import events_of
from tests.contracts.test_pledge_support import (
    GOODS,
    PL,
    WR,
    PledgeChain,
    apply_args,
    issue,
    open_pledge,
    refuse,
)


def _receipt(chain: PledgeChain, receipt_id: str) -> wr.Receipt:
    receipt = wr.get_receipt(chain.state, receipt_id)
    assert receipt is not None
    return receipt


def test_issue_transfer_appraise_and_deliver() -> None:
    chain = PledgeChain()
    issued = chain.do("WAREHOUSE-01", WR, "issue", owner="DISTRIBUTOR-01", goods=GOODS,
                      quantity=1000, unit_value=400_000, currency="CNY")
    receipt_id = "WR-" + issued.tx_id.hex()
    event = events_of(issued, "receipt.issued")[0]
    assert event["receipt_id"] == receipt_id and event["quantity"] == 1000
    assert event["subjects"] == ["receipt:" + receipt_id, "member:DISTRIBUTOR-01",
                                 "member:WAREHOUSE-01"]
    receipt = _receipt(chain, receipt_id)
    assert (receipt.owner, receipt.warehouse, receipt.status, receipt.remaining,
            receipt.asset) == ("DISTRIBUTOR-01", "WAREHOUSE-01", "issued", 1000,
                               "receipt:" + receipt_id)
    assert chain.state.get(wr.receipt_key(receipt_id)) == receipt.encode()

    moved = chain.do("DISTRIBUTOR-01", WR, "transfer", receipt_id=receipt_id,
                     new_owner="SUPPLIER-01")
    assert events_of(moved, "receipt.transferred")[0]["previous_owner"] == "DISTRIBUTOR-01"
    assert "member:DISTRIBUTOR-01" in events_of(moved, "receipt.transferred")[0]["subjects"]
    assert _receipt(chain, receipt_id).owner == "SUPPLIER-01"

    appraised = chain.do("WAREHOUSE-01", WR, "appraise", receipt_id=receipt_id,
                         unit_value=410_000)
    assert events_of(appraised, "receipt.appraised")[0]["collateral_value"] == 410_000_000
    assert _receipt(chain, receipt_id).appraised_height == chain.store.height

    chain.do("SUPPLIER-01", WR, "request_delivery", receipt_id=receipt_id, quantity=400)
    refuse(chain, "RELEASE_PENDING", "SUPPLIER-01", WR, "request_delivery",
           receipt_id=receipt_id, quantity=1)
    refuse(chain, "RELEASE_PENDING", "SUPPLIER-01", WR, "transfer", receipt_id=receipt_id,
           new_owner="SUPPLIER-02")
    refuse(chain, "RELEASE_PENDING", "SUPPLIER-01", PL, "apply", **apply_args(receipt_id))
    refuse(chain, "FORBIDDEN", "SUPPLIER-01", WR, "confirm_delivery", receipt_id=receipt_id)
    delivered = chain.do("WAREHOUSE-01", WR, "confirm_delivery", receipt_id=receipt_id)
    out = events_of(delivered, "receipt.goods_released")[0]
    assert (out["quantity"], out["released"], out["remaining"], out["deal_id"]) == (
        400, 400, 600, None)
    chain.do("SUPPLIER-01", WR, "request_delivery", receipt_id=receipt_id, quantity=600)
    chain.do("WAREHOUSE-01", WR, "cancel_delivery", receipt_id=receipt_id, reason="customs hold")
    refuse(chain, "RELEASE_NOT_FOUND", "WAREHOUSE-01", WR, "confirm_delivery",
           receipt_id=receipt_id)
    chain.do("SUPPLIER-01", WR, "request_delivery", receipt_id=receipt_id, quantity=600)
    chain.do("WAREHOUSE-01", WR, "confirm_delivery", receipt_id=receipt_id)
    receipt = _receipt(chain, receipt_id)
    assert (receipt.status, receipt.released, receipt.remaining) == ("released", 1000, 0)
    # nothing left: a released receipt is final
    refuse(chain, "INVALID_STATE_TRANSITION", "SUPPLIER-01", WR, "request_delivery",
           receipt_id=receipt_id, quantity=1)
    refuse(chain, "INVALID_STATE_TRANSITION", "SUPPLIER-01", WR, "transfer",
           receipt_id=receipt_id, new_owner="SUPPLIER-02")
    refuse(chain, "INVALID_STATE_TRANSITION", "WAREHOUSE-01", WR, "appraise",
           receipt_id=receipt_id, unit_value=1)
    refuse(chain, "INVALID_STATE_TRANSITION", "SUPPLIER-01", PL, "apply",
           **apply_args(receipt_id))


def test_issue_refusals() -> None:
    chain = PledgeChain()
    args = {"owner": "DISTRIBUTOR-01", "goods": GOODS, "quantity": 10, "unit_value": 5,
            "currency": "CNY"}
    refuse(chain, "FORBIDDEN", "DISTRIBUTOR-01", WR, "issue", **args)       # not a warehouse
    refuse(chain, "FORBIDDEN", "BANK-A", WR, "issue", **args)
    for changes, field in (({"owner": "NOBODY-1"}, "owner"),
                           ({"owner": "WAREHOUSE-01"}, "owner"),
                           ({"quantity": 0}, "quantity"), ({"unit_value": 0}, "unit_value"),
                           ({"goods": " steel"}, "goods"), ({"goods": ""}, "goods"),
                           ({"currency": "cny"}, "currency"),
                           ({"quantity": 2**62, "unit_value": 4}, "quantity")):
        message = refuse(chain, "INVALID_ARGUMENT", "WAREHOUSE-01", WR, "issue",
                         **{**args, **changes})
        assert message.startswith(field), message


def test_only_the_owner_and_the_receipts_warehouse_act() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain)
    refuse(chain, "RECEIPT_NOT_FOUND", "DISTRIBUTOR-01", WR, "transfer", receipt_id="WR-0",
           new_owner="SUPPLIER-01")
    refuse(chain, "FORBIDDEN", "SUPPLIER-01", WR, "transfer", receipt_id=receipt_id,
           new_owner="SUPPLIER-02")
    refuse(chain, "FORBIDDEN", "WAREHOUSE-02", WR, "appraise", receipt_id=receipt_id,
           unit_value=1)                                     # another warehouse
    refuse(chain, "FORBIDDEN", "DISTRIBUTOR-01", WR, "appraise", receipt_id=receipt_id,
           unit_value=1)                                     # not a warehouse at all
    refuse(chain, "FORBIDDEN", "WAREHOUSE-01", WR, "request_delivery", receipt_id=receipt_id,
           quantity=1)
    refuse(chain, "QUANTITY_UNAVAILABLE", "DISTRIBUTOR-01", WR, "request_delivery",
           receipt_id=receipt_id, quantity=1001)
    refuse(chain, "RELEASE_NOT_FOUND", "DISTRIBUTOR-01", WR, "cancel_delivery",
           receipt_id=receipt_id)
    for new_owner in ("NOBODY-1", "DISTRIBUTOR-01", "WAREHOUSE-01"):
        refuse(chain, "INVALID_ARGUMENT", "DISTRIBUTOR-01", WR, "transfer",
               receipt_id=receipt_id, new_owner=new_owner)
    chain.do("DISTRIBUTOR-01", WR, "request_delivery", receipt_id=receipt_id, quantity=1)
    refuse(chain, "FORBIDDEN", "SUPPLIER-01", WR, "cancel_delivery", receipt_id=receipt_id)


def test_a_pledged_receipt_changes_only_through_its_pledge() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain)
    deal_id = open_pledge(chain, receipt_id)
    lien = active_lien(chain.state, "receipt:" + receipt_id)
    assert lien is not None and lien.deal_id == deal_id
    for member, method, args in (
            ("DISTRIBUTOR-01", "transfer", {"new_owner": "SUPPLIER-01"}),
            ("DISTRIBUTOR-01", "request_delivery", {"quantity": 1}),
            ("WAREHOUSE-01", "appraise", {"unit_value": 1})):
        message = refuse(chain, "ASSET_ENCUMBERED", member, WR, method, receipt_id=receipt_id,
                         **args)
        assert "BANK-A" in message and deal_id in message
    # a second pledge, to anyone, is refused: one pledge per receipt
    message = refuse(chain, "ASSET_ENCUMBERED", "DISTRIBUTOR-01", PL, "apply",
                     **apply_args(receipt_id, 1, financier="BANK-B"))
    assert deal_id in message


def test_another_products_lien_blocks_the_receipt_too() -> None:
    chain = PledgeChain()
    receipt_id = issue(chain)
    chain.do("BANK-B", "testfin", "place_lien", asset="receipt:" + receipt_id, deal_id="X-1")
    refuse(chain, "ASSET_ENCUMBERED", "DISTRIBUTOR-01", PL, "apply", **apply_args(receipt_id))
    refuse(chain, "ASSET_ENCUMBERED", "DISTRIBUTOR-01", WR, "transfer", receipt_id=receipt_id,
           new_owner="SUPPLIER-01")
