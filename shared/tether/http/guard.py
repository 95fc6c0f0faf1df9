"""The SSRF guard: decides whether Tether may connect to a URL, and to which address.

Every outbound call (provider APIs, and URLs users configure) goes through :class:`EgressGuard`
before a socket is opened. It parses the URL once, resolves the host once, refuses the request
if *any* resolved address is not a public unicast address, and returns a :class:`Target` whose
``ip`` is the very address the client then connects to. There is no second DNS lookup, so a
name that resolves to a public address for the check and to ``127.0.0.1`` for the connection
(DNS rebinding) gains nothing, and the client re-runs the guard on every redirect hop.

Why hand-written: no well-kept library does "connect to the checked IP, with the real name for
``Host`` and TLS SNI, and re-check every hop" on top of httpx, and the ones that wrap
``requests``/``urllib3`` either check a name and let the HTTP stack resolve it again or miss
translated ranges. :mod:`ipaddress`'s ``is_global`` alone is not enough either: depending on
the Python version it calls multicast, NAT64 (``64:ff9b::/96``), 6to4, IPv4-compatible and
IPv4-mapped addresses global, so the ranges below are listed explicitly and embedded IPv4
addresses are checked as IPv4.

Numeric host spellings (``2130706433``, ``0177.0.0.1``, ``127.1``) are caught because the
*resolved* address is what is checked; they are also normalised here with ``inet_aton`` so a
custom resolver that does not understand them cannot be fooled either.

The only exceptions are explicit ``host:port`` entries of ``TETHER_EGRESS_ALLOWLIST`` (for
local emulators and tests): an exact match on the host as written in the URL and the port
lets any address through.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tether.domain.decimal_digits import parse_decimal
from tether.http.model import OutboundError

__all__ = [
    "EgressGuard",
    "Resolver",
    "Target",
    "default_resolver",
    "is_public_address",
    "parse_allowlist",
]

Resolver = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_BLOCKED_NAMES = frozenset({"metadata.google.internal", "metadata"})
_HOST_CHARS = re.compile(r"^[a-z0-9._-]+$")
# Whitespace and control characters (C0, space, DEL), refused anywhere in a URL.
_CONTROL_CHARS = re.compile(r"[\x00-\x20\x7f]")

_IPV4_DENIED = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)

_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV6_DENIED = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        # Everything outside 2000::/3 is refused anyway; these are listed so the intent reads.
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use
        "100::/64",  # discard-only
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
        # Inside 2000::/3:
        "2001::/23",  # IETF protocol assignments, includes Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: reaches the embedded IPv4 through a relay
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs
    )
)


@dataclass(frozen=True)
class Target:
    """A checked destination. ``host`` is the name as written (lowercased, IDNA-encoded, no
    brackets); ``ip`` the checked address to connect to; ``path_and_query`` starts with ``/``."""

    scheme: str
    host: str
    port: int
    ip: str
    path_and_query: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: ``host`` with the port unless it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS.get(self.scheme) == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL by name (what the caller asked for, without fragment or user info)."""
        return f"{self.scheme}://{self.host_header}{self.path_and_query}"

    @property
    def connect_url(self) -> str:
        """The URL by address: what is actually requested on the wire."""
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{ip}:{self.port}{self.path_and_query}"


def default_resolver(host: str, port: int) -> list[str]:
    """Every A/AAAA address of ``host``, in ``getaddrinfo`` order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def parse_allowlist(text: str | None) -> frozenset[str]:
    """Parse ``TETHER_EGRESS_ALLOWLIST``: comma-separated ``host:port`` (``[v6]:port`` for
    IPv6 literals). Raises :class:`ValueError` on an entry without a valid port."""
    entries: set[str] = set()
    for raw in (text or "").split(","):
        entry = raw.strip().lower()
        if entry:
            entries.add(_normalise_allow_entry(entry))
    return frozenset(entries)


def _normalise_allow_entry(entry: str) -> str:
    host, sep, port_text = entry.rpartition(":")
    port = parse_decimal(port_text)
    if not sep or not host or port is None or not 0 < port < 65536:
        raise ValueError(f"egress allowlist entry {entry!r} is not host:port")
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        raise ValueError(f"egress allowlist entry {entry!r}: bracket IPv6 hosts as [addr]:port")
    if host.startswith("["):
        try:
            host = f"[{ipaddress.IPv6Address(host[1:-1])}]"
        except ValueError:
            raise ValueError(f"egress allowlist entry {entry!r}: bad IPv6 address") from None
    return f"{host}:{port}"


def _blocked(host: str, why: str = "is not allowed") -> OutboundError:
    return OutboundError(
        f"outbound destination {host or '(none)'} {why}",
        failure="blocked",
        code="BLOCKED_DESTINATION",
        retryable=False,
    )


def _invalid(why: str) -> OutboundError:
    return OutboundError(f"invalid outbound URL: {why}", failure="invalid_url", retryable=False)


# The checks of one address are pure functions of its text: each is kept for the next request
# that resolves to it (bounded; every address is still checked on every request).
_ADDRESS_CACHE = 4096


@functools.lru_cache(maxsize=_ADDRESS_CACHE)
def is_public_address(address: str) -> bool:
    """``True`` if ``address`` (IPv4 or IPv6 text) is a public unicast address Tether may
    connect to; IPv4-mapped IPv6 addresses are judged by their embedded IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return False
        if ip in _IPV4_MAPPED:
            return _is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip not in _IPV6_GLOBAL_UNICAST or any(ip in net for net in _IPV6_DENIED):
            return False
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not _is_public(embedded):
            return False
        return ip.is_global
    if any(ip in net for net in _IPV4_DENIED):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


