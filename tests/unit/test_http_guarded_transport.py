"""The guarded httpx transport (used by the OAuth token endpoint client): loopback and private
addresses are refused before any connection, unless allowlisted."""

from __future__ import annotations

import httpx
import pytest

from tether.http.guard import EgressGuard
from tether.http.guarded_transport import GuardedTransport


def test_loopback_is_refused_without_the_allowlist(oauth_provider):
    with (
        httpx.Client(transport=GuardedTransport(EgressGuard())) as client,
        pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.1"),
    ):
        client.get(oauth_provider.metadata_url)
    assert oauth_provider.stats.get("metadata", 0) == 0


def test_an_allowlisted_host_port_is_reached_with_its_host_header(oauth_provider):
    guard = EgressGuard([f"127.0.0.1:{oauth_provider.port}"])
    with httpx.Client(transport=GuardedTransport(guard)) as client:
        response = client.get(oauth_provider.metadata_url, params={"x": "1"})
    assert response.status_code == 200
    assert response.json()["issuer"] == oauth_provider.issuer


def test_metadata_hosts_are_refused_by_name():
    with (
        httpx.Client(transport=GuardedTransport(EgressGuard())) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get("http://metadata.google.internal/computeMetadata/v1/")
