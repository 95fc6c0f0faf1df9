"""The local sample API over real HTTP on loopback with httpx: every pagination style, auth
checks, situations (status, slow, big, redirects), injections, recording and TLS."""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tether_emulators.sample_api import (
    AuthRequirement,
    SampleApi,
    decode_item_cursor,
    encode_item_cursor,
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        yield client


def test_fixture_serves_on_loopback(sample_api, http):
    assert sample_api.url.startswith("http://127.0.0.1:")
    assert http.get(f"{sample_api.url}/me").json()["id"] == "user-1"


def test_item_cursors_round_trip():
    assert decode_item_cursor(encode_item_cursor(1234)) == 1234
    for bad in ("", "loop", "bm9wZTox", "%%%"):
        with pytest.raises(ValueError, match="cursor"):
            decode_item_cursor(bad)


# -- pagination styles ------------------------------------------------------------------------


def test_cursor_items(sample_api_factory, http):
    api = sample_api_factory(items=25)
    first = http.get(f"{api.url}/cursor/items", params={"limit": 10}).json()
    assert [r["id"] for r in first["data"]] == list(range(1, 11))
    assert first["data"][0] == {"id": 1, "name": "Item 1"}
    cursor = first["meta"]["next_cursor"]
    second = http.get(f"{api.url}/cursor/items", params={"cursor": cursor, "limit": 10}).json()
    assert [r["id"] for r in second["data"]] == list(range(11, 21))
    third = http.get(
        f"{api.url}/cursor/items", params={"cursor": second["meta"]["next_cursor"], "limit": 10}
    ).json()
    assert [r["id"] for r in third["data"]] == list(range(21, 26))
    assert third["meta"]["next_cursor"] is None
    assert http.get(f"{api.url}/cursor/items", params={"cursor": "junk"}).status_code == 400


def test_link_items_absolute_and_relative(sample_api_factory, http):
    api = sample_api_factory(items=25)
    response = http.get(f"{api.url}/link/items", params={"page": 2, "per_page": 10})
    assert [r["id"] for r in response.json()] == list(range(11, 21))
    links = response.links
    assert links["next"]["url"] == f"{api.url}/link/items?page=3&per_page=10"
    assert links["prev"]["url"] == f"{api.url}/link/items?page=1&per_page=10"
    assert links["last"]["url"] == f"{api.url}/link/items?page=3&per_page=10"
    last = http.get(f"{api.url}/link/items", params={"page": 3, "per_page": 10})
    assert len(last.json()) == 5 and "next" not in last.links
    api.relative_links = True
    relative = http.get(f"{api.url}/link/items", params={"page": 1, "per_page": 10})
    assert relative.links["next"]["url"] == "/link/items?page=2&per_page=10"


def test_offset_and_page_items(sample_api_factory, http):
    api = sample_api_factory(items=25)
    offset = http.get(f"{api.url}/offset/items", params={"offset": 20, "limit": 10}).json()
    assert [r["id"] for r in offset["results"]] == list(range(21, 26))
    assert (offset["offset"], offset["limit"], offset["total"]) == (20, 10, 25)
    page = http.get(f"{api.url}/page/items", params={"page": 3, "per_page": 10}).json()
    assert [r["id"] for r in page["items"]] == list(range(21, 26))
    beyond = http.get(f"{api.url}/page/items", params={"page": 9}).json()
    assert beyond["items"] == []
    assert http.get(f"{api.url}/page/items", params={"page": 0}).status_code == 400
    assert http.get(f"{api.url}/offset/items", params={"limit": "x"}).status_code == 400


def test_page_size_defaults_and_cap(sample_api_factory, http):
    api = sample_api_factory(items=50, default_limit=7, max_limit=20)
    assert len(http.get(f"{api.url}/page/items").json()["items"]) == 7
    assert len(http.get(f"{api.url}/page/items", params={"per_page": 500}).json()["items"]) == 20


def test_graphql(sample_api_factory, http):
    api = sample_api_factory(items=12)
    query = "{ items(first: 5) { edges { node { id name } } pageInfo { hasNextPage endCursor } } }"
    body = http.post(f"{api.url}/graphql", json={"query": query, "variables": {"first": 5}}).json()
    connection = body["data"]["items"]
    assert [e["node"]["id"] for e in connection["edges"]] == [1, 2, 3, 4, 5]
    assert connection["pageInfo"]["hasNextPage"] is True
    after = connection["pageInfo"]["endCursor"]
    rest = http.post(
        f"{api.url}/graphql", json={"query": query, "variables": {"first": 50, "after": after}}
    ).json()["data"]["items"]
    assert [e["node"]["id"] for e in rest["edges"]] == list(range(6, 13))
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": encode_item_cursor(12)}
    bad = http.post(f"{api.url}/graphql", json={"query": query, "variables": {"after": "zz"}})
    assert bad.status_code == 200 and bad.json()["errors"] and bad.json()["data"] is None
    assert http.post(f"{api.url}/graphql", json={"variables": {}}).status_code == 400
    assert http.get(f"{api.url}/graphql").status_code == 405


def test_loop_items_repeat_the_cursor(sample_api, http):
    for _ in range(3):
        body = http.get(f"{sample_api.url}/loop/items", params={"cursor": "loop"}).json()
        assert body["meta"]["next_cursor"] == "loop"
        assert [r["id"] for r in body["data"]] == list(range(1, 11))


def test_empty_dataset(sample_api_factory, http):
    api = sample_api_factory(items=0)
    body = http.get(f"{api.url}/cursor/items").json()
    assert body == {"data": [], "meta": {"next_cursor": None}}
    assert "next" not in http.get(f"{api.url}/link/items").links


# -- auth -------------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("auth", "good", "forbidden", "wrong"),
    [
        (
            AuthRequirement("bearer", secret="tok"),
            {"headers": {"Authorization": "Bearer tok"}},
            {"headers": {"Authorization": "Bearer forbidden"}},
            {"headers": {"Authorization": "Bearer nope"}},
        ),
        (
            AuthRequirement("api_key_header", secret="k1"),
            {"headers": {"X-API-Key": "k1"}},
            {"headers": {"X-API-Key": "forbidden"}},
            {"headers": {"X-API-Key": "k2"}},
        ),
        (
            AuthRequirement("api_key_header", secret="k1", name="X-Shop-Token"),
            {"headers": {"x-shop-token": "k1"}},
            {"headers": {"X-Shop-Token": "forbidden"}},
            {"headers": {"X-API-Key": "k1"}},
        ),
        (
            AuthRequirement("api_key_query", secret="q1"),
            {"params": {"api_key": "q1"}},
            {"params": {"api_key": "forbidden"}},
            {"params": {"key": "q1"}},
        ),
        (
            AuthRequirement("basic", username="u", secret="p"),
            {"headers": {"Authorization": basic("u", "p")}},
            {"headers": {"Authorization": basic("u", "forbidden")}},
            {"headers": {"Authorization": basic("other", "p")}},
        ),
    ],
)
def test_auth_modes(sample_api_factory, http, auth, good, forbidden, wrong):
    api = sample_api_factory(auth=auth)
    assert http.get(f"{api.url}/me", **good).status_code == 200
    assert http.get(f"{api.url}/me", **forbidden).status_code == 403
    assert http.get(f"{api.url}/me", **wrong).status_code == 401
    missing = http.get(f"{api.url}/cursor/items")
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == "credentials required"
    if auth.mode in {"bearer", "basic"}:
        assert missing.headers["WWW-Authenticate"].lower().startswith(auth.mode)


