"""`scf node start` as the operator runs it: clean stop, refusals at start, recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node import localnet
from node.localnet import LocalNode
from tests.support.localnet import free_base_port

pytestmark = pytest.mark.slow


def start_node(node: LocalNode) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "node", "start", "--home",
                             str(node.home)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def one_validator(tmp_path: Path) -> LocalNode:
    return localnet.create(tmp_path, validators=1, base_port=free_base_port(1))[0]


def test_sigterm_stops_the_node_cleanly_with_exit_0_and_it_restarts_where_it_was(
        tmp_path: Path) -> None:
    node = one_validator(tmp_path)
    process = start_node(node)
    try:
        assert localnet.wait_until([node], 2, timeout_s=30)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output.decode()
    text = output.decode()
    assert "stopped at height" in text
    stopped_at = int(text.rsplit("stopped at height", 1)[1].split()[0])
    again = start_node(node)
    try:
        assert localnet.wait_until([node], stopped_at + 1, timeout_s=30)
    finally:
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=30)
    assert again.returncode == 0


def test_a_key_file_others_can_read_is_refused_at_start(tmp_path: Path) -> None:
    node = one_validator(tmp_path)
    key_file = node.home / "keys" / "validator.json"
    os.chmod(key_file, 0o644)
    result = subprocess.run([sys.executable, "-m", "cli.main", "node", "start", "--home",
                             str(node.home)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "KEY_FILE_INSECURE" in result.stderr and "chmod 600" in result.stderr


def test_a_second_process_on_the_same_home_is_refused(tmp_path: Path) -> None:
    node = one_validator(tmp_path)
    first = start_node(node)
    try:
        assert localnet.wait_until([node], 1, timeout_s=30)
        second = subprocess.run([sys.executable, "-m", "cli.main", "node", "start", "--home",
                                 str(node.home)], capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert "STORE_LOCKED" in second.stderr
        assert localnet.status(node) is not None  # the first one is unharmed
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)


def test_an_uninitialised_home_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", "node", "start", "--home",
                             str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "HOME_NOT_INITIALISED" in result.stderr


def test_sigkill_in_a_loop_never_stops_the_chain_from_growing(tmp_path: Path) -> None:
    node = one_validator(tmp_path)
    last = 0
    for _ in range(4):
        process = start_node(node)
        try:
            assert localnet.wait_until([node], last + 1, timeout_s=30), \
                f"no block above {last} after a restart"
            time.sleep(0.3)
            last = (localnet.status(node) or {}).get("height", last)
        finally:
            process.kill()
            process.communicate(timeout=30)
        assert process.returncode == -9  # killed, never a clean exit


def test_a_transaction_waiting_on_a_nonce_gap_does_not_make_a_lone_validator_spin(
        tmp_path: Path) -> None:
    """Regression: with only gapped transactions pending, a 1-validator node
    used to start each next height at once, deciding empty blocks in a tight
    loop that never let the event loop serve HTTP or SIGTERM."""
    from ledger.types import Transaction
    from node.client import NodeClient

    node = one_validator(tmp_path)
    process = start_node(node)
    try:
        assert localnet.wait_until([node], 1, timeout_s=30)
        client = NodeClient(node.url)
        key = localnet.member_key(tmp_path, "SUPPLIER-01")
        gapped = Transaction(client.chain_id(), key.public_key, client.nonce(key.public_key) + 1,
                             "invoices", "register", {}).sign(key)
        assert client.submit(gapped)["status"] == "pending"
        start = client.status()["height"]
        time.sleep(3)
        grown = client.status()["height"] - start
        assert grown <= 6, f"{grown} blocks in 3 s: the node spins on an unready mempool"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 0
    finally:
        process.kill()
