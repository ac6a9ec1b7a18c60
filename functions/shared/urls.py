"""URLs the stack will fetch or call (an http input, a webhook): the SSRF check.

Pure functions with no I/O except the DNS lookup, whose resolver is a parameter (tests and the
local stack pass their own). Used by the API (at submit), the engine (input fetches) and the
notifier (webhook deliveries)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
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

Resolver = Callable[[str], Iterable[str]]


class UnsafeUrl(ValueError):
    """A URL the stack must not fetch or call; the message says why."""


def system_resolver(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None)]


def check_fetchable_url(
    url: str,
    *,
    schemes: frozenset[str] = frozenset({"https"}),
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
) -> str:
    """A URL the stack may fetch or call: an allowed scheme, no credentials, and (unless
    ``allow_private``, for local use) a host that is not, and does not resolve to, a loopback,
    private, link-local, multicast, reserved or metadata address.

    The engine must check again when it connects: DNS can change in between (rebinding)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url) or " " in url:
        raise UnsafeUrl("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"is not a valid URL ({exc})") from exc
    if parts.scheme not in schemes:
        raise UnsafeUrl(f"must use {' or '.join(sorted(schemes))}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not carry credentials")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl("has no host")
    if port == 0:
        raise UnsafeUrl("has an invalid port")
    if allow_private:
        return url
    if host in _BLOCKED_HOSTS or host.endswith(_BLOCKED_SUFFIXES):
        raise UnsafeUrl("points at a local or metadata host")
    if _is_ip(host):
        addresses: Iterable[str] = [host]
    else:
        try:
            addresses = list(resolve(host))
        except OSError as exc:
            raise UnsafeUrl("has a host that does not resolve") from exc
        if not addresses:
            raise UnsafeUrl("has a host that does not resolve")
    for address in addresses:
        if not _is_public(address):
            raise UnsafeUrl("points at a loopback, private, link-local or reserved address")
    return url


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _EXTRA_BLOCKED_NETWORKS):
        return False
    return ip.is_global and not ip.is_multicast
