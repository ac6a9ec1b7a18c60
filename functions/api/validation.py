"""Checks on what a job names: S3 buckets and keys, and URLs the stack will fetch (SSRF).

Pure functions with no I/O except the DNS lookup of :func:`check_fetchable_url`, which takes the
resolver as a parameter (tests and the local stack pass their own)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

MAX_KEY_LENGTH = 1024
MAX_URL_LENGTH = 2048

# Dot-separated labels of lowercase letters, digits and inner hyphens (S3's naming rules; the
# OpenAPI schema carries the same patterns, so what it calls valid this module accepts).
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
BUCKET_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*$"
# Path segments without control characters or backslashes, and never "." or "..".
_CHAR = r"[^/\\\x00-\x1f\x7f]"
_NOT_DOT = r"[^/.\\\x00-\x1f\x7f]"
_SEGMENT = rf"(?:{_NOT_DOT}{_CHAR}*|\.{_NOT_DOT}{_CHAR}*|\.\.{_CHAR}+)"
KEY_PATTERN = rf"^/?{_SEGMENT}(?:/{_SEGMENT})*$"

_BUCKET = re.compile(BUCKET_PATTERN)
_KEY = re.compile(KEY_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Hosts that name the machine itself or a cloud metadata service, whatever they resolve to.
_BLOCKED_HOSTS = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
_BLOCKED_SUFFIXES = (".localhost", ".internal", ".local")
_EXTRA_BLOCKED_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT, not flagged private by ipaddress
    ipaddress.ip_network("fd00:ec2::/32"),  # EC2's IPv6 metadata endpoint (fd00:ec2::254)
)

Resolver = Callable[[str], Iterable[str]]


class UnsafeValue(ValueError):
    """A name or URL the stack must not use; the message says why."""


def check_bucket(name: str) -> str:
    """S3 bucket naming rules: 3-63 characters, dot-separated labels of lowercase letters, digits
    and inner hyphens. (Names S3 reserves, like IP addresses, pass: no such bucket exists, and the
    job fails when the engine reads it, as with any missing bucket.)"""
    if not 3 <= len(name) <= 63 or not _BUCKET.match(name):
        raise UnsafeValue("not a valid S3 bucket name")
    return name


def check_key(key: str) -> str:
    """An S3 key as CT takes it (``file``): a path, with or without a leading ``/``, whose
    directory receives the outputs. No control characters, no backslashes, no ``.`` or ``..``
    segments, no empty segments: nothing that could climb out of the intended prefix."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise UnsafeValue(f"must be 1 to {MAX_KEY_LENGTH} characters")
    if _CONTROL.search(key):
        raise UnsafeValue("contains control characters")
    if "\\" in key:
        raise UnsafeValue("contains a backslash")
    if not _KEY.match(key):
        raise UnsafeValue("contains an empty, '.' or '..' path segment")
    return key


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
        raise UnsafeValue(f"is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url) or " " in url:
        raise UnsafeValue("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeValue(f"is not a valid URL ({exc})") from exc
    if parts.scheme not in schemes:
        raise UnsafeValue(f"must use {' or '.join(sorted(schemes))}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeValue("must not carry credentials")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeValue("has no host")
    if port == 0:
        raise UnsafeValue("has an invalid port")
    if allow_private:
        return url
    if host in _BLOCKED_HOSTS or host.endswith(_BLOCKED_SUFFIXES):
        raise UnsafeValue("points at a local or metadata host")
    if _is_ip(host):
        addresses: Iterable[str] = [host]
    else:
        try:
            addresses = list(resolve(host))
        except OSError as exc:
            raise UnsafeValue("has a host that does not resolve") from exc
        if not addresses:
            raise UnsafeValue("has a host that does not resolve")
    for address in addresses:
        if not _is_public(address):
            raise UnsafeValue("points at a loopback, private, link-local or reserved address")
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
