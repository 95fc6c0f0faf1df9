"""The SSRF guard: which destinations are refused, which pass, and the allowlist."""

from __future__ import annotations

import pytest

from tether.http.guard import (
    EgressGuard,
    Target,
    default_resolver,
    is_public_address,
    parse_allowlist,
)
from tether.http.model import OutboundError

PUBLIC = "93.184.216.34"


def resolver_to(*addresses: str):
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def assert_blocked(guard: EgressGuard, url: str) -> OutboundError:
    with pytest.raises(OutboundError) as caught:
        guard.check(url)
    assert caught.value.code == "BLOCKED_DESTINATION"
    assert caught.value.failure == "blocked"
    assert caught.value.retryable is False
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://169.254.169.254/computeMetadata/v1/",
        "http://metadata.google.internal/",
        "http://metadata.google.internal./computeMetadata/v1/",
        "http://METADATA/",
        "http://0.0.0.0:80/",
        "http://127.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
        "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
        "http://[2001:db8::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://[ff02::1]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://198.18.0.1/",
        "http://192.0.2.1/",
        "http://198.51.100.7/",
        "http://203.0.113.9/",
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "ftp://x/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///no-host",
        "https://",
    ],
)
def test_refused_destinations(url):
    # The real resolver: numeric spellings (127.1, 2130706433, 0177.0.0.1) and `localhost`
    # resolve locally without a network, and the resolved address is what is checked.
    assert_blocked(EgressGuard(), url)


def test_the_default_resolver_turns_numeric_spellings_into_loopback():
    for host in ("127.1", "2130706433", "0177.0.0.1"):
        assert default_resolver(host, 80) == ["127.0.0.1"]


def test_numeric_spellings_are_refused_even_with_a_resolver_that_lies():
    # A resolver that would call everything public is not consulted for numeric hosts.
    guard = EgressGuard(resolver=resolver_to(PUBLIC))
    for url in ("http://127.1/", "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/"):
        assert_blocked(guard, url)


def test_a_public_name_resolving_to_a_private_address_is_refused():
    resolve = resolver_to("10.0.0.1")
    error = assert_blocked(EgressGuard(resolver=resolve), "https://api.innocent.example/v1")
    assert resolve.calls == [("api.innocent.example", 443)]  # type: ignore[attr-defined]
    assert "api.innocent.example" in error.message
    assert "/v1" not in error.message  # the host only, never the path


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    guard = EgressGuard(resolver=resolver_to(PUBLIC, "2606:4700::1", "127.0.0.1"))
    assert_blocked(guard, "https://multi.example/")


def test_metadata_names_are_refused_before_resolving():
    resolve = resolver_to(PUBLIC)
    guard = EgressGuard(resolver=resolve)
    assert_blocked(guard, "http://metadata.google.internal/")
    assert_blocked(guard, "http://metadata/")
    assert resolve.calls == []  # type: ignore[attr-defined]


def test_public_addresses_pass_and_the_target_carries_the_checked_ip():
    guard = EgressGuard(resolver=resolver_to(PUBLIC))
    target = guard.check("https://API.Example.com/v1/items?page=2#frag")
    assert target == Target(
        scheme="https",
        host="api.example.com",
        port=443,
        ip=PUBLIC,
        path_and_query="/v1/items?page=2",
    )
    assert target.host_header == "api.example.com"
    assert target.connect_url == f"https://{PUBLIC}:443/v1/items?page=2"

    other = guard.check("http://api.example.com:8080")
    assert (other.port, other.path_and_query, other.host_header) == (
        8080,
        "/",
        "api.example.com:8080",
    )


def test_public_ip_literals_pass():
    guard = EgressGuard(resolver=resolver_to("127.0.0.1"))  # not consulted for literals
    assert guard.check(f"http://{PUBLIC}/").ip == PUBLIC
    v6 = guard.check("https://[2606:4700:4700::1111]:8443/x")
    assert v6.ip == "2606:4700:4700::1111"
    assert v6.connect_url == "https://[2606:4700:4700::1111]:8443/x"
    assert v6.host_header == "[2606:4700:4700::1111]:8443"
    # IPv4-mapped addresses are judged (and connected to) as their IPv4 address.
    assert guard.check("http://[::ffff:93.184.216.34]/").ip == PUBLIC