def test_auth_can_change_at_runtime(sample_api, http):
    assert http.get(f"{sample_api.url}/me").status_code == 200
    sample_api.auth = AuthRequirement("bearer")
    assert http.get(f"{sample_api.url}/me").status_code == 401
    headers = {"Authorization": "Bearer test-secret"}
    assert http.get(f"{sample_api.url}/me", headers=headers).status_code == 200


# -- situations -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 403, 404, 418, 429, 500, 503, 599])
def test_status(sample_api, http, status):
    response = http.get(f"{sample_api.url}/status/{status}")
    assert response.status_code == status
    if status != 204:
        assert response.json() == {"status": status}
    if status in {429, 503}:
        assert response.headers["Retry-After"] == "1"


def test_status_out_of_range(sample_api, http):
    assert http.get(f"{sample_api.url}/status/99").status_code == 400
    assert http.get(f"{sample_api.url}/status/abc").status_code == 400


def test_slow_and_client_timeouts(sample_api, http):
    started = time.monotonic()
    assert http.get(f"{sample_api.url}/slow", params={"seconds": 0.3}).json() == {"slept": 0.3}
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"{sample_api.url}/slow", params={"seconds": 5}, timeout=0.2)
    assert http.get(f"{sample_api.url}/slow", params={"seconds": 61}).status_code == 400


