"""Real nodes on loopback for the API contract tests, and docs/api.yaml as a checker.

Two single-validator localnets run as `python -m cli.main node start`
subprocesses for the whole session (each makes an empty block per second):

* `node`: generous rate limit (so fuzzing measures the API, not 429s), small
  body and batch limits (so the limits are cheap to reach);
* `tight_node`: 1 request/s with a burst of 5 and 2 event streams, for the
  429 answers. Its tests talk from their own loopback source address
  (127.0.0.x), since the node keys its token buckets by client address.

`fresh_node` is a third, per-test node for a test that may break it. Nodes
get SIGTERM when the test process dies, so none outlives a killed run.

`contract` checks an answer against the spec: its status is documented for
that operation, its media type too, a JSON body validates against the schema
(jsonschema_rs, which schemathesis brings), every error body is exactly
`{"code", "message"}` with a known code, and documented required headers
(Retry-After) are there.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ledger.crypto import SigningKey
from ledger.errors import Code
from ledger.types import SignedTransaction, Transaction
from node import localnet

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "api.yaml"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 10.0

#: The main node's API limits (config.json `api`).
NODE_API = {"rate_per_s": 1_000_000, "burst": 1_000_000, "max_body_bytes": 200_000,
            "max_batch": 4, "max_streams": 1_000}
#: The tight node's: what makes 429 answers easy to reach.
TIGHT_API = {"rate_per_s": 1, "burst": 5, "max_streams": 2}
ERROR_CODES = frozenset(code.value for code in Code)
_HEIGHT_METRIC = re.compile(rb"^scf_height (\d+)$", re.MULTILINE)
_invoice_numbers = itertools.count(1)


# -- HTTP -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Api:
    """A small HTTP/1.1 client for one node: stdlib, no retries, optional source address."""

    port: int
    source: str | None = None

    def from_source(self, address: str) -> Api:
        return Api(self.port, address)

    def connection(self, timeout: float = REQUEST_TIMEOUT_S) -> http.client.HTTPConnection:
        source = (self.source, 0) if self.source else None
        return http.client.HTTPConnection(HOST, self.port, timeout=timeout,
                                          source_address=source)

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: bytes | None = None, headers: Mapping[str, str] | None = None,
                timeout: float = REQUEST_TIMEOUT_S) -> Reply:
        if query:
            path = f"{path}?{urlencode(query, doseq=True)}"
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: bytes, content_type: str, **kwargs: Any) -> Reply:
        headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
        return self.request("POST", path, body=body, headers=headers, **kwargs)

    def post_json(self, path: str, document: Any, **kwargs: Any) -> Reply:
        return self.post(path, json.dumps(document).encode(), "application/json", **kwargs)


class EventStream:
    """An open `GET /v1/events`, read message by message, every read bounded."""

    def __init__(self, api: Api, query: Mapping[str, Any], timeout_s: float = 20.0) -> None:
        self.connection = api.connection(timeout_s)
        self.connection.request("GET", f"/v1/events?{urlencode(query, doseq=True)}")
        self.response = self.connection.getresponse()

    @property
    def status(self) -> int:
        return self.response.status

    def reply(self) -> Reply:
        """The whole answer, for a refused stream."""
        return Reply(self.response.status, self.response.headers, self.response.read())

    def next_message(self) -> dict[str, str]:
        """The next SSE message's fields (comments skipped); raises TimeoutError."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            assert line, "the stream ended"
            text = line.decode("utf-8").rstrip("\n")
            if not text:
                if fields:
                    return fields
                continue
            if text.startswith(":"):
                continue
            name, _, value = text.partition(":")
            fields[name] = value.removeprefix(" ")

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- nodes --------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveNode:
    directory: Path  # the localnet: genesis.json, keys/<MEMBER>.json
    home: Path
    port: int
    chain_id: str
    api_config: Mapping[str, int]
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api(self) -> Api:
        return Api(self.port)

    @property
    def log_file(self) -> Path:
        return self.home / "node.log"

    def key(self, member_id: str) -> SigningKey:
        return localnet.member_key(self.directory, member_id)

    def height(self) -> int:
        """The committed height, from /metrics (not rate limited)."""
        found = _HEIGHT_METRIC.search(self.api.get("/metrics").body)
        assert found is not None, "scf_height is missing from /metrics"
        return int(found.group(1))

    def wait_for_height(self, height: int, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.height() < height:
            assert time.monotonic() < deadline, f"no block {height} within {timeout_s} s"
            time.sleep(0.05)

    def next_nonce(self, key: SigningKey) -> int:
        reply = self.api.get(f"/v1/accounts/{key.public_key.hex()}")
        assert reply.status == 200, reply.body
        nonce: int = reply.json()["pending_next_nonce"]
        return nonce

    def register_tx(self, member_id: str = "SUPPLIER-01", *, nonce: int | None = None,
                    number: str | None = None, chain_id: str | None = None,
                    expiry_height: int | None = None) -> SignedTransaction:
        """A signed invoices.register of a fresh invoice (not submitted)."""
        key = self.key(member_id)
        args = invoice_args(number or f"API-{os.getpid()}-{next(_invoice_numbers)}")
        nonce = self.next_nonce(key) if nonce is None else nonce
        tx = Transaction(chain_id or self.chain_id, key.public_key, nonce, "invoices",
                         "register", args, expiry_height)
        return tx.sign(key)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def invoice_args(number: str) -> dict[str, Any]:
    """invoices.register arguments: issued yesterday (UTC), due in 90 days."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return {
        "invoice_number": number, "seller_tax_id": "91440300SUP0001",
        "buyer_tax_id": "91110000CORE001", "buyer": "CORE-01",
        "issue_date": (today - datetime.timedelta(days=1)).isoformat(),
        "due_date": (today + datetime.timedelta(days=90)).isoformat(),
        "currency": "CNY", "face_amount": 100_000_000,
        "document_sha256": hashlib.sha256(b"document " + number.encode()).digest(),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child: SIGTERM it when the test process dies, so no node outlives a
    killed test run (Linux prctl PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def start_node(directory: Path, api_config: Mapping[str, int]) -> LiveNode:
    """Creates a 1-validator localnet in `directory` and starts its node; waits for block 1."""
    (local,) = localnet.create(directory, validators=1, base_port=free_port())
    config_file = local.home / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["api"].update(api_config)
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    with open(local.log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "node", "start", "--home", str(local.home),
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            start_new_session=True, preexec_fn=_die_with_parent)
    node = LiveNode(directory, local.home, local.port, localnet.CHAIN_ID, dict(api_config),
                    process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the node exited with {process.returncode}:\n{node.log_tail()}")
        try:
            if node.height() >= 1:
                return node
        except (OSError, http.client.HTTPException, AssertionError):
            pass
        if time.monotonic() > deadline:
            stop_node(node)
            raise RuntimeError(f"the node made no block in {START_TIMEOUT_S} s:\n"
                               f"{node.log_tail()}")
        time.sleep(0.05)


def stop_node(node: LiveNode, timeout_s: float = STOP_TIMEOUT_S) -> None:
    if node.process.poll() is None:
        node.process.send_signal(signal.SIGTERM)
        try:
            node.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    running = start_node(tmp_path_factory.mktemp("api-node"), NODE_API)
    try:
        yield running
    finally:
        stop_node(running)


@pytest.fixture(scope="session")
def tight_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    running = start_node(tmp_path_factory.mktemp("api-tight-node"), TIGHT_API)
    try:
        yield running
    finally:
        stop_node(running)


@pytest.fixture
def fresh_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveNode]:
    """A node of its own, for a test that may break it; parametrize it indirectly with
    API settings to override."""
    running = start_node(tmp_path / "net", {**NODE_API, **getattr(request, "param", {})})
    try:
        yield running
    finally:
        stop_node(running, timeout_s=3.0)


@dataclass(frozen=True)
class Dropped:
    node: LiveNode
    tx: SignedTransaction  # admitted, then dropped from the mempool as TX_EXPIRED


@pytest.fixture(scope="session")
def dropped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dropped]:
    """A node of its own holding a transaction that failed before commit.

    The transaction waits in the mempool behind a nonce gap (admitted by design)
    until its expiry height passes; then the gap closes and the next block drops
    it. Meanwhile the node must stay responsive: a lone validator once made empty
    blocks back to back for such a mempool and starved its own API.
    """
    running = start_node(tmp_path_factory.mktemp("api-gap-node"), NODE_API)
    try:
        key = running.key("SUPPLIER-01")
        nonce = running.next_nonce(key)
        expiring = running.register_tx(nonce=nonce + 1, expiry_height=running.height() + 2)
        reply = running.api.post("/v1/txs", expiring.encode(), "application/msgpack",
                                 timeout=3.0)
        assert reply.status == 202, reply.body
        for _ in range(3):
            status = running.api.request("GET", "/v1/status", timeout=3.0)
            assert status.status == 200 and status.json()["mempool"]["count"] == 1
        running.wait_for_height(expiring.tx.expiry_height + 1)
        filler = running.register_tx(nonce=nonce).encode()
        reply = running.api.post("/v1/txs", filler, "application/msgpack",
                                 query={"wait": "commit", "timeout": 10}, timeout=15)
        assert reply.status == 200, reply.body
        yield Dropped(running, expiring)
    finally:
        stop_node(running, timeout_s=3.0)


# -- the spec -----------------------------------------------------------------------

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_spec() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (a schemathesis dependency) reads the spec")
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def resolve(spec: Mapping[str, Any], node: Any) -> Any:
    """Follows a local `$ref` (one or more hops) to the object it names."""
    while isinstance(node, Mapping) and "$ref" in node and len(node) == 1:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), f"only local references are used: {pointer}"
        target: Any = spec
        for part in pointer[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


class Contract:
    """docs/api.yaml as a checker of live answers."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._jsonschema = pytest.importorskip(
            "jsonschema_rs", reason="jsonschema_rs (a schemathesis dependency) validates")
        self._validators: dict[int, Any] = {}

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, item in self.spec["paths"].items():
            for method in HTTP_METHODS:
                if method in item:
                    yield method.upper(), path, item[method]

    def operation(self, method: str, template: str) -> dict[str, Any]:
        item = self.spec["paths"].get(template)
        assert item is not None, f"{template} is not in docs/api.yaml"
        operation = item.get(method.lower())
        assert operation is not None, f"{method} {template} is not in docs/api.yaml"
        return operation  # type: ignore[no-any-return]

    def response(self, method: str, template: str, status: int) -> dict[str, Any]:
        responses = self.operation(method, template)["responses"]
        documented = responses.get(str(status))
        assert documented is not None, (f"{method} {template} answered {status}, which the "
                                        f"spec does not document ({sorted(responses)})")
        return resolve(self.spec, documented)  # type: ignore[no-any-return]

    def schema_errors(self, schema: Mapping[str, Any], instance: Any) -> list[str]:
        validator = self._validators.get(id(schema))
        if validator is None:
            root = {"components": self.spec["components"], **schema}
            validator = self._validators[id(schema)] = self._jsonschema.validator_for(root)
        return [str(error) for error in validator.iter_errors(instance)]

    def validate(self, schema: Mapping[str, Any], instance: Any) -> None:
        errors = self.schema_errors(schema, instance)
        assert not errors, "\n\n".join(errors[:5])

    def component(self, name: str) -> Mapping[str, Any]:
        return self.spec["components"]["schemas"][name]  # type: ignore[no-any-return]

    def check(self, method: str, template: str, reply: Reply) -> Any:
        """Asserts that `reply` is what the spec says `method template` answers; returns
        the decoded JSON body (or None for another media type)."""
        response = self.response(method, template, reply.status)
        for name, header in (response.get("headers") or {}).items():
            header = resolve(self.spec, header)
            value = reply.headers.get(name)
            if header.get("required"):
                assert value is not None, f"{reply.status} without the {name} header"
            if value is not None and header["schema"].get("type") == "integer":
                assert value.isascii() and value.isdigit(), f"{name}: {value!r}"
                self.validate(header["schema"], int(value))
        content = response.get("content") or {}
        if not content:
            return None
        assert reply.media_type in content, (f"{method} {template} {reply.status} answered "
                                             f"{reply.media_type!r}, documented: {sorted(content)}")
        if reply.status >= 400:
            assert_error_body(reply)
        if reply.media_type != "application/json":
            return None
        document = reply.json()
        self.validate(content[reply.media_type]["schema"], document)
        return document


def assert_error_body(reply: Reply) -> dict[str, str]:
    """Every error answer is exactly {"code", "message"} with a code of docs/errors.md."""
    assert reply.media_type == "application/json", (reply.status, reply.media_type, reply.body)
    document = json.loads(reply.body)
    assert isinstance(document, dict) and set(document) == {"code", "message"}, document
    assert document["code"] in ERROR_CODES, document
    assert isinstance(document["message"], str) and document["message"], document
    return document


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="session")
def contract(spec: dict[str, Any]) -> Contract:
    return Contract(spec)
