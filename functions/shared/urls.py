"""URLs the stack will fetch or call (an http input, a webhook): the SSRF check.

Pure functions with no I/O except the DNS lookup, whose resolver is a parameter (tests and the
local stack pass their own). Used by the API (at submit), and by functions.shared.http, which
connects only to the addresses this check passed (the engine's input fetches, webhook deliveries).

A host is refused when it is, or resolves to, a loopback, private, link-local, carrier-NAT,
multicast, reserved or metadata address, including an IPv4 address wrapped in IPv6 (mapped,
compatible, NAT64, 6to4, Teredo). The local stack names the few local endpoints it trusts
(``trusted``: ``host:port``), never "anything private".
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from functions.jobs.names import MAX_URL_LENGTH

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Hosts that name the machine itself or a cloud metadata service, whatever they resolve to.
_BLOCKED_HOSTS = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
_BLOCKED_SUFFIXES = (".localhost", ".internal", ".local")
_EXTRA_BLOCKED_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT, not flagged private by ipaddress
    ipaddress.ip_network("fd00:ec2::/32"),  # EC2's IPv6 metadata endpoint (fd00:ec2::254)
)
# IPv6 prefixes whose last 32 bits are an IPv4 address a gateway forwards to (RFC 6052, 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d (deprecated, still routed by some)

Resolver = Callable[[str], Iterable[str]]


class UnsafeUrl(ValueError):
    """A URL the stack must not fetch or call; the message says why."""


def system_resolver(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None)]


@dataclass(frozen=True)
class UrlPolicy:
    """What may be fetched or called: the schemes, the resolver, and the ``host:port`` endpoints
    trusted although local, over http or https (the local stack's own: its S3 endpoint, its
    webhook receiver)."""

    schemes: frozenset[str] = frozenset({"https"})
    trusted: frozenset[str] = frozenset()
    resolve: Resolver = system_resolver


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``addresses``, each checked) and what to call it (``host``,
    for the Host header and TLS)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    target: str  # the path and query to request

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def destination(url: str, policy: UrlPolicy) -> Destination:
    """The destination of ``url`` if the policy allows it; raises ``UnsafeUrl`` saying why not."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url) or " " in url:
        raise UnsafeUrl("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"is not a valid URL ({exc})") from exc
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not carry credentials")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl("has no host")
    if port == 0:
        raise UnsafeUrl("has an invalid port")
    port = port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    trusted = f"{host}:{port}" in policy.trusted
    if parts.scheme not in policy.schemes and not (trusted and parts.scheme in ("http", "https")):
        raise UnsafeUrl(f"must use {' or '.join(sorted(policy.schemes))}")
    if not trusted and (host in _BLOCKED_HOSTS or host.endswith(_BLOCKED_SUFFIXES)):
        raise UnsafeUrl("points at a local or metadata host")
    if _is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = list(policy.resolve(host))
        except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA refuses (a label over 63)
            raise UnsafeUrl("has a host that does not resolve") from exc
        if not addresses:
            raise UnsafeUrl("has a host that does not resolve")
    if not trusted:
        for address in addresses:
            if not is_public(address):
                raise UnsafeUrl("points at a loopback, private, link-local or reserved address")
    return Destination(url, parts.scheme, host, port, tuple(addresses), target)


def check_fetchable_url(url: str, policy: UrlPolicy) -> str:
    """``url`` if the policy allows fetching or calling it (see :func:`destination`)."""
    destination(url, policy)
    return url


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, in each form that reaches one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if any(ip in network for network in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """Whether an address is on the public internet (and no wrapper of a non-public one)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0].strip("[]")
    )
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    if any(ip in network for network in _EXTRA_BLOCKED_NETWORKS):
        return False
    return ip.is_global and not ip.is_multicast
