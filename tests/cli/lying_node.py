"""A lying node for tests: a reverse proxy in front of a real node that tampers with answers.

    with LyingNode(localnet.url, "forged_signature") as liar:
        scf invoice verify ... --node liar.url

Runs aiohttp on 127.0.0.1 (port 0) on its own event loop in a background
thread, forwards every request to the real node, and rewrites the JSON
answers according to its mode:

| mode | the lie |
|---|---|
| honest | none: forwards as is |
| wrong_value | the invoice's status changed in `values.invoice.value` and in the readable copy |
| wrong_readable | the readable status changed; the proved value left alone |
| stale | proved answers taken at an old height (`?height=stale_height`) |
| forged_signature | a byte of a commit signature flipped in `commit.raw` |
| too_few_signatures | commit signatures dropped below 2/3 of the power |
| other_key | the answer of another invoice (`other_fingerprint`), relabelled as the one asked |
| hide_lien | the lien replaced by null with an absence proof of some other key |
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from typing import Any

import aiohttp
from aiohttp import web

from contracts.invoices import Invoice, Status, invoice_key
from contracts.liens import invoice_asset, lien_key
from contracts.provenance import count_key, entry_key
from ledger.types import Commit

MODES = ("honest", "wrong_value", "wrong_readable", "stale", "forged_signature",
         "too_few_signatures", "other_key", "hide_lien")
START_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT_S = 30.0
#: An asset nobody finances: its lien's absence proof is the one the liar shows.
UNRELATED_ASSET = "invoice:" + "00" * 32


class LyingNode:
    def __init__(self, upstream: str, mode: str, *, other_fingerprint: bytes | None = None,
                 stale_height: int = 1) -> None:
        if mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}")
        if mode == "other_key" and other_fingerprint is None:
            raise ValueError("other_key needs other_fingerprint")
        self.upstream = upstream.rstrip("/")
        self.mode = mode
        self.other_fingerprint = other_fingerprint
        self.stale_height = stale_height
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LyingNode:
        self._thread = threading.Thread(target=self._run, name=f"lying-node-{self.mode}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the lying node did not start")
        if self._failure is not None:
            raise RuntimeError("the lying node failed to start") from self._failure
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)

    # -- the server's thread ---------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            runner = loop.run_until_complete(self._start())
        except BaseException as error:  # reported to __enter__
            self._failure = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(self._session.close())
            loop.close()

    async def _start(self) -> web.AppRunner:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, query = request.path, dict(request.query)
        proved = path.startswith("/v1/invoices/") or path.startswith("/v1/state/")
        if self.mode == "stale" and proved:
            query["height"] = str(self.stale_height)
        asked = path.rsplit("/", 1)[-1]
        if self.mode == "other_key" and path.startswith("/v1/invoices/"):
            assert self.other_fingerprint is not None
            path = "/v1/invoices/" + self.other_fingerprint.hex()
        status, content_type, body = await self._forward(request.method, path, query,
                                                         await request.read(),
                                                         request.headers.get("Content-Type"))
        if status != 200 or content_type != "application/json":
            return web.Response(status=status, body=body, content_type=content_type)
        document = json.loads(body)
        if isinstance(document, dict):
            await self._lie(request.path, asked, document)
        return web.json_response(document, status=status)

    async def _forward(self, method: str, path: str, query: dict[str, str], body: bytes,
                       content_type: str | None) -> tuple[int, str, bytes]:
        headers = {} if content_type is None else {"Content-Type": content_type}
        async with self._session.request(method, self.upstream + path, params=query,
                                         data=body or None, headers=headers) as answer:
            return answer.status, answer.content_type, await answer.read()

    async def _lie(self, path: str, asked: str, document: dict[str, Any]) -> None:
        invoice_answer = path.startswith("/v1/invoices/") and "values" in document
        if self.mode in ("wrong_value", "wrong_readable") and invoice_answer:
            _change_status(document, proved=self.mode == "wrong_value")
        elif self.mode in ("forged_signature", "too_few_signatures") and "commit" in document:
            _edit_commit(document, forge=self.mode == "forged_signature")
        elif self.mode == "other_key" and invoice_answer:
            _relabel(document, bytes.fromhex(asked))
        elif self.mode == "hide_lien" and invoice_answer and document.get("lien") is not None:
            absent = await self._forward(
                "GET", f"/v1/state/{lien_key(UNRELATED_ASSET).hex()}",
                {"height": str(document["height"]), "prove": "1"}, b"", None)
            proof = json.loads(absent[2])["values"]["key"]["proof"]
            document["values"]["lien"] = {**document["values"]["lien"], "value": None,
                                          "proof": proof}
            document["lien"] = None


def _change_status(document: dict[str, Any], *, proved: bool) -> None:
    entry = document["values"]["invoice"]
    invoice = Invoice.decode(bytes.fromhex(entry["value"]))
    status = Status.REGISTERED if invoice.status == Status.CONFIRMED else Status.CONFIRMED
    if proved:
        entry["value"] = dataclasses.replace(invoice, status=status.value).encode().hex()
    document["invoice"]["status"] = status.value


def _edit_commit(document: dict[str, Any], *, forge: bool) -> None:
    commit = Commit.decode(bytes.fromhex(document["commit"]["raw"]))
    signatures = list(commit.signatures)
    if forge:
        first = signatures[0]
        signatures[0] = dataclasses.replace(
            first, signature=bytes([first.signature[0] ^ 0x01]) + first.signature[1:])
    else:
        signatures = signatures[:(2 * len(signatures)) // 3]
    commit = dataclasses.replace(commit, signatures=tuple(signatures))
    document["commit"]["raw"] = commit.encode().hex()
    document["commit"]["signatures"] = [
        {"validator": s.validator.hex(), "signature": s.signature.hex()} for s in signatures]


def _relabel(document: dict[str, Any], fingerprint: bytes) -> None:
    """Another invoice's answer dressed as `fingerprint`'s: keys and readable fingerprint."""
    keys = {"invoice": invoice_key(fingerprint), "lien": lien_key(invoice_asset(fingerprint)),
            "provenance_count": count_key(fingerprint)}
    for name, entry in document["values"].items():
        if name.startswith("provenance/"):
            entry["key"] = entry_key(fingerprint, int(name.split("/")[1])).hex()
        elif name in keys:
            entry["key"] = keys[name].hex()
    document["invoice"]["fingerprint"] = fingerprint.hex()
    if document.get("lien") is not None:
        document["lien"]["asset"] = invoice_asset(fingerprint)
