"""What `make demo` runs until the node exists: the ledger core, end to end.

One process plays the example consortium (genesis/examples/consortium.json):
members sign transactions, blocks are built, re-validated and certified by
3 of the 4 validators, and committed to a real LevelDB store; a bank checks
a fact against a certified header with a state proof; an auditor replays the
chain from genesis and catches a tampered byte. The 4-validator network
(consensus, node, HTTP) and the financing contracts replace this once their
issues land.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from genesis.demo_keys import demo_key
from genesis.document import load_genesis
from genesis.examples.make_consortium import OUTPUT as GENESIS_FILE
from genesis.examples.make_consortium import VALIDATORS
from ledger.accounts import Member, member_key, next_nonce
from ledger.block_builder import build_block
from ledger.certificates import make_commit, validate_commit
from ledger.contract_api import Method
from ledger.replay import replay, replay_chain
from ledger.smt_proof import verify_proof
from ledger.store import LevelDBStore
from ledger.store.chain import ChainStore
from ledger.transition import apply_block
from ledger.types import SignedTransaction, Transaction


class NoContracts:
    """The financing contracts arrive with issue 5; until then every call fails cleanly."""

    def has_contract(self, contract: str) -> bool:
        return False

    def method(self, contract: str, name: str) -> Method | None:
        return None

    def is_privileged(self, contract: str) -> bool:
        return False


def _tx(chain: ChainStore, member_id: str, method: str, args: dict[str, object]) -> SignedTransaction:
    key = demo_key(member_id)
    nonce = next_nonce(chain.state(), key.public_key)
    return Transaction(chain.genesis.chain_id, key.public_key, nonce, "invoices", method,
                       args).sign(key)


def _commit_block(chain: ChainStore, txs: list[SignedTransaction], registry: NoContracts) -> None:
    tip = chain.tip()
    proposer = demo_key(f"{VALIDATORS[tip.height % 4]}/validator")
    last_commit = None if tip.height == 0 else chain.commit(tip.height)
    built, _ = build_block(chain, tip, txs, time_ms=tip.time_ms + 1000,
                           proposer=proposer.public_key, last_commit=last_commit,
                           registry=registry, max_txs=1000)
    validated = apply_block(chain, tip, built.block, registry)  # what every validator does
    signers = [demo_key(f"{m}/validator") for m in VALIDATORS[:3]]
    commit = make_commit(chain_id=chain.genesis.chain_id, height=built.block.header.height,
                         round=0, block_hash=built.block.hash, signers=signers)
    chain.append(validated, commit)


def main() -> None:
    genesis = load_genesis(GENESIS_FILE)
    registry = NoContracts()
    print("scf-ledger demo: the ledger core on one machine\n")
    print(f"1. genesis {genesis.hash.hex()[:16]}… of chain {genesis.chain_id}: "
          f"{len(genesis.members)} members, {len(genesis.validators.validators)} validators")
    with tempfile.TemporaryDirectory() as tmp:
        with LevelDBStore(Path(tmp) / "chain") as kv:
            chain = ChainStore(kv, genesis)
            for number in ("INV-2026-0001", "INV-2026-0002"):
                _commit_block(chain, [_tx(chain, "SUPPLIER-01", "register",
                                          {"invoice_number": number, "face_amount": 12_500_000})],
                              registry)
            _commit_block(chain, [], registry)
            receipt = chain.receipts(1)[0]
            print(f"2. 3 blocks committed to LevelDB, each certified by 3 of 4 validators; "
                  f"block 1's receipt: {receipt.code} (the invoices contract is issue 5)")
            header, commit = chain.block(3).header, chain.commit(3)
            validate_commit(commit, chain_id=genesis.chain_id, height=3, block_hash=header.hash,
                            validators=genesis.validators)
            key = member_key("BANK-B")
            value, proof = chain.state_at(3).get_with_proof(key)
            verify_proof(header.state_root, key, value, proof)
            member = Member.decode(value) if value is not None else None
            print(f"3. a client checks the certificate of block 3 and a {len(proof.siblings)}-hash "
                  f"state proof: BANK-B is a member with roles {list(member.roles) if member else []}")
            report = replay_chain(chain, registry)
            print(f"4. auditor replay from genesis: {'OK' if report.ok else report.mismatch}, "
                  f"{report.blocks} blocks, final state root {report.final_state_root.hex()[:16]}…")
            block, cert, receipts = chain.raw_entry(2)
            tampered = bytearray(block)
            tampered[-70] ^= 0x01
            entries = [chain.raw_entry(1), (bytes(tampered), cert, receipts), chain.raw_entry(3)]
            bad = replay(genesis, entries, registry)
            print(f"5. one flipped byte in stored block 2: replay reports {bad.mismatch}")
            if bad.ok or not report.ok:
                raise SystemExit("demo failed: replay did not behave as it must")
    print("\nNot yet built: financing contracts (issues 5-6), BFT consensus (issue 7), the node\n"
          "with its HTTP API and 4-validator localnet (issue 8), the bank's CLI (issue 9).\n"
          "`make demo` will run a full financing scenario on 4 local validators once they land.")


if __name__ == "__main__":
    main()