def test_stop_ends_a_slow_request(sample_api_factory):
    api = sample_api_factory()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(f"{api.url}/slow?seconds=30", timeout=10).status_code)
        except httpx.HTTPError as error:
            outcome.append(type(error))

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not api.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.in_flight == 1
    started = time.monotonic()
    api.stop()
    thread.join(10)
    assert time.monotonic() - started < 5
    assert outcome
    # The handler counts itself out after the client saw the connection close.
    while api.in_flight and time.monotonic() < started + 5:
        time.sleep(0.01)
    assert api.in_flight == 0


def test_big_body(sample_api, http):
    response = http.get(f"{sample_api.url}/big")
    assert len(response.content) == 2 * 1024 * 1024
    assert response.headers["Content-Length"] == str(2 * 1024 * 1024)
    assert response.json()["padding"].startswith("xxx")
    chunked = http.get(f"{sample_api.url}/big", params={"bytes": 100_000, "chunked": 1})
    assert len(chunked.content) == 100_000
    assert "Content-Length" not in chunked.headers
    assert chunked.headers["Transfer-Encoding"] == "chunked"


def test_me_echo_and_redirects(sample_api, http):
    assert set(http.get(f"{sample_api.url}/me").json()) == {"id", "name", "email", "plan"}
    echo = http.post(
        f"{sample_api.url}/echo?a=1&a=2", json={"x": 1}, headers={"X-Custom": "yes"}
    ).json()
    assert echo["method"] == "POST" and echo["query"] == {"a": ["1", "2"]}
    assert echo["headers"]["x-custom"] == "yes" and echo["body"] == {"x": 1}
    hop = http.get(f"{sample_api.url}/redirect", params={"hops": 3})
    assert hop.status_code == 302 and hop.headers["Location"] == "/redirect?hops=2"
    followed = http.get(f"{sample_api.url}/redirect?hops=3", follow_redirects=True)
    assert followed.json()["id"] == "user-1" and len(followed.history) == 3
    away = http.get(f"{sample_api.url}/redirect", params={"to": "http://169.254.169.254/"})
    assert away.headers["Location"] == "http://169.254.169.254/"
    assert http.get(f"{sample_api.url}/nowhere").status_code == 404
    assert http.post(f"{sample_api.url}/me").status_code == 405


# -- injections and records -------------------------------------------------------------------


def test_inject(sample_api, http):
    sample_api.inject("/cursor", status=429, times=2, retry_after="1")
    sample_api.inject("/me", status=503)
    first = http.get(f"{sample_api.url}/cursor/items")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert http.get(f"{sample_api.url}/page/items").status_code == 200  # other prefix
    assert http.get(f"{sample_api.url}/cursor/items").status_code == 429
    assert http.get(f"{sample_api.url}/cursor/items").status_code == 200
    assert http.get(f"{sample_api.url}/me").status_code == 503
    assert http.get(f"{sample_api.url}/me").status_code == 200
    records = sample_api.requests_to("/cursor")
    assert [(r.status, r.injected) for r in records] == [(429, True), (429, True), (200, False)]


def test_inject_comes_before_auth_and_can_carry_a_body(sample_api_factory, http):
    api = sample_api_factory(auth=AuthRequirement("bearer"))
    api.inject("/", status=500, body="plain failure")
    response = http.get(f"{api.url}/me")
    assert response.status_code == 500 and response.text == "plain failure"
    api.inject("/me", status=429)
    api.clear_injections()
    assert http.get(f"{api.url}/me").status_code == 401


