"""A small Python client of the node's HTTP API, for integrators, the CLI and the demo.

    from node.client import NodeClient, Member
    client = NodeClient("http://127.0.0.1:26600")
    supplier = Member(client, read_key_file("keys/SUPPLIER-01.json"))
    receipt = supplier.call("invoices", "register", {...})   # waits for the commit

Standard library only (urllib), so a script starts fast. Every error answer
of the node becomes `ApiError(status, code, message)`; a node that cannot be
reached becomes `ApiError(0, "NODE_UNREACHABLE", ...)`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ledger.crypto import SigningKey
from ledger.types import SignedTransaction, Transaction

MSGPACK = "application/msgpack"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class NodeClient:
    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    # -- reading ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._get("/v1/status")

    def chain_id(self) -> str:
        chain_id: str = self.status()["chain_id"]
        return chain_id

    def nonce(self, public_key: bytes) -> int:
        """The next nonce to use: after the committed ones and those pending here."""
        next_nonce: int = self._get(f"/v1/accounts/{public_key.hex()}")["pending_next_nonce"]
        return next_nonce

    def tx(self, tx_id: bytes | str, *, wait: bool = False, timeout_s: int = 30) -> dict[str, Any]:
        tx_hex = tx_id if isinstance(tx_id, str) else tx_id.hex()
        query = {"wait": "commit", "timeout": str(timeout_s)} if wait else None
        return self._get(f"/v1/txs/{tx_hex}", query)

    def block(self, height: int | str = "latest") -> dict[str, Any]:
        return self._get(f"/v1/blocks/{height}")

    def raw_entry(self, height: int) -> tuple[bytes, bytes, tuple[bytes, ...]]:
        """Block `height`, its commit and its receipts as stored: (block, commit, receipts)."""
        from ledger import codec
        from ledger.archive import MAX_RECORD_SIZE

        data = self._request_bytes(f"/v1/blocks/{height}/raw")
        value = codec.decode(data, max_size=MAX_RECORD_SIZE)
        if (type(value) is not list or len(value) != 3 or type(value[0]) is not bytes
                or type(value[1]) is not bytes or type(value[2]) is not list
                or not all(type(r) is bytes for r in value[2])):
            raise ApiError(200, "BAD_ANSWER", f"block {height}: not [block, commit, [receipt]]")
        return value[0], value[1], tuple(value[2])

    def commit(self, height: int) -> dict[str, Any]:
        return self._get(f"/v1/commits/{height}")

    def state(self, key: bytes, *, height: int | None = None, prove: bool = False
              ) -> dict[str, Any]:
        return self._get(f"/v1/state/{key.hex()}", _read_query(height, prove))

    def member(self, member_id: str, *, height: int | None = None, prove: bool = False
               ) -> dict[str, Any]:
        return self._get(f"/v1/members/{urllib.parse.quote(member_id, safe='')}",
                         _read_query(height, prove))

    def invoice(self, fingerprint: bytes | str, *, height: int | None = None,
                prove: bool = False) -> dict[str, Any]:
        fp = fingerprint if isinstance(fingerprint, str) else fingerprint.hex()
        return self._get(f"/v1/invoices/{fp}", _read_query(height, prove))

    def events(self, subject: str, *, after: str | None = None, limit: int | None = None
               ) -> dict[str, Any]:
        """One page of a subject's committed events ("member:ID", "invoice:FP", ...)."""
        query = {k: str(v) for k, v in (("after", after), ("limit", limit)) if v is not None}
        return self._get(f"/v1/subjects/{urllib.parse.quote(subject, safe=':')}/events",
                         query or None)

    # -- writing ------------------------------------------------------------------------

    def submit(self, signed: SignedTransaction, *, wait: bool = False, timeout_s: int = 30
               ) -> dict[str, Any]:
        """202 with the id (or, with `wait`, the committed status and receipt)."""
        query = {"wait": "commit", "timeout": str(timeout_s)} if wait else None
        return self._request("POST", "/v1/txs", query, signed.encode(), MSGPACK,
                             timeout_s=timeout_s + self.timeout_s)

    def submit_batch(self, signed: list[SignedTransaction]) -> dict[str, Any]:
        from ledger import codec

        body = codec.encode([tx.encode() for tx in signed], max_size=64 * 1024 * 1024)
        return self._request("POST", "/v1/txs/batch", None, body, MSGPACK)

    # -- HTTP ---------------------------------------------------------------------------

    def _request_bytes(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                data: bytes = answer.read()
                return data
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(0, "NODE_UNREACHABLE", f"{self.url}: {error}") from None

    def _get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        return self._request("GET", path, query, None, None)

    def _request(self, method: str, path: str, query: dict[str, str] | None, body: bytes | None,
                 content_type: str | None, *, timeout_s: float | None = None) -> dict[str, Any]:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, data=body, method=method)
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as answer:
                result: dict[str, Any] = json.loads(answer.read())
                return result
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(0, "NODE_UNREACHABLE", f"{self.url}: {error}") from None


class Member:
    """A member signing its own transactions, keeping its nonce between calls."""

    def __init__(self, client: NodeClient, key: SigningKey, *, chain_id: str | None = None
                 ) -> None:
        self.client = client
        self.key = key
        self.chain_id = chain_id or client.chain_id()
        self._next_nonce: int | None = None

    def sign(self, contract: str, method: str, args: dict[str, Any]) -> SignedTransaction:
        if self._next_nonce is None:
            self._next_nonce = self.client.nonce(self.key.public_key)
        tx = Transaction(self.chain_id, self.key.public_key, self._next_nonce, contract, method,
                         args).sign(self.key)
        self._next_nonce += 1
        return tx

    def call(self, contract: str, method: str, args: dict[str, Any], *, timeout_s: int = 30
             ) -> dict[str, Any]:
        """Signs, posts and waits for the commit; returns the committed status
        (its `receipt.code` says whether the contract accepted it)."""
        signed = self.sign(contract, method, args)
        try:
            return self.client.submit(signed, wait=True, timeout_s=timeout_s)
        except ApiError:
            self._next_nonce = None  # ask the node again next time
            raise


def _api_error(error: urllib.error.HTTPError) -> ApiError:
    try:
        document = json.loads(error.read())
        return ApiError(error.code, str(document["code"]), str(document["message"]))
    except (ValueError, KeyError, TypeError, OSError):
        return ApiError(error.code, "HTTP_ERROR", str(error))


def _read_query(height: int | None, prove: bool) -> dict[str, str] | None:
    query: dict[str, str] = {}
    if height is not None:
        query["height"] = str(height)
    if prove:
        query["prove"] = "1"
    return query or None