@functools.lru_cache(maxsize=_ADDRESS_CACHE)
def _connectable(address: str) -> str:
    """The address to connect to: IPv4-mapped IPv6 becomes the plain IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@functools.lru_cache(maxsize=_ADDRESS_CACHE)
def _ipv4_literal(host: str) -> str | None:
    """``host`` as dotted-quad if it is a plain IPv4 address, else ``None``."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def _numeric_ipv4(host: str) -> str | None:
    """``host`` as dotted-quad if it is one of the numeric IPv4 spellings ``inet_aton``
    accepts (decimal, octal, hex, fewer than four parts)."""
    if not re.fullmatch(r"[0-9a-fx.]+", host) or not host[0].isdigit():
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


class EgressGuard:
    """Checks outbound URLs; see the module documentation for the rules."""

    def __init__(self, allowlist: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self._allow = frozenset(_normalise_allow_entry(e.strip().lower()) for e in allowlist)
        self._resolve = resolver or default_resolver

    @classmethod
    def from_text(cls, allowlist: str | None, resolver: Resolver | None = None) -> EgressGuard:
        """A guard for a ``TETHER_EGRESS_ALLOWLIST`` value."""
        return cls(parse_allowlist(allowlist), resolver)

    def is_allowlisted(self, host: str, port: int) -> bool:
        """Whether ``host:port`` (as written in a URL) is on the egress allowlist."""
        name = _normalise_host(host.lower())
        entry = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
        return entry in self._allow

    def check(self, url: str) -> Target:
        """Parse, resolve and check ``url``; raise ``OutboundError(failure="blocked")`` if
        Tether must not connect to it (``"invalid_url"`` if it is malformed, ``"connect"`` if
        the name does not resolve)."""
        if not isinstance(url, str) or _CONTROL_CHARS.search(url):
            raise _invalid("whitespace or control characters")
        if "\\" in url:
            raise _invalid("backslash")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise _invalid("unparseable") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise _blocked(parts.hostname or "", "is refused: only http and https are allowed")
        if "@" in parts.netloc:
            raise _invalid("credentials in the URL are not accepted; use request auth")
        host = _normalise_host(parts.hostname or "")
        if not host:
            raise _blocked("", "is refused: a host is required")
        try:
            written = parts.port
        except ValueError:
            raise _invalid(f"bad port for {host}") from None
        if written == 0:  # no service listens there; "or" would have read it as the default
            raise _invalid(f"bad port for {host}")
        port = written or _DEFAULT_PORTS[scheme]
        path = parts.path or "/"
        path_and_query = f"{path}?{parts.query}" if parts.query else path

        allow_key = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        allowed = allow_key in self._allow
        if not allowed and host.rstrip(".") in _BLOCKED_NAMES:
            raise _blocked(host)

        addresses = self._addresses(host, port)
        if not allowed and not all(is_public_address(a) for a in addresses):
            raise _blocked(host)
        return Target(
            scheme=scheme,
            host=host,
            port=port,
            ip=_connectable(addresses[0]),
            path_and_query=path_and_query,
        )

    def _addresses(self, host: str, port: int) -> list[str]:
        if ":" in host:
            return [host]
        literal = _ipv4_literal(host)
        if literal is not None:
            return [literal]
        numeric = _numeric_ipv4(host)
        if numeric is not None:
            return [numeric]
        try:
            addresses = [a for a in self._resolve(host, port) if a]
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise OutboundError(
                f"could not resolve {host}", failure="connect", retryable=True
            ) from None
        for address in addresses:
            try:
                ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                raise _blocked(host, "resolved to something that is not an address") from None
        return addresses


def _normalise_host(host: str) -> str:
    """Lowercase; IDNA-encode non-ASCII names; IPv6 literals compressed and validated."""
    host = host.lower()
    if not host:
        return ""
    if ":" in host:
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            raise _invalid("bad IPv6 literal") from None
        if ip.scope_id is not None:
            raise _blocked(host)
        return str(ip)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _invalid("host is not a valid international domain name") from None
    if not _HOST_CHARS.match(host):
        raise _invalid("host contains characters that are not allowed")
    return host