def test_is_public_address_covers_what_is_global_misses():
    # ipaddress.is_global calls some of these global, depending on the Python version.
    for address in ("224.0.0.1", "64:ff9b::7f00:1", "2002:a00:1::", "::7f00:1", "3fff::1"):
        assert not is_public_address(address), address
    for address in (PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert is_public_address(address), address
    assert not is_public_address("not-an-address")


def test_the_allowlist_admits_only_the_exact_host_and_port():
    guard = EgressGuard(["localhost:8080", "127.0.0.1:9000", "[::1]:7000"])
    assert guard.check("http://localhost:8080/x").ip == "127.0.0.1"
    assert guard.check("http://LOCALHOST:8080/").host == "localhost"
    assert guard.check("http://127.0.0.1:9000/").ip == "127.0.0.1"
    assert guard.check("http://[::1]:7000/").ip == "::1"
    assert_blocked(guard, "http://localhost:8081/")  # other port
    assert_blocked(guard, "http://localhost/")  # default port 80 is another port
    assert_blocked(guard, "http://127.0.0.1:8080/")  # same address, other name
    assert_blocked(guard, "http://localhost:9000/")  # the name is what is matched
    assert_blocked(guard, "http://[::1]:8080/")
    # The allowlist never widens the schemes.
    assert_blocked(guard, "ftp://localhost:8080/")


def test_allowlisted_https_uses_the_default_port_when_none_is_written():
    guard = EgressGuard(["internal.example:443"], resolver=resolver_to("10.0.0.5"))
    assert guard.check("https://internal.example/").ip == "10.0.0.5"
    assert_blocked(guard, "http://internal.example/")  # port 80


def test_parse_allowlist():
    assert parse_allowlist(" LocalHost:8080, 127.0.0.1:9000 ,,[0::1]:7000 ") == {
        "localhost:8080",
        "127.0.0.1:9000",
        "[::1]:7000",
    }
    assert parse_allowlist("") == frozenset()
    assert parse_allowlist(None) == frozenset()
    # "\u0661" (Arabic-Indic one) passed str.isdigit() and int() read it as port 1
    odd = ("localhost:\u0661", "localhost:\xb2", "localhost:" + "8" * 40)
    for bad in ("localhost", "localhost:", "localhost:0", "localhost:99999", "::1:80", ":80", *odd):
        with pytest.raises(ValueError, match="allowlist"):
            parse_allowlist(bad)
    guard = EgressGuard.from_text("localhost:8080")
    assert guard.check("http://localhost:8080/").ip == "127.0.0.1"


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@example.com/",
        "http://example.com:notaport/",
        "http://exa mple.com/",
        "http://example.com/\r\nX-Injected: 1",
        "http://example.com\\@127.0.0.1/",
        "http://exa%6dple.com/",
        "https://example.com:0/",  # not a port to connect to (it used to mean 443)
        "https://example.com:00/",
    ],
)
def test_malformed_urls_are_invalid(url):
    guard = EgressGuard(resolver=resolver_to(PUBLIC))
    with pytest.raises(OutboundError) as caught:
        guard.check(url)
    assert caught.value.failure == "invalid_url"
    assert "pass" not in caught.value.message


def test_unresolvable_names_are_a_connect_failure():
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(OutboundError) as caught:
        EgressGuard(resolver=fail).check("https://nowhere.example/")
    assert caught.value.failure == "connect"


def test_international_names_are_checked_in_their_ascii_form():
    resolve = resolver_to(PUBLIC)
    target = EgressGuard(resolver=resolve).check("https://bücher.example/")
    assert target.host == "xn--bcher-kva.example"
    assert resolve.calls == [("xn--bcher-kva.example", 443)]  # type: ignore[attr-defined]
    # Fullwidth digits normalise to a loopback literal: still refused.
    assert_blocked(EgressGuard(resolver=resolver_to(PUBLIC)), "http://\uff11\uff12\uff17.0.0.1/")


def test_is_allowlisted_matches_exact_host_and_port() -> None:
    guard = EgressGuard(["127.0.0.1:8080", "[::1]:9000", "LocalHost:5"])
    assert guard.is_allowlisted("127.0.0.1", 8080)
    assert guard.is_allowlisted("::1", 9000)
    assert guard.is_allowlisted("localhost", 5)
    assert not guard.is_allowlisted("127.0.0.1", 8081)
    assert not guard.is_allowlisted("127.0.0.2", 8080)
