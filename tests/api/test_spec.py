"""docs/api.yaml against the code: the same routes, codes with the statuses the node
gives them, and examples that obey their own schemas. No node needed."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import Code
from node.api.app import ROUTES, UNLIMITED_PATHS
from node.api.errors import status_of
from node.peers.network import PEER_PATH
from tests.api.conftest import Contract, resolve

#: Served next to ROUTES: the Prometheus endpoint and the peer channel.
EXTRA_ROUTES = {("GET", "/metrics"), ("GET", PEER_PATH)}


def test_the_spec_is_a_valid_openapi_3_1_document() -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from tests.api.conftest import SPEC_PATH

    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    assert schema.raw_schema["openapi"].startswith("3.1.")
    schema.validate()  # against the OpenAPI 3.1 meta-schema


def test_the_spec_has_exactly_the_routes_the_node_serves(contract: Contract) -> None:
    served = {(method, path) for method, path, _ in ROUTES} | EXTRA_ROUTES
    documented = {(method, path) for method, path, _ in contract.operations()}
    assert documented == served, (f"only in the code: {sorted(served - documented)}; "
                                  f"only in the spec: {sorted(documented - served)}")


def test_the_unlimited_paths_are_the_extra_routes() -> None:
    assert {path for _, path in EXTRA_ROUTES} == set(UNLIMITED_PATHS)


def test_every_operation_is_described_and_can_fail_as_a_bug(contract: Contract) -> None:
    for method, path, operation in contract.operations():
        label = f"{method} {path}"
        assert operation.get("summary") and operation.get("description"), label
        assert operation.get("operationId"), label
        assert "500" in operation["responses"], label
        limited = path.startswith("/v1/") and path not in UNLIMITED_PATHS
        assert ("429" in operation["responses"]) == limited, label


def _error_codes(contract: Contract, response: Any) -> list[str] | None:
    """The code enum of an error response's JSON schema (None: not an error schema)."""
    media = (resolve(contract.spec, response).get("content") or {}).get("application/json")
    if media is None:
        return None
    schema = resolve(contract.spec, media["schema"])
    for part in schema.get("allOf", []):
        codes = part.get("properties", {}).get("code", {}).get("enum")
        if codes is not None:
            assert resolve(contract.spec, schema["allOf"][0]) is contract.component("Error")
            return list(codes)
    return None


def test_error_responses_name_existing_codes_with_the_status_the_node_gives_them(
        contract: Contract) -> None:
    known = {code.value for code in Code}
    for method, path, operation in contract.operations():
        for status, response in operation["responses"].items():
            codes = _error_codes(contract, response)
            if int(status) < 400:
                assert codes is None, f"{method} {path} {status}"
                continue
            assert codes, f"{method} {path} {status}: an error answer lists its codes"
            for code in codes:
                assert code in known, f"{method} {path} {status}: unknown code {code}"
                assert status_of(Code(code)) == int(status), (
                    f"{method} {path}: {code} is documented as {status}, "
                    f"the node answers {status_of(Code(code))}")


def test_429_answers_document_retry_after(contract: Contract) -> None:
    for method, path, operation in contract.operations():
        response = operation["responses"].get("429")
        if response is not None:
            headers = resolve(contract.spec, response).get("headers", {})
            assert "Retry-After" in headers, f"{method} {path}"


def test_the_examples_obey_their_schemas(contract: Contract) -> None:
    checked = 0
    for method, path, operation in contract.operations():
        media_types = []
        body = operation.get("requestBody")
        if body is not None:
            media_types += list(resolve(contract.spec, body)["content"].values())
        for response in operation["responses"].values():
            media_types += list((resolve(contract.spec, response).get("content") or {}).values())
        for media in media_types:
            for name, example in (media.get("examples") or {}).items():
                contract.validate(media["schema"], resolve(contract.spec, example)["value"])
                checked += 1
    assert checked >= 4


def test_the_example_transaction_is_a_real_signed_register() -> None:
    """The request example of POST /v1/txs decodes and verifies (for chain scf-localnet)."""
    from ledger.types import SignedTransaction
    from tests.api.conftest import load_spec

    spec = load_spec()
    example = (spec["paths"]["/v1/txs"]["post"]["requestBody"]["content"]["application/json"]
               ["examples"]["register"]["value"])
    signed = SignedTransaction.decode(bytes.fromhex(example["tx"]))
    assert signed.has_valid_signature()
    assert (signed.tx.contract, signed.tx.method) == ("invoices", "register")
    answer = (spec["paths"]["/v1/txs"]["post"]["responses"]["202"]["content"]["application/json"]
              ["examples"]["register"]["value"])
    assert answer["id"] == signed.tx_id.hex()