def test_requests_are_recorded(sample_api, http):
    http.get(
        f"{sample_api.url}/offset/items",
        params={"offset": 10, "limit": 5},
        headers={"Authorization": "Bearer abc", "X-Trace": "t1"},
    )
    http.post(f"{sample_api.url}/graphql", json={"query": "{}"})
    get, post = sample_api.requests
    assert (get.method, get.path, get.status) == ("GET", "/offset/items", 200)
    assert get.query == {"offset": "10", "limit": "5"}
    assert get.query_string == "offset=10&limit=5"
    assert get.header("authorization") == "Bearer abc" and get.header("X-TRACE") == "t1"
    assert post.body == b'{"query":"{}"}' or post.body.replace(b" ", b"") == b'{"query":"{}"}'
    assert get.at <= post.at <= time.monotonic()
    sample_api.clear_requests()
    assert sample_api.requests == []


def test_max_requests_in_window(sample_api, http):
    for _ in range(3):
        http.get(f"{sample_api.url}/me")
    time.sleep(0.3)
    for _ in range(2):
        http.get(f"{sample_api.url}/me")
    assert sample_api.max_requests_in(0.25, "/me") == 3
    assert sample_api.max_requests_in(10.0) == 5
    assert sample_api.max_requests_in(1.0, "/nothing") == 0


def test_concurrent_requests(sample_api_factory):
    api = sample_api_factory(items=1000)
    errors: list[BaseException] = []

    def worker(page: int) -> None:
        try:
            with httpx.Client() as client:
                body = client.get(f"{api.url}/page/items", params={"page": page}).json()
                assert body["items"][0]["id"] == (page - 1) * 10 + 1
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(page,)) for page in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(api.requests) == 20


# -- lifecycle and TLS ------------------------------------------------------------------------


def test_stop_closes_keep_alive_connections_and_restart():
    api = SampleApi(items=3)
    with api, httpx.Client(timeout=2) as client:
        assert client.get(f"{api.url}/me").status_code == 200
        api.stop()
        with pytest.raises(httpx.TransportError):
            client.get(f"{api.url}/me")
    api.start()
    try:
        assert httpx.get(f"{api.url}/page/items").json()["total"] == 3
    finally:
        api.stop()
    api.stop()  # idempotent


def test_start_twice_and_url_before_start():
    api = SampleApi()
    with pytest.raises(RuntimeError):
        _ = api.url
    with api, pytest.raises(RuntimeError):
        api.start()


def test_tls_untrusted_certificate_fails(sample_api_factory):
    api = sample_api_factory(tls=True)
    assert api.url.startswith("https://127.0.0.1:")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{api.url}/me")
    # The server is still fine after a failed handshake.
    assert httpx.get(f"{api.url}/me", verify=api.ssl_context()).status_code == 200


def test_tls_trusted_by_ca_file_for_localhost(sample_api_factory):
    api = sample_api_factory(tls=True, items=15)
    url = api.url.replace("127.0.0.1", "localhost")
    with httpx.Client(verify=ssl.create_default_context(cafile=api.ca_file)) as client:
        body = client.get(f"{url}/link/items", params={"per_page": 10})
        assert body.links["next"]["url"].startswith("https://")
    assert api.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_tls_wrong_hostname_and_expired(sample_api_factory):
    other = sample_api_factory(tls=True, tls_hostnames=("other.example",))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{other.url}/me", verify=other.ssl_context())
    expired = sample_api_factory(tls=True, tls_expired=True)
    with pytest.raises(httpx.ConnectError, match="expired"):
        httpx.get(f"{expired.url}/me", verify=expired.ssl_context())


def test_plain_http_to_a_tls_server_fails(sample_api_factory):
    api = sample_api_factory(tls=True)
    with pytest.raises(httpx.TransportError):
        httpx.get(api.url.replace("https://", "http://") + "/me", timeout=3)
