"""The SSRF check's address rules: wrapped IPv4 addresses, and trusted endpoints by name."""

from __future__ import annotations

import pytest

from functions.shared.urls import UnsafeUrl, UrlPolicy, check_fetchable_url, destination, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "100.64.0.1",
        "::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::127.0.0.1",  # IPv4-compatible
        "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_addresses_that_reach_inside_in_any_wrapping_are_not_public(address: str):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822"]
)
def test_public_addresses_are_public_even_through_nat64(address: str):
    assert is_public(address)


def test_a_name_resolving_to_a_wrapped_inside_address_is_refused():
    policy = UrlPolicy(resolve=lambda host: ["64:ff9b::a9fe:a9fe"])
    with pytest.raises(UnsafeUrl, match="loopback, private"):
        check_fetchable_url("https://media.example.com/v.mp4", policy)


def test_only_the_named_endpoints_are_trusted_and_over_http_too():
    policy = UrlPolicy(trusted=frozenset({"127.0.0.1:9000"}), resolve=lambda host: ["127.0.0.1"])
    assert destination("http://127.0.0.1:9000/x?y=1", policy).target == "/x?y=1"
    for url in ("http://127.0.0.1:9001/x", "https://127.0.0.1/x", "http://localhost:9000/x"):
        with pytest.raises(UnsafeUrl):
            destination(url, policy)


def test_the_destination_keeps_the_name_for_host_and_tls_and_the_checked_addresses():
    where = destination(
        "https://Media.Example.com:8443/a/b", UrlPolicy(resolve=lambda host: ["93.184.216.34"])
    )
    assert (where.host, where.port, where.addresses, where.host_header) == (
        "media.example.com",
        8443,
        ("93.184.216.34",),
        "media.example.com:8443",
    )


def test_a_host_name_idna_refuses_is_an_unsafe_url_not_a_crash():
    # socket.getaddrinfo encodes the name first: a label over 63 characters raises UnicodeError
    # (a ValueError, not an OSError) before any lookup; PUT /webhook answered 500 with it.
    def encoding_first(host: str) -> list[str]:
        host.encode("idna")
        return ["93.184.216.34"]

    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_fetchable_url(f"https://{'a' * 70}.example.com/", UrlPolicy(resolve=encoding_first))
