"""A real 4-validator localnet: node processes, LevelDB, WAL, HTTP and peers on loopback.

One localnet serves the module (starting one costs seconds); the tests run
in order on it: commit and agree, stop and catch up, crash and recover, and
refuse a stranger on the peer channel.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from genesis.document import load_genesis
from ledger.crypto import SigningKey
from node import localnet
from node.client import Member, NodeClient
from node.localnet import LocalNode
from node.peers.handshake import Handshake
from node.peers.protocol import MAX_FRAME_SIZE
from tests.support.localnet import logs, running_localnet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[LocalNode]]]:
    directory = tmp_path_factory.mktemp("localnet")
    with running_localnet(directory) as nodes:
        yield directory, nodes


def register_args(number: str) -> dict[str, object]:
    return {"invoice_number": number, "buyer": "CORE-01", "seller_tax_id": "91440300TAX0001",
            "buyer_tax_id": "91310000TAX0002", "issue_date": "2026-11-20",
            "due_date": "2027-02-18", "currency": "CNY", "face_amount": 12_500_000,
            "document_sha256": hashlib.sha256(number.encode()).digest()}


def heights(nodes: list[LocalNode]) -> list[int]:
    return [(localnet.status(n) or {}).get("height", -1) for n in nodes]


def wait_for_height(nodes: list[LocalNode], height: int, timeout_s: float = 60) -> None:
    if not localnet.wait_until(nodes, height, timeout_s):
        raise AssertionError(f"heights {heights(nodes)} did not reach {height}:\n{logs(nodes)}")


def test_transactions_commit_and_every_node_has_the_same_blocks(
        cluster: tuple[Path, list[LocalNode]]) -> None:
    directory, nodes = cluster
    supplier = Member(NodeClient(nodes[1].url), localnet.member_key(directory, "SUPPLIER-01"))
    signed = [supplier.sign("invoices", "register", register_args(f"INV-LN-{i}"))
              for i in range(20)]
    answer = supplier.client.submit_batch(signed)
    assert answer["accepted"] == 20, answer
    statuses = [NodeClient(nodes[i % 4].url).tx(tx.tx_id, wait=True) for i, tx in
                enumerate(signed)]
    assert {s["status"] for s in statuses} == {"committed"}
    assert {s["receipt"]["code"] for s in statuses} == {"OK"}
    top = max(s["height"] for s in statuses)
    wait_for_height(nodes, top)
    for height in range(1, top + 1):
        hashes = {NodeClient(n.url).block(height)["header"]["hash"] for n in nodes}
        assert len(hashes) == 1, f"nodes disagree on block {height}: {hashes}"
    # the supplier's events, page by page, in chain order
    client = NodeClient(nodes[2].url)
    events: list[dict[str, object]] = []
    page = client.events("member:SUPPLIER-01", limit=25)
    while True:
        events += page["events"]
        if page["next"] is None:
            break
        page = client.events("member:SUPPLIER-01", after=page["next"], limit=25)
    registered = [e for e in events if e["kind"] == "invoice.registered"]
    assert [e["tx_id"] for e in registered] == [tx.tx_id.hex() for tx in signed]
    # idempotent: the same signed transaction again is the same id, still committed once
    again = NodeClient(nodes[3].url).submit(signed[0])
    assert again["id"] == signed[0].tx_id.hex() and again["status"] == "committed"


def test_a_stopped_node_catches_up_after_restart(cluster: tuple[Path, list[LocalNode]]) -> None:
    directory, nodes = cluster
    lagging = nodes[3]
    assert localnet.stop(lagging)               # SIGTERM: a clean stop
    supplier = Member(NodeClient(nodes[0].url), localnet.member_key(directory, "SUPPLIER-01"))
    committed = supplier.call("invoices", "register", register_args("INV-LN-WHILE-DOWN"))
    target = committed["height"] + 3            # 3 of 4 validators keep committing
    wait_for_height(nodes[:3], target)
    localnet.start(lagging)
    wait_for_height([lagging], target)
    client = NodeClient(lagging.url)
    assert client.tx(committed["id"])["status"] == "committed"
    assert client.block(target)["header"]["hash"] == \
        NodeClient(nodes[0].url).block(target)["header"]["hash"]
    assert "stopped at height" in lagging.log_file.read_text()


def test_a_killed_validator_recovers_from_its_store_and_wal(
        cluster: tuple[Path, list[LocalNode]]) -> None:
    directory, nodes = cluster
    victim = nodes[0]
    before = max(heights(nodes))
    assert localnet.stop(victim, kill=True)      # SIGKILL: no shutdown at all
    wait_for_height(nodes[1:], before + 2)
    localnet.start(victim)
    wait_for_height(nodes, before + 4)
    supplier = Member(NodeClient(victim.url), localnet.member_key(directory, "SUPPLIER-01"))
    committed = supplier.call("invoices", "register", register_args("INV-LN-AFTER-KILL"))
    assert committed["receipt"]["code"] == "OK"


def test_a_stranger_is_refused_on_the_peer_channel(cluster: tuple[Path, list[LocalNode]]) -> None:
    directory, nodes = cluster
    genesis = load_genesis(directory / "genesis.json")
    stranger = SigningKey(os.urandom(32))
    handshake = Handshake(genesis.chain_id, genesis.hash, stranger, os.urandom(32),
                          lambda key: True)

    async def attempt() -> tuple[aiohttp.WSMsgType, int | None]:
        async with aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{nodes[1].port}/v1/peer"
            async with session.ws_connect(url, max_msg_size=MAX_FRAME_SIZE) as ws:
                await ws.send_bytes(handshake.start())
                while True:
                    message = await asyncio.wait_for(ws.receive(), 10)
                    if message.type != aiohttp.WSMsgType.BINARY:
                        return message.type, ws.close_code
                    for frame in handshake.receive(message.data):
                        await ws.send_bytes(frame)

    kind, _ = asyncio.run(attempt())
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    deadline = time.monotonic() + 5
    while "PEER_NOT_MEMBER" not in nodes[1].log_file.read_text():
        assert time.monotonic() < deadline, "the node did not log the refusal"
        time.sleep(0.1)
    status = NodeClient(nodes[1].url).status()
    assert stranger.public_key.hex() not in {p["public_key"] for p in status["peers"]}
