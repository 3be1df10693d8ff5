"""The address policy for web sources, as pure functions: no request is ever made here."""

from __future__ import annotations

import ipaddress

import pytest

from crawler.netpolicy import (
    BAD_SCHEME,
    PRIVATE_ADDRESS,
    UNRESOLVABLE,
    check_url,
    is_forbidden,
    literal_address,
    needs_resolver,
)


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]

    return resolve


PUBLIC = resolver(
    {"news.example": ["93.184.216.34"], "v6.example": ["2606:2800:220:1:248:1893:25c8:1946"]}
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.10",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "2001:db8::1",
    ],
)  # fmt: skip
def test_private_and_special_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.0.0.1", "127.0.0.1"),  # hex
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short form
        ("012.0.0.1", "10.0.0.1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_numeric_host_spellings_are_read_like_a_resolver_does(host: str, address: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(address)
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["news.example", "1password.com", "deadbeef", "0xdeadbeef.com"])
def test_names_are_not_read_as_addresses(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/", "http://0177.0.0.1/admin", "http://[::1]:8080/", "http://127.1/",
        "http://169.254.169.254/latest/meta-data/", "https://[::ffff:192.168.0.1]/",
    ],
)  # fmt: skip
def test_urls_into_private_space_are_refused_without_resolving(url: str) -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError("a literal address must not be resolved")

    refused = check_url(url, resolve=no_dns)
    assert refused is not None and refused[0] == PRIVATE_ADDRESS


def test_every_resolved_address_is_checked() -> None:
    rebinding = resolver({"mixed.example": ["93.184.216.34", "10.0.0.5"]})
    refused = check_url("https://mixed.example/page", resolve=rebinding)
    assert refused == (PRIVATE_ADDRESS, "mixed.example is 10.0.0.5, not a public address")
    inside = resolver({"intranet.example": ["192.168.10.20"]})
    assert check_url("http://intranet.example/", resolve=inside) is not None
    assert check_url("http://intranet.example/", resolve=inside, allow_private=True) is None


def test_public_hosts_pass_and_other_schemes_do_not() -> None:
    assert check_url("https://news.example/a/1?utm_source=x", resolve=PUBLIC) is None
    assert check_url("http://v6.example/", resolve=PUBLIC) is None
    for url in ("file:///etc/passwd", "ftp://news.example/x", "data:text/html,hi", "gopher://x/"):
        refused = check_url(url, resolve=PUBLIC)
        assert refused is not None and refused[0] == BAD_SCHEME, url
    assert check_url("https://unknown.example/", resolve=PUBLIC) == (
        UNRESOLVABLE,
        "unknown.example: Name or service not known",
    )


@pytest.mark.parametrize(
    ("url", "allow_private", "expected"),
    [
        ("https://news.example/a", False, True),
        ("https://news.example/a", [ipaddress.ip_network("127.0.0.1/32")], True),
        ("https://news.example/a", True, False),
        ("http://127.0.0.1:8080/a", False, False),
        ("http://0x7f.1/", False, False),
        ("http://[::1]/", False, False),
        ("ftp://news.example/x", False, False),
        ("http:///no-host", False, False),
    ],
)
def test_the_middleware_asks_the_resolver_only_when_check_url_would(
    url: str, allow_private: bool | list[ipaddress.IPv4Network], expected: bool
) -> None:
    """The middleware skips the DNS thread when `needs_resolver` is False: check_url must then
    decide without resolving."""
    assert needs_resolver(url, allow_private) is expected
    if not expected:

        def no_dns(host: str) -> list[str]:
            raise AssertionError("resolved although needs_resolver said no")

        check_url(url, allow_private=allow_private, resolve=no_dns)
