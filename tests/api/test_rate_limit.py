"""The client token bucket: beyond the burst a client gets 429 RATE_LIMITED with
Retry-After; /metrics and the peer channel are not limited; buckets are per client
address. Runs against the tight node (1 request/s, burst 5), each test from a
loopback source address of its own."""

from __future__ import annotations

from tests.api.conftest import Contract, LiveNode, assert_error_body


def test_beyond_the_burst_a_client_gets_429_with_retry_after(tight_node: LiveNode,
                                                             contract: Contract) -> None:
    api = tight_node.api.from_source("127.0.0.3")
    burst = tight_node.api_config["burst"]
    replies = [api.get("/v1/status") for _ in range(burst + 5)]
    limited = [reply for reply in replies if reply.status == 429]
    assert limited, [reply.status for reply in replies]
    assert all(reply.status in (200, 429) for reply in replies)
    for reply in limited:
        assert contract.check("GET", "/v1/status", reply)["code"] == "RATE_LIMITED"
        retry_after = reply.headers["Retry-After"]
        assert retry_after.isascii() and retry_after.isdigit() and int(retry_after) >= 1
    other = tight_node.api.from_source("127.0.0.4").get("/v1/blocks/latest")
    assert other.status == 200, "another client has a bucket of its own"


def test_limited_routes_share_the_bucket_and_errors_count(tight_node: LiveNode,
                                                          contract: Contract) -> None:
    api = tight_node.api.from_source("127.0.0.5")
    replies = [api.get(path) for path in ["/v1/nothing", "/v1/blocks/0", "/v1/status"] * 4]
    limited = [reply for reply in replies if reply.status == 429]
    assert limited
    for reply in limited:
        assert assert_error_body(reply)["code"] == "RATE_LIMITED"
        assert "Retry-After" in reply.headers


def test_metrics_and_the_peer_channel_are_not_limited(tight_node: LiveNode,
                                                      contract: Contract) -> None:
    api = tight_node.api.from_source("127.0.0.6")
    burst = tight_node.api_config["burst"]
    statuses = [api.get("/v1/status").status for _ in range(burst + 2)]
    assert 429 in statuses
    for _ in range(burst + 2):
        metrics = api.get("/metrics")
        assert metrics.status == 200
        peer = api.get("/v1/peer")
        assert peer.status == 400
        assert contract.check("GET", "/v1/peer", peer)["code"] == "BAD_REQUEST"
